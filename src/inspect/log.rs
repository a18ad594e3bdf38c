//! The server's log, printed as before and kept for the inspector: the
//! last [`KEEP`] lines, each with a sequence number so that the dispatcher
//! can hand each inspector the lines it has not seen.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Lines kept.
pub const KEEP: usize = 200;

/// One kept line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its sequence number (from 1).
    pub seq: u64,
    /// When, in ms since the logger started.
    pub t_ms: u64,
    /// Its level.
    pub level: Level,
    /// The message.
    pub text: String,
}

/// The kept lines, newest last.
#[derive(Debug, Default)]
struct Kept {
    /// The lines.
    lines: VecDeque<Line>,
    /// The last sequence number given.
    seq: u64,
}

/// The kept lines of the process (one logger per process).
static KEPT: Mutex<Kept> = Mutex::new(Kept { lines: VecDeque::new(), seq: 0 });
/// When the logger started.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Prints through `inner` and keeps a copy of each line.
struct Tee {
    /// The printing logger.
    inner: simple_logger::SimpleLogger,
}

impl Log for Tee {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        // simple_logger prints with `eprintln!`, which panics when stderr is
        // gone (a closed pipe: `wslab | head`, a parent that died); a log
        // line must never take the thread that logs it down with it.
        let printed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.log(record)));
        drop(printed);
        keep(record.level(), record.args().to_string());
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the logger at `level` (once per process; later calls do nothing).
pub fn install(level: LevelFilter) {
    EPOCH.get_or_init(Instant::now);
    let inner = simple_logger::SimpleLogger::new().with_level(level);
    if log::set_boxed_logger(Box::new(Tee { inner })).is_ok() {
        log::set_max_level(level);
    }
}

/// Keeps one line.
fn keep(level: Level, text: String) {
    let t_ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64;
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.seq += 1;
    let seq = kept.seq;
    if kept.lines.len() == KEEP {
        kept.lines.pop_front();
    }
    kept.lines.push_back(Line { seq, t_ms, level, text });
}

/// The kept lines after sequence number `after` (0: all of them).
pub fn since(after: u64) -> Vec<Line> {
    let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.lines.iter().filter(|l| l.seq > after).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_200_lines_are_kept_in_order() {
        let before = since(0).last().map_or(0, |l| l.seq);
        for i in 0..250 {
            keep(Level::Info, format!("line {i}"));
        }
        let lines: Vec<Line> = since(before).into_iter().filter(|l| l.text.starts_with("line ")).collect();
        assert!(lines.len() <= KEEP);
        assert_eq!(lines.last().unwrap().text, "line 249");
        assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(since(u64::MAX).is_empty());
    }
}
