//! The EndpointSlice controller: keeps each selecting Service's EndpointSlices and legacy
//! Endpoints in step with its pods.

pub mod decide;

mod shell;

pub use shell::run;
