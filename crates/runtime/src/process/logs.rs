//! Reading a container's log file: all of it or its last lines, then new output while following.
//! With `timestamps`, each line gets the time its first byte was written, from the stamper's
//! index (see `stamps`); lines written while no agent watched get the file's modification time,
//! and lines read while following that the index does not hold yet get the time they were read.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::stamps::{TimeIndex, now_nanos};
use crate::{LogOptions, LogStream, RuntimeError};

/// How often a followed log file is checked for new output.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The last `n` lines of `bytes` (a final newline does not start another line).
pub fn tail(bytes: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &bytes[bytes.len()..];
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &bytes[i + 1..];
            }
        }
    }
    bytes
}

/// Prefixes every line start in `bytes` (which begin at file offset `base`) with the time
/// `time_at` gives for that offset and a space. `at_line_start` carries whether the previous
/// chunk ended a line, so a line split across chunks is stamped once.
pub fn stamp(
    bytes: &[u8],
    base: u64,
    time_at: impl Fn(u64) -> String,
    at_line_start: &mut bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 32);
    for (i, b) in bytes.iter().enumerate() {
        if *at_line_start {
            out.extend_from_slice(time_at(base + i as u64).as_bytes());
            out.push(b' ');
        }
        out.push(*b);
        *at_line_start = *b == b'\n';
    }
    out
}

fn read_from(path: &Path, offset: u64) -> Result<Vec<u8>, RuntimeError> {
    let io = |e: std::io::Error| RuntimeError::Backend(format!("reading {}: {e}", path.display()));
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(io)?;
    Ok(buf)
}

fn mtime_rfc3339(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        })
        .unwrap_or_else(|_| now_nanos())
}

struct Follow {
    path: PathBuf,
    offset: u64,
    timestamps: bool,
    at_line_start: bool,
    running: Box<dyn Fn() -> bool + Send>,
    last_round: bool,
}

/// The log stream of a file: what it holds (the last `tail_lines` lines if set), then, with
/// `follow`, new output every [`FOLLOW_POLL`] until `running` says the process is gone and the
/// file has been read to its end.
pub fn stream(
    path: PathBuf,
    opts: &LogOptions,
    running: impl Fn() -> bool + Send + 'static,
) -> Result<LogStream, RuntimeError> {
    let all = read_from(&path, 0)?;
    let offset = all.len() as u64;
    let shown = match opts.tail_lines {
        Some(n) => tail(&all, n),
        None => &all[..],
    };
    // `shown` is a suffix of `all`, so where following resumes depends on the file's last byte.
    let mut at_line_start = true;
    let first = if opts.timestamps {
        let index = TimeIndex::load(&path);
        let mtime = mtime_rfc3339(&path);
        let base = (all.len() - shown.len()) as u64;
        let time_at = |off| index.at(off).map_or_else(|| mtime.clone(), str::to_string);
        stamp(shown, base, time_at, &mut at_line_start)
    } else {
        shown.to_vec()
    };
    at_line_start = all.last().is_none_or(|b| *b == b'\n');
    let head = futures::stream::iter((!first.is_empty()).then(|| Ok(Bytes::from(first))));
    if !opts.follow {
        return Ok(head.boxed());
    }
    let state = Follow {
        path,
        offset,
        timestamps: opts.timestamps,
        at_line_start,
        running: Box::new(running),
        last_round: false,
    };
    let rest = futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            let chunk = match read_from(&st.path, st.offset) {
                Ok(c) => c,
                Err(e) => return Some((Err(e), None)),
            };
            if !chunk.is_empty() {
                let base = st.offset;
                st.offset += chunk.len() as u64;
                let out = if st.timestamps {
                    let index = TimeIndex::load(&st.path);
                    let now = now_nanos();
                    let time_at = |off| index.at(off).map_or_else(|| now.clone(), str::to_string);
                    stamp(&chunk, base, time_at, &mut st.at_line_start)
                } else {
                    chunk
                };
                return Some((Ok(Bytes::from(out)), Some(st)));
            }
            if st.last_round {
                return None;
            }
            if !(st.running)() {
                // One more read catches what was written just before the exit.
                st.last_round = true;
                continue;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    });
    Ok(head.chain(rest).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_from_the_end() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }

    #[test]
    fn stamps_each_line_once_across_chunks_with_the_time_of_its_first_byte() {
        let index = TimeIndex::parse("0 4 T1\n4 8 T2\n8 18 T3\n");
        let time_at = |off| index.at(off).unwrap_or("?").to_string();
        let mut start = true;
        let mut out = stamp(b"one\ntw", 0, time_at, &mut start);
        out.extend(stamp(b"o\nthree\n", 6, time_at, &mut start));
        assert_eq!(out, b"T1 one\nT2 two\nT3 three\n");
        assert!(start);
    }
}
