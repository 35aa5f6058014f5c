//! Tauri's build step: embeds the config, icons and the ACL for our commands. On a glibc
//! that loads them, the app's relative relocations are also packed (see
//! [`pack_relative_relocations`]).

use std::process::Command;

fn main() {
    pack_relative_relocations();
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
            "exec_run",
            "terminal_start",
            "terminal_input",
            "terminal_resize",
            "ingress_get",
            "ingress_url",
            "kinds",
            "watch_resources",
            "watch_object",
            "get_object",
            "stop_stream",
            "keychain_info",
            "list_clusters",
            "watch_clusters",
            "preview_kubeconfig",
            "import_kubeconfig",
            "add_cluster",
            "remove_cluster",
            "can_i",
            "local_kubeconfig",
            "export_local_kubeconfig",
            "kubeconfig_merge_target",
            "merge_local_kubeconfig",
            "retry_cluster",
        ]),
    ))
    .unwrap_or_else(|error| panic!("tauri build step failed: {error:#}"));
}

/// A position-independent binary carries a 24-byte record for each pointer the loader must
/// offset (about 35,000 in the app: 0.85 MB). `-z pack-relative-relocs` (DT_RELR) stores them
/// as a bitmap instead. Only glibc 2.36 and later loads such a binary, so the flag is used
/// only when this build runs on one (a native build: the machine that builds is the one that
/// runs it); elsewhere the binary is linked as before.
fn pack_relative_relocations() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return;
    }
    // `getconf GNU_LIBC_VERSION` prints e.g. "glibc 2.36".
    let version = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default();
    let mut numbers = version
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if (major, minor) >= (2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
