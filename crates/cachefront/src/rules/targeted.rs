//! Targeted cache-control fields such as `CDN-Cache-Control` (RFC 9213 §2): a Structured
//! Fields dictionary read into a [`CacheControl`].

use super::CacheControl;

impl CacheControl {
    /// Parses a targeted cache-control field (RFC 9213 §2.1), a Structured Fields dictionary.
    /// Returns `None` when the field is not a valid dictionary: it is then ignored.
    pub fn from_targeted(value: &[u8]) -> Option<Self> {
        let dictionary: sfv::Dictionary = sfv::Parser::new(value).parse().ok()?;
        // An empty field is not a valid directive set: the next field, or Cache-Control, governs
        // (RFC 9213 §2.2).
        if dictionary.is_empty() {
            return None;
        }
        let mut cc = Self::default();
        for (key, entry) in &dictionary {
            let sfv::ListEntry::Item(item) = entry else {
                continue;
            };
            let flag = item.bare_item.as_boolean() == Some(true);
            let seconds = || {
                item.bare_item
                    .as_integer()
                    .map(i64::from)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or(())
            };
            match key.as_str() {
                "no-store" => cc.no_store = flag,
                "no-cache" => cc.no_cache = flag,
                "private" => cc.private = flag,
                "public" => cc.public = flag,
                "must-revalidate" => cc.must_revalidate = flag,
                "proxy-revalidate" => cc.proxy_revalidate = flag,
                "max-age" => cc.max_age = Some(seconds()),
                "s-maxage" => cc.s_maxage = Some(seconds()),
                "stale-while-revalidate" => cc.stale_while_revalidate = seconds().ok(),
                "stale-if-error" => cc.stale_if_error = seconds().ok(),
                _ => {}
            }
        }
        Some(cc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targeted_fields_are_structured_dictionaries() {
        let t = CacheControl::from_targeted(b"max-age=60, must-revalidate").unwrap();
        assert_eq!(t.max_age, Some(Ok(60)));
        assert!(t.must_revalidate);
        assert!(CacheControl::from_targeted(b"no-store").unwrap().no_store);
        // Not a valid dictionary (a quoted number is a string, and `max-age=` has no value).
        assert!(CacheControl::from_targeted(b"max-age=").is_none());
        assert_eq!(
            CacheControl::from_targeted(b"max-age=\"60\"").unwrap().max_age,
            Some(Err(()))
        );
    }
}
