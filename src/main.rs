//! `wslab`: flags, logger, bind, the URLs to open, signals, exit codes.

use std::process::ExitCode;

use log::info;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use wslab::config::{help, Command, Config};
use wslab::Server;

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", help(&wslab::apps::root_choices()));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wslab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = simple_logger::SimpleLogger::new().with_level(config.log_level).init();
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wslab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> wslab::Result<()> {
    let www = config.www.clone();
    let host = config.host;
    let mut server = Server::new(config)?;
    server.on_listening(move |addr, tls| {
        let port = addr.port();
        info!("wslab {} serving {} on port {port}", env!("CARGO_PKG_VERSION"), www.display());
        for url in urls(if tls { "https" } else { "http" }, host, port) {
            info!("open {url}");
        }
    });
    // Before the port opens: a signal sent as soon as the URLs are printed
    // must find the handler in place, not kill the process.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let running = server.start()?;
    let stopper = running.stopper();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            info!("signal {signal}: shutting down");
            stopper.stop();
        }
    })?;
    running.wait();
    info!("bye");
    Ok(())
}

/// The URLs to open: by hostname and by each non-loopback address, then loopback.
fn urls(scheme: &str, host: std::net::IpAddr, port: u16) -> Vec<String> {
    if !host.is_unspecified() {
        return vec![format!("{scheme}://{}/", std::net::SocketAddr::new(host, port))];
    }
    let mut urls = Vec::new();
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() && name != "localhost" {
            urls.push(format!("{scheme}://{name}:{port}/"));
        }
    }
    for addr in local_addresses() {
        urls.push(format!("{scheme}://{addr}:{port}/"));
    }
    urls.push(format!("{scheme}://127.0.0.1:{port}/ (this machine)"));
    urls
}

/// This machine's IPv4 addresses other than loopback, from /proc/net/fib_trie
/// (std has no interface list, and this needs no extra crate).
fn local_addresses() -> Vec<String> {
    let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") else { return Vec::new() };
    let lines: Vec<&str> = trie.lines().collect();
    let mut found = Vec::new();
    for pair in lines.windows(2) {
        if pair[1].trim() == "/32 host LOCAL" {
            let addr = pair[0].trim().trim_start_matches("|-- ").to_string();
            if !addr.starts_with("127.") && !found.contains(&addr) {
                found.push(addr);
            }
        }
    }
    found
}
