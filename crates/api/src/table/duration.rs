//! kubectl's short human durations ("5s", "3m20s", "3h5m", "2y40d"): the form of every AGE,
//! LAST SEEN and "(5m ago)" cell.

use chrono::Duration;

/// Renders a duration the way kubectl prints ages, following
/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: two or three significant figures, the
/// finer unit kept only while it matters (seconds under 10 minutes, minutes under 8 hours, hours
/// under 8 days, days under 8 years). A duration up to a second below zero (clock skew) reads
/// "0s"; anything more negative reads "<invalid>".
pub fn human_duration(d: Duration) -> String {
    // `num_*` truncate toward zero, as Go's `int(d / unit)` does.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// "3h" or "3h5m": the finer unit is dropped when it is zero.
fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> String {
        human_duration(Duration::seconds(s))
    }

    const M: i64 = 60;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;

    #[test]
    fn small_negative_skew_reads_zero_and_larger_reads_invalid() {
        assert_eq!(secs(-1), "0s");
        assert_eq!(human_duration(Duration::milliseconds(-1500)), "0s");
        assert_eq!(secs(-2), "<invalid>");
    }

    #[test]
    fn seconds_up_to_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(5), "5s");
        assert_eq!(human_duration(Duration::milliseconds(5999)), "5s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
    }

    #[test]
    fn minutes_keep_seconds_under_ten_minutes() {
        assert_eq!(secs(3 * M + 20), "3m20s");
        assert_eq!(secs(9 * M + 59), "9m59s");
        assert_eq!(secs(10 * M + 59), "10m");
        assert_eq!(secs(47 * M), "47m");
        assert_eq!(secs(179 * M + 59), "179m");
    }

    #[test]
    fn hours_keep_minutes_under_eight_hours() {
        assert_eq!(secs(3 * H), "3h");
        assert_eq!(secs(3 * H + 5 * M), "3h5m");
        assert_eq!(secs(7 * H + 59 * M), "7h59m");
        assert_eq!(secs(8 * H + 59 * M), "8h");
        assert_eq!(secs(10 * H), "10h");
        assert_eq!(secs(47 * H + 59 * M), "47h");
    }

    #[test]
    fn days_keep_hours_under_eight_days() {
        assert_eq!(secs(2 * D), "2d");
        assert_eq!(secs(3 * D + 4 * H), "3d4h");
        assert_eq!(secs(7 * D + 23 * H), "7d23h");
        assert_eq!(secs(8 * D + 23 * H), "8d");
        assert_eq!(secs(400 * D), "400d");
        assert_eq!(secs(729 * D), "729d");
    }

    #[test]
    fn years_keep_days_under_eight_years() {
        assert_eq!(secs(730 * D), "2y");
        assert_eq!(secs(770 * D), "2y40d");
        assert_eq!(secs(8 * 365 * D - D), "7y364d");
        assert_eq!(secs(8 * 365 * D), "8y");
        assert_eq!(secs(10 * 365 * D + 100 * D), "10y");
    }
}
