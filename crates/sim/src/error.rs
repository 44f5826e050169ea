//! The one error type of the simulator. Each message names what was wrong, where, and what
//! would be valid (STYLE §5).

use std::path::PathBuf;

use brume_fog::FogError;
use thiserror::Error;

/// Why a simulation could not run or could not write its results.
#[derive(Debug, Error)]
pub enum SimError {
    /// A file could not be read.
    // The cause is in the message, and not also a `source`, so that it is printed once.
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A latency matrix file is not a valid RTT matrix.
    #[error("{}: {cause}", path.display())]
    Matrix {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the line and column.
        cause: FogError,
    },
    /// A result could not be written.
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A setting is out of range.
    #[error("{name} is {value}; valid: {valid}")]
    Setting {
        /// The setting, as its command-line flag.
        name: &'static str,
        /// The value given.
        value: String,
        /// What would be valid.
        valid: String,
    },
    /// A fog function refused its input.
    #[error(transparent)]
    Fog(#[from] FogError),
    /// A plot could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}
