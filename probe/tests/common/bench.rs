//! What the benchmarks share: building what they measure, their settings, their statistics.

/// A setting from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds `mumu-server` and `mumu-agent` in release, so the figures are never those of a stale
/// binary. (Under `cargo test` the smoke runs use the debug binaries the tests built.)
pub fn build_release_binaries() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "mumu-server",
            "-p",
            "mumu-agent",
        ])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building mumu-server and mumu-agent failed"
    );
}

/// The `p`th percentile (nearest rank) of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
