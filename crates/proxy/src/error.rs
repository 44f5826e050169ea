//! The proxy's errors: a bad routing choice, defined with its parser in brume-fog.

pub use brume_fog::routing_spec::RoutingError;
