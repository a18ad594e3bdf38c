//! The workshop app's disk: the workshops file, the reservations file
//! (its format, and how a new one replaces the old safely), and the
//! persistence thread that writes snapshots off the dispatcher thread.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The data file's name inside `--data`.
pub const DATA_FILE: &str = "reservations.json";
/// The temporary file a new data file is written to before the rename.
pub const TMP_FILE: &str = "reservations.json.tmp";
/// The format version written to (and the only one read from) the data file.
pub const FORMAT_VERSION: u32 = 1;

/// One workshop: an entry of the `--workshops` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workshop {
    /// Short id used in messages, e.g. `rust-101`.
    pub id: String,
    /// What the page shows.
    pub title: String,
    /// Seats in total.
    pub capacity: u32,
}

/// One reservation, as kept in memory and in the data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `T-` and 32 hex digits of randomness.
    pub ticket: String,
    /// The workshop's id.
    pub workshop: String,
    /// The name, trimmed.
    pub name: String,
    /// When it was made, in ms since the epoch.
    pub at: u64,
}

/// The data file as read.
#[derive(Deserialize)]
struct DataFile {
    version: u32,
    reservations: Vec<Reservation>,
}

/// The data file as written.
#[derive(Serialize)]
struct DataFileRef<'a> {
    version: u32,
    reservations: &'a [Reservation],
}

/// The built-in workshops, used when no `--workshops` file is given.
pub fn sample_workshops() -> Vec<Workshop> {
    let w = |id: &str, title: &str, capacity| Workshop { id: id.into(), title: title.into(), capacity };
    vec![
        w("rust-101", "Rust for web developers", 20),
        w("websockets", "WebSockets from scratch", 12),
        w("php-ratchet", "From Ratchet to wslab", 8),
    ]
}

/// Reads and checks a workshops file: a JSON list of `{"id","title","capacity"}`
/// with ids that are not empty and appear once.
///
/// # Errors
///
/// [`Error::File`] naming `path` when it cannot be read, is not such a list,
/// or has an empty or repeated id.
pub fn load_workshops(path: &Path) -> Result<Vec<Workshop>> {
    let bad = |message: String| Error::File { path: path.to_path_buf(), message };
    let bytes = fs::read(path).map_err(|e| bad(format!("cannot read the workshops file: {e}")))?;
    // Windows editors begin a UTF-8 file with a byte order mark.
    let json = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let workshops: Vec<Workshop> = serde_json::from_slice(json).map_err(|e| {
        bad(format!("not a valid workshops file (a JSON list of {{\"id\",\"title\",\"capacity\"}}): {e}"))
    })?;
    let mut seen = HashSet::new();
    for (i, w) in workshops.iter().enumerate() {
        if w.id.trim().is_empty() {
            return Err(bad(format!("workshop number {} has an empty id", i + 1)));
        }
        if !seen.insert(w.id.as_str()) {
            return Err(bad(format!("the workshop id {:?} appears more than once", w.id)));
        }
    }
    Ok(workshops)
}

/// Reads a data file. A missing file means no reservations yet.
///
/// # Errors
///
/// [`Error::File`] naming `path` when it exists but cannot be read, is not a
/// reservations file of format version 1, or holds a ticket twice. The file
/// is never touched.
pub fn load_reservations(path: &Path) -> Result<Vec<Reservation>> {
    let bad = |message: String| Error::File { path: path.to_path_buf(), message };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(bad(format!("cannot read the reservations: {e}"))),
    };
    let file: DataFile = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "not a valid reservations file ({e}); it was left as it is: repair it, or move it away to start \
             with no reservations"
        ))
    })?;
    if file.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} is not the one this wslab reads ({FORMAT_VERSION})",
            file.version
        )));
    }
    let mut seen = HashSet::new();
    for r in &file.reservations {
        if !seen.insert(r.ticket.as_str()) {
            return Err(bad(format!("ticket {} appears more than once", r.ticket)));
        }
    }
    Ok(file.reservations)
}

/// Writes `reservations` to `dir`/[`DATA_FILE`] so that a crash at any moment
/// leaves either the old file or the new one: temporary file, fsync, rename,
/// fsync of the directory.
///
/// # Errors
///
/// Any failing step; the old file is then still in place (unless the rename
/// went through and only the directory's fsync failed).
pub fn save_reservations(dir: &Path, reservations: &[Reservation]) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(&DataFileRef { version: FORMAT_VERSION, reservations })?;
    bytes.push(b'\n');
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    fs::create_dir_all(dir)?;
    let tmp = dir.join(TMP_FILE);
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(DATA_FILE))?;
    File::open(dir)?.sync_all()
}

/// A snapshot for the persistence thread.
pub(super) struct Job {
    /// The version of the set.
    pub(super) version: u64,
    /// The app's epoch when it was taken (one more after each failed write).
    pub(super) epoch: u64,
    /// The reservations.
    pub(super) reservations: Arc<Vec<Reservation>>,
}

/// What the persistence thread reports back (through [`Ctx::notifier`]).
pub(super) enum Ack {
    /// Snapshot `version` (and so every earlier one) is on disk.
    Durable { version: u64, reservations: Arc<Vec<Reservation>> },
    /// Writing snapshot `version` failed; snapshots of `epoch` are no longer written.
    Failed { version: u64, epoch: u64, error: String },
    /// The snapshots taken were of an epoch already given up: nothing was written.
    Skipped,
}

/// The persistence thread, as the app holds it.
pub(super) struct Writer {
    /// Snapshots to write.
    pub(super) jobs: Sender<Job>,
    /// The thread, joined at `on_stop`.
    pub(super) thread: JoinHandle<Finished>,
}

/// How the persistence thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Finished {
    /// The newest version it made durable (0: none).
    pub(super) durable: u64,
    /// Whether its last write failed.
    pub(super) last_failed: bool,
}

/// The persistence thread: takes every snapshot queued, writes the newest,
/// reports it. Ends when the app drops its sender, after the last write.
pub(super) fn persistence_loop(jobs: &Receiver<Job>, acks: &Sender<Ack>, dir: &Path) -> Finished {
    // After a failed write, snapshots of that epoch (made before the app
    // undid its changes) are dropped.
    let mut min_epoch = 0;
    let mut finished = Finished { durable: 0, last_failed: false };
    while let Ok(first) = jobs.recv() {
        let newest = std::iter::once(first).chain(jobs.try_iter()).filter(|j| j.epoch >= min_epoch).last();
        let Some(job) = newest else {
            // Nothing of this epoch to write; the app still learns that the disk is free.
            let _ = acks.send(Ack::Skipped);
            continue;
        };
        let ack = match save_reservations(dir, &job.reservations) {
            Ok(()) => {
                finished = Finished { durable: finished.durable.max(job.version), last_failed: false };
                Ack::Durable { version: job.version, reservations: job.reservations }
            }
            Err(e) => {
                finished.last_failed = true;
                min_epoch = job.epoch + 1;
                Ack::Failed { version: job.version, epoch: job.epoch, error: e.to_string() }
            }
        };
        // The app may be gone at shutdown: the write is what matters then.
        let _ = acks.send(ack);
    }
    finished
}
