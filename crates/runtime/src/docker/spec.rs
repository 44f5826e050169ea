//! Pure translation of Brume's sandbox and container specs into Docker create requests.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount as DockerMount, MountType,
    PortBinding,
};

use crate::{ContainerSpec, RuntimeError, SandboxSpec};

/// Docker's smallest accepted memory limit (moby `linuxMinMemory`, 6 MiB).
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// The Docker port key of a declared port (`8080/tcp`), or why the protocol is refused.
pub fn port_key(container_port: u16, protocol: &str) -> Result<String, RuntimeError> {
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "" | "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        _ => {
            return Err(RuntimeError::InvalidConfig(format!(
                "ports[].protocol {protocol:?} for port {container_port} is not supported: use TCP, UDP or SCTP"
            )));
        }
    };
    Ok(format!("{container_port}/{protocol}"))
}

/// The create request of a pod's sandbox: the image's own command (it sleeps), every declared
/// port published on `host_ip:<host port>`, and the pod name as hostname.
pub fn sandbox_body(
    spec: &SandboxSpec,
    image: &str,
    host_ports: &[u16],
    labels: HashMap<String, String>,
) -> Result<ContainerCreateBody, RuntimeError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for (port, host_port) in spec.ports.iter().zip(host_ports) {
        let key = port_key(port.container_port, &port.protocol)?;
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(spec.host_ip.to_string()),
                host_port: Some(host_port.to_string()),
            });
    }
    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        hostname: Some(hostname(&spec.name)),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            log_config: Some(log_config()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The create request of an app container joined to the sandbox's network namespace.
///
/// Kubernetes semantics: `command` replaces the image entrypoint (and then the image CMD is
/// dropped too), `args` replace the image CMD.
pub fn container_body(
    spec: &ContainerSpec,
    sandbox_id: &str,
    labels: HashMap<String, String>,
) -> Result<ContainerCreateBody, RuntimeError> {
    if spec.image.trim().is_empty() {
        return Err(RuntimeError::InvalidConfig(format!(
            "containers[{}].image is empty: name an image present on the node",
            spec.name
        )));
    }
    if let Some(memory) = spec.memory_limit_bytes
        && memory < MIN_MEMORY_BYTES
    {
        return Err(RuntimeError::InvalidConfig(format!(
            "containers[{}].resources.limits.memory {memory} bytes is below Docker's minimum of 6Mi",
            spec.name
        )));
    }
    let nano_cpus = spec
        .cpu_limit_milli
        .map(|milli| i64::try_from(milli.saturating_mul(1_000_000)).unwrap_or(i64::MAX));
    let memory = spec
        .memory_limit_bytes
        .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
    let mounts: Vec<DockerMount> = spec
        .mounts
        .iter()
        .map(|m| DockerMount {
            target: Some(m.container_path.clone()),
            source: Some(m.host_path.clone()),
            typ: Some(MountType::BIND),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: (!spec.command.is_empty()).then(|| spec.command.clone()),
        cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone(),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{sandbox_id}")),
            nano_cpus,
            memory,
            // No swap beyond the limit, as the kubelet does.
            memory_swap: memory,
            mounts: (!mounts.is_empty()).then_some(mounts),
            log_config: Some(log_config()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The command Docker will run, for error messages: the first word of command+args.
pub fn first_word(spec: &ContainerSpec) -> Option<String> {
    spec.command.iter().chain(&spec.args).next().cloned()
}

/// json-file logs rotated like the kubelet's defaults (`containerLogMaxSize` 10Mi,
/// `containerLogMaxFiles` 5), so `docker logs` works and a chatty pod cannot fill the disk.
fn log_config() -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "10m".to_string()),
            ("max-file".to_string(), "5".to_string()),
        ])),
    }
}

/// A hostname Docker accepts: the pod name cut to 63 characters (a DNS label).
fn hostname(pod: &str) -> String {
    pod.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, PortSpec};

    fn port(container_port: u16, protocol: &str) -> PortSpec {
        PortSpec {
            container: "app".into(),
            name: None,
            container_port,
            host_port: None,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn sandbox_publishes_each_port_on_the_host_ip() {
        let spec = SandboxSpec {
            pod_uid: "u".into(),
            namespace: "ns".into(),
            name: "web".into(),
            host_ip: "127.0.0.3".parse().unwrap(),
            ports: vec![port(80, "TCP"), port(53, "UDP")],
        };
        let body = sandbox_body(&spec, "brume/pause:1", &[40000, 40001], HashMap::new()).unwrap();
        assert_eq!(body.image.as_deref(), Some("brume/pause:1"));
        assert_eq!(body.hostname.as_deref(), Some("web"));
        assert!(body.cmd.is_none(), "the pause image keeps its own command");
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let tcp = bindings["80/tcp"].as_ref().unwrap();
        assert_eq!(tcp[0].host_ip.as_deref(), Some("127.0.0.3"));
        assert_eq!(tcp[0].host_port.as_deref(), Some("40000"));
        assert_eq!(
            bindings["53/udp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("40001")
        );
        let mut exposed = body.exposed_ports.unwrap();
        exposed.sort();
        assert_eq!(exposed, vec!["53/udp", "80/tcp"]);
    }

    #[test]
    fn unknown_protocol_is_invalid_config_naming_it() {
        let err = port_key(80, "QUIC").unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidConfig(m) if m.contains("QUIC")));
    }

    #[test]
    fn container_joins_the_sandbox_with_limits_env_and_mounts() {
        let spec = ContainerSpec {
            name: "app".into(),
            image: "brume/busybox:1".into(),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo hi".into()],
            env: vec![("A".into(), "1".into())],
            working_dir: Some("/tmp".into()),
            cpu_limit_milli: Some(250),
            memory_limit_bytes: Some(64 << 20),
            mounts: vec![Mount {
                host_path: "/var/lib/brume/x".into(),
                container_path: "/data".into(),
                read_only: true,
            }],
            ..Default::default()
        };
        let body = container_body(&spec, "abc", HashMap::new()).unwrap();
        assert_eq!(
            body.entrypoint,
            Some(vec!["sh".to_string(), "-c".to_string()])
        );
        assert_eq!(body.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.working_dir.as_deref(), Some("/tmp"));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("container:abc"));
        assert_eq!(host.nano_cpus, Some(250_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.source.as_deref(), Some("/var/lib/brume/x"));
        assert_eq!(mount.target.as_deref(), Some("/data"));
        assert_eq!(mount.read_only, Some(true));
    }

    #[test]
    fn without_command_or_args_the_image_defaults_stay() {
        let spec = ContainerSpec {
            name: "app".into(),
            image: "img".into(),
            ..Default::default()
        };
        let body = container_body(&spec, "abc", HashMap::new()).unwrap();
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, None);
        assert_eq!(body.env, None);
        assert_eq!(first_word(&spec), None);
    }

    #[test]
    fn tiny_memory_limit_is_refused_with_the_minimum() {
        let spec = ContainerSpec {
            name: "app".into(),
            image: "img".into(),
            memory_limit_bytes: Some(1024),
            ..Default::default()
        };
        let err = container_body(&spec, "abc", HashMap::new()).unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidConfig(m) if m.contains("6Mi")));
    }
}
