//! The server's certificates (DESIGN §10): a CA created on first start and kept in the data
//! folder, and a serving certificate issued by it at every start for the addresses the server
//! answers on. Clients trust the CA through the kubeconfig; kubectl sends bearer tokens only
//! over TLS, so TLS is on from the first start.

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

/// The CA and the serving certificate, PEM-encoded.
pub struct Pki {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

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
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "brume-apiserver");
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
        let now = rcgen::date_time_ymd(2025, 1, 1);
        params.not_before = now;
        params.not_after = rcgen::date_time_ymd(2125, 1, 1);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(cert_err("generating the serving key"))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(cert_err("issuing the serving certificate"))?;
        Ok(Pki {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The rustls server configuration for the serving certificate (HTTP/2 and HTTP/1.1).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("parsing the serving certificate: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| format!("parsing the serving key: {e}"))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("loading the serving certificate: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_survives_restarts_and_serving_certs_load() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let first = Pki::load_or_create(dir.path(), &hosts).unwrap();
        let second = Pki::load_or_create(dir.path(), &hosts).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_ne!(first.cert_pem, second.cert_pem);
        second.server_config().unwrap();
    }
}
