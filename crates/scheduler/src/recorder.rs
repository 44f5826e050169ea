//! Events are best effort and must not slow bindings down: they go through a bounded queue to a
//! task of their own, which creates a few at a time. When the queue is full the event is
//! dropped, as client-go's event broadcaster drops them (`maxQueuedEvents` = 1000,
//! `DropIfChannelFull`, k8s.io/client-go/tools/record/event.go).

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;

/// client-go's `maxQueuedEvents`.
pub(crate) const QUEUED_EVENTS: usize = 1000;

/// Hands events to the task that creates them.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Event>,
}

impl Recorder {
    /// Starts the task that creates queued events, `concurrency` at a time; it ends when the
    /// last `Recorder` is dropped and the queue is drained.
    pub(crate) fn start(client: kube::Client, concurrency: usize) -> Recorder {
        let (tx, rx) = mpsc::channel::<Event>(QUEUED_EVENTS);
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        tokio::spawn(events.for_each_concurrent(concurrency.max(1), move |event| {
            let client = client.clone();
            async move {
                let ns = event.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Event> = Api::namespaced(client, &ns);
                if let Err(e) = api.create(&PostParams::default(), &event).await {
                    tracing::debug!(reason = ?event.reason, error = %e, "could not record an event");
                }
            }
        }));
        Recorder { tx }
    }

    /// Queues an event; drops it when the queue is full.
    pub(crate) fn record(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            tracing::debug!("event queue full; an event was dropped");
        }
    }
}
