//! The checked-in corpus of malformed requests: each gets a proper 4xx `Status` (or
//! succeeds), never a panic and never a 500. The fuzz target (`fuzz/`) starts from the same
//! corpus.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubarium_tests::requests::{Sandbox, parse_case};

#[tokio::test]
async fn malformed_requests_get_a_status_not_a_500() {
    let sandbox = Sandbox::new().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/requests");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 50, "the corpus is in {}", dir.display());
    for case in cases {
        let bytes = std::fs::read(&case).unwrap();
        let (status, body) = sandbox.send(parse_case(&bytes)).await;
        let name = case.file_name().unwrap().to_string_lossy();
        if std::env::var_os("KUBARIUM_SHOW_CASES").is_some() {
            eprintln!(
                "{name}: {status} {}",
                body.chars().take(160).collect::<String>()
            );
        }
        // 504 is upstream's answer (and client-go's cue) for a resource version from the future.
        let too_large = status == 504 && body.contains("ResourceVersionTooLarge");
        assert!(status < 500 || too_large, "{name}: {status} {body}");
        if status >= 400 {
            let parsed: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{name}: not a Status ({e}): {body}"));
            assert_eq!(parsed["kind"], "Status", "{name}: {body}");
            assert_eq!(parsed["code"], status, "{name}: {body}");
            assert!(
                parsed["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{name}: {body}"
            );
        }
    }
}
