//! The node-port allocator of the API server: Service writes are serialized, and each one sees
//! the node ports every other Service holds, so a number belongs to one Service (the agents'
//! proxies listen on it on every node). The allocation itself is the pure
//! `brume_api::node_ports::assign_node_ports`.
//!
//! The lock is process-local: with several servers on one store (etcd), two of them could hand
//! out the same port at once. Kubernetes keeps its allocator's bitmap in etcd for that reason;
//! Brume will need the same before it runs several servers.

use std::collections::BTreeSet;
use std::sync::Arc;

use brume_api::ResourceInfo;
use brume_api::node_ports::{NODE_PORT_RANGE, assign_node_ports, node_ports_of};
use brume_store::RangeRequest;
use rand::Rng;
use serde_json::Value;
use tokio::sync::MutexGuard;

use crate::object::{from_kv, meta_str};
use crate::{ApiError, AppState};

/// A Service write in progress: holds the allocator until the write is stored.
pub struct ServiceWrite<'a> {
    _guard: MutexGuard<'a, ()>,
    /// Node ports held by the other Services.
    taken: BTreeSet<i32>,
}

impl ServiceWrite<'_> {
    /// Gives `new` its node ports (keeping those of `old`), or says which port is taken.
    pub fn assign(
        &self,
        info: &ResourceInfo,
        new: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let start = rand::rng().random_range(NODE_PORT_RANGE);
        assign_node_ports(new, old, &self.taken, start)
            .map_err(|errs| ApiError::invalid(info, meta_str(new, "name"), &errs))
    }
}

/// Locks the allocator for a write to the Service at `key`, and reads what the others hold.
/// `None` for every other kind.
pub async fn begin<'a>(
    state: &'a Arc<AppState>,
    info: &ResourceInfo,
    key: &str,
) -> Result<Option<ServiceWrite<'a>>, ApiError> {
    if !info.group.is_empty() || info.kind != "Service" {
        return Ok(None);
    }
    let guard = state.service_writes.lock().await;
    let all = state
        .store
        .range(RangeRequest {
            prefix: info.key_prefix(None),
            ..Default::default()
        })
        .await?;
    let mut taken = BTreeSet::new();
    for kv in all.kvs.iter().filter(|kv| kv.key != key) {
        taken.extend(node_ports_of(&from_kv(kv)?));
    }
    Ok(Some(ServiceWrite {
        _guard: guard,
        taken,
    }))
}
