//! HTTP/1.x as wslab speaks it: the parsed request head, responses, the
//! `www/` file responder and `/api`. The bytes come and go in `conn/`.

pub mod api;
pub mod cors;
pub mod files;

use std::io::{self, Write};

/// A parsed request head.
///
/// It is kept in two allocations, not two for each header: a connection
/// thread's freed small blocks stay in its malloc cache for the client's
/// whole life (docs/architecture.md, "Memory per connection").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, the target, then each header's name (as sent) and value,
    /// one after the other.
    text: Vec<u8>,
    /// Where the method ends in `text`.
    method_end: u32,
    /// Where the target ends in `text`.
    target_end: u32,
    /// Each header: where its name ends and its value ends in `text` (each
    /// starts where the one before ends).
    header_ends: Vec<(u32, u32)>,
    /// Length of the head in bytes, blank line included; what follows is body
    /// (or, after an upgrade, WebSocket frames).
    pub head_len: usize,
}

impl Request {
    /// A request head of `method`, `target` and `headers` (name, value), `head_len` bytes long.
    pub fn new<'a>(
        method: &str,
        target: &str,
        headers: impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + Clone,
        head_len: usize,
    ) -> Request {
        let size =
            method.len() + target.len() + headers.clone().map(|(n, v)| n.len() + v.len()).sum::<usize>();
        let mut text = Vec::with_capacity(size);
        text.extend_from_slice(method.as_bytes());
        let method_end = text.len() as u32;
        text.extend_from_slice(target.as_bytes());
        let target_end = text.len() as u32;
        let mut header_ends = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            text.extend_from_slice(name.as_bytes());
            let name_end = text.len() as u32;
            text.extend_from_slice(value);
            header_ends.push((name_end, text.len() as u32));
        }
        Request { text, method_end, target_end, header_ends, head_len }
    }

    /// The text of `text[start..end]` (always UTF-8: it came from a `&str`).
    fn str(&self, start: u32, end: u32) -> &str {
        std::str::from_utf8(&self.text[start as usize..end as usize]).unwrap_or("")
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.str(0, self.method_end)
    }

    /// The request target as sent, e.g. `/chat.html?x=1`.
    pub fn target(&self) -> &str {
        self.str(self.method_end, self.target_end)
    }

    /// Every header, in order: its name (as sent) and value.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        let starts = std::iter::once(self.target_end).chain(self.header_ends.iter().map(|&(_, end)| end));
        starts.zip(&self.header_ends).map(|(start, &(name_end, end))| {
            (self.str(start, name_end), &self.text[name_end as usize..end as usize])
        })
    }

    /// The values of header `name` (case-insensitive).
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.values(name).next().and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
    }

    /// Whether header `name` holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path part of the target, before any `?`.
    pub fn path(&self) -> &str {
        self.target().split(['?', '#']).next().unwrap_or("")
    }

    /// Whether this asks for a WebSocket upgrade.
    pub fn is_upgrade(&self) -> bool {
        self.header_has("Upgrade", "websocket")
    }

    /// The body length the head declares: `Ok(None)` without a
    /// `Content-Length`, `Err(())` for a malformed one (not a plain decimal
    /// number, or several that differ; RFC 9110 §8.6).
    #[allow(clippy::result_unit_err)]
    pub fn content_length(&self) -> Result<Option<usize>, ()> {
        let mut length = None;
        for value in self.values("Content-Length") {
            let text = std::str::from_utf8(value).map_err(|_| ())?;
            for part in text.split(',') {
                let part = part.trim_matches([' ', '\t']);
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                let n: usize = part.parse().map_err(|_| ())?;
                if length.is_some_and(|l| l != n) {
                    return Err(());
                }
                length = Some(n);
            }
        }
        Ok(length)
    }
}

/// An HTTP response with a fully known body.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Type, Allow, ...).
    pub headers: Vec<(&'static str, String)>,
    /// The body; sent for every method but HEAD.
    pub body: Vec<u8>,
}

impl Response {
    /// `503` for a client past a limit (connections, a script app that is
    /// down), sent before any `101`.
    pub fn busy(message: &str) -> Self {
        Response::text(503, message)
    }

    /// A short plain-text response, for errors.
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: format!("{body}\n").into_bytes(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into()), ("Cache-Control", "no-store".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response; `head_only` leaves the body out (HEAD requests).
    /// A `204` has neither a body nor a `Content-Length` (RFC 9110 §8.6).
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let no_content = self.status == 204;
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !no_content {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        if !head_only && !no_content {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// The reason phrase for the statuses wslab sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Largest request body accepted (`POST /api/relay`).
pub const MAX_BODY: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_lengths(values: &[&str]) -> Request {
        Request::new("POST", "/", values.iter().map(|v| ("Content-Length", v.as_bytes())), 0)
    }

    #[test]
    fn headers_come_back_in_order_as_sent_and_are_found_without_case() {
        let sent: [(&str, &[u8]); 4] =
            [("Host", b"lab:8123"), ("X-Empty", b""), ("upgrade", b" WebSocket "), ("Host", b"second")];
        let req = Request::new("GET", "/ws/echo?x", sent.iter().copied(), 99);
        assert_eq!(req.headers().collect::<Vec<_>>(), sent);
        assert_eq!(req.header("HOST"), Some("lab:8123"), "the first of two");
        assert_eq!(req.header("x-empty"), Some(""));
        assert_eq!(req.header("Origin"), None);
        assert!(req.is_upgrade());
        assert_eq!(
            (req.method(), req.target(), req.path(), req.head_len),
            ("GET", "/ws/echo?x", "/ws/echo", 99)
        );
        assert_eq!(Request::new("GET", "/", std::iter::empty(), 0).headers().count(), 0);
    }

    #[test]
    fn a_204_has_no_body_and_no_content_length() {
        let mut response = Response::text(204, "dropped");
        response.headers.push(("Allow", "GET".into()));
        let mut out = Vec::new();
        response.write_to(&mut out, false).unwrap();
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=utf-8\r\nAllow: GET\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        Response::text(200, "ok").write_to(&mut out, false).unwrap();
        assert!(out.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n"));
    }

    #[test]
    fn content_length_must_be_one_plain_number() {
        assert_eq!(with_lengths(&[]).content_length(), Ok(None));
        assert_eq!(with_lengths(&["12"]).content_length(), Ok(Some(12)));
        assert_eq!(with_lengths(&["12", "12"]).content_length(), Ok(Some(12)));
        assert_eq!(with_lengths(&["12, 12"]).content_length(), Ok(Some(12)));
        for bad in [
            &["12", "13"][..],
            &["+12"],
            &["-1"],
            &["1e3"],
            &["0x10"],
            &[""],
            &["12 13"],
            &["99999999999999999999999"],
        ] {
            assert_eq!(with_lengths(bad).content_length(), Err(()), "{bad:?}");
        }
    }
}
