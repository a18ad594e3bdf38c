//! The first bytes of a connection: what kind of peer it is (spec §1).

use crate::http::Request;

/// Largest request head accepted; a longer one gets 431 (spec §4).
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers accepted in one request head; more get 431.
const MAX_HEADERS: usize = 64;
/// The 431 line for a head over [`MAX_HEAD`].
const TOO_LONG: &str = "request head too large (limit 8 KiB)";

/// What the first bytes of a connection say it is (spec §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// A complete HTTP request head.
    Http(Request),
    /// A backend script on a plain socket: `{` or the legacy `php process`.
    Backend,
    /// Not HTTP and not a backend: answer 400.
    Invalid,
    /// A request head over [`MAX_HEAD`] or with too many headers: answer
    /// 431 with this line.
    TooLarge(&'static str),
}

/// The legacy greeting of phpWebSocketServer's PHP client.
pub const PHP_GREETING: &[u8] = b"php process";

/// Classifies a connection by the bytes read so far. Never panics, whatever the bytes.
pub fn classify(buf: &[u8]) -> Peer {
    let Some(&first) = buf.first() else { return Peer::NeedMore };
    if first == b'{' || buf.starts_with(PHP_GREETING) {
        return Peer::Backend;
    }
    if PHP_GREETING.starts_with(buf) {
        return Peer::NeedMore;
    }
    parse_head(buf)
}

fn parse_head(buf: &[u8]) -> Peer {
    // On the heap, not the stack: the 2 KiB would stay resident on every
    // connection thread's stack for as long as its client stays connected.
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) if head_len <= MAX_HEAD => Peer::Http(
            Request::new(
                req.method.unwrap_or_default(),
                req.path.unwrap_or_default(),
                req.headers.iter().map(|h| (h.name, h.value)),
                head_len,
            )
            .with_version(req.version.unwrap_or(1)),
        ),
        Ok(httparse::Status::Complete(_)) => Peer::TooLarge(TOO_LONG),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Peer::TooLarge(TOO_LONG),
        Ok(httparse::Status::Partial) => Peer::NeedMore,
        Err(httparse::Error::TooManyHeaders) => {
            Peer::TooLarge("request head has too many headers (limit 64)")
        }
        Err(_) => Peer::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(b""), Peer::NeedMore);
        assert_eq!(classify(b"{\"opcode\""), Peer::Backend);
        assert_eq!(classify(b"php"), Peer::NeedMore);
        assert_eq!(classify(b"php process\n\n"), Peer::Backend);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Peer::NeedMore);
        assert_eq!(classify(b"\x00\x01garbage\r\n\r\n"), Peer::Invalid);
        let Peer::Http(req) = classify(b"GET /a?b HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\r\nrest")
        else {
            panic!("not http")
        };
        assert_eq!(req.path(), "/a");
        assert!(req.is_upgrade());
        assert_eq!(req.head_len, 50);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(9000, b'a');
        assert_eq!(classify(&big), Peer::TooLarge(TOO_LONG));
        let many: String = (0..65).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert!(matches!(classify(many.as_bytes()), Peer::TooLarge(m) if m.contains("too many headers")));
        let Peer::Http(old) = classify(b"GET / HTTP/1.0\r\n\r\n") else { panic!("not http") };
        assert_eq!(old.version, 0);
    }
}
