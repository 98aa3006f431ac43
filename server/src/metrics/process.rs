//! The process's own figures for `/metrics`' `process_*` series, as
//! Prometheus's client libraries export them, read from `/proc/self`.
//!
//! Invariants:
//! - Nothing here fails the page: a file that cannot be read leaves its
//!   series out (`None`).

use std::fs;

/// One reading of the process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    pub threads: u64,
    pub open_fds: Option<u64>,
    /// The soft limit on open descriptors.
    pub max_fds: Option<u64>,
}

impl Process {
    /// Reads `/proc/self/stat`, `/proc/stat` (boot time), `/proc/self/fd`
    /// and the open-files limit.
    pub fn read() -> Option<Process> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time_seconds = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| boot_time(&text))?;
        // SAFETY: sysconf only reads configuration values.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if ticks_per_second <= 0 || page_bytes <= 0 {
            return None;
        }
        let mut process = parse_stat(
            &stat,
            ticks_per_second as f64,
            page_bytes as u64,
            boot_time_seconds,
        )?;
        process.open_fds = fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as u64);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only into `limit`.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            process.max_fds = Some(limit.rlim_cur);
        }
        Some(process)
    }
}

/// The figures of one `/proc/<pid>/stat` line (proc(5)); the descriptor
/// counts are left for the caller.
fn parse_stat(
    line: &str,
    ticks_per_second: f64,
    page_bytes: u64,
    boot_time_seconds: f64,
) -> Option<Process> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields after it start after the last ')'.
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state), so field N is `fields[N - 3]`.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let (utime, stime) = (field(14)?, field(15)?);
    Some(Process {
        cpu_seconds: (utime + stime) as f64 / ticks_per_second,
        threads: field(20)?,
        start_time_seconds: boot_time_seconds + field(22)? as f64 / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_bytes,
        open_fds: None,
        max_fds: None,
    })
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_cpu_memory_threads_and_start() {
        // A process named "a) b" (spaces and a parenthesis in its name),
        // 150 + 50 ticks of CPU, 7 threads, started 1000 ticks after boot,
        // 4096000 bytes of virtual memory and 300 resident pages.
        let line = "4242 (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 7 0 \
                    1000 4096000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let process = parse_stat(line, 100.0, 4096, 1_700_000_000.0).unwrap();
        assert_eq!(process.cpu_seconds, 2.0);
        assert_eq!(process.threads, 7);
        assert_eq!(process.start_time_seconds, 1_700_000_010.0);
        assert_eq!(process.virtual_bytes, 4_096_000);
        assert_eq!(process.resident_bytes, 300 * 4096);
        assert_eq!(parse_stat("garbage", 100.0, 4096, 0.0), None);
    }

    #[test]
    fn boot_time_is_the_btime_line() {
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1733400000\nprocesses 5\n"),
            Some(1_733_400_000.0)
        );
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
    }

    #[test]
    fn this_process_reads() {
        let process = Process::read().unwrap();
        assert!(process.threads >= 1);
        assert!(process.resident_bytes > 0);
        assert!(process.open_fds.is_some_and(|n| n >= 3));
    }
}
