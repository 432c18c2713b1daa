//! The error type of the public API.

use std::fmt;

/// An error from cachefront: a configuration that cannot work, or a store that failed.
///
/// The cache itself never turns a store error into a failed request (it fails open); these
/// errors reach you from configuration, from [`Store`](crate::store::Store) calls you make yourself, and
/// from invalidation.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting has a value that cannot work; the message names the setting and the accepted
    /// form.
    Config,
    /// A store operation failed (I/O, timeout, corrupt data).
    Store,
}

impl Error {
    /// A configuration error naming `setting`.
    pub fn config(setting: &str, message: impl fmt::Display) -> Self {
        Self {
            kind: ErrorKind::Config,
            message: format!("invalid `{setting}`: {message}"),
            source: None,
        }
    }

    /// A store error with its cause.
    pub fn store(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind: ErrorKind::Store,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// `{:?}` reads as the message (what `main` prints when it returns the error with `?`);
/// `{:#?}` shows the fields.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{self} ({:?} error)", self.kind);
        }
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_as_the_message_and_alternate_debug_shows_the_fields() {
        let error = Error::config("CACHEFRONT_MAX_BYTES", "expected a size such as `64MiB`");
        assert_eq!(
            format!("{error:?}"),
            "invalid `CACHEFRONT_MAX_BYTES`: expected a size such as `64MiB` (Config error)"
        );
        assert!(format!("{error:#?}").contains("kind: Config"));
    }
}
