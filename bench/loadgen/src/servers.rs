//! Starting and stopping the servers under test. Each run gets a fresh
//! process on a free port (`--port 0`; the port comes from the log line
//! `open http://127.0.0.1:PORT/ (this machine)`), its stderr in a file.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Wslab,
    Node,
    /// bench/peers/rust-tokio: tokio + tokio-tungstenite.
    Tokio,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Wslab => "wslab",
            Kind::Node => "node-ws",
            Kind::Tokio => "rust-tokio",
        }
    }

    /// Whether this server can run `scenario`: the peers have rooms and
    /// echo, no chat, workshop or script apps.
    pub fn can(self, scenario: &str) -> bool {
        match self {
            Kind::Wslab => true,
            Kind::Node | Kind::Tokio => {
                matches!(scenario, "fanout" | "fanout-rate" | "echo" | "conns" | "stalled")
            }
        }
    }
}

/// Where the programs are.
#[derive(Clone, Debug)]
pub struct Programs {
    pub wslab: PathBuf,
    pub node_peer: PathBuf,
    pub node: String,
    pub tokio_peer: PathBuf,
    pub work: PathBuf,
}

pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub dir: PathBuf,
}

/// Extra things a scenario needs from wslab.
#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    /// The workshops file's content (written into the run's directory).
    pub workshops: Option<String>,
}

impl Server {
    pub fn start(kind: Kind, programs: &Programs, tag: &str, opts: &Options) -> Result<Server, String> {
        let dir = programs.work.join(format!("{}-{tag}-{}", kind.name(), std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = dir.join("stderr.log");
        let err = File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = match kind {
            Kind::Wslab => {
                let mut c = Command::new(&programs.wslab);
                c.args(["--host", "127.0.0.1", "--port", "0", "--max-connections", "20000"]);
                c.arg("--data").arg(dir.join("data"));
                if let Some(w) = &opts.workshops {
                    let file = dir.join("workshops.json");
                    fs::write(&file, w).map_err(|e| e.to_string())?;
                    c.arg("--workshops").arg(file);
                }
                c.args(&opts.args);
                c
            }
            Kind::Node => {
                let mut c = Command::new(&programs.node);
                c.arg(&programs.node_peer).args(["--host", "127.0.0.1", "--port", "0"]);
                c
            }
            Kind::Tokio => {
                let mut c = Command::new(&programs.tokio_peer);
                c.args(["--host", "127.0.0.1", "--port", "0"]);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kind.name()))?;
        let pid = child.id();
        let mut server = Server { child, pid, addr: "127.0.0.1:0".parse().expect("addr"), log, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(port) = text.lines().find_map(port_of) {
                server.addr.set_port(port);
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{} exited ({status}) before it listened:\n{text}", kind.name()));
            }
            if Instant::now() > deadline {
                let _ = server.child.kill();
                return Err(format!("{} printed no port within 15 s:\n{text}", kind.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; the run's directory is removed.
    pub fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::env::var_os("LOADGEN_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    /// Lines of the server's log that contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        fs::read_to_string(&self.log).unwrap_or_default().lines().filter(|l| l.contains(needle)).count()
    }
}

fn port_of(line: &str) -> Option<u16> {
    let rest = line.split("open http://127.0.0.1:").nth(1)?;
    rest.split('/').next()?.parse().ok()
}

pub fn default_programs(root: &Path) -> Programs {
    Programs {
        wslab: root.join("target/release/wslab"),
        node_peer: root.join("bench/peers/node-ws/server.js"),
        node: "node".into(),
        tokio_peer: root.join("bench/peers/rust-tokio/target/release/rust-tokio-peer"),
        work: std::env::temp_dir().join("wslab-bench"),
    }
}
