//! Kubernetes resource quantities (`100m`, `1.5Gi`, `1e3`), parsed exactly as
//! `k8s.io/apimachinery/pkg/api/resource` reads them:
//!
//! ```text
//! <quantity>     ::= <sign>? <number> <suffix>
//! <number>       ::= <digits> | <digits> "." <digits>? | "." <digits>
//! <suffix>       ::= "" | n | u | m | k | M | G | T | P | E          (decimal SI)
//!                  | Ki | Mi | Gi | Ti | Pi | Ei                      (binary SI)
//!                  | ("e" | "E") <sign>? <digits>                    (decimal exponent)
//! ```

use std::cmp::Ordering;

/// The message Kubernetes gives for a malformed quantity (`resource.ErrFormatWrong`).
pub const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Kubernetes' message for a well-formed number with an unknown suffix (`resource.ErrSuffix`).
const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

/// Significant digits kept from the number. A binary suffix multiplies by at most 2^60 ≈ 1.2e18,
/// so 19 digits keep `mantissa` below 1.2e37, inside `i128` (1.7e38).
const MAX_DIGITS: u32 = 19;

/// An exact quantity, `mantissa × 10^exponent`: exact for every value Kubernetes users write
/// (CPU in millicores or nanocores, memory in bytes with binary suffixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Quantity {
    /// The value in thousandths, rounded away from zero as Kubernetes' `MilliValue` does
    /// (`1n` is 1 milli), saturating at the bounds of `i128`.
    pub fn as_milli(&self) -> i128 {
        scaled(self.mantissa, self.exponent + 3)
    }

    /// The value in units (bytes, cores), rounded away from zero like Kubernetes' `Value`.
    pub fn as_units(&self) -> i128 {
        scaled(self.mantissa, self.exponent)
    }

    /// The value as a float, for ratios and display.
    pub fn as_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    /// True when the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// True when the quantity is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        // Bring both to the smaller exponent; if that overflows, the magnitudes differ so much
        // that the float comparison is exact enough.
        let exp = self.exponent.min(other.exponent);
        let lift = |q: &Quantity| {
            10i128
                .checked_pow((q.exponent - exp) as u32)
                .and_then(|f| q.mantissa.checked_mul(f))
        };
        match (lift(self), lift(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.as_f64().total_cmp(&other.as_f64()),
        }
    }
}

/// `mantissa × 10^exponent` as an integer, rounded away from zero, saturating.
fn scaled(mantissa: i128, exponent: i32) -> i128 {
    if exponent >= 0 {
        match 10i128.checked_pow(exponent as u32) {
            Some(f) => mantissa.saturating_mul(f),
            None if mantissa == 0 => 0,
            None if mantissa > 0 => i128::MAX,
            None => i128::MIN,
        }
    } else {
        let Some(divisor) = 10i128.checked_pow(exponent.unsigned_abs()) else {
            // |mantissa| < 10^38 < divisor: a non-zero value rounds away from zero to ±1.
            return mantissa.signum();
        };
        let quotient = mantissa / divisor;
        if mantissa % divisor == 0 {
            quotient
        } else {
            quotient + mantissa.signum()
        }
    }
}

/// Parses a Kubernetes quantity. The error is Kubernetes' message: the format one for anything
/// that is not a number with an optional suffix, the suffix one for an unknown suffix.
pub fn parse_quantity(s: &str) -> Result<Quantity, String> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    let (mut mantissa, mut exponent, end) = parse_number(bytes, pos)?;
    let suffix = &s[end..];
    match suffix {
        "" => {}
        "n" => exponent -= 9,
        "u" => exponent -= 6,
        "m" => exponent -= 3,
        "k" => exponent += 3,
        "M" => exponent += 6,
        "G" => exponent += 9,
        "T" => exponent += 12,
        "P" => exponent += 15,
        "E" => exponent += 18,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match &suffix[..1] {
                "K" => 10,
                "M" => 20,
                "G" => 30,
                "T" => 40,
                "P" => 50,
                _ => 60,
            };
            mantissa <<= power;
        }
        _ => exponent = exponent.saturating_add(parse_exponent(suffix)?),
    }
    if negative {
        mantissa = -mantissa;
    }
    Ok(Quantity { mantissa, exponent })
}

/// Reads `<digits>[.<digits>]` from `pos`: the significant digits as an integer, the power of ten
/// that scales them, and where the number ends.
fn parse_number(bytes: &[u8], mut pos: usize) -> Result<(i128, i32, usize), String> {
    let mut mantissa: i128 = 0;
    let mut exponent: i32 = 0;
    let mut digits = 0u32;
    let mut seen_digit = false;
    let mut seen_dot = false;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if digits < MAX_DIGITS {
                    mantissa = mantissa * 10 + i128::from(b - b'0');
                    if mantissa != 0 {
                        digits += 1;
                    }
                    if seen_dot {
                        exponent -= 1;
                    }
                } else if !seen_dot {
                    // Beyond the precision kept: an integer digit still scales the value.
                    exponent += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        pos += 1;
    }
    if !seen_digit {
        return Err(QUANTITY_FORMAT_ERROR.to_string());
    }
    Ok((mantissa, exponent, pos))
}

/// Reads a decimal exponent suffix: `e3`, `E-2`, `e+6`.
fn parse_exponent(suffix: &str) -> Result<i32, String> {
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))
        .ok_or_else(|| suffix_error(suffix))?;
    let (negative, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(suffix_error(suffix));
    }
    // Kubernetes bounds exponents too; anything this large is nonsense for a resource.
    let value: i32 = digits
        .parse()
        .ok()
        .filter(|v| *v <= 1000)
        .ok_or_else(|| suffix_error(suffix))?;
    Ok(if negative { -value } else { value })
}

/// The suffix error, or the format error when the suffix has characters Kubernetes' regular
/// expression does not allow at all.
fn suffix_error(suffix: &str) -> String {
    let allowed = |c: char| "eEinumkKMGTP+-".contains(c) || c.is_ascii_digit();
    if suffix.chars().all(allowed) {
        SUFFIX_ERROR.to_string()
    } else {
        QUANTITY_FORMAT_ERROR.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i128 {
        parse_quantity(s).unwrap().as_milli()
    }

    #[test]
    fn cpu_quantities_in_millicores() {
        assert_eq!(milli("1"), 1000);
        assert_eq!(milli("100m"), 100);
        assert_eq!(milli("0.5"), 500);
        assert_eq!(milli(".25"), 250);
        assert_eq!(milli("2."), 2000);
        assert_eq!(milli("+1.5"), 1500);
        assert_eq!(milli("-1"), -1000);
        // Below a millicore rounds up, as Kubernetes' MilliValue does.
        assert_eq!(milli("1n"), 1);
        assert_eq!(milli("250000u"), 250);
        assert_eq!(milli("0"), 0);
    }

    #[test]
    fn memory_quantities_in_bytes() {
        let bytes = |s: &str| parse_quantity(s).unwrap().as_units();
        assert_eq!(bytes("128Mi"), 128 * 1024 * 1024);
        assert_eq!(bytes("1.5Gi"), 3 * 512 * 1024 * 1024);
        assert_eq!(bytes("1G"), 1_000_000_000);
        assert_eq!(bytes("1k"), 1000);
        assert_eq!(bytes("1Ki"), 1024);
        assert_eq!(bytes("2Ei"), 2 << 60);
        assert_eq!(bytes("8E"), 8_000_000_000_000_000_000);
        assert_eq!(bytes("1e3"), 1000);
        assert_eq!(bytes("1E3"), 1000);
        assert_eq!(bytes("12e-1"), 2);
        assert_eq!(bytes("5e+2"), 500);
        assert_eq!(bytes("129M"), 129_000_000);
    }

    #[test]
    fn floats_and_order() {
        let q = |s: &str| parse_quantity(s).unwrap();
        assert!((q("1.5Gi").as_f64() - 1_610_612_736.0).abs() < 1e-3);
        assert!((q("100m").as_f64() - 0.1).abs() < 1e-12);
        assert!(q("500m") < q("1"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1000m").cmp(&q("1")), Ordering::Equal);
        assert!(q("1e30") > q("1Ei"));
        assert!(q("-1").is_negative());
        assert!(q("0.0").is_zero());
    }

    #[test]
    fn long_numbers_keep_their_magnitude() {
        let q = parse_quantity("123456789012345678901234567890").unwrap();
        assert!((q.as_f64() / 1.234_567_890_123_456_7e29 - 1.0).abs() < 1e-12);
        assert_eq!(parse_quantity("1e100").unwrap().as_milli(), i128::MAX);
        assert_eq!(parse_quantity("1e-100").unwrap().as_milli(), 1);
    }

    #[test]
    fn malformed_quantities_get_kubernetes_messages() {
        for bad in [
            "abc", "", "-", ".", "1 Gi", "Gi", "1..2", "1,5", "1gi", "0x10",
        ] {
            assert_eq!(
                parse_quantity(bad).unwrap_err(),
                QUANTITY_FORMAT_ERROR,
                "{bad:?}"
            );
        }
        for bad in ["1Kb", "1e", "1KiB", "1mm", "1e3.5"] {
            let err = parse_quantity(bad).unwrap_err();
            assert!(
                err == SUFFIX_ERROR || err == QUANTITY_FORMAT_ERROR,
                "{bad:?}: {err}"
            );
        }
        assert_eq!(parse_quantity("1Kb").unwrap_err(), QUANTITY_FORMAT_ERROR);
        assert_eq!(parse_quantity("1mm").unwrap_err(), SUFFIX_ERROR);
    }
}
