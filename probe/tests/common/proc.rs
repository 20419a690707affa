//! What Linux's /proc says of a running process: the CPU time it has used and the numbers of its
//! `status` file (memory, threads), for the benchmarks and the harness.
//!
//! Std only: `server/benches/server.rs` includes this file by path (`#[path]`) rather than
//! depending on `mumu-probe`, which would build webrtc-rs into the server's benchmark.

/// A process, by pid.
#[derive(Clone, Copy, Debug)]
pub struct Proc(pub u32);

impl Proc {
    /// The bytes it has read and written through system calls (`rchar` + `wchar` of
    /// `/proc/<pid>/io`: files, sockets, pipes). Panics when the process is gone.
    pub fn io_bytes(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/io", self.0))
            .unwrap_or_else(|e| panic!("/proc/{}/io: {e}", self.0));
        io_of(&text)
    }

    /// [`Proc::io_bytes`] of its live threads whose name (`comm`, at most 15 characters) does
    /// not start with `except`: the server without its SQLite worker threads
    /// (`sqlx-sqlite-worker-N`), say, which read and write only the database's files.
    pub fn io_bytes_except_threads(&self, except: &str) -> u64 {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.0))
            .unwrap_or_else(|e| panic!("/proc/{}/task: {e}", self.0));
        tasks
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                let io = std::fs::read_to_string(dir.join("io")).ok()?;
                (!name.starts_with(except)).then(|| io_of(&io))
            })
            .sum()
    }

    /// User + system CPU seconds it has used. Panics when the process is gone.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))
            .unwrap_or_else(|e| panic!("/proc/{}/stat: {e}", self.0));
        // utime and stime, fields 14 and 15, after the command name in parentheses (which may
        // hold spaces and parentheses of its own).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11..13]
            .iter()
            .map(|f| f.parse::<f64>().expect("a tick count"))
            .sum();
        // In USER_HZ, which Linux fixes at 100 on x86_64 and aarch64 whatever the kernel's HZ.
        ticks / 100.0
    }

    /// A number from `/proc/<pid>/status` (`"VmRSS:"`, `"VmHWM:"` in KiB, `"Threads:"`); NaN
    /// when the process or the field is gone.
    pub fn status(&self, field: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// [`Proc::status`] of a field in KiB, in MiB.
    pub fn status_mib(&self, field: &str) -> f64 {
        self.status(field) / 1024.0
    }
}

/// `rchar` + `wchar` of an `io` file of /proc.
fn io_of(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(": ")?;
            matches!(key, "rchar" | "wchar").then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}
