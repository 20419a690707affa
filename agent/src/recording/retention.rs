//! Keeping the directory within its limits (oldest segments go first), and repairing a segment
//! a crash cut short.

use super::index::{IndexLine, Segment};
use super::{RecordingError, State, Store};
use super::{mp4, segment_file};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Space always left free when no `max_bytes` is set.
const MIN_FREE_BYTES: u64 = 1 << 30;

/// Reads a segment file whose index entry is missing or stale, truncating it to its last whole
/// fragment; `Ok(None)` if it had none (it is then removed).
pub(super) fn repair(path: &Path, name: &str) -> Result<Option<Segment>, RecordingError> {
    let io = |what: &str, e| RecordingError::io(format!("{what} {}", path.display()), e);
    // Read-only until a change is needed: a read-only disk still lists what it holds.
    let file = std::fs::File::open(path).map_err(|e| io("opening", e))?;
    let writable = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io("opening", e))
    };
    let len = file.metadata().map_err(|e| io("reading", e))?.len();
    let scan = segment_file::scan(&file, len).map_err(|e| io("reading", e))?;
    let Ok(scan) =
        scan.map_err(|why| tracing::warn!(file = %path.display(), why, "unreadable segment"))
    else {
        return remove_empty(path);
    };
    if scan.fragments.is_empty() {
        // Cut short before its first whole fragment (a crash right after it was created).
        return remove_empty(path);
    }
    if scan.good_end < len {
        tracing::warn!(
            file = %path.display(),
            problem = scan.problem.as_deref().unwrap_or(""),
            kept = scan.good_end,
            lost = len - scan.good_end,
            "truncating a recorded segment cut short"
        );
        let file = writable()?;
        file.set_len(scan.good_end)
            .map_err(|e| io("truncating", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
    }
    let (first, last) = (
        &scan.fragments[0],
        &scan.fragments[scan.fragments.len() - 1],
    );
    // A segment cut short never had its duration written: players would see one fragment.
    let duration = last.decode_time + last.duration();
    let mut init = scan.init.clone();
    if mp4::init_duration(&init) != Some(duration) && mp4::set_init_duration(&mut init, duration) {
        let file = writable()?;
        file.write_all_at(&init, 0)
            .and_then(|()| file.sync_data())
            .map_err(|e| io("writing", e))?;
    }
    Ok(Some(Segment {
        file: name.to_owned(),
        bytes: scan.good_end,
        start_us: first.wall_us,
        end_us: last.end_us(),
    }))
}

fn remove_empty(path: &Path) -> Result<Option<Segment>, RecordingError> {
    tracing::warn!(file = %path.display(), "removing a recorded segment with no whole fragment");
    std::fs::remove_file(path)
        .map_err(|e| RecordingError::io(format!("removing {}", path.display()), e))?;
    Ok(None)
}

/// The filesystem's size and the bytes free to us.
fn filesystem(dir: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bavail.saturating_mul(s.f_frsize),
    ))
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Store {
    /// Deletes what the limits say must go, oldest first; with `disk_full` (a write just failed
    /// for lack of space) at least the oldest finished segment goes. Returns how many went.
    pub(super) fn enforce_retention(&self, disk_full: bool) -> usize {
        // Chosen and taken out of the index under the lock; deleted (and the deletion logged
        // with an fsync) without it, so readers never wait on the disk.
        let victims: Vec<Segment> = {
            let mut state = self.state();
            let keys = self.choose_victims(&state, disk_full);
            keys.iter()
                .filter_map(|k| state.segments.remove(k))
                .collect()
        };
        let mut deleted = 0;
        let mut kept = Vec::new();
        for segment in victims {
            let path = self.path(&segment.file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "retention could not delete a segment");
                    kept.push(segment);
                    continue;
                }
            }
            tracing::debug!(file = %segment.file, "retention deleted a segment");
            deleted += 1;
            // A failure is logged; the next open drops the entry anyway (its file is gone).
            self.log_index(&IndexLine::Deleted {
                deleted: segment.file,
            });
        }
        let mut state = self.state();
        state.stats.segments_deleted += deleted as u64;
        for segment in kept {
            state.segments.insert(segment.key(), segment);
        }
        deleted
    }

    fn choose_victims(&self, state: &State, disk_full: bool) -> Vec<super::SegmentKey> {
        let limits = &self.inner.limits;
        let mut victims = Vec::new();
        let mut freed = 0u64;
        if let Some(keep) = limits.keep {
            let cutoff =
                now_us().saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
            for (key, seg) in &state.segments {
                if seg.end_us < cutoff {
                    victims.push(key.clone());
                    freed += seg.bytes;
                }
            }
        }
        let remaining: Vec<_> = state
            .segments
            .iter()
            .filter(|(k, _)| !victims.contains(k))
            .collect();
        match limits.max_bytes {
            Some(max) => {
                let live = state.live.as_ref().map_or(0, |s| s.bytes);
                let mut total = (state.finished_bytes() + live).saturating_sub(freed);
                for (key, seg) in remaining {
                    if total <= max {
                        break;
                    }
                    victims.push(key.clone());
                    total = total.saturating_sub(seg.bytes);
                }
            }
            None => match filesystem(&self.inner.dir) {
                Ok((size, available)) => {
                    let reserve = (size / 10).max(MIN_FREE_BYTES);
                    let mut available = available + freed;
                    for (key, seg) in remaining {
                        if available >= reserve {
                            break;
                        }
                        victims.push(key.clone());
                        available += seg.bytes;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the recordings filesystem's free space")
                }
            },
        }
        if disk_full && victims.is_empty() {
            victims.extend(state.segments.keys().next().cloned());
        }
        victims
    }
}
