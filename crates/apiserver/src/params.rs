//! Query parameters, parsed once into typed values; a bad value is a 400 that names it.

use std::collections::HashMap;

use brume_api::decode::FieldValidation;

use crate::ApiError;

/// The raw query string as key-value pairs (later keys win, as in Go's `url.Values.Get` the first
/// would; Kubernetes clients never repeat keys).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses `a=b&c=d`, percent-decoding both sides.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    /// One parameter, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter: `true`/`1` are true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// An integer parameter, or a 400 naming it.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid value {v:?} for query parameter {key:?}: must be an integer"
                ))
            }),
        }
    }

    /// `dryRun=All` (the only valid non-empty value).
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(v) => Err(ApiError::BadRequest(format!(
                "invalid dryRun value {v:?}: the only supported value is \"All\""
            ))),
        }
    }

    /// `fieldValidation`, defaulting to Warn as Kubernetes does.
    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None | Some("") => Ok(FieldValidation::Warn),
            Some(v) => FieldValidation::parse(v).map_err(|e| ApiError::BadRequest(e.to_string())),
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn percent_decoding_handles_selectors() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5&x=%"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert_eq!(q.get("x"), Some("%"));
        assert!(q.int("x").is_err());
    }
}
