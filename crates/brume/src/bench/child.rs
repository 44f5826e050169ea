//! A `brume server` child process on a temporary data folder, and an admin client for it.
//!
//! Benchmarks run the server as a child, not in their own process, so its CPU time and memory
//! are its own and the load generator's are not counted in them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::proc::{Memory, cpu_seconds_of};

/// A `brume server` or `brume dev` child process on a temporary data folder, and a client for it.
pub(crate) struct BrumeChild {
    /// The child process (killed on drop).
    pub child: Child,
    /// An admin client for its API.
    pub client: kube::Client,
    /// The data folder, removed on drop.
    pub _dir: tempfile::TempDir,
}

impl BrumeChild {
    /// Starts `brume <args> --listen 127.0.0.1:0 --data <tmp>` and waits for its kubeconfig.
    pub async fn start(args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .env("BRUME_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting brume {}", args.join(" ")))?;
        let kubeconfig = dir.path().join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !kubeconfig.exists() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "brume {} did not start within 30 s",
                args.join(" ")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The file may be seen before it is fully written.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let client = client_for(&kubeconfig).await?;
        Ok(BrumeChild {
            child,
            client,
            _dir: dir,
        })
    }

    /// The server's kubeconfig (in its data folder), for agents to join with.
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        self._dir.path().join("kubeconfig")
    }

    /// CPU seconds (user + system) the child used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.id()?;
        cpu_seconds_of(&format!("/proc/{pid}/stat"))
    }

    /// The child's own memory figures now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.child.id().context("the server has exited")?)
    }
}

async fn client_for(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}
