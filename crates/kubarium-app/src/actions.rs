//! Actions on objects: apply (with dry run), delete, scale, rollout restart/undo, cordon and drain; and, for the local cluster, adding, removing, stopping and starting nodes.
