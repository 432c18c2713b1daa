//! The dashboard: one self-contained HTML page, served at `GET /` with a content security policy
//! that lets only its own inline script run.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::response::AdminResponse;

/// The dashboard: one self-contained page (inline style and script, no external asset).
const DASHBOARD: &str = include_str!("dashboard.html");

impl AdminResponse {
    /// The dashboard page, with headers that keep it from loading anything but its own inline
    /// script and the admin endpoints beside it.
    pub(super) fn dashboard() -> Self {
        static POLICY: OnceLock<String> = OnceLock::new();
        let policy = POLICY.get_or_init(|| {
            // Only this exact script may run: its hash, not 'unsafe-inline'.
            let script = DASHBOARD
                .split_once("<script>")
                .and_then(|(_, rest)| rest.split_once("</script>"))
                .map_or("", |(script, _)| script);
            let hash = base64(&Sha256::digest(script.as_bytes()));
            format!(
                "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'"
            )
        });
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: DASHBOARD.to_owned(),
            headers: vec![
                ("content-security-policy", policy.as_str()),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
            ],
        }
    }
}

/// Standard base64 with padding (for the script's hash).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
