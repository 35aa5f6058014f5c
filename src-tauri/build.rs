//! Tauri's build step: embeds the config, icons and the ACL for our commands.

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "cluster_status",
            "watch_cluster_status",
            "quit",
            "kinds",
            "watch_resources",
            "watch_object",
            "get_object",
            "stop_stream",
            "apply_objects",
            "stream_logs",
            "exec_start",
            "exec_input",
            "exec_resize",
            "port_forward_start",
            "port_forwards",
            "port_forward_stop",
            "open_url",
        ]),
    ))
    .unwrap_or_else(|error| panic!("tauri build step failed: {error:#}"));
}
