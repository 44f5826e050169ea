//! kube-rs against the real `brume server` binary: typed CRUD, and the runtime watcher
//! recovering from a compacted resourceVersion (410 Gone) by relisting, as it does against
//! Kubernetes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::watcher;

struct Server {
    child: Child,
}

impl Server {
    fn start(data: &Path, port: u16) -> Server {
        let _ = std::fs::remove_file(data.join("kubeconfig"));
        let child = Command::new(env!("CARGO_BIN_EXE_brume"))
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data)
            .env("BRUME_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("starting brume server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !data.join("kubeconfig").exists() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child }
    }

    fn stop(mut self) {
        // SIGKILL: the store must not need a clean shutdown.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn client(data: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(data.join("kubeconfig")).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn watcher_relists_after_the_history_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Server::start(dir.path(), port);
    let api: Api<ConfigMap> = Api::namespaced(client(dir.path()).await, "default");
    api.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = api.clone();
    let task = tokio::spawn(async move {
        let mut stream = watcher(watch_api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            if let Ok(ev) = ev {
                let _ = tx.send(ev);
            }
        }
    });
    let names = |ev: &watcher::Event<ConfigMap>| -> Vec<String> {
        match ev {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                vec![o.metadata.name.clone().unwrap_or_default()]
            }
            _ => vec![],
        }
    };
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&"before".to_string()) {
        let ev = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("initial list")
            .unwrap();
        seen.extend(names(&ev));
    }

    // A restart loses the in-memory watch history: the watcher's next watch gets 410 Gone and
    // must relist to see what changed meanwhile.
    // The write happens on another port, out of the watcher's reach, so that when the server
    // is back where the watcher looks, the watcher's resourceVersion is older than anything
    // the new process keeps.
    server.stop();
    let elsewhere = Server::start(dir.path(), free_port());
    let api: Api<ConfigMap> = Api::namespaced(client(dir.path()).await, "default");
    api.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    elsewhere.stop();
    let _server = Server::start(dir.path(), port);
    let mut relisted = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains(&"after".to_string()) {
        let ev = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("event after restart")
            .unwrap();
        relisted |= matches!(ev, watcher::Event::Init);
        seen.extend(names(&ev));
    }
    assert!(
        relisted,
        "the watcher saw the new object without relisting: {seen:?}"
    );
    task.abort();
}

#[tokio::test]
async fn typed_crud_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let _server = Server::start(dir.path(), free_port());
    let api: Api<ConfigMap> = Api::namespaced(client(dir.path()).await, "default");
    let created = api
        .create(&PostParams::default(), &cm("typed"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let mut got = api.get("typed").await.unwrap();
    got.data.as_mut().unwrap().insert("k".into(), "w".into());
    let replaced = api
        .replace("typed", &PostParams::default(), &got)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "w");
    // The old resourceVersion is stale now.
    let err = api
        .replace("typed", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    api.delete("typed", &Default::default()).await.unwrap();
    assert!(matches!(api.get("typed").await, Err(kube::Error::Api(ref s)) if s.code == 404));
}
