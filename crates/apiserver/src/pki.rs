//! The server's certificates (DESIGN §10): a CA created on first start and kept in the data
//! folder, a serving certificate issued by it at every start for the addresses the server
//! answers on, a client certificate the server presents to agents (their log endpoints ask
//! for it), and the serving certificates of joining nodes. Clients trust the CA through the
//! kubeconfig; kubectl sends bearer tokens only over TLS, so TLS is on from the first start.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Why the certificates could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file in the data folder failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate failed.
    #[error("certificate error ({context}): {source}")]
    Cert {
        /// What was being made.
        context: &'static str,
        /// The cause.
        source: rcgen::Error,
    },
}

/// The CA and the certificates it issued at start, PEM-encoded, and the CA key to issue more.
pub struct Pki {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
    /// The client certificate the server presents to agents, and its key.
    agent_client: Issued,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

/// The common name of the certificate the server presents to agents.
pub const AGENT_CLIENT_NAME: &str = "brume-apiserver-agent-client";

fn cert_err(context: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Cert { context, source }
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            action: "reading",
            path: path.into(),
            source,
        }),
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io {
        action: "writing",
        path: path.into(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// The CA's parameters; the same every time, so a CA key read back from disk issues
/// certificates that chain to the CA certificate written on first start.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "brume-ca");
    dn.push(DnType::OrganizationName, "Brume");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    params
}

impl Pki {
    /// Loads the CA from `dir` (creating it on first start) and issues a serving certificate
    /// for `hosts` (IP addresses or DNS names).
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Pki, PkiError> {
        let ca_cert_path = dir.join("ca.crt");
        let ca_key_path = dir.join("ca.key");
        let (ca_pem, ca_key) = match (read(&ca_cert_path)?, read(&ca_key_path)?) {
            (Some(cert), Some(key)) => (
                cert,
                KeyPair::from_pem(&key).map_err(cert_err("reading ca.key"))?,
            ),
            _ => {
                let key = KeyPair::generate().map_err(cert_err("generating the CA key"))?;
                let cert = ca_params()
                    .self_signed(&key)
                    .map_err(cert_err("signing the CA"))?;
                write_private(&ca_key_path, &key.serialize_pem())?;
                write_private(&ca_cert_path, &cert.pem())?;
                (cert.pem(), key)
            }
        };
        let issuer = Issuer::new(ca_params(), ca_key);
        let serving = issue(
            &issuer,
            "brume-apiserver",
            hosts,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let agent_client = issue(
            &issuer,
            AGENT_CLIENT_NAME,
            &[],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(Pki {
            ca_pem,
            cert_pem: serving.cert_pem,
            key_pem: serving.key_pem,
            agent_client,
            issuer,
        })
    }

    /// The SHA-256 of the CA certificate (DER), in hex: what a join token pins, so that an
    /// agent checks it is talking to this server before it sends the token's secret.
    pub fn ca_sha256(&self) -> Result<String, String> {
        ca_sha256(&self.ca_pem)
    }

    /// Issues the serving certificate of node `name`'s agent for its `addresses` (the API
    /// server checks it when it fetches logs from the node).
    pub fn issue_node(&self, name: &str, addresses: &[String]) -> Result<Issued, PkiError> {
        let mut hosts = addresses.to_vec();
        hosts.push(name.to_string());
        issue(
            &self.issuer,
            &format!("system:node:{name}"),
            &hosts,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// The rustls client configuration the server uses towards agents: it trusts only the CA
    /// and presents the server's agent-client certificate.
    pub fn agent_client_config(&self) -> Result<rustls::ClientConfig, String> {
        let roots = roots_of(&self.ca_pem)?;
        let (certs, key) = parse_pair(&self.agent_client.cert_pem, &self.agent_client.key_pem)?;
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("loading the agent-client certificate: {e}"))
    }

    /// The rustls server configuration for the serving certificate (HTTP/2 and HTTP/1.1). The
    /// chain carries the CA too, so a joining agent can pin it by its hash.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let chain = format!("{}{}", self.cert_pem, self.ca_pem);
        let (certs, key) = parse_pair(&chain, &self.key_pem)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("loading the serving certificate: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Issues a certificate for `name`, valid for `hosts` (IP addresses or DNS names), for `usage`.
fn issue(
    issuer: &Issuer<'static, KeyPair>,
    name: &str,
    hosts: &[String],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> Result<Issued, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.subject_alt_names = hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => h
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(cert_err("a host name")),
        })
        .collect::<Result<_, _>>()?;
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(cert_err("generating a key"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(cert_err("issuing a certificate"))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

type Pair = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// Parses a PEM certificate chain and its PEM private key.
pub fn parse_pair(chain_pem: &str, key_pem: &str) -> Result<Pair, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing a certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("parsing a private key: {e}"))?;
    Ok((certs, key))
}

/// A root store holding the CA(s) of `ca_pem`.
pub fn roots_of(ca_pem: &str) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("parsing the CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("loading the CA certificate: {e}"))?;
    }
    Ok(roots)
}

/// The SHA-256 of the first certificate of `ca_pem` (DER), in lower-case hex.
pub fn ca_sha256(ca_pem: &str) -> Result<String, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| format!("parsing the CA certificate: {e}"))?;
    Ok(sha256_hex(der.as_ref()))
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    #[test]
    fn the_ca_survives_restarts_and_serving_certs_load() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let first = Pki::load_or_create(dir.path(), &hosts).unwrap();
        let second = Pki::load_or_create(dir.path(), &hosts).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_ne!(first.cert_pem, second.cert_pem);
        second.server_config().unwrap();
        second.agent_client_config().unwrap();
        assert_eq!(first.ca_sha256().unwrap(), second.ca_sha256().unwrap());
        assert_eq!(first.ca_sha256().unwrap().len(), 64);
    }

    #[test]
    fn node_certificates_chain_to_the_ca_and_name_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &["127.0.0.1".to_string()]).unwrap();
        let node = pki.issue_node("edge-1", &["10.0.0.7".to_string()]).unwrap();
        let (certs, _) = parse_pair(&node.cert_pem, &node.key_pem).unwrap();
        let roots = std::sync::Arc::new(roots_of(&pki.ca_pem).unwrap());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .unwrap();
        let ip = rustls::pki_types::ServerName::try_from("10.0.0.7").unwrap();
        let other = rustls::pki_types::ServerName::try_from("10.0.0.8").unwrap();
        let now = rustls::pki_types::UnixTime::now();
        assert!(
            verifier
                .verify_server_cert(&certs[0], &[], &ip, &[], now)
                .is_ok()
        );
        assert!(
            verifier
                .verify_server_cert(&certs[0], &[], &other, &[], now)
                .is_err()
        );
    }
}
