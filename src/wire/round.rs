//! A dispatcher round's encoded units, and one buffer of a client's share.
//!
//! Every frame (or backend line) sent in a round is encoded once into the
//! round's table; each recipient keeps the indices of what it got. When a
//! client's share is several small units, they are joined into one buffer
//! and go out in one plain `send`: a vectored send costs the kernel a copy
//! per slice (and takes at most 64 of them a call), which made a round of
//! 150 small frames three system calls and a fifth of the dispatcher's
//! time in `_copy_from_iter` (docs/architecture.md, trap 7). The members
//! of a room get the same units in the same order, so the buffer is built
//! once and sent to each of them.

use tungstenite::Bytes;

/// A client's share of a round is joined only up to this many bytes;
/// larger shares are sent straight from the table, slice by slice (their
/// copy would cost more than the slices do).
pub const JOIN_MAX: usize = 64 * 1024;

/// The units of one round, and the last share joined from them.
#[derive(Debug, Default)]
pub struct Round {
    /// The frames and lines encoded in this round, each once.
    units: Vec<Bytes>,
    /// The bytes of `joined_order`'s units, one after another.
    joined: Vec<u8>,
    /// Which units `joined` holds, in order (empty: none).
    joined_order: Vec<u32>,
}

/// A client's share of a round, for its writer.
#[derive(Debug, Clone, Copy)]
pub struct Share<'a> {
    /// The round's units.
    pub units: &'a [Bytes],
    /// The share: indices into `units`, in the order they go out.
    pub order: &'a [u32],
    /// The share's units joined into one buffer, when they are small and
    /// more than one.
    pub joined: Option<&'a [u8]>,
}

impl Round {
    /// Adds `unit` to the round; returns its index.
    pub fn push(&mut self, unit: Bytes) -> u32 {
        self.units.push(unit);
        (self.units.len() - 1) as u32
    }

    /// The share made of the units `order` (indices into this round),
    /// joined if that pays: the buffer of the previous call is reused when
    /// it was for the same `order`.
    pub fn share<'a>(&'a mut self, order: &'a [u32]) -> Share<'a> {
        let joined = order.len() > 1 && (self.joined_order == order || self.join(order));
        Share { units: &self.units, order, joined: joined.then_some(&self.joined[..]) }
    }

    /// Joins the units `order` into the buffer; false (and the buffer left
    /// as it was) when they come to more than [`JOIN_MAX`].
    fn join(&mut self, order: &[u32]) -> bool {
        let total: usize = order.iter().map(|&i| self.units[i as usize].len()).sum();
        if total > JOIN_MAX {
            return false;
        }
        self.joined.clear();
        for &i in order {
            self.joined.extend_from_slice(&self.units[i as usize]);
        }
        self.joined_order.clear();
        self.joined_order.extend_from_slice(order);
        true
    }

    /// Ends the round: its units are dropped (the writers keep what they
    /// still need) and the joined buffer is forgotten with them.
    pub fn clear(&mut self) {
        self.units.clear();
        self.joined.clear();
        self.joined_order.clear();
    }
}

#[cfg(test)]
impl Share<'_> {
    /// The share `order` of `units`, never joined.
    pub fn unjoined<'a>(units: &'a [Bytes], order: &'a [u32]) -> Share<'a> {
        Share { units, order, joined: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(units: &[&'static [u8]]) -> Round {
        let mut round = Round::default();
        for unit in units {
            round.push(Bytes::from_static(unit));
        }
        round
    }

    #[test]
    fn a_share_of_small_units_is_joined_in_its_order() {
        let mut round = round(&[b"a", b"bb", b"ccc"]);
        assert_eq!(round.share(&[2, 0, 1]).joined, Some(&b"cccabb"[..]));
        assert_eq!(round.share(&[0, 0]).joined, Some(&b"aa"[..]), "a unit twice");
        assert_eq!(round.share(&[1]).joined, None, "one unit goes as it is");
    }

    #[test]
    fn the_same_order_reuses_the_buffer_and_another_rebuilds_it() {
        let mut round = round(&[b"a", b"bb"]);
        let first = round.share(&[0, 1]).joined.unwrap().as_ptr();
        assert_eq!(round.share(&[0, 1]).joined.unwrap().as_ptr(), first);
        assert_eq!(round.share(&[1, 0]).joined, Some(&b"bba"[..]));
        assert_eq!(round.share(&[0, 1]).joined, Some(&b"abb"[..]));
    }

    #[test]
    fn a_new_round_never_sees_the_last_rounds_bytes() {
        let mut round = round(&[b"old", b"OLD"]);
        assert_eq!(round.share(&[0, 1]).joined, Some(&b"oldOLD"[..]));
        round.clear();
        round.push(Bytes::from_static(b"new"));
        round.push(Bytes::from_static(b"NEW"));
        assert_eq!(round.share(&[0, 1]).joined, Some(&b"newNEW"[..]));
    }

    #[test]
    fn a_large_share_is_not_joined() {
        let mut round = Round::default();
        let big = round.push(Bytes::from(vec![1u8; JOIN_MAX]));
        let small = round.push(Bytes::from_static(b"x"));
        assert_eq!(round.share(&[big, small]).joined, None);
        assert_eq!(round.share(&[small, small]).joined, Some(&b"xx"[..]));
        assert_eq!(round.share(&[big, small]).units.len(), 2);
    }
}
