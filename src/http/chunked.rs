//! A request body sent with `Transfer-Encoding: chunked` (RFC 9112 §7.1),
//! decoded as its bytes arrive, however they are split, in one pass.

/// Where the decoder is in the chunked stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far, whether a digit was seen, and
    /// whether an extension (`;name=value`, ignored) has started.
    Size { size: usize, digits: bool, ext: bool },
    /// In a chunk's data: bytes left.
    Data(usize),
    /// After a chunk's data: the line end that must follow (`cr`: its CR seen).
    DataEnd { cr: bool },
    /// In the trailer section: whether the current line is still empty.
    Trailer { empty: bool },
    /// The last chunk and the trailer section are in: the body is complete.
    Done,
}

/// Why a chunked body cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Not chunked framing: 400.
    Malformed(&'static str),
    /// The decoded body passed the limit: 413.
    TooLarge,
}

/// Decodes a chunked body incrementally, up to a limit on the decoded size.
#[derive(Debug)]
pub struct Dechunker {
    /// Where it is in the stream.
    state: State,
    /// The body decoded so far.
    body: Vec<u8>,
    /// Largest body accepted, in decoded bytes.
    limit: usize,
    /// Bytes of framing (size lines, trailers) taken so far, bounded too.
    framing: usize,
}

impl Dechunker {
    /// A decoder for a body of at most `limit` bytes.
    pub fn new(limit: usize) -> Dechunker {
        Dechunker {
            state: State::Size { size: 0, digits: false, ext: false },
            body: Vec::new(),
            limit,
            framing: 0,
        }
    }

    /// Takes the next bytes of the stream. `Ok(Some(n))` once the body is
    /// complete: its last `n` bytes of `bytes` were used (what follows is
    /// not this request's); `Ok(None)` while more is needed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ChunkError> {
        let mut i = 0;
        while i < bytes.len() {
            if let State::Data(left) = self.state {
                let take = left.min(bytes.len() - i);
                self.body.extend_from_slice(&bytes[i..i + take]);
                i += take;
                self.state =
                    if take == left { State::DataEnd { cr: false } } else { State::Data(left - take) };
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.framing += 1;
            // Size lines and trailers: generous for extensions, bounded all the same.
            if self.framing > self.limit + 8 * 1024 {
                return Err(ChunkError::Malformed("chunk framing too long"));
            }
            self.state = match (self.state, b) {
                (State::Size { size, digits: true, .. }, b'\n') => match size {
                    0 => State::Trailer { empty: true },
                    n => State::Data(n),
                },
                (State::Size { .. }, b'\n') => return Err(ChunkError::Malformed("a chunk without a size")),
                (State::Size { ext: true, .. }, _) => self.state,
                (State::Size { size, ext: false, .. }, b) if b.is_ascii_hexdigit() => {
                    let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
                    match size.checked_mul(16).map(|s| s + digit) {
                        Some(size) if size <= self.limit - self.body.len() => {
                            State::Size { size, digits: true, ext: false }
                        }
                        _ => return Err(ChunkError::TooLarge),
                    }
                }
                (State::Size { size, digits: true, ext: false }, b';' | b' ' | b'\t' | b'\r') => {
                    State::Size { size, digits: true, ext: true }
                }
                (State::Size { .. }, _) => {
                    return Err(ChunkError::Malformed("a chunk size that is not hexadecimal"))
                }
                (State::DataEnd { cr: false }, b'\r') => State::DataEnd { cr: true },
                (State::DataEnd { .. }, b'\n') => State::Size { size: 0, digits: false, ext: false },
                (State::DataEnd { .. }, _) => {
                    return Err(ChunkError::Malformed("chunk data longer than its size"))
                }
                (State::Trailer { empty: true }, b'\n') => {
                    self.state = State::Done;
                    return Ok(Some(i));
                }
                (State::Trailer { .. }, b'\n') => State::Trailer { empty: true },
                (State::Trailer { empty }, b'\r') => State::Trailer { empty },
                (State::Trailer { .. }, _) => State::Trailer { empty: false },
                (State::Data(_) | State::Done, _) => unreachable!("handled above"),
            };
        }
        Ok(None)
    }

    /// The decoded body (complete once [`Dechunker::feed`] said so).
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(stream: &[u8], limit: usize) -> Result<Option<(Vec<u8>, usize)>, ChunkError> {
        let mut d = Dechunker::new(limit);
        Ok(d.feed(stream)?.map(|used| (d.into_body(), used)))
    }

    #[test]
    fn chunks_with_extensions_and_trailers_decode_however_split() {
        let stream =
            b"4\r\nWiki\r\n5;name=\"x\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        assert_eq!(
            decode(stream, 1024),
            Ok(Some((b"Wikipedia in\r\n\r\nchunks.".to_vec(), stream.len() - 4)))
        );
        for split in 0..stream.len() {
            let mut d = Dechunker::new(1024);
            let first = d.feed(&stream[..split]).unwrap();
            let done = match first {
                Some(_) => first,
                None => d.feed(&stream[split..]).unwrap().map(|n| n + split),
            };
            assert_eq!(done, Some(stream.len() - 4), "split at {split}");
            assert_eq!(d.into_body(), b"Wikipedia in\r\n\r\nchunks.", "split at {split}");
        }
        // Bare LF line ends, upper- and lower-case hex, and no trailer.
        assert_eq!(decode(b"a\n0123456789\nA\nabcdefghij\n0\n\n", 64).unwrap().unwrap().0.len(), 20);
        // An empty body.
        assert_eq!(decode(b"0\r\n\r\n", 64), Ok(Some((Vec::new(), 5))));
        // Not complete yet.
        assert_eq!(decode(b"4\r\nWiki\r\n0\r\n", 64), Ok(None));
    }

    #[test]
    fn what_is_not_chunked_framing_is_refused() {
        for bad in [&b"x\r\n"[..], b"\r\n", b"4\r\nWikipedia\r\n", b"-1\r\n", b"4 x\r\nWiki\r\nZ"] {
            let got = decode(bad, 64);
            assert!(matches!(got, Err(ChunkError::Malformed(_))) || got == Ok(None), "{bad:?}: {got:?}");
        }
        assert!(matches!(decode(b"x\r\n", 64), Err(ChunkError::Malformed(_))));
        assert!(matches!(decode(b"4\r\nWikipedia\r\n", 64), Err(ChunkError::Malformed(_))));
    }

    #[test]
    fn the_limit_counts_decoded_bytes_and_huge_sizes_do_not_overflow() {
        assert_eq!(decode(b"40\r\n", 64), Ok(None));
        assert_eq!(decode(b"41\r\n", 64), Err(ChunkError::TooLarge));
        assert_eq!(decode(b"20\r\n", 64).map(|d| d.is_none()), Ok(true));
        let mut d = Dechunker::new(64);
        d.feed(b"30\r\n").unwrap();
        d.feed(&[b'a'; 0x30]).unwrap();
        assert_eq!(d.feed(b"\r\n11\r\n"), Err(ChunkError::TooLarge));
        assert_eq!(decode(b"ffffffffffffffffffffffff\r\n", 64), Err(ChunkError::TooLarge));
        // Endless extensions or trailers are bounded too.
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 64 + 8 * 1024));
        assert_eq!(decode(&long, 64), Err(ChunkError::Malformed("chunk framing too long")));
    }
}
