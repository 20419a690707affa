//! The device's periodic status report (`device_presence`): uptime, viewers, source, encoder
//! and, where the system has a sensor, the CPU temperature (a Pi in a hot box throttles).

use mumu_shared::api::DeviceStatus;
use std::time::Instant;

/// Where Linux exposes the first thermal zone, in millidegrees Celsius.
const THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0/temp";

/// The status now.
pub fn current(started: Instant, viewers: usize, source: String, encoder: &str) -> DeviceStatus {
    DeviceStatus {
        uptime_s: started.elapsed().as_secs(),
        viewers: u32::try_from(viewers).unwrap_or(u32::MAX),
        source: Some(source),
        encoder: Some(encoder.to_owned()),
        cpu_temp_c: cpu_temperature(),
        recording: false,
    }
}

fn cpu_temperature() -> Option<f32> {
    let text = std::fs::read_to_string(THERMAL_ZONE).ok()?;
    parse_millidegrees(&text)
}

fn parse_millidegrees(text: &str) -> Option<f32> {
    let milli: i64 = text.trim().parse().ok()?;
    Some(milli as f32 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_reports_millidegrees() {
        assert_eq!(parse_millidegrees("48312\n"), Some(48.312));
        assert_eq!(parse_millidegrees("garbage"), None);
    }
}
