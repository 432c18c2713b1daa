//! Request methods: which are safe (RFC 9110 §9.2.1), so that a cache neither stores their
//! responses' side effects away nor lets an unsafe one leave stale responses behind (RFC 9111
//! §4.4).

/// Whether `method` is safe (RFC 9110 §9.2.1): `GET`, `HEAD`, `OPTIONS` and `TRACE`. A
/// successful request with any other method invalidates what is stored for its URI (RFC 9111
/// §4.4). Methods are case-sensitive (RFC 9110 §9.1).
pub(crate) fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safe_methods_are_the_four_of_rfc_9110() {
        for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert!(is_safe_method(method), "{method}");
        }
        for method in ["POST", "PUT", "DELETE", "PATCH", "CONNECT", "PURGE", "get", ""] {
            assert!(!is_safe_method(method), "{method}");
        }
    }
}
