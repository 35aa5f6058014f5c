//! Tauri's build step: embeds the config, icons and the ACL for our commands.

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "cluster_status",
            "watch_cluster_status",
            "quit",
            "delete_object",
            "scale",
            "rollout_restart",
            "rollout_history",
            "rollout_undo",
            "cordon",
            "drain",
            "add_node",
            "remove_node",
            "stop_node",
            "start_node",
            "stop_cluster",
            "start_cluster",
            "reset_cluster",
            "apply_objects",
            "stream_logs",
            "exec_start",
            "exec_input",
            "exec_resize",
            "port_forward_start",
            "port_forwards",
            "port_forward_stop",
            "open_url",
            "kinds",
            "watch_resources",
            "watch_object",
            "get_object",
            "stop_stream",
        ]),
    ))
    .unwrap_or_else(|error| panic!("tauri build step failed: {error:#}"));
}
