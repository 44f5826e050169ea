//! The annotations of re-placement (DESIGN §8, "Following users"): how a Deployment asks for
//! its replicas to follow the demand, and how the re-placement controller, the scheduler and
//! the ReplicaSet controller carry out one move, make-before-break.
//!
//! A move of a replica from node A to node B goes:
//! 1. the controller writes [`MOVE_ANNOTATION`] on the Deployment (the move in progress), puts
//!    [`MOVE_TO_ANNOTATION`]`: B` on the pod on A, and adds one replica;
//! 2. the scheduler sends the new pod of that ReplicaSet to B (the `ReplicaMove` score);
//! 3. once the new pod is Ready, the controller gives the pod on A the lowest
//!    [`POD_DELETION_COST`] and takes the replica back off: the ReplicaSet removes that pod;
//! 4. when it is gone the controller clears the move and stamps [`LAST_MOVE_ANNOTATION`].

/// On a Deployment: `follow-users` turns re-placement on.
pub const PLACEMENT_ANNOTATION: &str = "fog.brume.io/placement";
/// The values [`PLACEMENT_ANNOTATION`] takes.
pub const PLACEMENT_VALUES: &[&str] = &[FOLLOW_USERS, STATIC];
/// Replicas follow the demand.
pub const FOLLOW_USERS: &str = "follow-users";
/// Replicas stay where the scheduler put them (the default).
pub const STATIC: &str = "static";
/// On a Deployment: the move in progress, as JSON (the controller's state).
pub const MOVE_ANNOTATION: &str = "fog.brume.io/move";
/// On a Deployment: when the last move finished (RFC 3339), for the cooldown.
pub const LAST_MOVE_ANNOTATION: &str = "fog.brume.io/last-move";
/// On a pod being moved: the node its replacement goes to.
pub const MOVE_TO_ANNOTATION: &str = "fog.brume.io/move-to";
/// Kubernetes' pod deletion cost: a ReplicaSet scaling down removes lower costs first.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
