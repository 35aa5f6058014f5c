//! `kubarium-bench`: the benchmarks `cargo xtask bench` runs (see `kubarium_tests::bench`).

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    kubarium_tests::bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("kubarium-bench reads /proc and runs on Linux only");
    std::process::exit(1);
}
