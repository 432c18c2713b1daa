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

    /// The message and its causes on one line (`message: cause: cause`), for logs.
    pub(crate) fn report(&self) -> impl fmt::Display + '_ {
        struct Report<'a>(&'a Error);
        impl fmt::Display for Report<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0.message)?;
                let mut cause = std::error::Error::source(self.0);
                while let Some(error) = cause {
                    write!(f, ": {error}")?;
                    cause = error.source();
                }
                Ok(())
            }
        }
        Report(self)
    }
}

/// `{:?}` reads as the message followed by its causes (what `main` prints when it returns the
/// error with `?`); `{:#?}` shows the fields.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{} ({:?} error)", self.report(), self.kind);
        }
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

/// The message alone: the cause is [`source`](std::error::Error::source), so that error
/// reporters (`anyhow`, `eyre`, `tracing`'s error fields) print each cause once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
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

    #[test]
    fn display_does_not_repeat_the_source_and_debug_lists_the_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let error = Error::store("Redis GET failed", io);
        assert_eq!(error.to_string(), "Redis GET failed");
        let source = std::error::Error::source(&error).expect("the cause is the source");
        assert_eq!(source.to_string(), "read timed out");
        assert_eq!(
            format!("{error:?}"),
            "Redis GET failed: read timed out (Store error)"
        );
        assert_eq!(error.report().to_string(), "Redis GET failed: read timed out");
    }
}
