//! The admin dashboard in a real headless Chromium, driven over WebDriver (chromedriver's HTTP
//! API, spoken with reqwest and serde_json): token, live numbers, sorting, purge, wrong token.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh` installs them). Where
//! either is missing the test fails, saying so, unless `CACHEFRONT_SKIP_BROWSER_TESTS=1` is set
//! (then it is skipped with a message).
//!
//! It writes nothing into the source tree: its screenshot goes to a temporary folder, or to the
//! path in `CACHEFRONT_DASHBOARD_SCREENSHOT`, which `scripts/screenshot-dashboard.sh` sets to
//! make `docs/dashboard.png` on purpose.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::Path, routing::get};
use cachefront_axum::{Admin, Cache, CacheExt, Policy, admin};
use integration_tests::{TestServer, client, header};
use serde_json::{Value, json};

const TOKEN: &str = "dashboard-test-token-0123456789";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver in its own process group (so the browser it starts goes with it), and the
/// browser's throwaway profile; both killed and removed on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

/// The opt-out for machines without a browser.
const SKIP_VAR: &str = "CACHEFRONT_SKIP_BROWSER_TESTS";
/// Where to write the screenshot instead of a temporary folder.
const SCREENSHOT_VAR: &str = "CACHEFRONT_DASHBOARD_SCREENSHOT";

impl Driver {
    /// chromedriver, started; `None` when the browser is missing and the opt-out is set.
    /// Panics, naming what is missing, when it is not.
    fn start() -> Option<Self> {
        let missing: Vec<&str> = ["chromedriver", "chromium"]
            .into_iter()
            .filter(|name| which(name).is_none())
            .collect();
        if !missing.is_empty() {
            let missing = missing.join(" and ");
            if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
                eprintln!("SKIPPED: {missing} not found, and {SKIP_VAR}=1");
                return None;
            }
            panic!(
                "{missing} not found on PATH: install them (apt-get install chromium chromium-driver; \
                 scripts/test.sh does), or set {SKIP_VAR}=1 to skip this test"
            );
        }
        let binary = which("chromedriver").expect("found above");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let profile =
            std::env::temp_dir().join(format!("cachefront-dashboard-{}-{port}", std::process::id()));
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        Some(Self { child, port, profile })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any browser process it left behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|path| path.is_file())
}

/// One WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let http = client();
        let root = format!("http://127.0.0.1:{}", driver.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{root}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = which("chromium").map_or_else(|| "chromium".to_owned(), |p| p.display().to_string());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,1240",
                    // Loopback only: every other host fails to resolve.
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            },
        }}});
        let answer: Value = send(
            http.post(format!("{root}/session"))
                .body(capabilities.to_string()),
        )
        .await;
        let session = answer["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        Self {
            http,
            session: format!("{root}/session/{session}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let answer = send(request).await;
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits until `script` returns `expected`, polling; panics with the last value after 20 s.
    async fn wait_for(&self, script: &str, expected: Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.eval(script).await;
            if value == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{script}` is {value}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn text(&self, id: &str) -> Value {
        self.eval(&format!("return document.getElementById({id:?}).textContent"))
            .await
    }

    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None).await;
        decode_base64(encoded.as_str().expect("base64 screenshot"))
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

async fn send(request: reqwest::RequestBuilder) -> Value {
    let response = request
        .header("content-type", "application/json")
        .send()
        .await
        .expect("webdriver request");
    let status = response.status();
    let text = response.text().await.expect("webdriver answer");
    let value: Value = serde_json::from_str(&text).expect("webdriver JSON");
    assert!(status.is_success(), "webdriver error {status}: {text}");
    value
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !matches!(c, b'=' | b'\n' | b'\r'))
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// An application with two cached routes (products tagged `products`) and the admin endpoints
/// at `/admin`; counts the product handler's calls.
async fn server() -> (TestServer, Cache, Arc<AtomicUsize>) {
    let cache = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let products = move |Path(id): Path<String>| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            format!("product {id}")
        }
    };
    let articles = |Path(id): Path<String>| async move { format!("article {id}") };
    let ttl = Duration::from_secs(300);
    let endpoints = Admin::new(cache.clone(), TOKEN)
        .unwrap()
        .history(Duration::from_millis(500), 240);
    let router = Router::new()
        .route(
            "/products/{id}",
            get(products).layer(cache.layer(Policy::ttl(ttl).name("/products/{id}").tag("products"))),
        )
        .route(
            "/articles/{id}",
            get(articles).layer(cache.layer(Policy::ttl(ttl).name("/articles/{id}").tag("articles"))),
        )
        .nest("/admin", admin(endpoints));
    (TestServer::axum(router).await, cache, calls)
}

#[tokio::test]
async fn the_dashboard_shows_traffic_and_purges_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
        return;
    };
    // Every step is bounded: the driver (and its browser) is killed on drop even on timeout.
    tokio::time::timeout(Duration::from_secs(180), scenario(&driver))
        .await
        .expect("the browser scenario took over 3 minutes");
    drop(driver);
}

async fn scenario(driver: &Driver) {
    let (server, cache, product_calls) = server().await;
    let http = client();
    // The page needs no token and carries no secret.
    let page = http.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert!(header(&page, "content-security-policy").contains("default-src 'none'"));
    assert!(!page.text().await.unwrap().contains(TOKEN));
    // axum's `nest` does not route `/admin/` to a nested fallback; `nest_service` does.
    let endpoints = Admin::new(Cache::new(), TOKEN).unwrap();
    let slash = TestServer::axum(Router::new().nest_service("/admin", admin(endpoints))).await;
    for path in ["/admin", "/admin/"] {
        assert_eq!(
            http.get(slash.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    drop(slash);

    let browser = Browser::open(driver).await;

    // A wrong token: a clear message, the dashboard stays hidden.
    browser.goto(&server.url("/admin")).await;
    browser.type_into("#token", "not-the-right-token-at-all").await;
    browser.click("#connect").await;
    browser
        .wait_for("return !document.getElementById('error').hidden", json!(true))
        .await;
    let message = browser.text("error").await;
    assert!(
        message.as_str().unwrap().contains("Wrong admin token"),
        "{message}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('dashboard').hidden")
            .await,
        json!(true)
    );
    assert_eq!(browser.eval("return sessionStorage.length").await, json!(0));

    // The right one.
    browser.type_into("#token", TOKEN).await;
    browser.click("#connect").await;
    browser
        .wait_for("return document.getElementById('dashboard').hidden", json!(false))
        .await;
    assert_eq!(browser.eval("return sessionStorage.length").await, json!(1));
    assert_eq!(browser.eval("return localStorage.length").await, json!(0));

    // Traffic in rounds, so the history has a few points: products 1 miss + 5 hits, articles
    // 1 miss + 1 hit: 6 hits, 2 misses overall.
    for round in 0..3 {
        for _ in 0..2 {
            let response = http.get(server.url("/products/1")).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
        if round < 2 {
            http.get(server.url("/articles/1")).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(product_calls.load(Ordering::SeqCst), 1);
    browser
        .wait_for(
            "return document.getElementById('hit-ratio').textContent",
            json!("75.0%"),
        )
        .await;
    assert_eq!(browser.text("entries").await, json!("2"));
    assert_eq!(browser.text("lookups").await, json!("6 / 2"));

    // The per-route table: hits by default (descending), then by name after a click.
    let rows = "return [...document.querySelectorAll('#routes tbody tr')]\
                .map(tr => [...tr.children].slice(0, 5).map(td => td.textContent).join(' '))";
    assert_eq!(
        browser.eval(rows).await,
        json!(["/products/{id} 5 0 1 83.3%", "/articles/{id} 1 0 1 50.0%"])
    );
    browser.click("#routes th[data-key=name]").await;
    assert_eq!(
        browser.eval(rows).await,
        json!(["/articles/{id} 1 0 1 50.0%", "/products/{id} 5 0 1 83.3%"])
    );
    // A route selected: its hit ratio is charted too.
    browser
        .click("#routes tbody tr[data-route='/products/{id}']")
        .await;
    browser
        .wait_for(
            "return document.getElementById('route-legend').hidden",
            json!(false),
        )
        .await;
    browser
        .wait_for(
            "return document.querySelectorAll('#chart-ratio path, #chart-ratio circle').length >= 2 \
             && document.querySelectorAll('#chart-rps path').length >= 1",
            json!(true),
        )
        .await;

    // Purge the products tag through the form, with its confirmation step.
    browser
        .eval("document.getElementById('purge-kind').value = 'tags'")
        .await;
    browser.type_into("#purge-value", "products").await;
    browser.click("#purge-form button[type=submit]").await;
    browser
        .wait_for("return document.getElementById('confirm').hidden", json!(false))
        .await;
    assert_eq!(
        browser.text("confirm-text").await,
        json!("Remove every entry tagged “products”?")
    );
    assert_eq!(
        browser.text("entries").await,
        json!("2"),
        "nothing is removed before confirming"
    );
    // The screenshot for the README: traffic, the table, the purge awaiting confirmation.
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    // Into the browser's throwaway profile (removed with it), unless a path is asked for.
    let path =
        std::env::var_os(SCREENSHOT_VAR).map_or_else(|| driver.profile.join("dashboard.png"), PathBuf::from);
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("dashboard screenshot: {}", path.display());

    browser.click("#confirm-yes").await;
    browser
        .wait_for(
            "return document.getElementById('purge-result').textContent",
            json!("Removed 1 entry."),
        )
        .await;
    // The memory store's entry count is exact once its pending maintenance has run; the page
    // shows it at its next refresh.
    cache.run_pending_tasks().await;
    browser
        .wait_for(
            "return document.getElementById('entries').textContent",
            json!("1"),
        )
        .await;
    let response = http.get(server.url("/products/1")).send().await.unwrap();
    assert!(
        header(&response, "cache-status").contains("fwd=uri-miss"),
        "{:?}",
        response.headers()
    );
    assert_eq!(product_calls.load(Ordering::SeqCst), 2);

    // Forgetting the token brings the form back and clears the session's copy.
    browser.click("#logout").await;
    assert_eq!(browser.eval("return sessionStorage.length").await, json!(0));
    browser.close().await;
}
