//! The server's data folder: the store, the admin token and the kubeconfig that carries it,
//! and the join token agents join with.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use brume_agent::join::JoinToken;

/// Where `brume dev` keeps its data unless told otherwise.
pub const DEFAULT_DEV_DATA: &str = "brume-data";

/// Arguments of `brume kubeconfig`.
#[derive(clap::Args)]
pub struct KubeconfigArgs {
    /// The server's data folder.
    #[arg(long, default_value = DEFAULT_DEV_DATA)]
    data: PathBuf,
}

/// The files of a data folder.
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (and creates) a data folder.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(root)
            .with_context(|| format!("creating data folder {}", root.display()))?;
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The redb store file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store.redb")
    }

    /// The admin kubeconfig.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }

    /// The admin bearer token: read, or generated on first start and kept (mode 0600).
    pub fn admin_token(&self) -> anyhow::Result<String> {
        let path = self.root.join("admin-token");
        if let Ok(token) = fs::read_to_string(&path) {
            let token = token.trim().to_string();
            if !token.is_empty() {
                return Ok(token);
            }
        }
        let mut bytes = [0u8; 24];
        rand_bytes(&mut bytes)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&path, token.as_bytes())?;
        Ok(token)
    }

    /// Writes the kubeconfig for `server_url` with the admin token and the CA to trust.
    pub fn write_kubeconfig(
        &self,
        server_url: &str,
        token: &str,
        ca_pem: &str,
    ) -> anyhow::Result<PathBuf> {
        let path = self.kubeconfig_path();
        let text = brume_agent::join::kubeconfig_yaml(server_url, ca_pem, "brume-admin", token);
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// The file holding the server's standing join token.
    pub fn join_token_path(&self) -> PathBuf {
        self.root.join("join-token")
    }

    /// The standing join token, if the file holds one.
    pub fn join_token(&self) -> anyhow::Result<Option<JoinToken>> {
        match fs::read_to_string(self.join_token_path()) {
            Ok(text) => Ok(text.parse().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("reading {}", self.join_token_path().display()))
            }
        }
    }

    /// Writes the standing join token (mode 0600).
    pub fn write_join_token(&self, token: &JoinToken) -> anyhow::Result<()> {
        let text = format!("{}::{}\n", token.ca_sha256, token.secret);
        write_private(&self.join_token_path(), text.as_bytes())
    }
}

fn rand_bytes(buf: &mut [u8]) -> anyhow::Result<()> {
    let mut f =
        fs::File::open("/dev/urandom").context("opening /dev/urandom for the admin token")?;
    std::io::Read::read_exact(&mut f, buf).context("reading /dev/urandom")?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `brume kubeconfig`.
pub fn print_kubeconfig(args: KubeconfigArgs) -> anyhow::Result<()> {
    let path = args.data.join("kubeconfig");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: start the server first (brume dev --data {})",
            path.display(),
            args.data.display()
        )
    })?;
    print!("{text}");
    Ok(())
}
