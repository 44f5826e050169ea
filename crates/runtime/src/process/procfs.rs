//! Whether a recorded process is still the one we started, from `/proc/<pid>/stat`
//! (proc(5)): a pid alone can be reused by an unrelated process after ours died, so the start
//! time recorded at spawn must match too.

/// What `/proc` says about a recorded process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The pid exists, is not a zombie, and started at the recorded time.
    Alive,
    /// Gone, a zombie, or a different process under the same pid.
    Dead,
}

/// The fields of `/proc/<pid>/stat` the runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The start time in clock ticks after boot (field 22).
    pub start_ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: field 3 is the state; field 22 is 19 fields further.
    let state = fields.next()?.chars().next()?;
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_ticks })
}

/// Reads `/proc/<pid>/stat`.
pub fn read_stat(pid: i32) -> Option<Stat> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&line)
}

/// Whether the process `pid` started at `start_ticks` is still running.
pub fn liveness(pid: i32, start_ticks: u64) -> Liveness {
    match read_stat(pid) {
        Some(s) if s.start_ticks == start_ticks && s.state != 'Z' && s.state != 'X' => {
            Liveness::Alive
        }
        _ => Liveness::Dead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 100 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_ticks: 987654
            })
        );
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let stat = read_stat(pid).expect("own stat");
        assert_eq!(liveness(pid, stat.start_ticks), Liveness::Alive);
        assert_eq!(liveness(pid, stat.start_ticks + 1), Liveness::Dead);
    }
}
