//! API errors and their one conversion into a Kubernetes `Status` response (STYLE.md point 5).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brume_api::FieldError;
use brume_api::ResourceInfo;
use serde_json::{Value, json};

/// Why a request failed. Each variant carries what the user needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or a wrong bearer token.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: the request is understood but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the object, or the URL, does not exist.
    #[error("{message}")]
    NotFound {
        /// The user-facing message.
        message: String,
        /// The `details` of the Status (`name`, `group`, `kind`).
        details: Value,
    },
    /// 405: the verb is not served for this resource.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409 AlreadyExists.
    #[error("{message}")]
    AlreadyExists {
        /// The user-facing message.
        message: String,
        /// The `details` of the Status.
        details: Value,
    },
    /// 409 Conflict: a stale resourceVersion or a failed precondition.
    #[error("{message}")]
    Conflict {
        /// The user-facing message.
        message: String,
        /// The `details` of the Status.
        details: Value,
    },
    /// 410 Gone: the requested resourceVersion has been compacted.
    #[error("{0}")]
    Gone(String),
    /// 413: the body is over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the content type is not supported for this verb.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the object failed validation.
    #[error("{message}")]
    Invalid {
        /// The user-facing message, listing every cause.
        message: String,
        /// The `details` of the Status, with `causes`.
        details: Value,
    },
    /// 500: the store or the server failed.
    #[error("{0}")]
    Internal(String),
}

/// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
pub fn qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

fn details(info: &ResourceInfo, name: &str) -> Value {
    json!({"name": name, "group": info.group, "kind": info.plural})
}

impl ApiError {
    /// 404 for a named object.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        ApiError::NotFound {
            message: format!("{} \"{name}\" not found", qualified(info)),
            details: details(info, name),
        }
    }

    /// 409 AlreadyExists for a named object.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        ApiError::AlreadyExists {
            message: format!("{} \"{name}\" already exists", qualified(info)),
            details: details(info, name),
        }
    }

    /// 409 Conflict for a write against a stale resourceVersion.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(info)
            ),
            details: details(info, name),
        }
    }

    /// 409 Conflict with a custom reason text (a failed delete precondition, say).
    pub fn conflict_because(info: &ResourceInfo, name: &str, why: &str) -> Self {
        ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(info)
            ),
            details: details(info, name),
        }
    }

    /// 422 Invalid listing every field error.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        let list: Vec<String> = errors.iter().map(FieldError::message).collect();
        let message = if list.len() == 1 {
            format!("{} \"{name}\" is invalid: {}", info.kind, list[0])
        } else {
            format!("{} \"{name}\" is invalid: [{}]", info.kind, list.join(", "))
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| {
                // kubectl prints "<field>: <message>", so the cause's message leaves the field out.
                let full = e.message();
                let message = full
                    .strip_prefix(&format!("{}: ", e.field))
                    .unwrap_or(&full)
                    .to_string();
                json!({"reason": e.kind.cause_type(), "message": message, "field": e.field})
            })
            .collect();
        ApiError::Invalid {
            message,
            details: json!({"name": name, "group": info.group, "kind": info.kind, "causes": causes}),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<&Value>) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest", None),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden", None),
            ApiError::NotFound { details, .. } => {
                (StatusCode::NOT_FOUND, "NotFound", Some(details))
            }
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", None)
            }
            ApiError::AlreadyExists { details, .. } => {
                (StatusCode::CONFLICT, "AlreadyExists", Some(details))
            }
            ApiError::Conflict { details, .. } => (StatusCode::CONFLICT, "Conflict", Some(details)),
            ApiError::Gone(_) => (StatusCode::GONE, "Expired", None),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", None),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                None,
            ),
            ApiError::Invalid { details, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Invalid", Some(details))
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", None),
        }
    }

    /// The `Status` object for this error, as the body of a response or a watch ERROR event.
    pub fn status(&self) -> Value {
        let (code, reason, details) = self.parts();
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code.as_u16(),
        });
        if let Some(d) = details {
            status["details"] = d.clone();
        }
        status
    }
}

impl From<brume_store::StoreError> for ApiError {
    fn from(e: brume_store::StoreError) -> Self {
        match e {
            brume_store::StoreError::Compacted { requested, oldest } => {
                ApiError::Gone(format!("too old resource version: {requested} ({oldest})"))
            }
            other => ApiError::Internal(format!("storage error: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, _, _) = self.parts();
        if matches!(self, ApiError::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if code == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"brume\""),
            );
        }
        resp
    }
}
