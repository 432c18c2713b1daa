//! Route patterns (`/products/{id}`) and the templates filled from them (`product:{id}`).

/// A route pattern in axum/actix syntax: literal segments, `{name}` parameters and a final
/// `{*name}` (axum) or `{name:.*}`-style catch-all written as `{*name}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RoutePattern {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl RoutePattern {
    /// Parses a pattern; `None` when it has no parameters (nothing to extract).
    pub(crate) fn parse(pattern: &str) -> Option<Self> {
        if !pattern.contains('{') {
            return None;
        }
        let segments = pattern
            .trim_start_matches('/')
            .split('/')
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_prefix('*') {
                        Some(rest) => Segment::Rest(rest.to_owned()),
                        None => Segment::Param(name.split(':').next().unwrap_or(name).to_owned()),
                    },
                    None => Segment::Literal(segment.to_owned()),
                },
            )
            .collect();
        Some(Self { segments })
    }

    /// The parameters of `path`, or `None` when the path does not match the pattern.
    pub(crate) fn params<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let mut params = Vec::new();
        let mut rest = path.trim_start_matches('/');
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::Rest(name) = segment {
                params.push((name.as_str(), rest));
                return Some(params);
            }
            let (part, tail) = rest.split_once('/').unwrap_or((rest, ""));
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Param(name) if !part.is_empty() => params.push((name.as_str(), part)),
                _ => return None,
            }
            let last = i + 1 == self.segments.len();
            if last && !tail.is_empty() {
                return None;
            }
            rest = tail;
        }
        Some(params)
    }
}

/// Fills `{name}` placeholders of `template` from `params`; `None` when one is missing.
pub(crate) fn fill(template: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 1..end];
        let value = params.iter().find(|(n, _)| *n == name)?.1;
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_parameters() {
        let p = RoutePattern::parse("/products/{id}/reviews/{review}").unwrap();
        assert_eq!(
            p.params("/products/42/reviews/7"),
            Some(vec![("id", "42"), ("review", "7")])
        );
        assert_eq!(p.params("/products/42/reviews"), None);
        assert_eq!(p.params("/products/42/reviews/7/x"), None);
        assert_eq!(p.params("/items/42/reviews/7"), None);
        let rest = RoutePattern::parse("/files/{*path}").unwrap();
        assert_eq!(rest.params("/files/a/b.txt"), Some(vec![("path", "a/b.txt")]));
        assert!(RoutePattern::parse("/plain").is_none());
    }

    #[test]
    fn fills_templates() {
        let params = [("id", "42")];
        assert_eq!(fill("product:{id}", &params).as_deref(), Some("product:42"));
        assert_eq!(fill("catalog", &params).as_deref(), Some("catalog"));
        assert_eq!(fill("product:{sku}", &params), None);
        assert_eq!(fill("broken:{id", &params), None);
    }
}
