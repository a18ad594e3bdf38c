//! Who may use the inspector: clients on the server's own machine, and
//! others that bring the token printed at start (`?token=` on
//! `/ws/inspect`). Chat messages and cookies are visible there.
//!
//! A browser on this machine runs pages from anywhere, and a WebSocket is
//! not bound by the same-origin policy: the machine is trusted only for a
//! script (no `Origin`) or a page this server served from a loopback name
//! (`Origin` = `Host` = `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`),
//! never for another site's page, nor one that rebinds a name to 127.0.0.1.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;

/// A fresh random token: 128 bits from the kernel, as 32 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_err() {
        // No /dev/urandom: std's per-process random hash keys, twice.
        use std::hash::{BuildHasher, Hasher};
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(half.as_ptr() as usize);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a client at `peer`, whose upgrade had `origin` and `host` and
/// brought `given` (or no token), may look.
pub fn allowed(
    peer: IpAddr,
    origin: Option<&str>,
    host: Option<&str>,
    given: Option<&str>,
    token: &str,
) -> bool {
    let trusted = is_local(peer) && origin.is_none_or(|origin| own_loopback_page(origin, host));
    trusted || given.is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Whether `origin` is this server's own page on a loopback name: its
/// authority is `host` (the request's `Host`), and that names loopback.
fn own_loopback_page(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Some(authority) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false; // "null", or a scheme that is not a page of ours
    };
    if !authority.eq_ignore_ascii_case(host) {
        return false;
    }
    // The name without its port: `localhost:8123`, `127.0.0.1:8123`, `[::1]:8123`.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// Whether `peer` is this machine (also an IPv4 loopback address written as IPv6).
fn is_local(peer: IpAddr) -> bool {
    #[cfg(debug_assertions)]
    if std::env::var_os("WSLAB_INSPECT_LOOPBACK_IS_REMOTE").is_some() {
        // Fault injection for the tests: loopback clients count as remote.
        return false;
    }
    is_loopback(peer)
}

/// Whether `ip` is loopback (also an IPv4 loopback address written as IPv6).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Compares without stopping at the first difference (no timing hint).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The body of the 403 for a client refused.
pub const REFUSED: &str =
    "The inspector shows chat messages, so it is open only to the server's own machine, \
or with the token the server printed at start: open the \"inspect: http://...#token=...\" URL \
from its log (or start it with --inspect-token TOKEN).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_may_look_others_need_the_token() {
        let token = "0123456789abcdef";
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        let script = |peer: IpAddr, given| allowed(peer, None, Some("lab:8123"), given, token);
        assert!(script("127.0.0.1".parse().unwrap(), None));
        assert!(script("::1".parse().unwrap(), None));
        assert!(script("::ffff:127.0.0.1".parse().unwrap(), None));
        assert!(!script(lan, None));
        assert!(!script(lan, Some("")));
        assert!(!script(lan, Some("0123456789abcdeX")));
        assert!(!script(lan, Some("0123456789abcde")));
        assert!(script(lan, Some(token)));
    }

    #[test]
    fn on_this_machine_only_our_own_loopback_pages_need_no_token() {
        let token = "0123456789abcdef";
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let page = |origin, host, given| allowed(local, Some(origin), Some(host), given, token);
        assert!(page("http://127.0.0.1:8123", "127.0.0.1:8123", None));
        assert!(page("http://localhost:8123", "LOCALHOST:8123", None));
        assert!(page("https://[::1]:8123", "[::1]:8123", None));
        assert!(!page("http://evil.example", "127.0.0.1:8123", None), "another site's page");
        assert!(!page("http://localhost:9000", "localhost:8123", None), "another server on this machine");
        assert!(!page("null", "127.0.0.1:8123", None), "a sandboxed page or a file");
        assert!(!page("http://rebound.example:8123", "rebound.example:8123", None), "DNS rebinding");
        assert!(page("http://evil.example", "127.0.0.1:8123", Some(token)), "with the token, anyone");
        assert!(!allowed(local, Some("http://127.0.0.1:8123"), None, None, token), "no Host");
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
