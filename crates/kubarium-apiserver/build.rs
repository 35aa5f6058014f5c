//! Records the compiler version for `/version`'s `goVersion` field (ours is a Rust build),
//! and compresses the OpenAPI schemas (`src/openapi/schemas.json`, pretty JSON for review)
//! into `$OUT_DIR` for `openapi/schemas.rs` to include: a tenth of their size in the binary.

use std::io::Write;
use std::process::Command;

fn main() -> std::io::Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default();
    println!("cargo:rustc-env=KUBARIUM_RUSTC_VERSION={}", version.trim());

    let schemas = "src/openapi/schemas.json";
    println!("cargo:rerun-if-changed={schemas}");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&std::fs::read(schemas)?)?;
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    std::fs::write(out.join("openapi-schemas.json.z"), encoder.finish()?)
}
