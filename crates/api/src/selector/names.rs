//! Label key and value rules, as Kubernetes states them in
//! k8s.io/apimachinery `pkg/util/validation` (`IsQualifiedName`, `IsValidLabelValue`).

/// The longest name part of a qualified name, and the longest label value.
const MAX_NAME: usize = 63;
/// The longest DNS-1123 subdomain, used as a key prefix.
const MAX_PREFIX: usize = 253;

const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must \
     start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters. The error says what a valid key looks like.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty when a '/' is present".into());
        }
        check_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "name part must be no more than {MAX_NAME} characters"
        ));
    }
    if !is_name(name) {
        return Err(format!(
            "name part {NAME_RULE}, with an optional DNS subdomain prefix and '/' \
             (e.g. 'example.com/MyName')"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or a name of at most 63 characters.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_NAME {
        return Err(format!("must be no more than {MAX_NAME} characters"));
    }
    if !value.is_empty() && !is_name(value) {
        return Err(format!("a valid label value must be empty or {NAME_RULE}"));
    }
    Ok(())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A lowercase RFC 1123 subdomain: dot-separated labels of `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn check_subdomain(s: &str) -> Result<(), String> {
    if s.len() > MAX_PREFIX {
        return Err(format!("must be no more than {MAX_PREFIX} characters"));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(edge)
            && b.last().is_some_and(edge)
            && b.iter().all(|c| edge(c) || *c == b'-')
    };
    if s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(
            "must be a lowercase RFC 1123 subdomain: lower case alphanumeric characters, '-' \
             or '.', starting and ending with an alphanumeric character (e.g. 'example.com')"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_qualified_name_rules() {
        for ok in [
            "app",
            "a",
            "App_1.x-y",
            "example.com/app",
            "k8s.io/a",
            &"a".repeat(63),
        ] {
            assert_eq!(check_key(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "non-empty"),
            ("-app", "alphanumeric"),
            ("app-", "alphanumeric"),
            ("a b", "alphanumeric"),
            ("/app", "prefix part must be non-empty"),
            ("example.com/", "name part must be non-empty"),
            ("Example.com/app", "RFC 1123"),
            ("ex..com/app", "RFC 1123"),
            ("a/b/c", "name part"),
        ];
        for (key, want) in cases {
            let err = check_key(key).unwrap_err();
            assert!(err.contains(want), "{key}: {err}");
        }
        assert!(check_key(&"a".repeat(64)).unwrap_err().contains("63"));
        let long_prefix = format!("{}/a", "a".repeat(254));
        assert!(check_key(&long_prefix).unwrap_err().contains("253"));
    }

    #[test]
    fn values_may_be_empty_but_not_malformed() {
        for ok in ["", "web", "v1.2_3-x", &"x".repeat(63)] {
            assert_eq!(check_value(ok), Ok(()), "{ok}");
        }
        assert!(check_value("-x").unwrap_err().contains("alphanumeric"));
        assert!(check_value("a/b").unwrap_err().contains("alphanumeric"));
        assert!(check_value(&"x".repeat(64)).unwrap_err().contains("63"));
    }
}
