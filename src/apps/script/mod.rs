//! Script apps (spec §7): `--app PATH=COMMAND` runs COMMAND as a long-lived
//! child and mounts it at PATH. The child is the app: it hears of every
//! open, message and close of its clients as JSON lines on its stdin and
//! answers with command lines on its stdout (docs/scripts.md). wslab does
//! the sockets, the protocol, keepalive, limits and TLS.
//!
//! A child that ends: its clients are closed with 1011, its exit status and
//! last stderr lines are logged, upgrades on its path get 503 until it is
//! back, and it is started again after 1 s, doubling to 30 s while it keeps
//! failing. Nothing it writes can hurt the server: a bad line is logged
//! (cut to 200 bytes) and skipped. A child that does not read its stdin
//! fills a bounded queue; the client whose event does not fit is closed
//! with 1013.

mod child;
pub mod lines;

use std::any::Any;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use crate::app::{App, ClientId, Ctx, Message, Notifier, Registration};
use crate::config::{Config, ScriptSpec};
use crate::error::{Error, Result};
use child::{Child, Note};
use lines::Command;

/// The first restart waits this long; each failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long is taken to have worked: the backoff starts over.
const STABLE: Duration = Duration::from_secs(30);
/// At shutdown: EOF, then this long before SIGTERM, then again before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The registration of `--app PATH=COMMAND`: named by its path, checked
/// (the program exists and can run) when the server starts.
pub fn registration(spec: &ScriptSpec) -> Registration {
    let up = Arc::new(AtomicBool::new(true));
    let spec = spec.clone();
    let name = spec.path.clone();
    let gate = up.clone();
    Registration::build(&name, &spec.path.clone(), move |config: &Config| {
        ScriptApp::new(spec, up, child::max_command_line(config.max_message_size))
    })
    .gate(gate)
}

/// One script app: its command, its child, and the restart schedule.
pub struct ScriptApp {
    /// Where it is mounted (also its name in logs).
    path: String,
    /// The command, split into words.
    argv: Vec<String>,
    /// Whether upgrades on the path are taken (false while the child is down: 503).
    up: Arc<AtomicBool>,
    /// The running child, if any.
    child: Option<Child>,
    /// Counts the children started; lines of an earlier one are ignored.
    generation: u64,
    /// When the current child started.
    started: Instant,
    /// The wait before the next restart.
    backoff: Duration,
    /// Where the child's threads send what they read.
    notifier: Option<Notifier>,
    /// An inspector is open: the child's reader keeps each command's line.
    tracing: Arc<AtomicBool>,
    /// Clients whose open did not reach the child (closed with 1013): it
    /// hears nothing of their close either.
    untold: HashSet<ClientId>,
    /// The longest command line taken from the child.
    max_line: usize,
    /// Whether a command for a client that is gone was logged at warn level
    /// already (the later ones go at debug: a client may leave while the
    /// child answers it, which the child cannot avoid).
    warned_gone: bool,
}

impl ScriptApp {
    fn new(spec: ScriptSpec, up: Arc<AtomicBool>, max_line: usize) -> Result<ScriptApp> {
        let argv = child::words(&spec.command);
        let Some(program) = argv.first() else {
            return Err(Error::Usage(format!("--app {}=: no command given", spec.path)));
        };
        if let Some(why) = child::cannot_start(program) {
            return Err(Error::Usage(format!("--app {}={}: cannot start {why}", spec.path, spec.command)));
        }
        Ok(ScriptApp {
            path: spec.path,
            argv,
            up,
            child: None,
            generation: 0,
            started: Instant::now(),
            backoff: FIRST_BACKOFF,
            notifier: None,
            tracing: Arc::default(),
            untold: HashSet::new(),
            warned_gone: false,
            max_line,
        })
    }

    /// Starts the next child, or schedules another try.
    fn start_child(&mut self) {
        let Some(notifier) = self.notifier.clone() else { return };
        self.generation += 1;
        let hello = lines::hello(&self.path);
        let name = format!("app {}", self.path);
        match Child::spawn(
            &self.argv,
            &name,
            self.generation,
            hello,
            notifier,
            self.tracing.clone(),
            self.max_line,
        ) {
            Ok(child) => {
                info!("app {}: started {}", self.path, self.argv.join(" "));
                self.child = Some(child);
                self.started = Instant::now();
                self.up.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                error!("app {}: cannot start {}: {e}", self.path, self.argv.join(" "));
                self.schedule_restart();
            }
        }
    }

    fn schedule_restart(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        let Some(notifier) = self.notifier.clone() else { return };
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        info!(
            "app {}: restarting in {} s; upgrades on its path get 503 until then",
            self.path,
            wait.as_secs()
        );
        let _ = thread::Builder::new().name("script restart".into()).stack_size(64 * 1024).spawn(move || {
            thread::sleep(wait);
            notifier.notify(Note::Restart);
        });
    }

    /// Hands the child one event line about `client`. With `closable`, a
    /// client whose event does not fit (the child does not keep up) is
    /// closed with 1013; the others (closes, errors) always go in, so that
    /// the child hears of every client that leaves. True when it went in.
    fn tell(&mut self, ctx: &mut Ctx, client: ClientId, closable: bool, line: String) -> bool {
        self.note_tracing(ctx);
        Self::trace(ctx, &[client], true, &line);
        let sent = self.child.as_ref().is_some_and(|c| c.send(line, !closable));
        if !sent && closable && self.child.is_some() {
            warn!("app {}: the app's input queue is full; closing client {client} with 1013", self.path);
            ctx.close_with(client, 1013, "the app cannot keep up, try again later");
        }
        sent
    }

    /// Follows whether an inspector is open, for the child's reader.
    fn note_tracing(&self, ctx: &Ctx) {
        if self.tracing.load(Ordering::Relaxed) != ctx.is_traced() {
            self.tracing.store(ctx.is_traced(), Ordering::Relaxed);
        }
    }

    /// Shows `line` (`to_app`: one for the child) to inspectors watching `clients`.
    fn trace(ctx: &mut Ctx, clients: &[ClientId], to_app: bool, line: &str) {
        if ctx.is_traced() {
            for &id in clients {
                ctx.trace(id, to_app, line);
            }
        }
    }

    /// Shows a command's `line` to inspectors watching the clients it is about.
    fn trace_command(ctx: &mut Ctx, command: &Command, line: &str) {
        match command {
            Command::Send { to, .. } => Self::trace(ctx, to, false, line),
            Command::Close { id, .. } => Self::trace(ctx, &[*id], false, line),
            Command::Broadcast { .. } => {
                let all = ctx.clients();
                Self::trace(ctx, &all, false, line);
            }
            Command::Hello(_) | Command::Log { .. } => {}
        }
    }

    /// Logs a command skipped because its client is gone (or never was):
    /// the first at warn level, with why, the later ones at debug.
    fn skipped(&mut self, what: std::fmt::Arguments) {
        if std::mem::replace(&mut self.warned_gone, true) {
            debug!("app {}: {what}", self.path);
        } else {
            warn!(
                "app {}: {what} (a client that left while the app answered it, or an id that never was one; \
                 more of these are logged at debug level)",
                self.path
            );
        }
    }

    fn run(&mut self, ctx: &mut Ctx, command: Command) {
        match command {
            Command::Hello(version) if version == lines::VERSION => {
                info!("app {}: the app speaks version {version}", self.path)
            }
            Command::Hello(version) => warn!(
                "app {}: the app says version {version}; wslab speaks {} (docs/scripts.md)",
                self.path,
                lines::VERSION
            ),
            Command::Send { to, message } => {
                // Unknown ids are rare: only then is the list split.
                if !to.iter().all(|&id| ctx.is_open(id)) {
                    let unknown: Vec<ClientId> = to.iter().copied().filter(|&id| !ctx.is_open(id)).collect();
                    self.skipped(format_args!("send to unknown clients {unknown:?} skipped"));
                }
                ctx.send_to(&to, message);
            }
            Command::Broadcast { message, except: Some(id) } => {
                ctx.broadcast_except(id, message);
            }
            Command::Broadcast { message, except: None } => {
                ctx.broadcast(message);
            }
            Command::Close { id, code, reason } => {
                if ctx.is_open(id) {
                    ctx.close_with(id, code, &reason);
                } else {
                    self.skipped(format_args!("close of unknown client {id} skipped"));
                }
            }
            Command::Log { level, message } => {
                log::log!(level, "app {}: {}", self.path, lines::cut(&message))
            }
        }
    }
}

impl App for ScriptApp {
    fn on_start(&mut self, ctx: &mut Ctx) {
        self.notifier = Some(ctx.notifier());
        self.start_child();
    }

    fn on_open(&mut self, ctx: &mut Ctx, client: ClientId) {
        let Some(line) = ctx.info(client).map(lines::open) else { return };
        if self.child.is_none() {
            return ctx.close_with(client, 1013, "the app is restarting, try again in a moment");
        }
        if !self.tell(ctx, client, true, line) {
            self.untold.insert(client);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
        self.tell(ctx, client, true, lines::message(client, &message));
    }

    fn on_close(&mut self, ctx: &mut Ctx, client: ClientId) {
        if self.untold.remove(&client) {
            return;
        }
        let line = lines::close(client, ctx.close_status());
        self.tell(ctx, client, false, line);
    }

    fn on_error(&mut self, ctx: &mut Ctx, client: ClientId, error: &str) {
        if !self.untold.contains(&client) {
            self.tell(ctx, client, false, lines::error(client, error));
        }
    }

    fn on_notify(&mut self, ctx: &mut Ctx, payload: Box<dyn Any + Send>) {
        let Ok(note) = payload.downcast::<Note>() else { return };
        match *note {
            Note::Commands { generation, commands } if generation == self.generation => {
                self.note_tracing(ctx);
                for (command, line) in commands {
                    if let Some(line) = line {
                        Self::trace_command(ctx, &command, &line);
                    }
                    self.run(ctx, command)
                }
            }
            Note::Commands { .. } => {}
            Note::Exited { generation, status, tail } if generation == self.generation => {
                self.child = None;
                warn!(
                    "app {}: the app's process ended ({status}); its last lines on stderr: {tail:?}",
                    self.path
                );
                for id in ctx.clients() {
                    ctx.close_with(id, 1011, "the app's process ended");
                }
                if self.started.elapsed() >= STABLE {
                    self.backoff = FIRST_BACKOFF;
                }
                self.schedule_restart();
            }
            Note::Exited { .. } => {}
            Note::Restart => {
                if self.child.is_none() {
                    self.start_child();
                }
            }
        }
    }

    fn on_stop(&mut self, _ctx: &mut Ctx) {
        self.notifier = None;
        if let Some(mut child) = self.child.take() {
            child.stop(STOP_GRACE);
        }
    }
}
