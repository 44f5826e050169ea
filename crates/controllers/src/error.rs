//! The one error type of the controllers, carrying its cause.

/// Why a reconcile or a controller failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Api {
        /// What the controller was doing (`create pod for replicaset default/web`).
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// An object the controller manages is malformed in a way validation let through.
    #[error("{object}: {detail}")]
    Invalid {
        /// The object, as `kind namespace/name`.
        object: String,
        /// What is wrong and what would be valid.
        detail: String,
    },
    /// A controller's watch stream ended or a task panicked.
    #[error("controller {name} stopped: {detail}")]
    Stopped {
        /// The controller's name.
        name: &'static str,
        /// Why it stopped.
        detail: String,
    },
}

impl ControllerError {
    /// Wraps a client error with what the controller was doing.
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        ControllerError::Api {
            action: action.into(),
            source,
        }
    }
}

/// Whether a client error is the API server's 404 Not Found.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a client error is the API server's 409 Conflict or AlreadyExists.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
