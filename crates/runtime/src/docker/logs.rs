//! Container logs as one byte stream (stdout and stderr interleaved, as `kubectl logs` shows).

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;

use super::errors;
use crate::{LogOptions, LogStream, RuntimeError};

/// The `tail` parameter Docker expects: a line count, or `all`.
pub fn tail_param(tail_lines: Option<usize>) -> String {
    tail_lines.map_or_else(|| "all".to_string(), |n| n.to_string())
}

/// A container's logs; `NotFound` at once when the container does not exist.
pub async fn stream(
    docker: &Docker,
    id: &str,
    opts: &LogOptions,
) -> Result<LogStream, RuntimeError> {
    docker
        .inspect_container(id, None)
        .await
        .map_err(|e| errors::backend(&format!("container {id}"), e))?;
    let options = LogsOptionsBuilder::new()
        .follow(opts.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(opts.timestamps)
        .tail(&tail_param(opts.tail_lines))
        .build();
    let what = format!("logs of {id}");
    Ok(docker
        .logs(id, Some(options))
        .map(move |item| {
            item.map(|output| output.into_bytes())
                .map_err(|e| errors::backend(&what, e))
        })
        .boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_all_unless_limited() {
        assert_eq!(tail_param(None), "all");
        assert_eq!(tail_param(Some(10)), "10");
    }
}
