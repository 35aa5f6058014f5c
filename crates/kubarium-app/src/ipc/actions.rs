//! Types of the object actions (apply, delete, scale, rollout, cordon/drain, local nodes).
