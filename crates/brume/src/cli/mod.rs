//! The kubectl-like verbs, for devices without kubectl. They read `KUBECONFIG` like kubectl,
//! talk to the API through kube-rs, and print from the server's Table output.

pub mod apply;
pub mod client;
pub mod delete;
pub mod describe;
pub mod get;
pub mod manifest;
pub mod nodes;
pub mod print;
pub mod scale;
pub mod token;
pub mod top;
