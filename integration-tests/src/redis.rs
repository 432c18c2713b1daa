//! Real `redis-server` processes for tests: on a free 127.0.0.1 port, in a temporary
//! directory, with persistence off, killed when dropped.
//!
//! Nothing is skipped: where `redis-server` is missing, starting one panics with a message
//! saying how to install it.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// How long a server may take to answer `PING` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One `redis-server` on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
    /// Whether the port speaks TLS only (then readiness is read from the log, not a `PING`).
    tls: bool,
}

impl RedisServer {
    /// One instance of an application on this server: a [`Cache`](cachefront::Cache) with
    /// memory in front of Redis (keys under `prefix`), with a Redis timeout generous enough for
    /// a busy machine.
    pub async fn tiered_cache(&self, prefix: &str) -> cachefront::Cache {
        use cachefront::store::{MemoryStore, RedisStore, TieredStore};
        let redis = RedisStore::builder(self.url())
            .prefix(prefix)
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .expect("a Redis store (it fails open, so connecting succeeds)");
        cachefront::Cache::builder()
            .store(TieredStore::new(MemoryStore::new(), redis))
            .build()
            .expect("a cache on a tiered store")
    }

    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server on a free port with extra `redis-server` arguments.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let port = free_port();
        let dir = temp_dir(port);
        let mut server = Self {
            child: None,
            port,
            dir,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            tls: false,
        };
        server.spawn();
        server
    }

    /// Starts a server that speaks TLS only, on a free port (`--port 0 --tls-port PORT`), with
    /// certificates made by `openssl` in its directory: a CA (`ca.pem`) and a server
    /// certificate it signed for `127.0.0.1` and `localhost`. Clients need not present a
    /// certificate. Also writes `other-ca.pem`, a CA that signed nothing.
    ///
    /// Panics, saying why, where `openssl` is missing or `redis-server` was built without TLS.
    pub fn start_tls() -> Self {
        let port = free_port();
        let dir = temp_dir(port);
        make_certificates(&dir);
        Self::spawn_tls(port, dir.clone(), &dir, &[])
    }

    /// As [`start_tls`](Self::start_tls), but clients must present a certificate the CA
    /// signed (`--tls-auth-clients yes`): [`tls_client_certificate`](Self::tls_client_certificate)
    /// is one.
    pub fn start_mutual_tls() -> Self {
        let port = free_port();
        let dir = temp_dir(port);
        make_certificates(&dir);
        Self::spawn_tls(port, dir.clone(), &dir, &["--tls-auth-clients", "yes"])
    }

    /// A certificate and key (PEM) the server's CA signed, valid for client authentication.
    pub fn tls_client_certificate(&self) -> (Vec<u8>, Vec<u8>) {
        let read = |name: &str| std::fs::read(self.dir.join(name)).expect("certificate file");
        (read("server.pem"), read("server.key"))
    }

    /// A TLS-only server on `port` in `dir`, with the certificates in `certificates` and extra
    /// `redis-server` arguments.
    fn spawn_tls(port: u16, dir: PathBuf, certificates: &Path, extra_args: &[&str]) -> Self {
        let file = |name: &str| certificates.join(name).to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &file("server.pem"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            "no",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        let mut server = Self {
            child: None,
            port,
            dir,
            extra_args: args,
            tls: true,
        };
        server.spawn();
        server
    }

    /// `rediss://127.0.0.1:PORT`, for a server from [`start_tls`](Self::start_tls).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The PEM of the CA that signed the certificate of a [`start_tls`](Self::start_tls) server.
    pub fn tls_ca(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.pem")).expect("ca.pem")
    }

    /// The PEM of a CA that signed nothing this server presents.
    pub fn tls_other_ca(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("other-ca.pem")).expect("other-ca.pem")
    }

    fn spawn(&mut self) {
        if self.tls {
            // Readiness is read from the log: a previous run's must not answer for this one.
            let _ = std::fs::remove_file(self.dir.join("redis.log"));
        }
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start `redis-server` ({error}): these tests need a real Redis. Install it \
                     (Debian/Ubuntu: `apt-get install redis-server`; `bash scripts/test.sh` does this) \
                     and run the tests again"
                )
            });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server on port {} exited with {status}; log:\n{}",
                    self.port,
                    std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
                );
            }
            let ready = if self.tls {
                std::fs::read_to_string(self.dir.join("redis.log"))
                    .is_ok_and(|log| log.contains("Ready to accept connections"))
            } else {
                ping(self.port)
            };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
            self.port
        );
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)), empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of `n` primaries (no replicas) on 127.0.0.1, created with
/// `redis-cli --cluster create`; every node is killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// For a TLS cluster: the directory of the certificates every node shares.
    certificates: Option<PathBuf>,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if let Some(dir) = &self.certificates {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl RedisCluster {
    /// Starts `n` (at least 3) nodes and joins them into one cluster covering every slot.
    pub fn start(n: usize) -> Self {
        let nodes = (0..n)
            .map(|_| {
                let args = cluster_node_args(false);
                RedisServer::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .collect();
        Self::join(nodes, None)
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Starts `n` (at least 3) nodes that speak TLS only, clients and cluster bus alike
    /// (`--tls-cluster yes`), with one CA's certificates made by `openssl` (see
    /// [`RedisServer::start_tls`]), and joins them into one cluster.
    pub fn start_tls(n: usize) -> Self {
        let certificates = temp_dir(0);
        make_certificates(&certificates);
        let nodes = (0..n)
            .map(|_| {
                let port = free_port();
                let args = cluster_node_args(true);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                RedisServer::spawn_tls(port, temp_dir(port), &certificates, &args)
            })
            .collect();
        Self::join(nodes, Some(certificates))
    }

    /// Joins started nodes into one cluster covering every slot (`redis-cli --cluster create`,
    /// over TLS with the CA in `certificates` when given), and waits until every node reports
    /// `cluster_state:ok`.
    fn join(nodes: Vec<RedisServer>, certificates: Option<PathBuf>) -> Self {
        let cli =
            |args: &[String]| {
                let mut command = Command::new("redis-cli");
                if let Some(dir) = &certificates {
                    command.arg("--tls").arg("--cacert").arg(dir.join("ca.pem"));
                }
                command.args(args).stdin(Stdio::null()).output().unwrap_or_else(|error| {
                panic!("cannot run `redis-cli` ({error}): install redis-tools (apt-get install redis-server)")
            })
            };
        let mut create: Vec<String> = vec!["--cluster".into(), "create".into()];
        create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let output = cli(&create);
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let ok = |port: u16| {
            let output = cli(&["-p".into(), port.to_string(), "CLUSTER".into(), "INFO".into()]);
            String::from_utf8_lossy(&output.stdout).contains("cluster_state:ok")
        };
        let started = Instant::now();
        while !nodes.iter().all(|n| ok(n.port)) {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { nodes, certificates }
    }

    /// The nodes' `rediss://` URLs, for a cluster from [`start_tls`](Self::start_tls).
    pub fn tls_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::tls_url).collect()
    }

    /// The PEM of the CA that signed every node's certificate (a [`start_tls`](Self::start_tls)
    /// cluster).
    pub fn tls_ca(&self) -> Vec<u8> {
        let dir = self.certificates.as_ref().expect("a TLS cluster");
        std::fs::read(dir.join("ca.pem")).expect("ca.pem")
    }
}

/// Runs `openssl` in `dir`, panicking with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `openssl` ({error}): install it (apt-get install openssl)")
        });
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a server certificate it signs for 127.0.0.1 and localhost (P-256 keys, valid a day),
/// and a second, unrelated CA.
fn make_certificates(dir: &Path) {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "1",
                "-subj",
                &format!("/CN=cachefront test {ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    );
}

/// A port that was free a moment ago on 127.0.0.1.
/// The arguments of a cluster node (TLS on the cluster bus too when `tls`). The bus port is
/// given explicitly: by default it is the client port + 10000, which may be taken (another
/// test's server) or past 65535.
fn cluster_node_args(tls: bool) -> Vec<String> {
    let mut args: Vec<String> = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        .into_iter()
        .chain(["--cluster-node-timeout", "2000", "--cluster-port"])
        .map(String::from)
        .collect();
    args.push(free_port().to_string());
    if tls {
        args.extend(["--tls-cluster", "yes"].map(String::from));
    }
    args
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn temp_dir(port: u16) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cachefront-redis-{}-{}-{port}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory for redis-server");
    dir
}

/// Sends one inline command and reads what comes back within a short time.
fn inline_command(port: u16, command: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut buffer = vec![0; 4096];
    let read = stream.read(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..read]).into_owned())
}

fn ping(port: u16) -> bool {
    inline_command(port, "PING").is_some_and(|reply| reply.starts_with("+PONG"))
}
