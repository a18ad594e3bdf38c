//! `wslab`: flags, logger, bind, the URLs to open, signals, exit codes.

use std::process::ExitCode;

use log::info;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use wslab::config::{help, Command, Config};
use wslab::Server;

/// wslab's Ratchet classes, written into a project by `wslab ratchet DIR`.
const RATCHET_PHP: &str = include_str!("../php/Ratchet.php");
/// What marks a `vendor/autoload.php` as wslab's (one it may write again).
const WRITTEN_BY: &str = "Written by `wslab ratchet`";

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ratchet") {
        return match ratchet(&args[1..]) {
            Ok(autoload) => {
                println!(
                    "wrote {autoload}: run the server with --app /PATH=\"php SERVER.php\" (docs/scripts.md)"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wslab: ratchet: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_args(args) {
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
    wslab::inspect::log::install(config.log_level);
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
    server.on_listening(move |addr, tls, inspect_token| {
        let port = addr.port();
        info!("wslab {} serving {} on port {port}", env!("CARGO_PKG_VERSION"), www.display());
        let urls = urls(if tls { "https" } else { "http" }, host, port);
        for url in &urls {
            info!("open {url}");
        }
        if let (Some(token), Some(first)) = (inspect_token, urls.first()) {
            // The token is for other machines; this one needs none.
            let base = first.split(' ').next().unwrap_or(first);
            info!("inspect: {base}inspect.html#token={token}");
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

/// `wslab ratchet DIR`: what `composer require cboden/ratchet` does for a
/// project, with wslab's Ratchet classes: `DIR/vendor/autoload.php` loads
/// them and the PSR-4 autoload map of `DIR/composer.json`.
fn ratchet(args: &[String]) -> Result<String, String> {
    let [dir] = args else {
        return Err(
            "usage: wslab ratchet DIR (your project's folder: where its composer.json is, or its server.php)"
                .into(),
        );
    };
    let dir = std::path::Path::new(dir);
    // A new project's folder is made, as `composer require` would.
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    }
    if !dir.is_dir() {
        return Err(format!("{}: not a folder", dir.display()));
    }
    let vendor = dir.join("vendor");
    let autoload = vendor.join("autoload.php");
    // Composer's own autoloader loads the project's other packages too: never replace it.
    if std::fs::read_to_string(&autoload).is_ok_and(|text| !text.contains(WRITTEN_BY)) {
        return Err(format!(
            "{} is not wslab's (Composer's, most likely): replacing it would stop the project's other \
             packages from loading; move vendor/ aside (mv vendor vendor.composer) or use a copy of the project",
            autoload.display()
        ));
    }
    let write = |path: std::path::PathBuf, text: &str| {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    std::fs::create_dir_all(vendor.join("wslab")).map_err(|e| format!("{}: {e}", vendor.display()))?;
    write(vendor.join("wslab").join("Ratchet.php"), RATCHET_PHP)?;
    write(
        autoload.clone(),
        &format!(
            "<?php\n// {WRITTEN_BY}: Ratchet 0.4's classes from wslab, then this\n\
             // project's own PSR-4 autoload map (composer.json).\n\
             require_once __DIR__ . '/wslab/Ratchet.php';\n\
             \\Wslab\\Autoload::project(dirname(__DIR__));\n"
        ),
    )?;
    Ok(autoload.display().to_string())
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

/// Caps glibc's malloc at 2 arenas. By default it makes one per thread that
/// allocates (up to 8 per core), and wslab runs one thread per connection:
/// under churn with varied message sizes each arena kept its own high water
/// mark, and a 600 s `make soak` saw RSS creep 11 → 18 MB (5.7 % over its
/// last cycles, against 3.4 % with 2 arenas). Small allocations still take
/// the per-thread cache, without the arena lock.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // A fixed threshold (glibc raises it after each large free, up to
        // 32 MiB): a large message's buffers are mapped and given back on
        // free, instead of staying in an arena as its new high water mark.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
