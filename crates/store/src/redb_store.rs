//! The redb backend, the embedded durable default.

/// A store on a redb database file.
pub struct RedbStore;
