//! Not yet written.

use tokio::task::JoinSet;

use crate::Context;

/// Sets the loop up on `tasks`.
pub(crate) fn start(_ctx: &Context, _tasks: &mut JoinSet<()>) {}
