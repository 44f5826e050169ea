//! The kinds with only a few defaults: Namespace, Secret, Node, Endpoints and EndpointSlice.

use serde_json::{Map, Value, json};

use super::{each, existing, object_at, set_default};

/// A new Namespace is `Active` (`SetDefaults_NamespaceStatus`).
pub(super) fn namespace(obj: &mut Map<String, Value>) {
    if let Some(status) = object_at(obj, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

/// A Secret is `Opaque` unless typed, and its write-only `stringData` is folded into `data` as
/// base64, overriding `data` keys, as the Kubernetes API server does on every write.
pub(super) fn secret(obj: &mut Map<String, Value>) {
    set_default(obj, "type", json!("Opaque"));
    let Some(Value::Object(string_data)) = obj.shift_remove("stringData") else {
        return;
    };
    if let Some(data) = object_at(obj, "data") {
        for (key, value) in string_data {
            if let Value::String(text) = value {
                data.insert(key, Value::String(base64(text.as_bytes())));
            }
        }
    }
}

/// A Node that reports capacity but not allocatable can allocate its whole capacity
/// (`SetDefaults_NodeStatus`).
pub(super) fn node(obj: &mut Map<String, Value>) {
    let Some(status) = existing(obj, "status") else {
        return;
    };
    if let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned() {
        set_default(status, "allocatable", capacity);
    }
}

/// Endpoint ports are TCP unless said otherwise.
pub(super) fn endpoints(obj: &mut Map<String, Value>) {
    for subset in each(obj, "subsets") {
        for port in each(subset, "ports") {
            set_default(port, "protocol", json!("TCP"));
        }
    }
}

/// EndpointSlice ports are TCP and unnamed unless said otherwise.
pub(super) fn endpoint_slice(obj: &mut Map<String, Value>) {
    for port in each(obj, "ports") {
        set_default(port, "name", json!(""));
        set_default(port, "protocol", json!("TCP"));
    }
}

/// Standard base64 with padding (RFC 4648 §4), the encoding of `data` in Secrets.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
