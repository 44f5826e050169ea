//! Bearer-token authentication: the admin token, join tokens and node credentials
//! ([`crate::tokens`]). Only the health endpoints and `/version` are open (DESIGN §10). The
//! caller's [`Identity`] rides on the request for the handlers to authorize.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use brume_api::authz::Identity;

use crate::{ApiError, AppState};

/// Rejects a request whose `Authorization: Bearer` token is missing or unknown with 401, and
/// attaches the caller's [`Identity`] to the others.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let identity = match presented {
        Some(token) if constant_time_eq(token.as_bytes(), state.config.token.as_bytes()) => {
            Some(Identity::Admin)
        }
        Some(token) => state.tokens.identity(token, chrono::Utc::now()),
        None => None,
    };
    match identity {
        Some(identity) => {
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
