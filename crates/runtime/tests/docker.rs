//! The Docker runtime against the real engine. Each test skips (and says so) when no daemon
//! answers; on this project's CI machines one does. The images come from
//! `tests/images/build.sh` (busybox-static, no registry). Every test runs as its own "node"
//! (the `io.brume.node` label), so listings do not see other tests' pods, and a guard removes
//! that node's containers even when the test fails.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use brume_runtime::docker::{DockerConfig, DockerRuntime, labels};
use brume_runtime::{
    ContainerId, ContainerRuntime, ContainerSpec, ContainerState, LogOptions, PortSpec,
    RuntimeError, Sandbox, SandboxSpec,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUSYBOX: &str = "brume/busybox:1";
const LOCALHOST: &str = "127.0.0.1";

/// Removes every container of one test node when dropped, panicking test or not.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = format!("label={}={}", labels::NODE, self.0);
        let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
    }
}

fn build_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/images/build.sh");
        let status = Command::new("sh")
            .arg(&script)
            .status()
            .expect("run tests/images/build.sh");
        assert!(status.success(), "tests/images/build.sh failed: {status}");
    });
}

/// A runtime for one test node, or `None` (after saying so) when no daemon answers.
async fn runtime(test: &str) -> Option<(DockerRuntime, Cleanup)> {
    let node = format!("test-{}-{test}", std::process::id());
    let config = DockerConfig {
        node_name: Some(node.clone()),
        pull_timeout: Duration::from_secs(20),
        ..Default::default()
    };
    let Some(rt) = DockerRuntime::connect_with(ip(), config)
        .await
        .expect("connect")
    else {
        eprintln!("skipped: no docker daemon");
        return None;
    };
    build_images();
    Some((rt, Cleanup(node)))
}

fn ip() -> IpAddr {
    LOCALHOST.parse().unwrap()
}

fn pod(uid: &str, ports: Vec<PortSpec>) -> SandboxSpec {
    SandboxSpec {
        pod_uid: format!("{}-{uid}", std::process::id()),
        namespace: "default".into(),
        name: uid.into(),
        host_ip: ip(),
        ports,
    }
}

fn tcp_port(container: &str, port: u16) -> PortSpec {
    PortSpec {
        container: container.into(),
        name: Some("http".into()),
        container_port: port,
        host_port: None,
        protocol: "TCP".into(),
    }
}

fn shell(name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: BUSYBOX.into(),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        ..Default::default()
    }
}

/// An HTTP server on port 8080 answering `hello-from-server`.
fn web_server() -> ContainerSpec {
    shell(
        "server",
        "mkdir -p /www && echo hello-from-server > /www/index.html && exec httpd -f -p 8080 -h /www",
    )
}

async fn wait_exited(rt: &DockerRuntime, id: &ContainerId) -> ContainerState {
    for _ in 0..200 {
        let state = rt.container_state(id).await.unwrap();
        if matches!(state, ContainerState::Exited { .. }) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container {id} did not exit within 20s");
}

async fn all_logs(rt: &DockerRuntime, id: &ContainerId, opts: LogOptions) -> String {
    let mut stream = rt.logs(id, &opts).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn start(
    rt: &DockerRuntime,
    sandbox: &Sandbox,
    spec: &ContainerSpec,
    attempt: u32,
) -> ContainerId {
    rt.start_container(sandbox, spec, attempt).await.unwrap()
}

#[tokio::test]
async fn no_daemon_means_no_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    // A socket file nobody listens on any more.
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    for socket in [missing, dead] {
        let config = DockerConfig {
            socket: Some(socket.to_str().unwrap().to_string()),
            ..Default::default()
        };
        let rt = DockerRuntime::connect_with(ip(), config).await.unwrap();
        assert!(rt.is_none(), "{socket:?} gave a runtime");
    }
}

#[tokio::test]
async fn two_containers_of_a_pod_talk_over_localhost() {
    let Some((rt, _cleanup)) = runtime("localhost").await else {
        return;
    };
    assert!(rt.api_version().starts_with("1."), "{}", rt.api_version());
    let sandbox = rt
        .create_sandbox(&pod("talk", vec![tcp_port("server", 8080)]))
        .await
        .unwrap();
    let server = start(&rt, &sandbox, &web_server(), 0).await;
    let client = shell(
        "client",
        "for i in $(seq 1 100); do wget -q -O - http://localhost:8080/ && exit 0; sleep 0.1; done; exit 1",
    );
    let client = start(&rt, &sandbox, &client, 0).await;
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &client).await
    else {
        unreachable!()
    };
    let logs = all_logs(&rt, &client, LogOptions::default()).await;
    assert_eq!(
        (exit_code, reason.as_str()),
        (0, "Completed"),
        "client logs: {logs}"
    );
    assert!(logs.contains("hello-from-server"), "client logs: {logs}");

    // Exec in the running server: output, exit codes, and a timeout.
    let cat = rt
        .exec(
            &server,
            &["cat".into(), "/www/index.html".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!((cat.exit_code, cat.output.trim()), (0, "hello-from-server"));
    let fail = rt
        .exec(
            &server,
            &["sh".into(), "-c".into(), "exit 3".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(fail.exit_code, 3);
    let slow = rt
        .exec(
            &server,
            &["sleep".into(), "30".into()],
            Duration::from_millis(500),
        )
        .await
        .unwrap();
    assert_eq!(slow.exit_code, 124, "{}", slow.output);
}

#[tokio::test]
async fn published_host_port_is_reachable_from_the_host() {
    let Some((rt, _cleanup)) = runtime("hostport").await else {
        return;
    };
    let sandbox = rt
        .create_sandbox(&pod("published", vec![tcp_port("server", 8080)]))
        .await
        .unwrap();
    assert_eq!(sandbox.pod_ip, ip());
    let host_port = sandbox.host_ports[0];
    assert!((40000..=49999).contains(&host_port), "{host_port}");
    // Another pod gets other ports; a fixed hostPort is honoured.
    let fixed = std::net::TcpListener::bind((ip(), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let other = pod(
        "published-fixed",
        vec![
            tcp_port("server", 8080),
            PortSpec {
                host_port: Some(fixed),
                ..tcp_port("server", 9090)
            },
        ],
    );
    let other = rt.create_sandbox(&other).await.unwrap();
    assert_eq!(other.host_ports.len(), 2);
    assert_ne!(other.host_ports[0], host_port);
    assert_eq!(other.host_ports[1], fixed);
    let published = rt.inspect(&ContainerId(other.id.clone())).await.unwrap();
    let bindings = published.host_config.unwrap().port_bindings.unwrap();
    let binding = &bindings["9090/tcp"].as_ref().unwrap()[0];
    assert_eq!(binding.host_ip.as_deref(), Some(LOCALHOST));
    assert_eq!(binding.host_port, Some(fixed.to_string()));
    start(&rt, &sandbox, &web_server(), 0).await;
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut conn) = tokio::net::TcpStream::connect((ip(), host_port)).await {
            conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
            answer.clear();
            let _ = conn.read_to_string(&mut answer).await;
            if answer.contains("hello-from-server") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{LOCALHOST}:{host_port} never answered; last answer: {answer:?}");
}

#[tokio::test]
async fn limits_env_and_workdir_are_applied() {
    let Some((rt, _cleanup)) = runtime("limits").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("limits", vec![])).await.unwrap();
    let spec = ContainerSpec {
        env: vec![("GREETING".into(), "hi".into())],
        working_dir: Some("/tmp".into()),
        cpu_limit_milli: Some(500),
        memory_limit_bytes: Some(64 << 20),
        ..shell("limited", "echo $GREETING in $(pwd); sleep 300")
    };
    let id = start(&rt, &sandbox, &spec, 0).await;
    let inspect = rt.inspect(&id).await.unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.network_mode, Some(format!("container:{}", sandbox.id)));
    let labels = inspect.config.unwrap().labels.unwrap();
    assert_eq!(labels[labels::CONTAINER], "limited");
    assert_eq!(labels[labels::POD_NAME], "limits");
    let mut logs = String::new();
    for _ in 0..50 {
        logs = all_logs(&rt, &id, LogOptions::default()).await;
        if !logs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logs.trim(), "hi in /tmp");
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let Some((rt, _cleanup)) = runtime("oom").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("oom", vec![])).await.unwrap();
    let spec = ContainerSpec {
        memory_limit_bytes: Some(8 << 20),
        ..shell(
            "hog",
            "x=$(head -c 60000000 /dev/zero | tr '\\0' a); echo ${#x}",
        )
    };
    let id = start(&rt, &sandbox, &spec, 0).await;
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (137, "OOMKilled"));
}

#[tokio::test]
async fn missing_image_is_image_not_found_with_the_import_hint() {
    let Some((rt, _cleanup)) = runtime("noimage").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("noimage", vec![])).await.unwrap();
    let spec = ContainerSpec {
        image: "brume/absent-image:404".into(),
        ..shell("app", "true")
    };
    match rt.start_container(&sandbox, &spec, 0).await {
        Err(RuntimeError::ImageNotFound { image, detail }) => {
            assert_eq!(image, "brume/absent-image:404");
            assert!(detail.contains("brume image import FILE.tar"), "{detail}");
        }
        other => panic!("expected ImageNotFound, got {other:?}"),
    }

    // A missing sandbox image says how to build it.
    let config = DockerConfig {
        sandbox_image: "brume/absent-pause:404".into(),
        ..rt.config().clone()
    };
    let rt = DockerRuntime::connect_with(ip(), config)
        .await
        .unwrap()
        .unwrap();
    match rt
        .create_sandbox(&pod("nopause", vec![tcp_port("app", 80)]))
        .await
    {
        Err(RuntimeError::ImageNotFound { image, detail }) => {
            assert_eq!(image, "brume/absent-pause:404");
            assert!(detail.contains("tests/images/build.sh"), "{detail}");
            assert!(detail.contains("brume image import FILE.tar"), "{detail}");
        }
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_command_is_command_not_found_naming_it() {
    let Some((rt, _cleanup)) = runtime("nocmd").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("nocmd", vec![])).await.unwrap();
    let spec = ContainerSpec {
        command: vec!["no-such-command".into()],
        args: vec!["--flag".into()],
        ..shell("app", "")
    };
    match rt.start_container(&sandbox, &spec, 0).await {
        Err(RuntimeError::CommandNotFound { command, detail }) => {
            assert_eq!(command, "no-such-command", "{detail}");
        }
        other => panic!("expected CommandNotFound, got {other:?}"),
    }
    // Nothing that never ran is left behind.
    let listings = rt.list().await.unwrap();
    assert_eq!(listings.len(), 1);
    assert!(
        listings[0].containers.is_empty(),
        "{:?}",
        listings[0].containers
    );
}

#[tokio::test]
async fn exit_codes_and_logs_options() {
    let Some((rt, _cleanup)) = runtime("logs").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("logs", vec![])).await.unwrap();
    let id = start(
        &rt,
        &sandbox,
        &shell(
            "app",
            "echo one; echo two >&2; sleep 0.2; echo three; exit 3",
        ),
        0,
    )
    .await;
    let ContainerState::Exited {
        exit_code,
        reason,
        started_at,
        finished_at,
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (3, "Error"));
    assert!(started_at <= finished_at, "{started_at} > {finished_at}");
    let all = all_logs(&rt, &id, LogOptions::default()).await;
    // stdout and stderr are separate pipes: only the line written after a pause has a sure
    // place.
    let mut lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.last(), Some(&"three"), "{all}");
    lines.sort();
    assert_eq!(lines, vec!["one", "three", "two"]);
    let tail = all_logs(
        &rt,
        &id,
        LogOptions {
            tail_lines: Some(1),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(tail.trim(), "three");
    let stamped = all_logs(
        &rt,
        &id,
        LogOptions {
            timestamps: true,
            ..Default::default()
        },
    )
    .await;
    let last = stamped.lines().last().unwrap();
    assert!(
        last.starts_with("20") && last.ends_with("Z three"),
        "{last}"
    );

    // Following a running container streams lines as they come, and ends when it exits.
    let ticker = start(
        &rt,
        &sandbox,
        &shell(
            "ticker",
            "for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done",
        ),
        0,
    )
    .await;
    let followed = all_logs(
        &rt,
        &ticker,
        LogOptions {
            follow: true,
            ..Default::default()
        },
    )
    .await;
    assert!(
        followed.contains("tick1") && followed.contains("tick5"),
        "{followed}"
    );
}

#[tokio::test]
async fn a_new_runtime_re_adopts_sandbox_and_containers() {
    let Some((rt, _cleanup)) = runtime("readopt").await else {
        return;
    };
    let spec = pod("readopt", vec![tcp_port("a", 8080)]);
    let sandbox = rt.create_sandbox(&spec).await.unwrap();
    let a = start(&rt, &sandbox, &shell("a", "sleep 300"), 0).await;
    let b = start(&rt, &sandbox, &shell("b", "sleep 300"), 2).await;
    // Starting the same attempt again returns the running container instead of a duplicate.
    assert_eq!(start(&rt, &sandbox, &shell("b", "sleep 300"), 2).await, b);

    let config = rt.config().clone();
    drop(rt);
    let again = DockerRuntime::connect_with(ip(), config)
        .await
        .unwrap()
        .unwrap();
    let listings = again.list().await.unwrap();
    assert_eq!(listings.len(), 1, "{listings:?}");
    assert_eq!(listings[0].sandbox, sandbox);
    let seen: Vec<_> = listings[0]
        .containers
        .iter()
        .map(|c| (c.id.clone(), c.name.as_str(), c.attempt))
        .collect();
    assert_eq!(seen, vec![(a, "a", 0), (b, "b", 2)]);
    assert!(
        listings[0]
            .containers
            .iter()
            .all(|c| matches!(c.state, ContainerState::Running { .. }))
    );
    // Creating the sandbox again is idempotent.
    assert_eq!(again.create_sandbox(&spec).await.unwrap(), sandbox);

    again.remove_sandbox(&sandbox.pod_uid).await.unwrap();
    assert!(again.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn stop_sends_term_then_kills_after_the_grace() {
    let Some((rt, _cleanup)) = runtime("stop").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("stop", vec![])).await.unwrap();
    let polite = start(
        &rt,
        &sandbox,
        &shell(
            "polite",
            "trap 'exit 0' TERM; while :; do sleep 1 & wait; done",
        ),
        0,
    )
    .await;
    let stubborn = start(
        &rt,
        &sandbox,
        &shell("stubborn", "trap '' TERM; while :; do sleep 1; done"),
        0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let begun = tokio::time::Instant::now();
    rt.stop_container(&polite, Duration::from_secs(10))
        .await
        .unwrap();
    let ContainerState::Exited { exit_code, .. } = rt.container_state(&polite).await.unwrap()
    else {
        panic!("polite container still running after stop")
    };
    assert_eq!(exit_code, 0, "SIGTERM handled");
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "the polite container needed no kill"
    );

    rt.stop_container(&stubborn, Duration::from_secs(1))
        .await
        .unwrap();
    let ContainerState::Exited { exit_code, .. } = rt.container_state(&stubborn).await.unwrap()
    else {
        panic!("stubborn container still running after stop")
    };
    assert_eq!(exit_code, 137, "SIGKILL after the grace");

    rt.remove_container(&stubborn).await.unwrap();
    assert!(matches!(
        rt.container_state(&stubborn).await,
        Err(RuntimeError::NotFound(_))
    ));
    rt.remove_container(&stubborn)
        .await
        .expect("removing twice is harmless");
}

#[tokio::test]
async fn import_image_loads_a_saved_archive() {
    let Some((rt, _cleanup)) = runtime("import").await else {
        return;
    };
    let tag = format!("brume/import-test:{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("image.tar");
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    docker(&["tag", BUSYBOX, &tag]);
    docker(&["save", "-o", tar.to_str().unwrap(), &tag]);
    docker(&["rmi", &tag]);
    assert!(!rt.has_image(&tag).await.unwrap());

    let names = rt.import_image(&tar).await;
    let present = rt.has_image(&tag).await;
    let _ = Command::new("docker").args(["rmi", &tag]).output();
    assert_eq!(names.unwrap(), vec![tag.clone()]);
    assert!(present.unwrap());

    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"not an image").unwrap();
    assert!(rt.import_image(&junk).await.is_err());
}

#[tokio::test]
async fn a_busy_container_uses_more_cpu_than_an_idle_one() {
    let Some((rt, _cleanup)) = runtime("stats").await else {
        return;
    };
    let sandbox = rt.create_sandbox(&pod("stats", vec![])).await.unwrap();
    let busy = start(&rt, &sandbox, &shell("busy", "while :; do :; done"), 0).await;
    let idle = start(&rt, &sandbox, &shell("idle", "sleep 60"), 0).await;
    let read = |id: ContainerId| {
        let rt = &rt;
        async move {
            rt.container_stats(&id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{id} reports no stats"))
        }
    };
    let (busy0, idle0) = (read(busy.clone()).await, read(idle.clone()).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (busy1, idle1) = (read(busy.clone()).await, read(idle.clone()).await);
    let busy_ns = busy1.cpu_usage_ns - busy0.cpu_usage_ns;
    let idle_ns = idle1.cpu_usage_ns - idle0.cpu_usage_ns;
    assert!(busy_ns >= 200_000_000, "busy: {busy_ns} ns");
    assert!(
        idle_ns < busy_ns / 4,
        "idle {idle_ns} ns vs busy {busy_ns} ns"
    );
    assert!(idle1.memory_working_set_bytes > 0, "{idle1:?}");
    rt.stop_container(&busy, Duration::ZERO).await.unwrap();
    wait_exited(&rt, &busy).await;
    assert_eq!(rt.container_stats(&busy).await.unwrap(), None);
}
