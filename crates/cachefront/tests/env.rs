//! Configuration from the environment: each case runs in a child process of this test binary
//! with its own variables, so no test changes the environment of another.

use std::process::Command;

/// Runs the ignored test `case` of this binary in a child process with `vars` set (and every
/// other `CACHEFRONT_*` variable removed); returns its combined output and whether it passed.
fn run_case(case: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([case, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars() {
        if name.starts_with("CACHEFRONT_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success() && text.contains("1 passed"), text)
}

/// Prints what `Cache::from_env` made of the environment; the parent asserts on it.
#[test]
#[ignore = "a child-process case, run by the tests below"]
fn build_from_env() {
    match cachefront::Cache::from_env() {
        Ok(cache) => println!("BUILT max_bytes={:?}", cache.stats().capacity_bytes),
        Err(error) => println!("ERROR {error}"),
    }
}

#[test]
fn the_environment_configures_the_cache_and_malformed_values_name_their_variable() {
    let (ok, out) = run_case(
        "build_from_env",
        &[
            ("CACHEFRONT_MAX_BYTES", "2MiB"),
            ("CACHEFRONT_CACHE_NAME", "edge-1"),
        ],
    );
    assert!(ok && out.contains("BUILT max_bytes=Some(2097152)"), "{out}");
    let (ok, out) = run_case("build_from_env", &[("CACHEFRONT_CACHE_NAME", "not a token")]);
    assert!(
        ok && out.contains("ERROR invalid `CACHEFRONT_CACHE_NAME`"),
        "{out}"
    );
    let (ok, out) = run_case("build_from_env", &[("CACHEFRONT_MAX_BYTES", "lots")]);
    assert!(
        ok && out.contains("ERROR invalid `CACHEFRONT_MAX_BYTES`"),
        "{out}"
    );
}

/// A Redis URL is never ignored: without the `redis` feature it is an error saying so.
#[cfg(not(feature = "redis"))]
#[test]
fn a_redis_url_without_the_redis_feature_is_an_error_naming_the_feature() {
    let (ok, out) = run_case(
        "build_from_env",
        &[("CACHEFRONT_REDIS_URL", "redis://user:hunter2@127.0.0.1:6379")],
    );
    assert!(
        ok && out.contains("ERROR invalid `CACHEFRONT_REDIS_URL`"),
        "{out}"
    );
    assert!(out.contains("`redis` feature"), "{out}");
    assert!(
        !out.contains("hunter2"),
        "the URL's password is not printed: {out}"
    );
}
