//! A container's counters from the engine's one-shot stats (`GET /containers/<id>/stats?
//! stream=false&one-shot=true`: one reading, without the engine's second sample a second
//! later; the agent keeps its own previous sample). The working set is computed as cAdvisor
//! does for the kubelet: memory usage less the inactive file cache (`inactive_file` on cgroup
//! v2, `total_inactive_file` on v1).

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures::StreamExt;

use super::errors;
use crate::{ContainerStats, RuntimeError};

/// The counters of one stats reading; `None` when it carries none (a container that is not
/// running reads as empty).
pub fn from_docker(stats: &ContainerStatsResponse) -> Option<ContainerStats> {
    let cpu = stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage?;
    let memory = stats.memory_stats.as_ref()?;
    let usage = memory.usage?;
    let inactive = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Some(ContainerStats {
        cpu_usage_ns: cpu,
        memory_working_set_bytes: usage.saturating_sub(inactive),
    })
}

/// Reads a running container's counters (`None` when it is not running).
pub async fn read(docker: &Docker, id: &str) -> Result<Option<ContainerStats>, RuntimeError> {
    let running = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| errors::backend(&format!("container {id}"), e))?
        .state
        .and_then(|s| s.running)
        .unwrap_or(false);
    if !running {
        return Ok(None);
    }
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    let mut readings = docker.stats(id, Some(options));
    match readings.next().await {
        Some(Ok(stats)) => Ok(from_docker(&stats)),
        Some(Err(e)) => Err(errors::backend(&format!("stats of container {id}"), e)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_set_leaves_out_inactive_file_cache() {
        let reading: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000u64}},
            "memory_stats": {"usage": 10_000_000, "stats": {"inactive_file": 4_000_000, "anon": 6_000_000}}
        }))
        .unwrap();
        assert_eq!(
            from_docker(&reading),
            Some(ContainerStats {
                cpu_usage_ns: 2_500_000_000,
                memory_working_set_bytes: 6_000_000,
            })
        );
        let v1: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 1}},
            "memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}
        }))
        .unwrap();
        assert_eq!(from_docker(&v1).unwrap().memory_working_set_bytes, 70);
        // A stopped container's reading is empty.
        let empty: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}
        }))
        .unwrap();
        assert_eq!(from_docker(&empty), None);
    }
}
