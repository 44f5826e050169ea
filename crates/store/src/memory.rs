//! The in-memory backend, for tests.

/// An in-memory store.
pub struct MemoryStore;
