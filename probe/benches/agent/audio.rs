//! What sound costs, side by side in one window: two agents with the same picture, one with
//! `--audio` (the simulator's beep, one Opus encode, a sound branch per viewer) and one
//! without, each with the same number of viewers; and A/V sync as a viewer measures it (a third
//! agent on the still picture, whose clock the probe reads, with sound).

use crate::common::proc::Proc;
use crate::common::{self, PASSWORD, System};
use crate::cpu_over;
use mumu_probe::watch::{AudioSummary, WatchOptions, watch};
use std::time::Duration;

/// The figures of one picture size.
pub struct AudioFigures {
    pub label: String,
    /// (viewers, CPU-s/s with sound, CPU-s/s without).
    pub cpu: Vec<(usize, f64, f64)>,
    /// What a viewer of the still picture with sound heard, with the sync figure.
    pub heard: Option<AudioSummary>,
}

/// `n` watches of `user`'s camera for `seconds` each.
fn watching(base: &str, user: &str, n: usize, seconds: f64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let options = WatchOptions::new(base, user, PASSWORD, Duration::from_secs_f64(seconds));
            tokio::spawn(async move {
                watch(&options).await.expect("a viewer watches");
            })
        })
        .collect()
}

/// A second agent in `system`'s folder, paired to a user of its own; its process.
async fn another(system: &System, name: &str, args: &[&str]) -> common::Running {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let agent = common::start_named_agent(system.dir.path(), name, &system.base, &args);
    let code = common::pairing_code(&system.dir.path().join(name)).await;
    let auth = system.register_invited(name).await;
    common::pair(&system.base, &auth.access_token, &code, name).await;
    agent
}

/// Sound on against off at one size, with each of `counts` viewers on both agents; then the
/// sync figure over `sync_secs` on the still picture.
pub async fn audio(
    label: &str,
    size: &[&str],
    counts: &[usize],
    settle: Duration,
    window: Duration,
    sync_secs: f64,
) -> AudioFigures {
    let most = counts.iter().max().copied().unwrap_or(1).max(1).to_string();
    let mut args = vec![
        "--idle-stop-secs",
        "0",
        "--test-pattern",
        "ball",
        "--max-viewers",
        &most,
    ];
    args.extend_from_slice(size);
    let mut sound_args = args.clone();
    sound_args.push("--audio");
    let server_env = [
        ("MUMU_MAX_SESSIONS_PER_DEVICE", most.as_str()),
        ("MUMU_MAX_SOCKETS_PER_USER", "1000"),
        ("MUMU_LOGIN_FAILURES_PER_MIN", "1000"),
        ("MUMU_WATCHES_PER_MIN", "0"),
    ];
    let system = System::start_full(&sound_args, &server_env, async |_| {}).await;
    let quiet = another(&system, "quiet", &args).await;
    let (on, off) = (Proc(system.agent_pid()), Proc(quiet.0.id()));

    let stays = (settle + window).as_secs_f64() + 1.0;
    let mut cpu = Vec::new();
    for &viewers in counts {
        let mut tasks = watching(&system.base, "owner", viewers, stays);
        tasks.extend(watching(&system.base, "quiet", viewers, stays));
        tokio::time::sleep(settle).await;
        let [with, without] = cpu_over([&on, &off], window).await;
        for task in tasks {
            task.await.expect("the watch task");
        }
        cpu.push((viewers, with, without));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    quiet.terminate();

    let mut still_args = vec!["--audio", "--test-pattern", "smpte75"];
    still_args.extend_from_slice(size);
    let still = another(&system, "still", &still_args).await;
    let mut options = WatchOptions::new(
        &system.base,
        "still",
        PASSWORD,
        Duration::from_secs_f64(sync_secs),
    );
    options.sync = true;
    let heard = watch(&options)
        .await
        .unwrap_or_else(|e| panic!("the still picture's watch failed: {e}"))
        .audio;
    still.terminate();
    AudioFigures {
        label: label.to_owned(),
        cpu,
        heard,
    }
}

/// Prints the figures of every size.
pub fn print(all: &[AudioFigures]) {
    if all.is_empty() {
        return;
    }
    for f in all {
        crate::print_on_off(
            "Sound: agent CPU-s/s with --audio and without, the two agents side by side in one window, same viewers each",
            ("audio", "no audio"),
            &f.label,
            &f.cpu,
            f.label == all[0].label,
        );
        if let (Some((n0, on0, off0)), Some((n1, on1, off1))) = (f.cpu.first(), f.cpu.last())
            && n1 > n0
        {
            let added = (n1 - n0) as f64;
            let (per_on, per_off) = ((on1 - on0) / added, (off1 - off0) / added);
            println!(
                "{}: per viewer ({n0} -> {n1}): {:.4} CPU-s/s with sound, {:.4} without: {:+.0} % (aim within 10 %)",
                f.label,
                per_on,
                per_off,
                (per_on / per_off - 1.0) * 100.0
            );
        }
    }
    for f in all {
        let Some(heard) = &f.heard else {
            println!("{}: the still picture's viewer heard no sound", f.label);
            continue;
        };
        println!(
            "{}: heard {} beeps, one every {} ms, {} ms long; {} Opus packets, {} lost",
            f.label,
            heard.beeps,
            heard
                .beep_interval_ms
                .map_or("?".into(), |v| format!("{v:.0}")),
            heard
                .beep_length_ms
                .map_or("?".into(), |v| format!("{v:.0}")),
            heard.packets,
            heard.lost
        );
        match &heard.sync {
            Some(sync) => println!(
                "{}: A/V sync at the viewer (beep arrival - arrival of the frame showing the new second), {} pairs: p50 {} ms, worst {} ms (aim |offset| < 80 ms); coding noise moved at most {:.2} per mille of the clock's corner (a second change: 2 or more)",
                f.label,
                sync.pairs,
                sync.offset_p50_ms
                    .map_or("?".into(), |v| format!("{v:+.0}")),
                sync.offset_max_ms
                    .map_or("?".into(), |v| format!("{v:+.0}")),
                sync.largest_noise
            ),
            None => println!("{}: no sync figure (the picture was not decoded)", f.label),
        }
    }
}
