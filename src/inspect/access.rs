//! Who may use the inspector: clients on the server's own machine, and
//! others that bring the token printed at start (`?token=` on
//! `/ws/inspect`). Chat messages and cookies are visible there.

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

/// Whether a client at `peer` that brought `given` (or no token) may look.
pub fn allowed(peer: IpAddr, given: Option<&str>, token: &str) -> bool {
    is_local(peer) || given.is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Whether `peer` is this machine (also an IPv4 loopback address written as IPv6).
fn is_local(peer: IpAddr) -> bool {
    #[cfg(debug_assertions)]
    if std::env::var_os("WSLAB_INSPECT_LOOPBACK_IS_REMOTE").is_some() {
        // Fault injection for the tests: loopback clients count as remote.
        return false;
    }
    match peer {
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
        assert!(allowed("127.0.0.1".parse().unwrap(), None, token));
        assert!(allowed("::1".parse().unwrap(), None, token));
        assert!(allowed("::ffff:127.0.0.1".parse().unwrap(), None, token));
        assert!(!allowed(lan, None, token));
        assert!(!allowed(lan, Some(""), token));
        assert!(!allowed(lan, Some("0123456789abcdeX"), token));
        assert!(!allowed(lan, Some("0123456789abcde"), token));
        assert!(allowed(lan, Some(token), token));
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
