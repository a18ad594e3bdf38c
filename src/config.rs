//! Command-line flags: [`Config`], its defaults, `--help`, and the duration and size parsers.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Everything the server can be told on the command line.
///
/// `Config::default()` is what `wslab` with no flags runs; tests start from it
/// and change the fields they need.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`--host`).
    pub host: IpAddr,
    /// Port to listen on; 0 takes a free one (`--port`).
    pub port: u16,
    /// Web root served over HTTP (`--www`).
    pub www: PathBuf,
    /// Where durable data such as reservations lives (`--data`).
    pub data: PathBuf,
    /// Workshops file for the workshop app (`--workshops`); `None` means the built-in sample.
    pub workshops: Option<PathBuf>,
    /// Log level (`--log-level`).
    pub log_level: log::LevelFilter,
    /// App that answers WebSocket upgrades on `/` (`--root-app`).
    pub root_app: String,
    /// Connections at once, of every kind (`--max-connections`).
    pub max_connections: usize,
    /// Connections at once from one address; `None`: no such limit (`--max-connections-per-ip`).
    pub max_connections_per_ip: Option<usize>,
    /// Largest WebSocket message accepted, in bytes (`--max-message-size`).
    pub max_message_size: usize,
    /// Queued outgoing messages per client before it is closed with 1008 (`--outbox-size`).
    pub outbox_size: usize,
    /// Time a new connection has to send its request head (`--handshake-timeout`).
    pub handshake_timeout: Duration,
    /// Keepalive ping interval; a client silent for two intervals is closed (`--ping-interval`).
    /// Zero turns keepalive off.
    pub ping_interval: Duration,
    /// Origins allowed to open WebSockets; empty means any (`--allow-origin`, repeatable).
    pub allow_origins: Vec<String>,
    /// PEM certificate chain: with `tls_key`, the port speaks TLS (`--tls-cert`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert` (`--tls-key`).
    pub tls_key: Option<PathBuf>,
    /// Script apps: a command run as a child and mounted at a path (`--app PATH=COMMAND`, repeatable).
    pub scripts: Vec<ScriptSpec>,
    /// Whether `/inspect.html` and `/ws/inspect` are on (`--no-inspect` turns them off).
    pub inspect: bool,
    /// The inspector's token for clients on other machines; `None`: a fresh
    /// random one at each start (`--inspect-token`).
    pub inspect_token: Option<String>,
}

/// One `--app PATH=COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// Where it is mounted (`/` makes it the root app).
    pub path: String,
    /// The command line (words; quotes group).
    pub command: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8080,
            www: PathBuf::from("www"),
            data: PathBuf::from("data"),
            workshops: None,
            log_level: log::LevelFilter::Info,
            root_app: DEFAULT_ROOT_APP.to_string(),
            max_connections: 15_000,
            max_connections_per_ip: None,
            max_message_size: 1 << 20,
            outbox_size: 1024,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            allow_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            scripts: Vec::new(),
            inspect: true,
            inspect_token: None,
        }
    }
}

/// `--root-app` when none is given: the rooms app's lobby (optional: a
/// server without the rooms app simply has no root app).
pub const DEFAULT_ROOT_APP: &str = "lobby";
/// The inspector's WebSocket path, which no `--app` may take while it is on.
pub const INSPECT_PATH: &str = "/ws/inspect";

/// What `wslab --help` prints, with the `--root-app` choices (the apps'
/// registrations' root names).
pub fn help(root_choices: &[String]) -> String {
    HELP.replace("{ROOT_APPS}", &root_choices.join(", "))
}

/// `--help`'s text, with `{ROOT_APPS}` for the choices of `--root-app`.
const HELP: &str = "\
wslab: a WebSocket server for teaching real-time web pages

Usage: wslab [OPTIONS]
       wslab ratchet DIR         write DIR/vendor/autoload.php for a Ratchet server (docs/scripts.md)

Options:
  --host ADDR               address to listen on [default: 0.0.0.0]
  --port PORT               port to listen on; 0 takes a free one [default: 8080]
  --www DIR                 web root served over HTTP [default: www]
  --data DIR                directory for durable data (reservations.json) [default: data]
  --workshops FILE          JSON list of {\"id\",\"title\",\"capacity\"} [default: built-in sample]
  --root-app APP            app on ws://host:port/: {ROOT_APPS} [default: lobby]
  --log-level LEVEL         error, warn, info, debug, trace [default: info]
  --app PATH=COMMAND        run COMMAND as a script app on PATH (/ is the root app), repeatable,
                            one per path; it talks JSON lines on stdin/stdout (docs/scripts.md)

Limits (durations: 10s, 500ms; sizes: 1048576, 64KiB, 16MiB):
  --max-connections N       connections at once; beyond it HTTP 503 [default: 15000]
                            (lowered at start to what the open-file limit and
                            vm.max_map_count allow: 1 file, 4 mappings per connection)
  --max-connections-per-ip N
                            connections at once from one address; beyond it HTTP 503 [default: off]
  --max-message-size SIZE   largest WebSocket message; beyond it close 1009 [default: 1MiB]
  --outbox-size N           messages waiting to go out to one client; beyond it close 1008 [default: 1024]
  --handshake-timeout DUR   time to send a request head [default: 10s]
  --ping-interval DUR       keepalive ping; silent for 2 intervals is closed; 0 turns it off [default: 30s]
  --allow-origin ORIGIN     allowed page Origin, repeatable: WebSocket upgrades from others get 403,
                            and /api/* answers CORS (preflight OPTIONS too) for these [default: any, no CORS]

Inspector (/inspect.html: every client, every frame, the log; docs/inspector.md):
  --inspect-token TOKEN     token other machines and sites need (…/inspect.html#token=TOKEN; 8 or more of
                            A-Z a-z 0-9 - _) [default: random, printed at start]
  --no-inspect              turn the inspector off

TLS (a build with `--features tls`, as `make run-tls` does):
  --tls-cert FILE           PEM certificate chain; with --tls-key the port speaks https and wss
  --tls-key FILE            PEM private key of the certificate

  -h, --help                print this help
";

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    /// Run the server with this configuration.
    Run(Box<Config>),
    /// Print [`help`] and exit 0.
    Help,
}

impl Config {
    /// Parses the arguments after the program name.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] naming the flag for an unknown flag, a missing value or a
    /// value that does not parse.
    pub fn from_args<I, S>(args: I) -> Result<Command>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Config::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if flag == "-h" || flag == "--help" {
                return Ok(Command::Help);
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Usage(format!("{flag} needs a value")))
            };
            let bad = |v: &str, what: &str| Error::Usage(format!("{flag}: {v:?} is not {what}"));
            match flag.as_str() {
                "--host" => {
                    let v = value()?;
                    config.host = v.parse().map_err(|_| bad(&v, "an IP address"))?;
                }
                "--port" => {
                    let v = value()?;
                    config.port = v.parse().map_err(|_| bad(&v, "a port number"))?;
                }
                "--www" => config.www = PathBuf::from(value()?),
                "--data" => config.data = PathBuf::from(value()?),
                "--workshops" => config.workshops = Some(PathBuf::from(value()?)),
                "--log-level" => {
                    let v = value()?;
                    config.log_level = v.parse().map_err(|_| bad(&v, "a log level"))?;
                }
                // Checked against the mounted apps when the server starts.
                "--root-app" => config.root_app = value()?,
                "--app" => {
                    let v = value()?;
                    let Some((path, command)) = v.split_once('=') else {
                        return Err(bad(&v, "PATH=COMMAND, e.g. /chat=\"php server.php\""));
                    };
                    if !path.starts_with('/') || command.trim().is_empty() {
                        return Err(bad(&v, "PATH=COMMAND with a path starting with / and a command"));
                    }
                    config.scripts.push(ScriptSpec { path: path.to_string(), command: command.to_string() });
                }
                "--max-connections" => {
                    let v = value()?;
                    config.max_connections = parse_count(&v).ok_or_else(|| bad(&v, "a count"))?;
                }
                "--max-connections-per-ip" => {
                    let v = value()?;
                    config.max_connections_per_ip = Some(parse_count(&v).ok_or_else(|| bad(&v, "a count"))?);
                }
                "--max-message-size" => {
                    let v = value()?;
                    config.max_message_size = parse_size(&v).ok_or_else(|| bad(&v, "a size"))?;
                }
                "--outbox-size" => {
                    let v = value()?;
                    config.outbox_size = parse_count(&v).ok_or_else(|| bad(&v, "a count"))?;
                }
                "--handshake-timeout" => {
                    let v = value()?;
                    config.handshake_timeout = parse_duration(&v)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad(&v, "a duration above zero"))?;
                }
                "--ping-interval" => {
                    let v = value()?;
                    config.ping_interval = parse_duration(&v).ok_or_else(|| bad(&v, "a duration"))?;
                }
                "--allow-origin" => config.allow_origins.push(value()?),
                "--no-inspect" => config.inspect = false,
                "--inspect-token" => {
                    let v = value()?;
                    if v.len() < 8 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        return Err(bad(&v, "a token of 8 or more letters, digits, - or _"));
                    }
                    config.inspect_token = Some(v);
                }
                "--tls-cert" => config.tls_cert = Some(PathBuf::from(value()?)),
                "--tls-key" => config.tls_key = Some(PathBuf::from(value()?)),
                _ => return Err(Error::Usage(format!("unknown flag {arg:?} (see --help)"))),
            }
        }
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err(Error::Usage("--tls-cert and --tls-key go together".into()));
        }
        for (i, script) in config.scripts.iter().enumerate() {
            if config.scripts[..i].iter().any(|s| s.path == script.path) {
                return Err(Error::Usage(format!(
                    "--app {}: that path is given twice; one app per path",
                    script.path
                )));
            }
            if script.path == INSPECT_PATH && config.inspect {
                return Err(Error::Usage(format!(
                    "--app {INSPECT_PATH}: that path is the inspector's; use another one (or --no-inspect)"
                )));
            }
        }
        Ok(Command::Run(Box::new(config)))
    }
}

fn parse_count(s: &str) -> Option<usize> {
    s.parse().ok().filter(|&n| n > 0)
}

/// Parses `10`, `10s` or `500ms`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        ms.trim().parse().ok().map(Duration::from_millis)
    } else {
        let secs = s.strip_suffix('s').unwrap_or(s).trim();
        secs.parse().ok().map(Duration::from_secs)
    }
}

/// Parses `1048576`, `64KiB` or `16MiB` (also `KB`/`MB`/`K`/`M`, all powers of 1024).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match Config::from_args(args.iter().copied()).unwrap() {
            Command::Run(c) => *c,
            Command::Help => panic!("help"),
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn flags() {
        let c = run(&["--no-inspect", "--inspect-token", "abcdefgh12"]);
        assert!(!c.inspect);
        assert_eq!(c.inspect_token.as_deref(), Some("abcdefgh12"));
        assert!(Config::from_args(["--inspect-token", "short"]).is_err());
        let c = run(&["--port", "0", "--ping-interval=500ms", "--allow-origin", "http://a"]);
        assert_eq!(c.port, 0);
        assert_eq!(c.ping_interval, Duration::from_millis(500));
        assert_eq!(c.allow_origins, vec!["http://a".to_string()]);
        assert!(Config::from_args(["--nope"]).is_err());
        assert!(Config::from_args(["--app", "/c=php a.php", "--app", "/c=php b.php"]).is_err());
        assert!(Config::from_args(["--app", "/ws/inspect=php a.php"]).is_err());
        assert_eq!(run(&["--no-inspect", "--app", "/ws/inspect=php a.php"]).scripts.len(), 1);
        assert!(Config::from_args(["--port"]).is_err());
        // --root-app is checked against the mounted apps at start (Server::start).
        assert!(matches!(Config::from_args(["--root-app", "x"]), Ok(Command::Run(c)) if c.root_app == "x"));
        assert!(matches!(Config::from_args(["-h"]), Ok(Command::Help)));
    }
}
