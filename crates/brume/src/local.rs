//! The client of the control loops that run inside the server's own process (scheduler,
//! controllers, `brume dev`'s hollow nodes).
//!
//! It is a kube-rs [`kube::Client`] whose requests are handed straight to the API server's
//! router, with the admin token: the same routes, authentication, authorization, validation and
//! watch streams that every remote client goes through (DESIGN §2.1), without TLS, TCP and
//! HTTP/1 framing in between. Those made up a large part of the server's CPU per scheduled pod:
//! every pod event reached the scheduler and each controller encrypted, framed, then decrypted
//! again in the same process (`docs/BENCHMARKS.md`, scheduler).

use std::sync::Arc;

use brume_apiserver::AppState;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};

/// A client of the API server whose state is `state`, acting as the admin.
pub fn client(state: Arc<AppState>) -> anyhow::Result<kube::Client> {
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", state.config.token))
        .map_err(|_| anyhow::anyhow!("the admin token is not a valid HTTP header value"))?;
    bearer.set_sensitive(true);
    let router = brume_apiserver::router(state);
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut req: Request<kube::client::Body>| {
            req.headers_mut().insert(AUTHORIZATION, bearer.clone());
            req
        })
        .service(router);
    Ok(kube::Client::new(service, "default"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_store::{MemoryStore, Store};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams};
    use kube::runtime::watcher;

    #[tokio::test]
    async fn requests_and_watches_reach_the_router_as_the_admin() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let state = Arc::new(AppState::new(store, brume_apiserver::Config::new("t0ken")));
        brume_apiserver::start(state.clone()).await.expect("start");
        let client = client(state).expect("client");
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

        let mut events = Box::pin(watcher(cms.clone(), watcher::Config::default()));
        use futures::StreamExt;
        assert!(matches!(
            events.next().await,
            Some(Ok(watcher::Event::Init))
        ));
        assert!(matches!(
            events.next().await,
            Some(Ok(watcher::Event::InitDone))
        ));

        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "local"}, "data": {"k": "v"}
        }))
        .unwrap();
        let created = cms
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
        assert!(
            created.metadata.uid.is_some(),
            "the server filled the metadata"
        );
        match events.next().await {
            Some(Ok(watcher::Event::Apply(seen))) => {
                assert_eq!(seen.metadata.name.as_deref(), Some("local"))
            }
            other => panic!("expected the created ConfigMap on the watch, got {other:?}"),
        }

        // Validation is the server's: a bad name is refused with its Status.
        let bad: ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "Not_Valid"}})).unwrap();
        match cms.create(&PostParams::default(), &bad).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 422, "{s:?}"),
            other => panic!("expected 422, got {other:?}"),
        }
    }
}
