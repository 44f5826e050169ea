//! `IntOrString` values scaled against a total, rounding as Kubernetes does
//! (`intstr.GetScaledValueFromIntOrPercent`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why an `IntOrString` could not be read as a count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?}: expected an integer or a percentage such as \"25%\"")]
pub struct IntOrPercentError {
    /// The value as given.
    pub value: String,
}

/// The count `v` stands for out of `total`; percentages round up when `round_up`, down otherwise.
pub fn scaled(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, IntOrPercentError> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let bad = || IntOrPercentError { value: s.clone() };
            let pct: i64 = s
                .strip_suffix('%')
                .ok_or_else(bad)?
                .parse()
                .map_err(|_| bad())?;
            let product = pct * i64::from(total);
            let v = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).map_err(|_| bad())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_the_kubernetes_way() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled(&p, 10, true), Ok(3));
        assert_eq!(scaled(&p, 10, false), Ok(2));
        assert_eq!(scaled(&p, 4, true), Ok(1));
        assert_eq!(scaled(&IntOrString::Int(2), 10, true), Ok(2));
        assert!(scaled(&IntOrString::String("x".into()), 10, true).is_err());
    }
}
