//! Scenarios: not yet written.
