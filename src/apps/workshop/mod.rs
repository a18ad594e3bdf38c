//! `/ws/workshop` and `GET /api/workshops`: seat reservation (spec §3.4).
//!
//! The workshops come from `--workshops FILE` (a built-in sample of three
//! when absent); the reservations live in `--data DIR`/`reservations.json`
//! and survive restarts and `kill -9`.
//!
//! # Never overbooked, never lost
//!
//! The reservations live in this app, on the dispatcher thread, so a seat is
//! taken the moment the request is handled: two clients can never get the
//! same last seat. The disk is a helper thread's job, because an fsync takes
//! milliseconds and chat and echo traffic must not wait behind it:
//!
//! ```text
//!   dispatcher thread (this app)                  persistence thread
//!   reserve: check, take the seat,
//!   send `state` to everyone at once,
//!   version += 1 ─────── snapshot (version, set) ──► tmp file, fsync, rename,
//!   keep `reserved` back until that                  fsync of the directory
//!   version is on disk
//!   on_notify(Durable(v)) ◄─── forwarder thread ◄── "v is on disk"
//!   send the replies that waited for ≤ v
//! ```
//!
//! One write is under way at a time, and the changes made meanwhile all go
//! into the next one (group commit): a burst of reservations costs one
//! snapshot and one fsync per write, not per reservation. Their `state`
//! messages are grouped the same way: a change made while the disk is idle
//! sends `state` at once; changes made while a write is under way share one
//! `state`, sent when that write ends and the next one starts (still before
//! their `reserved`). Cancels take the same path. A client's replies always
//! leave in the order of its requests: an error that needs no disk still
//! waits behind an earlier `reserved`.
//!
//! If a write fails, every change since the last durable version is undone:
//! the memory goes back to what is on disk, everyone gets the new `state`,
//! and each waiting sender gets the error `unavailable` (its reservation or
//! cancellation did not happen). Nobody ever hears `reserved` for a seat
//! that is not on disk.

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::unbounded;
use log::{debug, error, info, warn};
use serde_json::{json, Value};

mod store;
mod tickets;

pub use store::{
    load_reservations, load_workshops, sample_workshops, save_reservations, Reservation, Workshop, DATA_FILE,
    FORMAT_VERSION, TMP_FILE,
};
use store::{persistence_loop, Ack, Job, Writer};
use tickets::Tickets;

use crate::app::{ApiRequest, ApiResponse, App, ClientId, Ctx, Message};
use crate::config::Config;
use crate::error::{Error, Result};

/// The longest name, in characters (after trimming).
pub const MAX_NAME: usize = 64;

/// A name as given, trimmed, if it has 1 to [`MAX_NAME`] characters.
pub fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (1..=MAX_NAME).contains(&name.chars().count()).then_some(name)
}

/// What two names are compared by for `duplicate`: trimmed, ignoring case.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `{"type":"error","code":...,"message":...}` as text.
fn error_text(code: &str, message: &str) -> String {
    json!({"type": "error", "code": code, "message": message}).to_string()
}

/// A reply to one client, kept back until `after` is durable.
struct Reply {
    /// The version that must be on disk before it goes (0: none).
    after: u64,
    /// The message.
    text: String,
    /// What to send instead if the change it reports is undone.
    failed: Option<String>,
    /// The log line of the change, written once it is on disk.
    log: Option<String>,
}

/// Sends `reply` to `client` (unless it left: no text), and logs the
/// change it reports, now on disk.
fn send_reply(ctx: &mut Ctx, client: ClientId, reply: Reply) {
    if let Some(line) = reply.log {
        info!("{line}");
    }
    if !reply.text.is_empty() {
        ctx.send(client, reply.text);
    }
}

/// The workshop app (spec §3.4).
pub struct Workshops {
    /// What was loaded at start-up, for the log.
    loaded: String,
    /// Why the data directory cannot be written, for a warning at start-up.
    unwritable: Option<String>,
    workshops: Vec<Workshop>,
    index: HashMap<String, usize>,
    /// Seats taken per workshop, in the order of `workshops`.
    taken: Vec<u32>,
    /// Every reservation, oldest first; what the next snapshot holds.
    reservations: Vec<Reservation>,
    /// The newest set known to be on disk, to go back to if a write fails.
    durable_set: Arc<Vec<Reservation>>,
    /// Version of `reservations`: one more for each change.
    version: u64,
    /// The newest version on disk.
    durable: u64,
    /// One more after each failed write; the persistence thread drops older snapshots.
    epoch: u64,
    /// Replies waiting for the disk (or behind one that does), per client.
    waiting: HashMap<ClientId, VecDeque<Reply>>,
    /// (workshop index, [`name_key`]) of every reservation: `duplicate` in O(1).
    names: HashSet<(usize, String)>,
    /// The ticket of every reservation.
    issued: HashSet<String>,
    /// A snapshot was handed to the persistence thread and not yet acknowledged.
    writing: bool,
    /// Changes made since the snapshot in flight was taken: they go in the next one.
    unsaved: bool,
    /// Changes made while a write was under way, not yet announced with a `state`.
    state_due: bool,
    data_dir: PathBuf,
    tickets: Tickets,
    writer: Option<Writer>,
}

impl Workshops {
    /// The app for `config`: workshops from `--workshops` (or the sample),
    /// reservations from `--data`/`reservations.json`. Creates the data
    /// directory if it is missing.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the file at fault when the workshops file or the
    /// data file cannot be read or is invalid, when the reservations name a
    /// workshop the list does not have, or when a capacity is below the seats
    /// already reserved. Nothing is written then.
    pub fn new(config: &Config) -> Result<Workshops> {
        let (workshops, source) = match &config.workshops {
            Some(path) => (load_workshops(path)?, path.display().to_string()),
            None => (sample_workshops(), "the built-in sample".to_string()),
        };
        let data_file = config.data.join(DATA_FILE);
        let reservations = load_reservations(&data_file)?;

        let index: HashMap<String, usize> =
            workshops.iter().enumerate().map(|(i, w)| (w.id.clone(), i)).collect();
        let mut taken = vec![0u32; workshops.len()];
        let data = data_file.display();
        // The list is at fault when one was given; with the sample, the data is.
        let fault = |message: String| match &config.workshops {
            Some(path) => Error::File { path: path.clone(), message },
            None => Error::File { path: data_file.clone(), message },
        };
        for r in &reservations {
            match index.get(&r.workshop) {
                Some(&i) => taken[i] += 1,
                None if config.workshops.is_some() => {
                    return Err(fault(format!(
                        "workshop {:?} is missing, but {data} holds reservations for it",
                        r.workshop
                    )))
                }
                None => {
                    return Err(fault(format!(
                        "holds reservations for workshop {:?}, which the built-in sample does not have \
                         (give the --workshops file they were made with)",
                        r.workshop
                    )))
                }
            }
        }
        for (w, &n) in workshops.iter().zip(&taken) {
            if n > w.capacity {
                return Err(fault(match config.workshops {
                    Some(_) => format!(
                        "workshop {:?} has capacity {}, below the {n} seats already reserved in {data}",
                        w.id, w.capacity
                    ),
                    None => format!(
                        "holds {n} reservations for workshop {:?}, above its capacity {} in the built-in sample",
                        w.id, w.capacity
                    ),
                }));
            }
        }
        fs::create_dir_all(&config.data).map_err(|e| Error::File {
            path: config.data.clone(),
            message: format!("cannot create the data directory: {e}"),
        })?;
        // Logged when the dispatcher starts, after the URLs to open.
        let loaded = format!(
            "workshop: {} workshops from {source}, {} reservations from {}",
            workshops.len(),
            reservations.len(),
            data_file.display()
        );
        // A directory it cannot write in is said at once, not at the first reservation.
        let probe = config.data.join(".wslab-write-test");
        let unwritable = match fs::write(&probe, b"") {
            Ok(()) => fs::remove_file(&probe).err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        }
        .map(|e| {
            format!(
                "workshop: cannot write in {} ({e}): every reservation will answer `unavailable` until it can",
                config.data.display()
            )
        });
        let mut app = Workshops {
            loaded,
            unwritable,
            workshops,
            index,
            taken,
            durable_set: Arc::new(reservations.clone()),
            reservations,
            version: 0,
            durable: 0,
            epoch: 0,
            waiting: HashMap::new(),
            names: HashSet::new(),
            issued: HashSet::new(),
            writing: false,
            unsaved: false,
            state_due: false,
            data_dir: config.data.clone(),
            tickets: Tickets::new(),
            writer: None,
        };
        app.reindex();
        Ok(app)
    }

    /// The `state` message: every workshop with its seats available.
    pub fn state(&self) -> Value {
        let workshops: Vec<Value> = self
            .workshops
            .iter()
            .zip(&self.taken)
            .map(|(w, &taken)| {
                json!({
                    "id": w.id,
                    "title": w.title,
                    "capacity": w.capacity,
                    "available": w.capacity.saturating_sub(taken),
                })
            })
            .collect();
        json!({"type": "state", "workshops": workshops})
    }

    fn broadcast_state(&self, ctx: &mut Ctx) {
        ctx.broadcast(self.state().to_string());
    }

    /// Tells everyone about a change: at once when the disk is idle, else
    /// with the other changes made during this write, when it ends.
    fn announce(&mut self, ctx: &mut Ctx) {
        if self.writing {
            self.state_due = true;
        } else {
            self.broadcast_state(ctx);
        }
    }

    /// Rebuilds the lookup sets and seat counts from `reservations`.
    fn reindex(&mut self) {
        self.taken.iter_mut().for_each(|n| *n = 0);
        self.names.clear();
        self.issued.clear();
        for r in &self.reservations {
            if let Some(&i) = self.index.get(&r.workshop) {
                self.taken[i] += 1;
                self.names.insert((i, name_key(&r.name)));
            }
            self.issued.insert(r.ticket.clone());
        }
    }

    /// Sends `text` to `client` once `after` is durable and every earlier
    /// reply to it has gone out.
    fn reply(&mut self, ctx: &mut Ctx, client: ClientId, reply: Reply) {
        match self.waiting.get_mut(&client) {
            Some(queue) => queue.push_back(reply),
            None if reply.after <= self.durable => send_reply(ctx, client, reply),
            None => {
                self.waiting.insert(client, VecDeque::from([reply]));
            }
        }
    }

    fn error(&mut self, ctx: &mut Ctx, client: ClientId, code: &str, message: &str) {
        if let Some(peer) = ctx.info(client).map(|i| i.peer) {
            info!("client {client} ({peer}): workshop error {code}: {message}");
        }
        let text = error_text(code, message);
        self.reply(ctx, client, Reply { after: 0, text, failed: None, log: None });
    }

    /// Sends every reply whose version is durable, in order per client.
    fn release(&mut self, ctx: &mut Ctx) {
        let durable = self.durable;
        self.waiting.retain(|&client, queue| {
            while queue.front().is_some_and(|r| r.after <= durable) {
                if let Some(reply) = queue.pop_front() {
                    send_reply(ctx, client, reply);
                }
            }
            !queue.is_empty()
        });
    }

    /// Hands the current set to the persistence thread, unless a write is
    /// under way: then it goes when that one is acknowledged.
    fn persist(&mut self, ctx: &mut Ctx) {
        if self.writing {
            self.unsaved = true;
            return;
        }
        self.unsaved = false;
        let job = Job {
            version: self.version,
            epoch: self.epoch,
            reservations: Arc::new(self.reservations.clone()),
        };
        let sent = self.writer.as_ref().is_some_and(|w| w.jobs.send(job).is_ok());
        self.writing = sent;
        if !sent {
            error!("workshop: the persistence thread is not running; nothing can be saved");
            self.roll_back(ctx);
        }
    }

    /// Undoes every change that is not on disk: back to the durable set, a
    /// new `state` for everyone, `unavailable` for every waiting sender.
    fn roll_back(&mut self, ctx: &mut Ctx) {
        self.epoch += 1;
        self.reservations = self.durable_set.as_ref().clone();
        self.reindex();
        // Memory is what is on disk again: nothing left to save or announce.
        self.unsaved = false;
        self.state_due = false;
        self.fail_unsaved();
        self.release(ctx);
        self.broadcast_state(ctx);
    }

    /// Every waiting reply whose change is not durable becomes its failure
    /// (`unavailable`), due at once.
    fn fail_unsaved(&mut self) {
        let durable = self.durable;
        for reply in self.waiting.values_mut().flat_map(|q| q.iter_mut()) {
            if reply.after > durable {
                reply.after = 0;
                reply.log = None;
                if let Some(failed) = reply.failed.take() {
                    reply.text = failed;
                }
            }
        }
    }

    /// At shutdown: writes what is not on disk yet, waits for the
    /// persistence thread to end, and sends every waiting reply (what was
    /// saved as made, what could not be as `unavailable`), so that its
    /// clients hear of it before their 1001.
    fn finish(&mut self, ctx: &mut Ctx) {
        let Some(writer) = self.writer.take() else { return };
        // Hand over the changes made during the last write, then closing the
        // channel lets the thread write the newest snapshot and end.
        if self.unsaved {
            let job = Job {
                version: self.version,
                epoch: self.epoch,
                reservations: Arc::new(self.reservations.clone()),
            };
            let _ = writer.jobs.send(job);
        }
        drop(writer.jobs);
        let Ok(finished) = writer.thread.join() else {
            return error!("workshop: the persistence thread panicked");
        };
        self.durable = self.durable.max(finished.durable);
        self.fail_unsaved();
        self.release(ctx);
        if !finished.last_failed {
            info!(
                "workshop: {} reservations kept in {}",
                self.reservations.len(),
                self.data_dir.join(DATA_FILE).display()
            );
        } else {
            error!(
                "workshop: the last changes could not be saved in {}; their senders were told `unavailable`",
                self.data_dir.join(DATA_FILE).display()
            );
        }
    }

    fn reserve(&mut self, ctx: &mut Ctx, client: ClientId, request: &Value) {
        let id = request.get("workshop").and_then(Value::as_str).unwrap_or("");
        let Some(&w) = self.index.get(id) else {
            let known: Vec<&str> = self.workshops.iter().map(|w| w.id.as_str()).collect();
            let message = format!("there is no workshop {id:?}; the workshops are {}", known.join(", "));
            return self.error(ctx, client, "unknown_workshop", &message);
        };
        let Some(name) = request.get("name").and_then(Value::as_str).and_then(valid_name) else {
            return self.error(ctx, client, "bad_name", "a name has 1 to 64 characters");
        };
        let name = name.to_string();
        let key = name_key(&name);
        let name_entry = (w, key);
        if self.names.contains(&name_entry) {
            let message = format!("{name} already holds a seat in {id}");
            return self.error(ctx, client, "duplicate", &message);
        }
        if self.taken[w] >= self.workshops[w].capacity {
            let message = format!("{id} is full");
            return self.error(ctx, client, "full", &message);
        }
        let mut ticket = self.tickets.next();
        while self.issued.contains(&ticket) {
            ticket = self.tickets.next();
        }
        self.names.insert(name_entry);
        self.issued.insert(ticket.clone());
        let id = self.workshops[w].id.clone();
        let log = format!("workshop: client {client} reserved a seat in {id} for {name:?} ({ticket})");
        let reserved = json!({"type": "reserved", "workshop": id, "name": name, "ticket": ticket});
        self.reservations.push(Reservation { ticket, workshop: id, name, at: now_ms() });
        self.taken[w] += 1;
        self.version += 1;
        self.announce(ctx);
        let failed =
            error_text("unavailable", "the reservation could not be saved, so it was not made; try again");
        let reply =
            Reply { after: self.version, text: reserved.to_string(), failed: Some(failed), log: Some(log) };
        self.reply(ctx, client, reply);
        self.persist(ctx);
    }

    fn cancel(&mut self, ctx: &mut Ctx, client: ClientId, request: &Value) {
        let ticket = request.get("ticket").and_then(Value::as_str).unwrap_or("");
        let Some(pos) = self.reservations.iter().position(|r| r.ticket == ticket) else {
            let message = format!("no reservation has the ticket {ticket:?} (cancelled already?)");
            return self.error(ctx, client, "unknown_ticket", &message);
        };
        let r = self.reservations.remove(pos);
        if let Some(&w) = self.index.get(&r.workshop) {
            self.taken[w] = self.taken[w].saturating_sub(1);
            self.names.remove(&(w, name_key(&r.name)));
        }
        self.issued.remove(&r.ticket);
        let log =
            format!("workshop: client {client} cancelled {} in {} ({:?})", r.ticket, r.workshop, r.name);
        self.version += 1;
        self.announce(ctx);
        let cancelled = json!({"type": "cancelled", "ticket": r.ticket, "workshop": r.workshop});
        let failed = error_text(
            "unavailable",
            "the cancellation could not be saved; the ticket is still valid, try again",
        );
        let reply =
            Reply { after: self.version, text: cancelled.to_string(), failed: Some(failed), log: Some(log) };
        self.reply(ctx, client, reply);
        self.persist(ctx);
    }
}

impl App for Workshops {
    fn on_start(&mut self, ctx: &mut Ctx) {
        info!("{}", self.loaded);
        if let Some(why) = &self.unwritable {
            warn!("{why}");
        }
        let (jobs, job_rx) = unbounded::<Job>();
        let (ack_tx, acks) = unbounded::<Ack>();
        let dir = self.data_dir.clone();
        let thread = thread::Builder::new()
            .name("workshop-disk".into())
            .spawn(move || persistence_loop(&job_rx, &ack_tx, &dir));
        // The writer never waits for the dispatcher: its acks go through this
        // forwarder, so `on_stop` can join the writer even when the event queue is full.
        let notifier = ctx.notifier();
        let forwarder = thread::Builder::new().name("workshop-acks".into()).spawn(move || {
            for ack in acks {
                if !notifier.notify(ack) {
                    break;
                }
            }
        });
        match (thread, forwarder) {
            (Ok(thread), Ok(_)) => self.writer = Some(Writer { jobs, thread }),
            (Err(e), _) | (_, Err(e)) => {
                error!("workshop: cannot start the persistence threads: {e}; reservations will fail")
            }
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        ctx.send(client, self.state().to_string());
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        let Message::Text(text) = message else {
            return self.error(ctx, client, "bad_json", "send JSON objects as text messages");
        };
        let request: Value = match crate::app::parse_json(text.as_str()) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => return self.error(ctx, client, "bad_json", "a message is a JSON object"),
            Err(e) => return self.error(ctx, client, "bad_json", &format!("not JSON: {e}")),
        };
        match request.get("type").and_then(Value::as_str) {
            Some("reserve") => self.reserve(ctx, client, &request),
            Some("cancel") => self.cancel(ctx, client, &request),
            Some(other) => {
                let message = format!("unknown type {other:?}; the types are reserve and cancel");
                self.error(ctx, client, "unknown_type", &message);
            }
            None => self.error(ctx, client, "unknown_type", "a message needs a \"type\": reserve or cancel"),
        }
    }

    fn on_close(&mut self, _ctx: &mut Ctx, client: ClientId) {
        // Its reservations stay; only the replies it can no longer get go.
        // Those of changes still being saved stay without their text, so
        // that the change is logged once it is on disk.
        let Some(queue) = self.waiting.get_mut(&client) else { return };
        queue.retain(|r| r.log.is_some());
        queue.iter_mut().for_each(|r| {
            r.text.clear();
            r.failed = None;
        });
        if queue.is_empty() {
            self.waiting.remove(&client);
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Ctx) {
        self.finish(ctx);
    }

    fn on_stop(&mut self, ctx: &mut Ctx) {
        self.finish(ctx);
    }

    fn on_request(&mut self, _ctx: &mut Ctx, request: &ApiRequest) -> Option<ApiResponse> {
        Some(match request.method.as_str() {
            "GET" | "HEAD" => ApiResponse::ok(self.state()),
            _ => ApiResponse::wrong_method("GET, HEAD", "use GET"),
        })
    }

    fn on_notify(&mut self, ctx: &mut Ctx, payload: Box<dyn Any + Send>) {
        let Ok(ack) = payload.downcast::<Ack>() else {
            warn!("workshop: ignoring a notification of an unknown kind");
            return;
        };
        match *ack {
            Ack::Durable { version, reservations } => {
                self.writing = false;
                if version > self.durable {
                    debug!("workshop: version {version} is on disk");
                    self.durable = version;
                    self.durable_set = reservations;
                }
                // The changes made during that write: their `state` now (before
                // their replies), and their write starts.
                if std::mem::take(&mut self.state_due) {
                    self.broadcast_state(ctx);
                }
                if self.unsaved {
                    self.persist(ctx);
                }
                self.release(ctx);
            }
            Ack::Skipped => {
                self.writing = false;
                if self.unsaved {
                    self.persist(ctx);
                }
            }
            Ack::Failed { version, epoch, error } => {
                self.writing = false;
                error!(
                    "workshop: cannot save {} (version {version}): {error}; undoing the changes since the \
                     last save and answering their senders with `unavailable`",
                    self.data_dir.join(DATA_FILE).display()
                );
                if epoch == self.epoch {
                    self.roll_back(ctx);
                } else if self.unsaved {
                    self.persist(ctx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("wslab-unit-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn config(data: &Path, workshops: Option<PathBuf>) -> Config {
        Config { data: data.to_path_buf(), workshops, ..Config::default() }
    }

    fn reservation(ticket: &str, workshop: &str, name: &str) -> Reservation {
        Reservation { ticket: ticket.into(), workshop: workshop.into(), name: name.into(), at: 1 }
    }

    fn file_error(result: Result<Workshops>) -> (PathBuf, String) {
        match result {
            Err(Error::File { path, message }) => (path, message),
            Err(e) => panic!("expected a file error, got {e}"),
            Ok(_) => panic!("expected a file error, got an app"),
        }
    }

    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    /// An app with its persistence thread running, driven by a [`crate::TestCtx`].
    fn started(dir: &Dir) -> (crate::TestCtx, Workshops) {
        let mut app = Workshops::new(&config(&dir.0, None)).unwrap();
        let mut t = crate::TestCtx::new();
        t.start(&mut app);
        (t, app)
    }

    fn reserve(name: &str) -> Value {
        json!({"type": "reserve", "workshop": "rust-101", "name": name})
    }

    /// The messages sent to `client` so far: (type, rust-101's available seats or the name or code).
    fn got(t: &mut crate::TestCtx, client: ClientId) -> Vec<(String, Value)> {
        t.json_to(client)
            .into_iter()
            .map(|v| {
                let kind = v["type"].as_str().unwrap_or_default().to_string();
                let detail = match kind.as_str() {
                    "state" => v["workshops"][0]["available"].clone(),
                    "reserved" => v["name"].clone(),
                    _ => v["code"].clone(),
                };
                (kind, detail)
            })
            .collect()
    }

    fn pair(kind: &str, detail: Value) -> (String, Value) {
        (kind.to_string(), detail)
    }

    #[test]
    fn a_burst_during_a_write_is_one_more_write_and_one_state_and_replies_wait_for_the_disk() {
        let dir = Dir::new("group-commit");
        let (mut t, mut app) = started(&dir);
        let a = t.open(&mut app, "/ws/workshop");
        let watcher = t.open(&mut app, "/ws/workshop");
        t.sent();
        t.message_json(&mut app, a, reserve("ann")); // the disk is idle: a write starts, state at once
        t.message_json(&mut app, a, reserve("bob")); // during that write
        t.message_json(&mut app, a, reserve("cy"));
        assert_eq!(got(&mut t, watcher), [pair("state", json!(19))]);
        assert_eq!(got(&mut t, a), [pair("state", json!(19))], "no `reserved` before the disk");
        // Write 1 is on disk: ann's reply; bob and cy share one state and the next write.
        assert!(t.deliver_next(&mut app, WAIT), "write 1 acknowledged");
        assert_eq!(got(&mut t, watcher), [pair("state", json!(17))]);
        assert_eq!(got(&mut t, a), [pair("state", json!(17)), pair("reserved", json!("ann"))]);
        assert!(t.deliver_next(&mut app, WAIT), "write 2 acknowledged");
        assert_eq!(got(&mut t, a), [pair("reserved", json!("bob")), pair("reserved", json!("cy"))]);
        assert!(got(&mut t, watcher).is_empty(), "no state without a change");
        assert_eq!(load_reservations(&dir.0.join(DATA_FILE)).unwrap().len(), 3);
        // Two writes for three reservations: nothing more comes.
        assert!(t.notified().is_empty());
        t.stop(&mut app);
    }

    #[test]
    fn at_shutdown_the_replies_waiting_for_the_disk_go_out_before_the_clients_close() {
        let dir = Dir::new("shutdown-replies");
        let (mut t, mut app) = started(&dir);
        let a = t.open(&mut app, "/ws/workshop");
        let gone = t.open(&mut app, "/ws/workshop");
        t.sent();
        t.message_json(&mut app, a, reserve("ann")); // write 1 starts
        t.message_json(&mut app, a, reserve("bob")); // waits for write 2
        t.message_json(&mut app, gone, reserve("cy"));
        t.disconnect(&mut app, gone); // it left before its seat was saved: the seat stays
        t.sent_to(gone);
        assert!(!got(&mut t, a).iter().any(|(kind, _)| kind == "reserved"), "nothing acknowledged yet");
        // No acknowledgement is delivered: the server shuts down now.
        t.shutdown(&mut app);
        let replies: Vec<_> = got(&mut t, a).into_iter().filter(|(kind, _)| kind != "state").collect();
        assert_eq!(replies, [pair("reserved", json!("ann")), pair("reserved", json!("bob"))]);
        assert!(t.sent_to(gone).is_empty());
        assert_eq!(load_reservations(&dir.0.join(DATA_FILE)).unwrap().len(), 3);
        t.stop(&mut app);
    }

    #[test]
    fn a_failed_write_undoes_the_change_and_answers_unavailable() {
        let dir = Dir::new("rollback");
        let (mut t, mut app) = started(&dir);
        let a = t.open(&mut app, "/ws/workshop");
        t.sent();
        // The data directory turns into a file: the next write fails.
        fs::remove_dir_all(&dir.0).unwrap();
        fs::write(&dir.0, b"not a directory").unwrap();
        t.message_json(&mut app, a, reserve("ann"));
        assert_eq!(got(&mut t, a), [pair("state", json!(19))]);
        assert!(t.deliver_next(&mut app, WAIT), "the failure reported");
        assert_eq!(got(&mut t, a), [pair("error", json!("unavailable")), pair("state", json!(20))]);
        // With the directory back, the same reservation goes through.
        fs::remove_file(&dir.0).unwrap();
        fs::create_dir_all(&dir.0).unwrap();
        t.message_json(&mut app, a, reserve("ann"));
        assert!(t.deliver_next(&mut app, WAIT));
        assert_eq!(got(&mut t, a), [pair("state", json!(19)), pair("reserved", json!("ann"))]);
        t.stop(&mut app);
        assert_eq!(load_reservations(&dir.0.join(DATA_FILE)).unwrap().len(), 1);
    }

    #[test]
    fn replies_keep_the_order_of_the_requests() {
        let dir = Dir::new("order");
        let (mut t, mut app) = started(&dir);
        let a = t.open(&mut app, "/ws/workshop");
        t.sent();
        t.message_json(&mut app, a, reserve("ann"));
        t.message_json(&mut app, a, json!({"type": "nope"})); // needs no disk, still waits behind ann's reply
        assert_eq!(got(&mut t, a), [pair("state", json!(19))]);
        assert!(t.deliver_next(&mut app, WAIT));
        assert_eq!(got(&mut t, a), [pair("reserved", json!("ann")), pair("error", json!("unknown_type"))]);
        t.stop(&mut app);
    }

    #[test]
    fn names() {
        assert_eq!(valid_name("  Alice "), Some("Alice"));
        assert_eq!(valid_name(""), None);
        assert_eq!(valid_name(" \t "), None);
        assert_eq!(valid_name(&"é".repeat(64)), Some("é".repeat(64).as_str()));
        assert_eq!(valid_name(&"a".repeat(65)), None);
        assert_eq!(name_key(" ALICE "), name_key("alice"));
    }

    #[test]
    fn save_then_load() {
        let dir = Dir::new("save");
        let list = vec![reservation("T-1", "rust-101", "Alice"), reservation("T-2", "websockets", "Bob")];
        save_reservations(&dir.0, &list).unwrap();
        assert_eq!(load_reservations(&dir.0.join(DATA_FILE)).unwrap(), list);
        assert!(!dir.0.join(TMP_FILE).exists());
        let app = Workshops::new(&config(&dir.0, None)).unwrap();
        assert_eq!(app.state()["workshops"][0]["available"], 19);
        assert_eq!(app.state()["workshops"][1]["available"], 11);
    }

    #[test]
    fn missing_data_is_empty_and_the_directory_is_made() {
        let dir = Dir::new("missing");
        let data = dir.0.join("sub/dir");
        let app = Workshops::new(&config(&data, None)).unwrap();
        assert!(data.is_dir());
        assert_eq!(app.state()["workshops"].as_array().unwrap().len(), 3);
        assert_eq!(app.state()["workshops"][0]["id"], "rust-101");
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = Dir::new("bad");
        let data_file = dir.0.join(DATA_FILE);
        fs::write(&data_file, b"{\"version\":1,\"reservations\":[").unwrap();
        let (path, message) = file_error(Workshops::new(&config(&dir.0, None)));
        assert_eq!(path, data_file);
        assert!(message.contains("not a valid reservations file"), "{message}");

        fs::write(&data_file, b"{\"version\":2,\"reservations\":[]}").unwrap();
        let (_, message) = file_error(Workshops::new(&config(&dir.0, None)));
        assert!(message.contains("format version 2"), "{message}");

        save_reservations(&dir.0, &[reservation("T-1", "x", "A"), reservation("T-1", "x", "B")]).unwrap();
        let (_, message) = file_error(Workshops::new(&config(&dir.0, None)));
        assert!(message.contains("more than once"), "{message}");

        // A reservation for a workshop the sample does not have: the data is at fault.
        save_reservations(&dir.0, &[reservation("T-1", "gone", "A")]).unwrap();
        let (path, message) = file_error(Workshops::new(&config(&dir.0, None)));
        assert_eq!(path, data_file);
        assert!(message.contains("\"gone\""), "{message}");

        // A byte order mark (Windows editors) is no error.
        let list = dir.0.join("bom.json");
        fs::write(&list, "\u{feff}[{\"id\":\"a\",\"title\":\"A\",\"capacity\":1}]").unwrap();
        assert_eq!(load_workshops(&list).unwrap()[0].id, "a");

        // With a workshops file, the list is.
        let list = dir.0.join("workshops.json");
        fs::write(&list, br#"[{"id":"a","title":"A","capacity":1}]"#).unwrap();
        let (path, _) = file_error(Workshops::new(&config(&dir.0, Some(list.clone()))));
        assert_eq!(path, list);

        save_reservations(&dir.0, &[reservation("T-1", "a", "A"), reservation("T-2", "a", "B")]).unwrap();
        let (path, message) = file_error(Workshops::new(&config(&dir.0, Some(list.clone()))));
        assert_eq!(path, list);
        assert!(message.contains("capacity 1, below the 2 seats"), "{message}");

        for bad in
            [&b"[{\"id\":\"a\",\"title\":\"A\"}]"[..], b"[{\"id\":\"\",\"title\":\"A\",\"capacity\":1}]"]
        {
            fs::write(&list, bad).unwrap();
            let (path, _) = file_error(Workshops::new(&config(&dir.0, Some(list.clone()))));
            assert_eq!(path, list);
        }
        let (path, message) = file_error(Workshops::new(&config(&dir.0, Some(dir.0.join("nope.json")))));
        assert_eq!(path, dir.0.join("nope.json"));
        assert!(message.contains("cannot read"), "{message}");
    }
}
