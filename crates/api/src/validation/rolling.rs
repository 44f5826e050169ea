//! `maxSurge` and `maxUnavailable` of rolling updates: a non-negative count or a percentage, not
//! both zero, and never more than 100% unavailable (`ValidateRollingUpdateDeployment`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::errors::{forbidden, invalid_str, not_supported, quote, regex_error};
use crate::error::FieldError;

/// Validates an update strategy at `path` (`spec.strategy`, `spec.updateStrategy`): its type is
/// `RollingUpdate` (the default) or `other` (`Recreate`, `OnDelete`), `rollingUpdate` may only
/// go with `RollingUpdate`, and its bounds are checked with [`validate`].
pub(super) fn validate_strategy(
    type_: Option<&str>,
    rolling_update: Option<(Option<&IntOrString>, Option<&IntOrString>)>,
    path: &str,
    other: &str,
    errs: &mut Vec<FieldError>,
) {
    match type_ {
        Some(t) if t == other => {
            if rolling_update.is_some() {
                errs.push(forbidden(
                    format!("{path}.rollingUpdate"),
                    format!("may not be specified when strategy `type` is '{other}'"),
                ));
            }
        }
        Some("RollingUpdate") | None => {
            if let Some((surge, unavailable)) = rolling_update {
                validate(surge, unavailable, &format!("{path}.rollingUpdate"), errs);
            }
        }
        Some(t) => errs.push(not_supported(
            format!("{path}.type"),
            t,
            &[other, "RollingUpdate"],
        )),
    }
}

/// Validates a rolling update's bounds at `path` (`spec.strategy.rollingUpdate`). Absent values
/// are left to defaulting.
pub(super) fn validate(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let surge_field = format!("{path}.maxSurge");
    let unavailable_field = format!("{path}.maxUnavailable");
    let surge = max_surge.map(|v| int_or_percent(v, &surge_field, errs));
    let unavailable = max_unavailable.map(|v| int_or_percent(v, &unavailable_field, errs));
    if let (
        Some(Some(Amount::Count(0) | Amount::Percent(0))),
        Some(Some(Amount::Count(0) | Amount::Percent(0))),
    ) = (surge, unavailable)
    {
        errs.push(FieldError::invalid(
            unavailable_field.clone(),
            show(max_unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if let Some(Some(Amount::Percent(p))) = unavailable
        && p > 100
    {
        errs.push(invalid_str(
            unavailable_field,
            &format!("{p}%"),
            "must not be greater than 100%",
        ));
    }
}

/// A parsed bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Amount {
    Count(i64),
    Percent(u64),
}

/// Parses a bound, reporting a negative count or a malformed percentage.
fn int_or_percent(v: &IntOrString, field: &str, errs: &mut Vec<FieldError>) -> Option<Amount> {
    match v {
        IntOrString::Int(n) if *n < 0 => {
            errs.push(FieldError::invalid(
                field,
                n,
                "must be greater than or equal to 0",
            ));
            None
        }
        IntOrString::Int(n) => Some(Amount::Count((*n).into())),
        IntOrString::String(s) => {
            let parsed = s
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse().ok());
            if parsed.is_none() {
                errs.push(invalid_str(
                    field,
                    s,
                    regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        "[0-9]+%",
                        &["1%", "93%"],
                    ),
                ));
            }
            parsed.map(Amount::Percent)
        }
    }
}

fn show(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => quote(s),
        None => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn strategies_name_their_own_fields_and_alternatives() {
        let mut errs = Vec::new();
        validate_strategy(
            Some("Recreate"),
            Some((None, None)),
            "spec.strategy",
            "Recreate",
            &mut errs,
        );
        validate_strategy(
            Some("Blue"),
            None,
            "spec.updateStrategy",
            "OnDelete",
            &mut errs,
        );
        assert_eq!(errs[0].field, "spec.strategy.rollingUpdate");
        assert!(errs[0].detail.contains("'Recreate'"), "{}", errs[0].detail);
        assert_eq!(errs[1].field, "spec.updateStrategy.type");
        assert!(
            errs[1].message().contains("\"OnDelete\""),
            "{}",
            errs[1].message()
        );
        let mut none = Vec::new();
        validate_strategy(None, None, "spec.strategy", "Recreate", &mut none);
        assert!(none.is_empty());
    }

    use super::*;

    fn messages(surge: Option<IntOrString>, unavailable: Option<IntOrString>) -> Vec<String> {
        let mut errs = Vec::new();
        validate(
            surge.as_ref(),
            unavailable.as_ref(),
            "spec.strategy.rollingUpdate",
            &mut errs,
        );
        errs.iter().map(FieldError::message).collect()
    }

    use IntOrString::{Int, String as Str};

    #[test]
    fn counts_and_percentages() {
        assert!(messages(Some(Str("25%".into())), Some(Int(0))).is_empty());
        assert!(messages(Some(Int(1)), None).is_empty());
        assert!(messages(None, Some(Int(0))).is_empty());
        assert_eq!(
            messages(Some(Int(0)), Some(Str("0%".into()))),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
            ]
        );
        assert_eq!(
            messages(Some(Int(-1)), Some(Str("150%".into()))),
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
            ]
        );
        let m = messages(Some(Str("abc".into())), None);
        assert_eq!(
            m,
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            ]
        );
    }
}
