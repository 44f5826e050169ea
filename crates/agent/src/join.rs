//! Joining a cluster (DESIGN §10): from a join token to the node's own credential.
//!
//! A join token is `<ca-sha256>::<id>.<secret>`. The agent first opens a TLS connection to the
//! server and sends nothing: it only looks for a certificate in the server's chain whose
//! SHA-256 matches the token's hash. That certificate becomes the only CA the agent trusts, so
//! the secret is then sent only to the server that holds the cluster CA. With it, the agent
//! asks `POST /brume/v1/join` for a credential of its own (a bearer token and the serving
//! certificate of its log endpoint), and keeps them in its data folder so that a restart
//! needs no join token: `kubeconfig` (usable with kubectl, as the node), `ca.crt`,
//! `agent.crt` and `agent.key`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};

/// Why joining failed. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The token is not `<ca-sha256>::<id>.<secret>`.
    #[error(
        "the join token is not <ca-sha256>::<id>.<secret> ({0}); take it from the server's \
         data folder (join-token) or from `brume token create`"
    )]
    BadToken(String),
    /// The server URL is not usable.
    #[error("--server {url:?}: {why}; expected https://<host>:<port>")]
    BadServer {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the server at {url}: {source}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No certificate of the server's chain has the token's hash.
    #[error(
        "the server at {url} does not hold the CA the join token names (sha256 {expected}; \
         its chain has {found}): refusing to send the token. Check --server, or take a fresh \
         token from that server"
    )]
    WrongCa {
        /// The URL.
        url: String,
        /// The hash in the token.
        expected: String,
        /// The hashes the server presented.
        found: String,
    },
    /// The server holds the right CA, but its serving certificate does not name the address.
    #[error(
        "the server at {url} holds the cluster CA, but its certificate does not name that \
         address: start the server with --tls-san <the address agents use>"
    )]
    NameNotCertified {
        /// The URL.
        url: String,
    },
    /// The server does not know the token's secret.
    #[error(
        "the server rejects the join token (401 Unauthorized: unknown, expired or revoked); \
         take the server data folder's join-token or make one with `brume token create`"
    )]
    TokenRejected,
    /// The server refused the join or failed.
    #[error("the server refused to join node {node}: {source}")]
    Refused {
        /// The node name.
        node: String,
        /// The cause.
        source: kube::Error,
    },
    /// The server's answer was not a credential.
    #[error("the server's join answer is not understood: {0}")]
    BadAnswer(String),
    /// Reading or writing the credential files failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate or key could not be used.
    #[error("{0}")]
    Tls(String),
    /// The kube client could not be built.
    #[error("building the API client: {0}")]
    Client(String),
}

/// A parsed join token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    /// The SHA-256 of the cluster CA certificate (DER), lower-case hex.
    pub ca_sha256: String,
    /// `<id>.<secret>`, the bearer token the join is made with.
    pub secret: String,
}

impl std::str::FromStr for JoinToken {
    type Err = JoinError;

    fn from_str(s: &str) -> Result<Self, JoinError> {
        let s = s.trim();
        let (hash, secret) = s
            .split_once("::")
            .ok_or_else(|| JoinError::BadToken("no \"::\" separator".into()))?;
        let hash = hash
            .strip_prefix("sha256:")
            .unwrap_or(hash)
            .to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JoinError::BadToken(format!(
                "the CA hash {hash:?} is not 64 hex digits"
            )));
        }
        let ok = |part: &str, n: usize| {
            part.len() == n
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match secret.split_once('.') {
            Some((id, sec)) if ok(id, 6) && ok(sec, 16) => Ok(JoinToken {
                ca_sha256: hash,
                secret: secret.to_string(),
            }),
            _ => Err(JoinError::BadToken(format!(
                "{secret:?} is not <id>.<secret> with a 6- and a 16-character [a-z0-9] part"
            ))),
        }
    }
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// PEM of one DER certificate.
fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A verifier that accepts any chain and keeps it: only used to read the chain, on a
/// connection that carries nothing.
#[derive(Debug)]
struct ChainRecorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            chain.push(end_entity.clone().into_owned());
            chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `host` and `port` of an `https://` server URL.
fn host_port(url: &str) -> Result<(String, u16), JoinError> {
    let bad = |why: &str| JoinError::BadServer {
        url: url.into(),
        why: why.into(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("the API is served over TLS only"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), uri.port_u16().unwrap_or(443)))
}

/// Reads the server's chain and returns, PEM-encoded, the certificate whose SHA-256 is
/// `expected`.
pub async fn fetch_ca(url: &str, expected: &str) -> Result<String, JoinError> {
    let (host, port) = host_port(url)?;
    let recorder = Arc::new(ChainRecorder {
        chain: Mutex::new(Vec::new()),
        provider: provider(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| JoinError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let unreachable = |source| JoinError::Unreachable {
        url: url.into(),
        source,
    };
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(unreachable)?;
    let name = ServerName::try_from(host.clone()).map_err(|e| JoinError::BadServer {
        url: url.into(),
        why: e.to_string(),
    })?;
    // Nothing is written on this connection: it ends after the handshake.
    let _ = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(unreachable)?;
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let hashes: Vec<String> = chain.iter().map(|c| sha256_hex(c.as_ref())).collect();
    match chain.iter().zip(&hashes).find(|(_, h)| *h == expected) {
        Some((ca, _)) => Ok(pem_of(ca.as_ref())),
        None => Err(JoinError::WrongCa {
            url: url.into(),
            expected: expected.into(),
            found: hashes.join(", "),
        }),
    }
}

/// A kubeconfig for `server`, trusting `ca_pem`, as `user` with `token`.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    // The token is quoted: a hex token can read as a YAML number.
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: brume\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\n\
         users:\n- name: {user}\n  user:\n    token: \"{token}\"\ncontexts:\n- name: brume\n  context:\n    \
         cluster: brume\n    user: {user}\n    namespace: default\ncurrent-context: brume\n"
    )
}

/// A kube-rs client from kubeconfig text.
pub async fn client_from_yaml(yaml: &str) -> Result<kube::Client, JoinError> {
    let kc =
        kube::config::Kubeconfig::from_yaml(yaml).map_err(|e| JoinError::Client(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| JoinError::Client(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| JoinError::Client(e.to_string()))
}

/// A node's own credential, as the server issued it.
#[derive(Clone)]
pub struct NodeCredentials {
    /// The node's name.
    pub node: String,
    /// The server URL.
    pub server: String,
    /// The cluster CA, PEM.
    pub ca_pem: String,
    /// The node's bearer token.
    pub token: String,
    /// The serving certificate of the node's log endpoint, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinRequest<'a> {
    node_name: &'a str,
    addresses: &'a [String],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinAnswer {
    node_name: String,
    token: String,
    certificate: String,
    key: String,
}

/// Joins `server` as `node`, reached at `addresses`, with `token`.
pub async fn join(
    server: &str,
    token: &JoinToken,
    node: &str,
    addresses: &[String],
) -> Result<NodeCredentials, JoinError> {
    let ca_pem = fetch_ca(server, &token.ca_sha256).await?;
    let id = token.secret.split('.').next().unwrap_or_default();
    let bootstrap = client_from_yaml(&kubeconfig_yaml(
        server,
        &ca_pem,
        &format!("system:bootstrap:{id}"),
        &token.secret,
    ))
    .await?;
    let body = serde_json::to_vec(&JoinRequest {
        node_name: node,
        addresses,
    })
    .map_err(|e| JoinError::BadAnswer(e.to_string()))?;
    let req = http::Request::post("/brume/v1/join")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| JoinError::Client(e.to_string()))?;
    let text = bootstrap
        .request_text(req)
        .await
        .map_err(|source| match source {
            kube::Error::Api(s) if s.code == 401 => JoinError::TokenRejected,
            // The CA checked out, but the serving certificate does not name the address used.
            source if format!("{source:?}").contains("NotValidForName") => {
                JoinError::NameNotCertified { url: server.into() }
            }
            source => JoinError::Refused {
                node: node.into(),
                source,
            },
        })?;
    let answer: JoinAnswer =
        serde_json::from_str(&text).map_err(|e| JoinError::BadAnswer(e.to_string()))?;
    if answer.node_name != node {
        return Err(JoinError::BadAnswer(format!(
            "it is for node {:?}, not {node:?}",
            answer.node_name
        )));
    }
    Ok(NodeCredentials {
        node: node.into(),
        server: server.into(),
        ca_pem,
        token: answer.token,
        cert_pem: answer.certificate,
        key_pem: answer.key,
    })
}

const KUBECONFIG: &str = "kubeconfig";
const CA: &str = "ca.crt";
const CERT: &str = "agent.crt";
const KEY: &str = "agent.key";

fn write_private(path: &Path, text: &str) -> Result<(), JoinError> {
    brume_runtime::private_file::write_private(path, text.as_bytes()).map_err(|source| {
        JoinError::Io {
            action: "writing",
            path: path.into(),
            source,
        }
    })
}

impl NodeCredentials {
    /// The kubeconfig of this node's credential.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(
            &self.server,
            &self.ca_pem,
            &format!("system:node:{}", self.node),
            &self.token,
        )
    }

    /// Writes the credential into `dir` (files readable by the owner only).
    pub fn save(&self, dir: &Path) -> Result<(), JoinError> {
        std::fs::create_dir_all(dir).map_err(|source| JoinError::Io {
            action: "creating",
            path: dir.into(),
            source,
        })?;
        write_private(&dir.join(CA), &self.ca_pem)?;
        write_private(&dir.join(CERT), &self.cert_pem)?;
        write_private(&dir.join(KEY), &self.key_pem)?;
        // The kubeconfig last: its presence says the rest is there.
        write_private(&dir.join(KUBECONFIG), &self.kubeconfig())
    }

    /// The credential saved in `dir` for `node`, if there is one.
    pub fn load(dir: &Path, node: &str) -> Result<Option<NodeCredentials>, JoinError> {
        let read = |name: &str| -> Result<Option<String>, JoinError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(JoinError::Io {
                    action: "reading",
                    path,
                    source,
                }),
            }
        };
        let Some(kubeconfig) = read(KUBECONFIG)? else {
            return Ok(None);
        };
        let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig)
            .map_err(|e| JoinError::Client(format!("{}/{KUBECONFIG}: {e}", dir.display())))?;
        let user = format!("system:node:{node}");
        let token = kc
            .auth_infos
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.auth_info.as_ref()?.token.as_ref())
            .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string());
        let server = kc
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref()?.server.clone());
        let (Some(token), Some(server)) = (token, server) else {
            // Another node's credential (the folder was reused under a new name): join again.
            return Ok(None);
        };
        let missing = |name: &str| JoinError::Io {
            action: "reading",
            path: dir.join(name),
            source: std::io::ErrorKind::NotFound.into(),
        };
        Ok(Some(NodeCredentials {
            node: node.into(),
            server,
            ca_pem: read(CA)?.ok_or_else(|| missing(CA))?,
            token,
            cert_pem: read(CERT)?.ok_or_else(|| missing(CERT))?,
            key_pem: read(KEY)?.ok_or_else(|| missing(KEY))?,
        }))
    }

    /// A kube-rs client with this credential.
    pub async fn client(&self) -> Result<kube::Client, JoinError> {
        client_from_yaml(&self.kubeconfig()).await
    }

    /// The TLS configuration of the node's log endpoint: its serving certificate, and only
    /// clients with a certificate from the cluster CA for client authentication (the API
    /// server's; node certificates are for serving only).
    pub fn log_tls(&self) -> Result<rustls::ServerConfig, JoinError> {
        log_tls(&self.ca_pem, &self.cert_pem, &self.key_pem)
    }
}

/// The TLS configuration of a log endpoint serving `cert_pem` and asking for a client
/// certificate issued by `ca_pem`.
pub fn log_tls(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ServerConfig, JoinError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let tls = |e: &dyn std::fmt::Display| JoinError::Tls(format!("the log endpoint's TLS: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| tls(&e))?;
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn join_tokens_parse_or_say_what_is_wrong() {
        let t: JoinToken = format!("{HASH}::abcdef.0123456789abcdef").parse().unwrap();
        assert_eq!(t.ca_sha256, HASH);
        assert_eq!(t.secret, "abcdef.0123456789abcdef");
        let with_prefix: JoinToken = format!("sha256:{HASH}::abcdef.0123456789abcdef")
            .parse()
            .unwrap();
        assert_eq!(with_prefix, t);
        let err = |s: String| s.parse::<JoinToken>().unwrap_err().to_string();
        assert!(err("abcdef.0123456789abcdef".into()).contains("no \"::\""));
        assert!(err(format!("{}::abcdef.0123456789abcdef", &HASH[1..])).contains("64 hex"));
        assert!(err(format!("{HASH}::ABCDEF.0123456789abcdef")).contains("6- and a 16"));
        assert!(err(format!("{HASH}::abcdef")).contains("<id>.<secret>"));
    }

    #[test]
    fn server_urls_must_be_https() {
        assert_eq!(
            host_port("https://10.0.0.1:6443").unwrap(),
            ("10.0.0.1".into(), 6443)
        );
        assert_eq!(
            host_port("https://[fd00::1]:6443").unwrap(),
            ("fd00::1".into(), 6443)
        );
        assert!(
            host_port("http://10.0.0.1:6443")
                .unwrap_err()
                .to_string()
                .contains("TLS only")
        );
    }

    #[test]
    fn pem_round_trips() {
        let der = vec![1u8; 100];
        let pem = pem_of(&der);
        use rustls::pki_types::pem::PemObject;
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), &der[..]);
    }

    #[test]
    fn credentials_survive_a_restart_and_belong_to_one_node() {
        let dir = tempfile::tempdir().unwrap();
        let creds = NodeCredentials {
            node: "edge-1".into(),
            server: "https://127.0.0.1:6443".into(),
            ca_pem: "ca".into(),
            token: "0123".into(),
            cert_pem: "cert".into(),
            key_pem: "key".into(),
        };
        creds.save(dir.path()).unwrap();
        let back = NodeCredentials::load(dir.path(), "edge-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                back.token.as_str(),
                back.server.as_str(),
                back.key_pem.as_str()
            ),
            ("0123", "https://127.0.0.1:6443", "key")
        );
        assert!(
            NodeCredentials::load(dir.path(), "edge-2")
                .unwrap()
                .is_none()
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(
            NodeCredentials::load(empty.path(), "edge-1")
                .unwrap()
                .is_none()
        );
    }
}
