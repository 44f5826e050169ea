//! The node lifecycle controller: Lease expiry → Ready=Unknown and unreachable taints; pods on
//! NoExecute-tainted nodes evicted after their toleration.

pub mod decide;

mod shell;

pub use shell::run;
