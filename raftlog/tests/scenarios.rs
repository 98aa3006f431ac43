//! Data-driven scenarios: each file in `tests/scenarios/` is a list of
//! blocks; a block is commands, a `---` line, and the expected output.
//! Commands:
//!
//! ```text
//! open [segment_bytes=N] [recovery=absolute]   (re)open the log
//! reopen                                       close and open again
//! append A-B [term=T]                          append A..=B, wait until durable
//! append_async A-B [term=T]                    append A..=B, do not wait
//! truncate_after I | truncate_from I
//! purge I [id=X]
//! vote TEXT
//! state                                        first/last/purged/vote
//! read A-B                                     index@term of what A..=B returns
//! files                                        segment files (after a barrier)
//! ```

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use common::{append_durable, payload, segment_files, small_config};
use redraft_raftlog::{RaftLog, RecoveryMode};

struct Runner {
    dir: tempfile::TempDir,
    segment_bytes: u64,
    recovery: RecoveryMode,
    log: Option<RaftLog>,
}

impl Runner {
    fn log(&self) -> &RaftLog {
        self.log.as_ref().expect("scenario must `open` first")
    }

    fn open(&mut self) -> String {
        if let Some(log) = self.log.take() {
            log.close().expect("close");
        }
        match RaftLog::open(
            self.dir.path(),
            small_config(self.segment_bytes, self.recovery),
        ) {
            Ok(log) => {
                self.log = Some(log);
                String::new()
            }
            Err(err) => format!(
                "error: {}",
                strip_dir(&err.to_string(), self.dir.path().to_path_buf())
            ),
        }
    }

    fn run(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let arg = |name: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
        };
        let range = |w: &str| -> (u64, u64) {
            let (a, b) = w.split_once('-').unwrap_or((w, w));
            (
                a.parse().expect("range start"),
                b.parse().expect("range end"),
            )
        };
        let num = |w: &str| -> u64 { w.parse().expect("number") };
        let result = match words[0] {
            "open" => {
                self.segment_bytes =
                    arg("segment_bytes").map_or(16384, |v| v.parse().expect("bytes"));
                self.recovery = match arg("recovery") {
                    Some("absolute") => RecoveryMode::Absolute,
                    _ => RecoveryMode::TolerateTail,
                };
                return self.open();
            }
            "reopen" => return self.open(),
            "append" => {
                let (a, b) = range(words[1]);
                let term = arg("term").map_or(1, |t| t.parse().expect("term"));
                append_durable(self.log(), a..=b, term)
            }
            "append_async" => {
                let (a, b) = range(words[1]);
                let term = arg("term").map_or(1, |t| t.parse().expect("term"));
                self.log().append(
                    (a..=b).map(|i| common::entry(i, term)),
                    Box::new(|r| r.expect("append")),
                )
            }
            "truncate_after" => self.log().truncate_after(num(words[1])),
            "truncate_from" => self.log().truncate_from(num(words[1])),
            "purge" => {
                let id = arg("id").unwrap_or("-").to_string();
                self.log().purge_upto(num(words[1]), Bytes::from(id))
            }
            "vote" => self.log().save_vote(words[1].as_bytes()),
            "state" => return self.state(),
            "read" => {
                let (a, b) = range(words[1]);
                return match self.log().read(a..b + 1) {
                    Ok(entries) if entries.is_empty() => "(none)".to_string(),
                    Ok(entries) => entries
                        .iter()
                        .map(|e| {
                            let ok = if e.payload == payload(e.index, e.term) {
                                ""
                            } else {
                                "(BAD PAYLOAD)"
                            };
                            format!("{}@{}{ok}", e.index, e.term)
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    Err(err) => format!("error: {err}"),
                };
            }
            "files" => {
                append_durable(self.log(), std::iter::empty(), 0).expect("barrier");
                return segment_files(self.dir.path()).join(" ");
            }
            other => panic!("unknown command {other}"),
        };
        match result {
            Ok(()) => String::new(),
            Err(err) => format!("error: {err}"),
        }
    }

    fn state(&self) -> String {
        let log = self.log();
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let purged = log.last_purged().map_or("-".to_string(), |p| {
            format!("{}/{}", p.index, String::from_utf8_lossy(&p.id))
        });
        let vote = log.read_vote().expect("vote").map_or("-".to_string(), |v| {
            String::from_utf8_lossy(&v).into_owned()
        });
        format!(
            "first={} last={} purged={purged} vote={vote}",
            show(log.first_index()),
            show(log.last_index())
        )
    }
}

fn strip_dir(text: &str, dir: PathBuf) -> String {
    text.replace(&format!("{}/", dir.display()), "")
}

fn run_scenario(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let mut runner = Runner {
        dir: tempfile::tempdir().expect("tempdir"),
        segment_bytes: 16384,
        recovery: RecoveryMode::TolerateTail,
        log: None,
    };
    let mut failures = Vec::new();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let split = lines
            .iter()
            .position(|l| *l == "---")
            .unwrap_or_else(|| panic!("block without ---: {block}"));
        let actual: Vec<String> = lines[..split]
            .iter()
            .map(|l| runner.run(l))
            .filter(|out| !out.is_empty())
            .collect();
        let expected: Vec<String> = lines[split + 1..].iter().map(|l| l.to_string()).collect();
        if actual != expected {
            failures.push(format!(
                "commands:\n  {}\nexpected:\n  {}\nactual:\n  {}",
                lines[..split].join("\n  "),
                expected.join("\n  "),
                actual.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "scenario {name} failed:\n{}",
        failures.join("\n\n")
    );
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { run_scenario(stringify!($name)); })*
    };
}

scenarios!(
    append_read_reopen,
    append_gap_rejected,
    vote_survives_restart,
    purge_reopen_keeps_last_purged,
    purge_past_end_continues_after_it,
    truncate_append_reopen,
    truncate_below_purged_rejected,
    truncate_into_earlier_segment,
    ordering_interleaved,
    segments_roll_and_recycle,
);
