//! A thin layer over kube-rs: raw requests by URL path, with API errors turned into the
//! server's own message.

use anyhow::Context;
use brume_api::ResourceInfo;
use http::{Method, Request, header};
use serde_json::Value;

/// A connected API client and the default namespace of its kubeconfig context.
pub struct Api {
    client: kube::Client,
    /// The namespace of the current context (`default` if unset).
    pub namespace: String,
    /// The server URL.
    pub server: String,
    /// The CA certificate the kubeconfig trusts (DER), if it names one.
    pub ca_der: Option<Vec<u8>>,
}

/// The error of a failed request: the server's `Status` message, with its HTTP code.
#[derive(Debug, thiserror::Error)]
#[error("Error from server ({reason}): {message}")]
pub struct ServerError {
    /// The HTTP status code.
    pub code: u16,
    /// The Status `reason` (NotFound, Invalid, ...).
    pub reason: String,
    /// The Status `message`.
    pub message: String,
}

impl Api {
    /// Connects using `KUBECONFIG` (or `~/.kube/config`), like kubectl.
    pub async fn connect() -> anyhow::Result<Self> {
        let config = kube::Config::infer()
            .await
            .context("loading the kubeconfig: set KUBECONFIG to the file `brume dev` printed")?;
        let namespace = config.default_namespace.clone();
        let server = config.cluster_url.to_string();
        let ca_der = config.root_cert.as_ref().and_then(|c| c.first().cloned());
        let client = kube::Client::try_from(config).context("building the API client")?;
        Ok(Api {
            client,
            namespace,
            server,
            ca_der,
        })
    }

    /// Sends one request; a non-2xx answer becomes a [`ServerError`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        accept: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let (ct, bytes) = body.unwrap_or(("application/json", Vec::new()));
        let req = req
            .header(header::CONTENT_TYPE, ct)
            .body(bytes)
            .context("building the request")?;
        match self.client.request_text(req).await {
            Ok(text) if text.trim().is_empty() => Ok(Value::Null),
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!("the server answered {path} with something other than JSON")
            }),
            Err(kube::Error::Api(status)) => Err(ServerError {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            }
            .into()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("requesting {path}"))),
        }
    }

    /// GET returning JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.request(Method::GET, path, None, None).await
    }
}

/// True when `err` is a 404 from the server.
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ServerError>()
        .is_some_and(|e| e.code == 404)
}

/// The URL path of a collection (namespace `None` = all namespaces, for namespaced kinds).
pub fn collection_path(info: &ResourceInfo, namespace: Option<&str>) -> String {
    let base = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    match namespace {
        Some(ns) if info.namespaced() => format!("{base}/namespaces/{ns}/{}", info.plural),
        _ => format!("{base}/{}", info.plural),
    }
}

/// The URL path of one object.
pub fn object_path(info: &ResourceInfo, namespace: &str, name: &str) -> String {
    format!("{}/{name}", collection_path(info, Some(namespace)))
}

/// Looks a kind up by what the user typed, or explains what is valid.
pub fn resolve_kind(name: &str) -> anyhow::Result<&'static ResourceInfo> {
    brume_api::resource::by_user_name(name).ok_or_else(|| {
        let known: Vec<&str> = brume_api::resource::KINDS
            .iter()
            .map(|k| k.plural)
            .collect();
        anyhow::anyhow!(
            "the server doesn't have a resource type {name:?}; known types: {}",
            known.join(", ")
        )
    })
}
