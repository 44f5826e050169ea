//! The process runtime against real host processes: start, logs, stop with grace and SIGKILL,
//! ports in the environment, errors, exit codes and re-adoption from the state folder.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use brume_runtime::process::{ProcessOptions, ProcessRuntime};
use brume_runtime::{
    ContainerId, ContainerRuntime, ContainerSpec, ContainerState, LogOptions, Mount, PortSpec,
    RuntimeError, Sandbox, SandboxSpec,
};
use futures::StreamExt;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A runtime on `dir` with its own port range (tests run in parallel) and no cgroups.
fn runtime(dir: &Path, first_port: u16) -> ProcessRuntime {
    ProcessRuntime::with_options(
        dir.to_path_buf(),
        LOCALHOST,
        ProcessOptions {
            port_range: first_port..=first_port + 99,
            cgroup_root: None,
        },
    )
    .expect("runtime")
}

fn sandbox_spec(uid: &str, ports: Vec<PortSpec>) -> SandboxSpec {
    SandboxSpec {
        pod_uid: uid.into(),
        namespace: "default".into(),
        name: format!("pod-{uid}"),
        host_ip: LOCALHOST,
        ports,
    }
}

fn sh(name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        ..ContainerSpec::default()
    }
}

async fn sandbox(rt: &ProcessRuntime, uid: &str) -> Sandbox {
    rt.create_sandbox(&sandbox_spec(uid, vec![])).await.unwrap()
}

async fn logs(rt: &ProcessRuntime, id: &ContainerId, opts: LogOptions) -> String {
    let chunks: Vec<_> = rt.logs(id, &opts).await.unwrap().collect().await;
    let bytes: Vec<u8> = chunks
        .into_iter()
        .flat_map(|c| c.unwrap().to_vec())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// Polls until the logs contain `needle` (a safety limit of 10 s, not a timing assertion).
async fn wait_for_log(rt: &ProcessRuntime, id: &ContainerId, needle: &str) -> String {
    for _ in 0..200 {
        let text = logs(rt, id, LogOptions::default()).await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{needle:?} never appeared in the logs of {id}");
}

/// Polls until the container has exited and returns its exit code and reason.
async fn wait_for_exit(rt: &ProcessRuntime, id: &ContainerId) -> (i32, String) {
    for _ in 0..200 {
        if let ContainerState::Exited {
            exit_code, reason, ..
        } = rt.container_state(id).await.unwrap()
        {
            return (exit_code, reason);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never exited");
}

/// The processes of group `pgid` that are not zombies, from `/proc/*/stat` (field 5 is the
/// process group, field 3 the state).
fn live_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

/// Polls until no live process is left in group `pgid` (a safety limit of 10 s).
async fn wait_until_group_gone(pgid: i32) {
    for _ in 0..200 {
        if live_members(pgid).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("process group {pgid} still has {:?}", live_members(pgid));
}

#[tokio::test]
async fn a_process_runs_logs_and_stops_on_sigterm_within_grace() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41000);
    let sb = sandbox(&rt, "u-run").await;
    let id = rt
        .start_container(&sb, &sh("app", "echo hi; sleep 30"), 0)
        .await
        .unwrap();
    assert!(matches!(
        rt.container_state(&id).await.unwrap(),
        ContainerState::Running { .. }
    ));
    assert_eq!(wait_for_log(&rt, &id, "hi").await, "hi\n");
    rt.stop_container(&id, Duration::from_secs(20))
        .await
        .unwrap();
    // 143 = 128 + SIGTERM: it ended on the TERM, not on a SIGKILL after the grace period.
    assert_eq!(wait_for_exit(&rt, &id).await, (143, "Error".into()));
    rt.remove_sandbox("u-run").await.unwrap();
    assert!(!dir.path().join("pods/u-run").exists());
}

#[tokio::test]
async fn a_process_ignoring_sigterm_is_killed_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41100);
    let sb = sandbox(&rt, "u-trap").await;
    let id = rt
        .start_container(&sb, &sh("stubborn", "trap '' TERM; echo $$; sleep 30"), 0)
        .await
        .unwrap();
    let pgid: i32 = wait_for_log(&rt, &id, "\n").await.trim().parse().unwrap();
    assert!(
        live_members(pgid).len() >= 2,
        "sh and its sleep run in their own group"
    );
    rt.stop_container(&id, Duration::from_millis(300))
        .await
        .unwrap();
    // 137 = 128 + SIGKILL.
    assert_eq!(wait_for_exit(&rt, &id).await, (137, "Error".into()));
    wait_until_group_gone(pgid).await;
    rt.remove_sandbox("u-trap").await.unwrap();
}

#[tokio::test]
async fn allocated_ports_are_free_and_passed_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41200);
    let ports = vec![
        PortSpec {
            container: "web".into(),
            name: Some("http".into()),
            container_port: 8080,
            host_port: None,
            protocol: "TCP".into(),
        },
        PortSpec {
            container: "web".into(),
            name: Some("admin-ui".into()),
            container_port: 9090,
            host_port: None,
            protocol: "TCP".into(),
        },
    ];
    let sb = rt
        .create_sandbox(&sandbox_spec("u-ports", ports.clone()))
        .await
        .unwrap();
    assert_eq!(sb.pod_ip, LOCALHOST);
    let [http, admin] = sb.host_ports[..] else {
        panic!("two ports expected, got {:?}", sb.host_ports);
    };
    assert_ne!(http, admin);
    for port in [http, admin] {
        assert!((41200..=41299).contains(&port));
        drop(TcpListener::bind((LOCALHOST, port)).expect("allocated port is free"));
    }
    // Idempotent: the same pod gets the same ports.
    let again = rt
        .create_sandbox(&sandbox_spec("u-ports", ports))
        .await
        .unwrap();
    assert_eq!(again.host_ports, sb.host_ports);

    let script = r#"echo "$PORT $BRUME_PORT_HTTP $BRUME_PORT_ADMIN_UI $BRUME_BIND_ADDRESS""#;
    let id = rt
        .start_container(&sb, &sh("web", script), 0)
        .await
        .unwrap();
    assert_eq!(wait_for_exit(&rt, &id).await, (0, "Completed".into()));
    assert_eq!(
        logs(&rt, &id, LogOptions::default()).await,
        format!("{http} {http} {admin} 127.0.0.1\n")
    );
    rt.remove_sandbox("u-ports").await.unwrap();
}

#[tokio::test]
async fn a_missing_command_is_command_not_found_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41300);
    let sb = sandbox(&rt, "u-missing").await;
    let spec = ContainerSpec {
        name: "app".into(),
        command: vec!["brume-no-such-program".into()],
        ..ContainerSpec::default()
    };
    let err = rt.start_container(&sb, &spec, 0).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::CommandNotFound { command, .. } if command == "brume-no-such-program"),
        "{err}"
    );
    let no_command = ContainerSpec {
        name: "app".into(),
        image: "nginx".into(),
        args: vec!["-g".into()],
        ..ContainerSpec::default()
    };
    let err = rt.start_container(&sb, &no_command, 0).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidConfig(m) if m.contains("needs command")),
        "{err}"
    );
    let mut elsewhere = sh("app", "true");
    elsewhere.working_dir = Some("/brume/no/such/dir".into());
    let err = rt.start_container(&sb, &elsewhere, 0).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidConfig(m) if m.contains("/brume/no/such/dir")),
        "{err}"
    );
    // Nothing was started, so nothing is listed.
    let listed = rt.list().await.unwrap();
    assert!(listed[0].containers.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn the_exit_code_of_a_finished_process_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41400);
    let sb = sandbox(&rt, "u-exit").await;
    let id = rt
        .start_container(&sb, &sh("job", "exit 3"), 0)
        .await
        .unwrap();
    assert_eq!(wait_for_exit(&rt, &id).await, (3, "Error".into()));
    // Written down, so it survives the runtime.
    let rt2 = runtime(dir.path(), 41400);
    assert!(matches!(
        rt2.container_state(&id).await.unwrap(),
        ContainerState::Exited { exit_code: 3, .. }
    ));
}

#[tokio::test]
async fn a_new_runtime_on_the_same_state_dir_readopts_running_containers() {
    let dir = tempfile::tempdir().unwrap();
    let port = PortSpec {
        container: "app".into(),
        name: None,
        container_port: 80,
        host_port: None,
        protocol: "TCP".into(),
    };
    let (id, ports) = {
        let rt = runtime(dir.path(), 41500);
        let sb = rt
            .create_sandbox(&sandbox_spec("u-adopt", vec![port.clone()]))
            .await
            .unwrap();
        let id = rt
            .start_container(&sb, &sh("app", "echo up; sleep 30"), 2)
            .await
            .unwrap();
        wait_for_log(&rt, &id, "up").await;
        (id, sb.host_ports)
    };
    let rt = runtime(dir.path(), 41500);
    let listed = rt.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sandbox.pod_uid, "u-adopt");
    assert_eq!(listed[0].sandbox.host_ports, ports);
    let [c] = &listed[0].containers[..] else {
        panic!("one container expected: {:?}", listed[0].containers);
    };
    assert_eq!((&c.id, c.name.as_str(), c.attempt), (&id, "app", 2));
    assert!(matches!(c.state, ContainerState::Running { .. }));
    // The pod keeps its ports, and a second pod does not get them.
    let other = rt
        .create_sandbox(&sandbox_spec("u-other", vec![port]))
        .await
        .unwrap();
    assert!(other.host_ports.iter().all(|p| !ports.contains(p)));
    // The adopted process can be stopped and its logs read.
    assert_eq!(logs(&rt, &id, LogOptions::default()).await, "up\n");
    rt.stop_container(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(matches!(
        rt.container_state(&id).await.unwrap(),
        ContainerState::Exited { .. }
    ));
    rt.remove_sandbox("u-adopt").await.unwrap();
    assert!(
        rt.list()
            .await
            .unwrap()
            .iter()
            .all(|s| s.sandbox.pod_uid != "u-adopt")
    );
}

#[tokio::test]
async fn following_logs_streams_until_the_process_ends() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41600);
    let sb = sandbox(&rt, "u-follow").await;
    let id = rt
        .start_container(&sb, &sh("app", "echo a; sleep 1; echo b; echo c"), 0)
        .await
        .unwrap();
    let follow = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let all = tokio::time::timeout(Duration::from_secs(20), logs(&rt, &id, follow))
        .await
        .expect("the stream ends when the process does");
    assert_eq!(all, "a\nb\nc\n");
    let stamped = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let text = logs(&rt, &id, stamped).await;
    let lines: Vec<(&str, &str)> = text.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(
        lines.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    for (ts, _) in &lines {
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    }
    // Each line carries when it was written, not one time for the whole file.
    assert!(lines[0].0 < lines[1].0, "{text}");
    let tail = LogOptions {
        tail_lines: Some(1),
        timestamps: true,
        ..LogOptions::default()
    };
    let last = logs(&rt, &id, tail).await;
    let (ts, line) = last.split_once(' ').unwrap();
    assert_eq!(line, "c\n");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[tokio::test]
async fn exec_runs_with_the_container_env_and_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41700);
    let sb = sandbox(&rt, "u-exec").await;
    let mut spec = sh("app", "pwd; echo \"$BRUME_MOUNT_DATA\"; sleep 30");
    spec.env = vec![("GREETING".into(), "hello".into())];
    spec.working_dir = Some(work.path().display().to_string());
    spec.mounts = vec![Mount {
        host_path: "/srv/volumes/data".into(),
        container_path: "/data".into(),
        read_only: true,
    }];
    let id = rt.start_container(&sb, &spec, 0).await.unwrap();
    let text = wait_for_log(&rt, &id, "/srv").await;
    assert_eq!(
        text,
        format!("{}\n/srv/volumes/data\n", work.path().display())
    );
    let cmd = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
    let ok = rt
        .exec(&id, &cmd("echo $GREETING; pwd"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ok.exit_code, 0);
    assert_eq!(ok.output, format!("hello\n{}\n", work.path().display()));
    let failed = rt
        .exec(&id, &cmd("exit 4"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(failed.exit_code, 4);
    let pid_file = work.path().join("exec.pid");
    let script = format!("echo $$ > {}; sleep 30; echo late", pid_file.display());
    let slow = rt
        .exec(&id, &cmd(&script), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(slow.exit_code, 124);
    // The timed-out exec's whole process group is gone, its `sleep` included.
    let pgid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until_group_gone(pgid).await;
    rt.remove_sandbox("u-exec").await.unwrap();
    let err = rt
        .container_state(&id)
        .await
        .expect_err("removed with its sandbox");
    assert!(matches!(err, RuntimeError::NotFound(_)));
}

#[tokio::test]
async fn removing_a_sandbox_kills_its_processes_and_frees_its_ports() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 41800);
    let fixed = PortSpec {
        container: "app".into(),
        name: None,
        container_port: 80,
        host_port: Some(41850),
        protocol: "TCP".into(),
    };
    let sb = rt
        .create_sandbox(&sandbox_spec("u-rm", vec![fixed.clone()]))
        .await
        .unwrap();
    assert_eq!(sb.host_ports, vec![41850]);
    let err = rt
        .create_sandbox(&sandbox_spec("u-rm2", vec![fixed.clone()]))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidConfig(m) if m.contains("41850")));
    let id = rt
        .start_container(&sb, &sh("app", "echo $$; sleep 30"), 0)
        .await
        .unwrap();
    let pid: i32 = wait_for_log(&rt, &id, "\n").await.trim().parse().unwrap();
    rt.remove_sandbox("u-rm").await.unwrap();
    assert!(live_members(pid).is_empty(), "{:?}", live_members(pid));
    let sb2 = rt
        .create_sandbox(&sandbox_spec("u-rm2", vec![fixed]))
        .await
        .unwrap();
    assert_eq!(sb2.host_ports, vec![41850]);
}

/// Set in the environment of the "first agent" child process of the next test.
const AGENT_DIR_VAR: &str = "BRUME_TEST_PROCESS_AGENT_DIR";

/// Plays the first agent when run by `containers_outlive_the_agent_that_started_them`: starts a
/// container and exits the process. Does nothing in a normal test run.
#[tokio::test]
async fn first_agent_helper() {
    let Ok(dir) = std::env::var(AGENT_DIR_VAR) else {
        return;
    };
    let rt = runtime(Path::new(&dir), 41900);
    let sb = sandbox(&rt, "u-outlive").await;
    let id = rt
        .start_container(&sb, &sh("app", "echo up; sleep 30"), 5)
        .await
        .unwrap();
    wait_for_log(&rt, &id, "up").await;
}

#[tokio::test]
async fn containers_outlive_the_agent_that_started_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "first_agent_helper"])
        .env(AGENT_DIR_VAR, dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the first agent failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The agent process is gone; its container is not, and a new agent adopts it.
    let rt = runtime(dir.path(), 41900);
    let listed = rt.list().await.unwrap();
    let [pod] = &listed[..] else {
        panic!("one sandbox expected: {listed:?}");
    };
    let [c] = &pod.containers[..] else {
        panic!("one container expected: {:?}", pod.containers);
    };
    assert_eq!((c.name.as_str(), c.attempt), ("app", 5));
    assert!(
        matches!(c.state, ContainerState::Running { .. }),
        "{:?}",
        c.state
    );
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("pods/u-outlive/app-5.json")).unwrap(),
    )
    .unwrap();
    let pgid = rec["pid"].as_i64().unwrap() as i32;
    assert!(!live_members(pgid).is_empty());
    rt.stop_container(&c.id, Duration::from_secs(10))
        .await
        .unwrap();
    wait_until_group_gone(pgid).await;
    // Only the dead agent could have read the exit status.
    assert_eq!(wait_for_exit(&rt, &c.id).await, (-1, "Unknown".into()));
    rt.remove_sandbox("u-outlive").await.unwrap();
}

#[tokio::test]
async fn limits_go_to_a_cgroup_when_one_is_writable_and_are_reported_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!runtime(dir.path(), 42000).limits_enforced());

    // A stand-in for a writable cgroup v2 hierarchy: plain files the kernel would interpret.
    let cgroups = tempfile::tempdir().unwrap();
    std::fs::write(cgroups.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
    let rt = ProcessRuntime::with_options(
        dir.path().to_path_buf(),
        LOCALHOST,
        ProcessOptions {
            port_range: 42000..=42099,
            cgroup_root: Some(cgroups.path().to_path_buf()),
        },
    )
    .unwrap();
    assert!(rt.limits_enforced());
    let sb = sandbox(&rt, "u-lim").await;
    let mut spec = sh("app", "echo $$");
    spec.cpu_limit_milli = Some(500);
    spec.memory_limit_bytes = Some(64 << 20);
    let id = rt.start_container(&sb, &spec, 0).await.unwrap();
    assert_eq!(wait_for_exit(&rt, &id).await, (0, "Completed".into()));
    let group = cgroups.path().join("brume/u-lim-app");
    let read = |f: &str| std::fs::read_to_string(group.join(f)).unwrap();
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(read("memory.max"), (64 << 20).to_string());
    // The process joined its group before running the program: same pid, no window to fork.
    let pid = logs(&rt, &id, LogOptions::default()).await;
    assert_eq!(read("cgroup.procs"), pid);
    rt.remove_sandbox("u-lim").await.unwrap();
}

/// Reads a running container's counters, failing the test when it reports none.
async fn stats(rt: &ProcessRuntime, id: &ContainerId) -> brume_runtime::ContainerStats {
    rt.container_stats(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id} reports no stats"))
}

#[tokio::test]
async fn a_busy_process_uses_more_cpu_than_an_idle_one_and_an_exited_one_none() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), 42900);
    let sb = sandbox(&rt, "u-stats").await;
    let busy = rt
        .start_container(&sb, &sh("busy", "while :; do :; done"), 0)
        .await
        .unwrap();
    let idle = rt
        .start_container(&sb, &sh("idle", "sleep 30"), 0)
        .await
        .unwrap();
    let (busy0, idle0) = (stats(&rt, &busy).await, stats(&rt, &idle).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (busy1, idle1) = (stats(&rt, &busy).await, stats(&rt, &idle).await);
    let busy_ns = busy1.cpu_usage_ns - busy0.cpu_usage_ns;
    let idle_ns = idle1.cpu_usage_ns - idle0.cpu_usage_ns;
    // A spinning shell gets most of a core over 0.8 s (at least 0.2 s of CPU, even on a
    // loaded machine); a sleeping one next to nothing.
    assert!(busy_ns >= 200_000_000, "busy: {busy_ns} ns");
    assert!(
        idle_ns < busy_ns / 4,
        "idle {idle_ns} ns vs busy {busy_ns} ns"
    );
    assert!(busy1.memory_working_set_bytes > 0, "{busy1:?}");
    rt.stop_container(&busy, Duration::ZERO).await.unwrap();
    wait_for_exit(&rt, &busy).await;
    assert_eq!(rt.container_stats(&busy).await.unwrap(), None);
    rt.remove_sandbox("u-stats").await.unwrap();
    assert!(matches!(
        rt.container_stats(&idle).await,
        Err(RuntimeError::NotFound(_))
    ));
}
