//! Object and port names: RFC 1123 subdomains and labels, path segments and IANA service names,
//! with the rule each kind uses for `metadata.name` (`k8s.io/apimachinery/.../validation`).

use super::errors::{max_len_error, regex_error};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// Which rule a kind's `metadata.name` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// An RFC 1123 subdomain of at most 253 characters: most kinds.
    Subdomain,
    /// An RFC 1123 label of at most 63 characters: namespaces and services, whose names become
    /// DNS labels (`<svc>.<ns>.svc.cluster.local`).
    Label,
}

impl NameRule {
    /// The rule for objects of `kind`.
    pub fn for_kind(kind: &str) -> NameRule {
        match kind {
            // Kubernetes: ValidateNamespaceName = NameIsDNSLabel; Service names with
            // RelaxedServiceNameValidation are DNS labels too.
            "Namespace" | "Service" => NameRule::Label,
            _ => NameRule::Subdomain,
        }
    }

    /// What is wrong with `name` (empty when valid). With `prefix`, `name` is a `generateName`
    /// prefix, which may end in `-` since random characters follow.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.len() > 1 && name.ends_with('-') {
            // Kubernetes' maskTrailingDash.
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => dns1123_subdomain(name),
            NameRule::Label => dns1123_label(name),
        }
    }
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, without a length limit.
fn is_label_pattern(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_lower_alnum(first) && is_lower_alnum(last) && b.iter().all(|&c| is_label_char(c))
        }
        _ => false,
    }
}

/// What makes `s` not a lowercase RFC 1123 label (`my-name`); empty when it is one.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !is_label_pattern(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// What makes `s` not a lowercase RFC 1123 subdomain (`example.com`); empty when it is one.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !s.split('.').all(is_label_pattern) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// What makes `s` unusable as one segment of a URL path (`IsValidPathSegmentName`), as required
/// of the names in an HPA's `scaleTargetRef`.
pub fn path_segment(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| s.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// What makes `s` not an IANA service name, the form of named ports (`http`, `metrics-1`);
/// Kubernetes' `IsValidPortName`.
pub fn port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push(max_len_error(15));
    }
    if s.is_empty() || !s.bytes().all(is_label_char) {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for ok in [
            "a",
            "web",
            "web-1",
            "example.com",
            "a.b-c.d",
            "123",
            &"a".repeat(253),
        ] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "", "Web", "web_1", "-web", "web-", "a..b", ".a", "a.", "a b", "wéb",
        ] {
            let errs = dns1123_subdomain(bad);
            assert_eq!(errs.len(), 1, "{bad}");
            assert!(
                errs[0].starts_with("a lowercase RFC 1123 subdomain must consist of"),
                "{}",
                errs[0]
            );
        }
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }

    #[test]
    fn labels() {
        assert!(dns1123_label("my-name").is_empty());
        assert!(dns1123_label("123-abc").is_empty());
        assert_eq!(
            dns1123_label("a.b"),
            [
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
              '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
              '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert_eq!(dns1123_label(&"a".repeat(64)).len(), 1);
    }

    #[test]
    fn kinds_choose_their_rule_and_prefixes_may_end_in_a_dash() {
        assert_eq!(NameRule::for_kind("Namespace"), NameRule::Label);
        assert_eq!(NameRule::for_kind("Service"), NameRule::Label);
        assert_eq!(NameRule::for_kind("Node"), NameRule::Subdomain);
        assert!(NameRule::Label.check("a.b", false).len() == 1);
        assert!(NameRule::Subdomain.check("a.b", false).is_empty());
        assert!(NameRule::Subdomain.check("web-", true).is_empty());
        assert_eq!(NameRule::Subdomain.check("web-", false).len(), 1);
        assert_eq!(NameRule::Subdomain.check("Web-", true).len(), 1);
    }

    #[test]
    fn path_segments_and_port_names() {
        assert!(path_segment("web").is_empty());
        assert_eq!(path_segment(".."), ["may not be '..'"]);
        assert_eq!(
            path_segment("a/b%"),
            ["may not contain '/'", "may not contain '%'"]
        );
        assert!(port_name("http").is_empty());
        assert!(port_name("metrics-1").is_empty());
        assert_eq!(port_name("80"), ["must contain at least one letter (a-z)"]);
        assert_eq!(
            port_name("a--b-"),
            [
                "must not contain consecutive hyphens",
                "must not begin or end with a hyphen"
            ]
        );
        assert_eq!(
            port_name("abcdefghijklmnop"),
            ["must be no more than 15 characters"]
        );
        assert_eq!(port_name("HTTP").len(), 2);
    }
}
