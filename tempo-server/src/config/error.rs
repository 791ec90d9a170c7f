//! error: why can a configuration not be used?

use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read; the I/O error is the source.
    #[error("reading config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The text is not valid YAML, or a value has the wrong type or is out of range. The
    /// message names the key and ends with the position, as
    /// `ingester.trace_idle_period: invalid duration "5x": unknown unit "x" at line 3 column 22`.
    #[error("{message}")]
    Parse {
        /// What is wrong, where.
        message: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
    },
    /// A combination of settings that cannot work.
    #[error("{key}: {message}")]
    Invalid {
        /// The dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The error of the YAML parser, with its position.
    pub(super) fn from_yaml(error: serde_norway::Error) -> ConfigError {
        let location = error.location();
        ConfigError::Parse {
            message: error.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    }
}
