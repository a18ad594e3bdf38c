//! The server: apps and routes, the accept loop, the connection limit, and shutdown.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use log::{debug, error, info, warn};

use crate::app::{App, Mount, Registration};
use crate::apps;
use crate::config::{Config, DEFAULT_ROOT_APP};
use crate::conn;
use crate::dispatch::inspector::Viewers;
use crate::dispatch::{Dispatcher, Event, Slot};
use crate::error::{Error, Result};
use crate::http::Response;
use crate::inspect::{access, Inspect, Switch};
use crate::routes::Routes;
use crate::state::Shared;
use crate::tls::TlsConfig;
use crate::wire::flusher::MAX_FLUSHERS;
use crate::wire::{Flushers, Writer};

/// Stack of a connection thread (HTTP answers, or a WebSocket client loop).
/// App code runs on the dispatcher, so these stay shallow.
const CONN_STACK: usize = 256 * 1024;
/// Events queued for the dispatcher before connection threads wait for it.
const EVENT_QUEUE: usize = 16 * 1024;
/// How long shutdown waits for connections to finish their close handshakes.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);
/// After the grace, how long shutdown waits for the connections whose
/// sockets it shut down.
const SHUTDOWN_FORCED: Duration = Duration::from_millis(500);
/// Memory mappings one connection takes: its thread's stack and the signal
/// stack that std gives every thread, each split in two by a guard page.
const MAPPINGS_PER_CONNECTION: usize = 4;
/// Mappings kept free for everything else: allocator arenas, the server's
/// own threads, the flushers, files.
const MAPPINGS_RESERVE: usize = 1024 + 4 * MAX_FLUSHERS;
/// File descriptors kept free for everything but client sockets: the
/// listener, data files, a backlog of accepts.
const FDS_RESERVE: usize = 64;

/// How many connections fit in the kernel's limit of memory mappings per
/// process (`vm.max_map_count`), given the mappings the process has already.
///
/// A thread that cannot map its signal stack does not fail to start: the
/// whole process aborts (rust-lang/rust#78497). Staying below this limit
/// turns the excess into 503s instead.
pub fn connection_ceiling(max_map_count: usize, mapped: usize) -> usize {
    max_map_count.saturating_sub(mapped + MAPPINGS_RESERVE) / MAPPINGS_PER_CONNECTION
}

/// Raises the soft limit of open files to the hard one (lab machines often
/// start programs with 1024) and returns the limit now in force.
fn raise_file_limit() -> Option<usize> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Err(e) => {
            warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft as usize)
        }
    }
}

/// How many connections the open-file limit leaves room for (one socket each).
pub fn fd_ceiling(nofile: usize) -> usize {
    nofile.saturating_sub(FDS_RESERVE)
}

/// `--max-connections`, lowered to what the open-file limit and
/// `vm.max_map_count` allow, and the lines to log (after the URLs) that say
/// how to raise them.
fn connection_limit(configured: usize) -> (usize, Vec<String>) {
    let mut limit = configured;
    let mut why = Vec::new();
    if let Some(nofile) = raise_file_limit() {
        let ceiling = fd_ceiling(nofile);
        if ceiling < limit {
            why.push(format!(
                "at most {ceiling} connections at once (not {configured}): the open-file limit is {nofile} \
                 (hard limit; one per connection); more get 503. For {configured}: start wslab from a shell \
                 where `ulimit -Hn {}` was raised (root), or with `prlimit --nofile={}:{} -- wslab ...`",
                configured + FDS_RESERVE,
                configured + FDS_RESERVE,
                configured + FDS_RESERVE
            ));
            limit = ceiling;
        }
    }
    let (mapped_limit, mapped_why) = mapping_limit(limit);
    if let Some(w) = mapped_why {
        why.push(w);
    }
    (mapped_limit, why)
}

/// `configured`, lowered to what `vm.max_map_count` allows, and if it was,
/// the line that says how to raise it.
fn mapping_limit(configured: usize) -> (usize, Option<String>) {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let Some(max) = read("/proc/sys/vm/max_map_count").and_then(|s| s.trim().parse::<usize>().ok()) else {
        return (configured, None);
    };
    let mapped = read("/proc/self/maps").map_or(0, |m| m.lines().count());
    let ceiling = connection_ceiling(max, mapped);
    if configured <= ceiling {
        return (configured, None);
    }
    let wanted = configured * MAPPINGS_PER_CONNECTION + mapped + MAPPINGS_RESERVE;
    let why = format!(
        "at most {ceiling} connections at once (not {configured}): vm.max_map_count is {max}, and each \
         connection takes {MAPPINGS_PER_CONNECTION} memory mappings; more get 503. For {configured}: \
         sudo sysctl -w vm.max_map_count={}",
        wanted.next_power_of_two()
    );
    (ceiling, Some(why))
}

/// A server being put together: configuration plus the apps to mount.
///
/// # Example
///
/// ```no_run
/// use wslab::{App, ClientId, Config, Ctx, Message, Server};
///
/// struct Shout;
/// impl App for Shout {
///     fn on_message(&mut self, ctx: &mut Ctx, client: ClientId, message: Message) {
///         if let Some(text) = message.as_text() {
///             ctx.broadcast(text.to_uppercase());
///         }
///     }
/// }
///
/// let mut server = Server::new(Config::default()).unwrap();
/// server.mount("shout", "/ws/shout", Shout);
/// let running = server.start().unwrap();
/// running.wait();
/// ```
pub struct Server {
    config: Config,
    apps: Vec<Registration>,
    on_listening: Option<Box<ListeningHook>>,
}

/// What [`Server::on_listening`] calls: the bound address, whether it
/// speaks TLS, and the inspector's token (`None` with `--no-inspect`).
type ListeningHook = dyn FnOnce(SocketAddr, bool, Option<&str>);

impl Server {
    /// A server with wslab's built-in apps (echo, rooms, ...), see
    /// [`apps::builtin`]. Apps that read files (`--workshops`) do so at
    /// [`Server::start`].
    ///
    /// # Errors
    ///
    /// None today; kept so that a failing built-in app can say so here.
    pub fn new(mut config: Config) -> Result<Server> {
        // Script apps come first: on the path of a built-in app, they win.
        let mut registrations: Vec<Registration> =
            config.scripts.iter().map(apps::script::registration).collect();
        let builtin = apps::builtin();
        for script in &config.scripts {
            if let Some(replaced) = builtin.iter().find(|r| r.serves(&script.path)) {
                info!("--app {}: replaces the built-in app {} on that path", script.path, replaced.name());
            }
            if script.path == "/" {
                config.root_app = script.path.clone();
            }
        }
        registrations.extend(builtin);
        Ok(Server { config, apps: registrations, on_listening: None })
    }

    /// A server with no apps at all; mount your own. Unless `--root-app`
    /// names one of them, nothing answers upgrades on `/`.
    pub fn empty(config: Config) -> Server {
        Server { config, apps: Vec::new(), on_listening: None }
    }

    /// Mounts `app` on the WebSocket path `path`, under `name` (logs,
    /// `/api/status`, `--root-app`).
    pub fn mount(&mut self, name: &str, path: &str, app: impl App) -> &mut Self {
        self.register(Registration::new(name, path, app))
    }

    /// Adds an app with full control over its mount and `/api` routes.
    pub fn register(&mut self, registration: Registration) -> &mut Self {
        self.apps.push(registration);
        self
    }

    /// Calls `f` with the bound address, whether it speaks TLS and the
    /// inspector's token (unless `--no-inspect`), once the port is bound and
    /// before any app starts: the binary prints the URLs to open there, so
    /// that they are the first log lines.
    pub fn on_listening(&mut self, f: impl FnOnce(SocketAddr, bool, Option<&str>) + 'static) -> &mut Self {
        self.on_listening = Some(Box::new(f));
        self
    }

    /// Binds the port and starts the accept and dispatcher threads.
    ///
    /// # Errors
    ///
    /// [`Error::PortInUse`] when the port is taken, [`Error::Usage`] when
    /// `--root-app` names an app that is not mounted, [`Error::File`] when
    /// an app's files are missing or invalid, [`Error::Io`] otherwise.
    pub fn start(self) -> Result<Running> {
        let Server { mut config, mut apps, on_listening } = self;
        let inspect_app = config.inspect.then(|| {
            apps.push(Registration::new("inspect", crate::config::INSPECT_PATH, Viewers));
            apps.len() - 1
        });
        let mut routes = Routes::default();
        // The inspector is never the root app: its page connects to its own path.
        let rootable = |id: &usize| Some(*id) != inspect_app;
        let root_choices: Vec<&str> =
            (0..apps.len()).filter(rootable).map(|id| apps[id].root_name()).collect();
        match (0..apps.len()).filter(rootable).find(|&id| apps[id].root_name() == config.root_app) {
            Some(id) => routes.exact("/", id, &apps[id].root.1),
            // The default root (`lobby`) is optional: a server without the rooms app has none.
            None if config.root_app == DEFAULT_ROOT_APP => {}
            None => {
                return Err(Error::Usage(format!(
                    "--root-app {}: no such app; choose one of {}",
                    config.root_app,
                    root_choices.join(", ")
                )))
            }
        }
        let mut slots = Vec::new();
        for (id, reg) in apps.into_iter().enumerate() {
            match &reg.mount {
                Mount::Path(path) => routes.exact(path, id, ""),
                Mount::Prefix(prefix, valid) => routes.prefix(prefix, id, *valid),
            }
            for path in &reg.api {
                routes.api(path, id);
            }
            if reg.backends {
                routes.backends(id);
            }
            if let Some(up) = &reg.gate {
                routes.gate(id, up.clone());
            }
            let app = (reg.build)(&config)?;
            slots.push(Slot { name: reg.name, app });
        }
        let (max_connections, limited) = connection_limit(config.max_connections);
        config.max_connections = max_connections;

        let tls = load_tls(&config)?;
        let listener = listen(SocketAddr::new(config.host, config.port)).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => Error::PortInUse(config.port),
            _ => Error::Io(e),
        })?;
        let addr = listener.local_addr()?;
        let inspect = inspect_app.map(|app| Inspect {
            app,
            token: config.inspect_token.clone().unwrap_or_else(access::new_token),
            switch: Switch::default(),
        });
        if let Some(f) = on_listening {
            f(addr, tls.is_some(), inspect.as_ref().map(|i| i.token.as_str()));
        }
        for why in limited {
            info!("{why}");
        }

        let started = Instant::now();
        let (events, inbox) = bounded(EVENT_QUEUE);
        let dispatcher =
            Dispatcher::new(slots, config.outbox_size, config.ping_interval, events.clone(), started, {
                inspect.as_ref().map(|i| (i.app, i.switch.clone()))
            });
        let dispatcher =
            thread::Builder::new().name("dispatcher".into()).spawn(move || dispatcher.run(inbox))?;
        let shared = Arc::new(Shared {
            config,
            routes,
            events,
            tls,
            flushers: Flushers::new(MAX_FLUSHERS),
            next_id: AtomicU64::new(1),
            started,
            connections: Mutex::new(0),
            per_ip: Mutex::new(HashMap::new()),
            all_closed: Condvar::new(),
            stopping: AtomicBool::new(false),
            inspect,
        });
        let accept = {
            let shared = shared.clone();
            thread::Builder::new().name("accept".into()).spawn(move || accept_loop(listener, shared))?
        };
        Ok(Running { addr, shared, accept: Some(accept), dispatcher: Some(dispatcher) })
    }
}

/// A started server. Dropping it shuts the server down.
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    /// The dispatcher; it ends with the writers of the clients still closing.
    dispatcher: Option<JoinHandle<Vec<Arc<Writer>>>>,
}

impl Running {
    /// The address the server listens on (with the real port for `--port 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the port speaks TLS (https and wss).
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// A handle that can stop the server from another thread (a signal handler).
    pub fn stopper(&self) -> Stopper {
        Stopper { shared: self.shared.clone(), addr: self.addr }
    }

    /// Blocks until the server was stopped (see [`Running::stopper`]), then finishes the shutdown.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.shutdown_now();
    }

    /// Stops the server: no new connections, every WebSocket closed with
    /// 1001, apps stopped (pending writes finished), then waits briefly for
    /// the connections to end.
    pub fn shutdown(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        self.stopper().stop();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = self.shared.events.send(Event::Shutdown);
            let closing = dispatcher.join().unwrap_or_default();
            // Connection threads now finish their close handshakes; those
            // whose peers do not answer are woken from their reads.
            if !self.wait_for_connections(SHUTDOWN_GRACE) {
                for writer in &closing {
                    writer.shutdown();
                }
                if !self.wait_for_connections(SHUTDOWN_FORCED) {
                    let open = self.shared.connections.lock().unwrap_or_else(|e| e.into_inner());
                    debug!("{} connections still open at exit", *open);
                }
            }
        }
    }

    /// Waits until no connection thread runs, for at most `timeout`. True when none does.
    fn wait_for_connections(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut open = self.shared.connections.lock().unwrap_or_else(|e| e.into_inner());
        while *open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            open = self.shared.all_closed.wait_timeout(open, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Stops a running server from any thread; see [`Running::stopper`].
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Stopper {
    /// Stops accepting; [`Running::wait`] then returns after the shutdown.
    pub fn stop(&self) {
        if !self.shared.stopping.swap(true, Ordering::SeqCst) {
            // accept() blocks; a connection to ourselves wakes it up to see the flag.
            let mut addr = self.addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(Ipv4Addr::LOCALHOST.into());
            }
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }
}

/// Counts a connection while its thread runs.
/// Counts one connection (and, with `--max-connections-per-ip`, one for its
/// address) while it lives.
struct Counted(Arc<Shared>, Option<IpAddr>);

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(ip) = self.1 {
            let mut per_ip = self.0.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
        let mut open = self.0.connections.lock().unwrap_or_else(|e| e.into_inner());
        *open -= 1;
        if *open == 0 {
            self.0.all_closed.notify_all();
        }
    }
}

/// With `--max-connections-per-ip`: counts one more connection from `ip`,
/// or says no (the limit is reached). `Ok(None)`: no such limit.
fn count_per_ip(shared: &Shared, ip: IpAddr) -> std::result::Result<Option<IpAddr>, usize> {
    let Some(limit) = shared.config.max_connections_per_ip else { return Ok(None) };
    let mut per_ip = shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
    let n = per_ip.entry(ip).or_insert(0);
    if *n >= limit {
        return Err(limit);
    }
    *n += 1;
    Ok(Some(ip))
}

/// Connections the kernel keeps waiting for `accept`. std's `bind` asks for
/// 128: 200 pages reconnecting at once after a restart overflowed it, and
/// the connections left out waited for the client's SYN retry, a second later.
const LISTEN_BACKLOG: i32 = 4096;

/// Binds `addr` (with `SO_REUSEADDR`, as std does) and listens with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if shared.stopping.load(Ordering::SeqCst) => {
                debug!("accept: {e}");
                return;
            }
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) fails at once, again and
                // again: back off instead of spinning.
                warn!("accept failed: {e}; retrying in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        {
            let mut open = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
            if *open >= shared.config.max_connections {
                drop(open);
                warn!("{peer}: connection limit ({}) reached, 503", shared.config.max_connections);
                refuse_busy(stream);
                continue;
            }
            *open += 1;
        }
        let per_ip = match count_per_ip(&shared, peer.ip()) {
            Ok(counted) => counted,
            Err(limit) => {
                drop(Counted(shared.clone(), None)); // gives the connection back at once
                warn!("{peer}: connections per address limit ({limit}) reached, 503");
                refuse_busy(stream);
                continue;
            }
        };
        let guard = Counted(shared.clone(), per_ip);
        let spawned = thread::Builder::new().stack_size(CONN_STACK).spawn({
            let shared = shared.clone();
            move || {
                let _guard = guard;
                conn::handle_connection(stream, peer, shared);
            }
        });
        if let Err(e) = spawned {
            error!("{peer}: cannot start a thread: {e}");
        }
    }
}

fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::busy("too many connections, try again later");
    let _ = response.write_to(&mut stream, false);
    let _ = stream.flush();
}

/// The TLS configuration from `--tls-cert` and `--tls-key`, if given.
#[cfg(feature = "tls")]
fn load_tls(config: &Config) -> Result<Option<TlsConfig>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(crate::tls::load(cert, key)?)),
        _ => Ok(None),
    }
}

#[cfg(not(feature = "tls"))]
fn load_tls(config: &Config) -> Result<Option<TlsConfig>> {
    if config.tls_cert.is_some() || config.tls_key.is_some() {
        return Err(Error::Usage(
            "this wslab was built without TLS: build it with `cargo build --release --features tls` \
             (`make run-tls` does)"
                .into(),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::{connection_ceiling, fd_ceiling};

    #[test]
    fn the_connection_ceiling_leaves_room_for_the_rest() {
        // Linux's default limit, with a few hundred mappings in use already:
        // one thread per connection holds 15,000.
        assert_eq!(connection_ceiling(65_530, 300), (65_530 - 300 - 1024 - 256) / 4);
        assert!(connection_ceiling(65_530, 300) >= 15_000);
        assert!(connection_ceiling(262_144, 300) > 60_000);
        assert_eq!(connection_ceiling(100, 300), 0);
    }

    #[test]
    fn the_file_limit_leaves_room_for_the_rest() {
        assert_eq!(fd_ceiling(1024), 960);
        assert_eq!(fd_ceiling(10), 0);
    }
}
