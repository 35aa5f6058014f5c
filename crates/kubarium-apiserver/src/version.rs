//! `/version`: which Kubernetes this server claims to be, in `version.Info`'s shape.
//!
//! kubectl compares this against its own version for the skew warning and client-go picks
//! behaviour by it, so the Kubernetes part is the API version we implement (the k8s-openapi
//! feature we build against) and Kubarium's own version rides in the semver build metadata,
//! as k3s does (`v1.33.0+k3s1`).

use axum::Json;
use k8s_openapi::apimachinery::pkg::version::Info;

/// The Kubernetes minor version whose API we serve.
pub const KUBERNETES_MINOR: u32 = 33;

/// This build's `version.Info`. Fields upstream fills from linker flags and we have no value
/// for keep upstream's unset defaults (`""`, the epoch).
pub fn build_info() -> Info {
    Info {
        major: "1".to_owned(),
        minor: KUBERNETES_MINOR.to_string(),
        git_version: format!(
            "v1.{KUBERNETES_MINOR}.0+kubarium.{}",
            env!("CARGO_PKG_VERSION")
        ),
        git_commit: String::new(),
        git_tree_state: String::new(),
        build_date: "1970-01-01T00:00:00Z".to_owned(),
        go_version: env!("KUBARIUM_RUSTC_VERSION").to_owned(),
        compiler: "rustc".to_owned(),
        platform: format!("{}/{}", go_os(), go_arch()),
        emulation_major: Some("1".to_owned()),
        emulation_minor: Some(KUBERNETES_MINOR.to_string()),
        min_compatibility_major: Some("1".to_owned()),
        min_compatibility_minor: Some((KUBERNETES_MINOR - 1).to_string()),
    }
}

/// `GOOS` spelling of the target OS, as clients expect in `platform`.
fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// `GOARCH` spelling of the target architecture.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub(crate) async fn get_version(
    axum::extract::State(server): axum::extract::State<crate::ApiServer>,
) -> Json<Info> {
    Json(server.inner.version.clone())
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use crate::testing;

    #[tokio::test]
    async fn version_has_upstreams_shape() {
        let (response, body) = testing::get(&testing::server(), "/version").await;
        assert_eq!(response.status(), StatusCode::OK);
        let info: serde_json::Value = serde_json::from_str(&body).unwrap();
        insta::assert_json_snapshot!(info, {
            ".goVersion" => "[rustc version]",
            ".platform" => "[platform]",
            ".gitVersion" => insta::dynamic_redaction(|value, _| {
                let v = value.as_str().unwrap();
                assert!(v.starts_with("v1.33.0+kubarium."), "{v}");
                "v1.33.0+kubarium.[version]"
            }),
        }, @r#"
        {
          "buildDate": "1970-01-01T00:00:00Z",
          "compiler": "rustc",
          "emulationMajor": "1",
          "emulationMinor": "33",
          "gitCommit": "",
          "gitTreeState": "",
          "gitVersion": "v1.33.0+kubarium.[version]",
          "goVersion": "[rustc version]",
          "major": "1",
          "minCompatibilityMajor": "1",
          "minCompatibilityMinor": "32",
          "minor": "33",
          "platform": "[platform]"
        }
        "#);
    }
}
