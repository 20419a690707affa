//! What the benchmarks share: building what they measure, their settings, their statistics.

use std::path::Path;
use std::process::Command;

/// A setting from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds `mumu-server`, `mumu-agent` and `mumu-probe` in release, so the figures are never those of a stale
/// binary. (Under `cargo test` the smoke runs use the debug binaries the tests built.)
pub fn build_release_binaries() {
    let status = cargo()
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "mumu-server",
            "-p",
            "mumu-agent",
            "-p",
            "mumu-probe",
        ])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building mumu-server, mumu-agent and mumu-probe failed"
    );
}

/// Builds the browser's half of the web app in release (WASM optimised for size, hashed names,
/// compressed, as shipped) into the workspace's `target/site`.
pub fn build_release_site() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new(workspace.join("scripts/build-site"))
        .arg("--release")
        .status()
        .expect("scripts/build-site runs");
    assert!(status.success(), "scripts/build-site --release failed");
}

/// The cargo that runs this bench.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The `p`th percentile (nearest rank) of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
