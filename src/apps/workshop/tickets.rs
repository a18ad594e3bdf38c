//! Tickets: unguessable, from `/dev/urandom`.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::Read;

use log::warn;

/// Unguessable tickets: `T-` and 16 bytes from `/dev/urandom` in hex.
pub(super) struct Tickets {
    urandom: Option<File>,
    /// Fallback if `/dev/urandom` is missing or fails: SipHash keyed with
    /// std's per-process random keys, over a counter.
    key: RandomState,
    counter: u64,
}

impl Tickets {
    pub(super) fn new() -> Tickets {
        let urandom = File::open("/dev/urandom")
            .map_err(|e| warn!("workshop: cannot open /dev/urandom ({e}); tickets come from a keyed hash"))
            .ok();
        Tickets { urandom, key: RandomState::new(), counter: 0 }
    }

    pub(super) fn next(&mut self) -> String {
        let mut bytes = [0u8; 16];
        let from_os = self.urandom.as_mut().is_some_and(|f| f.read_exact(&mut bytes).is_ok());
        if !from_os {
            if self.urandom.take().is_some() {
                warn!("workshop: reading /dev/urandom failed; tickets now come from a keyed hash");
            }
            self.counter += 1;
            bytes[..8].copy_from_slice(&self.key.hash_one((self.counter, 0u8)).to_le_bytes());
            bytes[8..].copy_from_slice(&self.key.hash_one((self.counter, 1u8)).to_le_bytes());
        }
        let mut ticket = String::with_capacity(34);
        ticket.push_str("T-");
        for b in bytes {
            let _ = write!(ticket, "{b:02x}");
        }
        ticket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_random_hex() {
        let mut tickets = Tickets::new();
        let a = tickets.next();
        let b = tickets.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 34);
        assert!(
            a.starts_with("T-") && a[2..].bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        tickets.urandom = None;
        let c = tickets.next();
        assert_eq!(c.len(), 34);
        assert_ne!(c, tickets.next());
    }
}
