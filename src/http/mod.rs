//! HTTP/1.x as wslab speaks it: the parsed request head, responses, the
//! `www/` file responder and `/api`. The bytes come and go in `conn/`.

pub mod api;
pub mod chunked;
pub mod cors;
pub mod date;
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
    /// The minor version of HTTP/1.x: 1, or 0 for an HTTP/1.0 request.
    pub version: u8,
}

/// How the body of a request is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No `Content-Length` and no `Transfer-Encoding`: no body.
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked` ([`chunked`]).
    Chunked,
}

/// Why a request head is malformed: the status to answer and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    /// `400`, or `501` for a transfer coding the server does not know.
    pub status: u16,
    /// One line for the client.
    pub why: &'static str,
}

impl Malformed {
    /// The plain-text body: `bad request: ...`, or `not implemented: ...` for a 501.
    pub fn line(&self) -> String {
        let what = if self.status == 501 { "not implemented" } else { "bad request" };
        format!("{what}: {}", self.why)
    }
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
        Request { text, method_end, target_end, header_ends, head_len, version: 1 }
    }

    /// The same head, as HTTP/1.`version`.
    pub fn with_version(mut self, version: u8) -> Request {
        self.version = version;
        self
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

    /// The path part of the target, before any `?`. For an absolute-form
    /// target (`http://host:8123/chat.html`, which a server must accept,
    /// RFC 9112 §3.2.2), the path after the host, `/` when there is none.
    pub fn path(&self) -> &str {
        let target = self.target();
        let path = match absolute_form(target) {
            Some(rest) => match rest.find(['/', '?', '#']) {
                Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
                _ => "/",
            },
            None => target,
        };
        path.split(['?', '#']).next().unwrap_or("")
    }

    /// Whether this asks for a WebSocket upgrade.
    pub fn is_upgrade(&self) -> bool {
        self.header_has("Upgrade", "websocket")
    }

    /// The body length the head declares: `Ok(None)` without a
    /// `Content-Length`, `Err(())` for a malformed one: a value that is not
    /// a plain decimal number (`12, 12` neither: RFC 9110 §8.6 lets a
    /// recipient refuse that list, and the contract asks for a plain
    /// number), or two headers that differ.
    #[allow(clippy::result_unit_err)]
    pub fn content_length(&self) -> Result<Option<usize>, ()> {
        let mut length = None;
        for value in self.values("Content-Length") {
            let text = std::str::from_utf8(value).map_err(|_| ())?.trim_matches([' ', '\t']);
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: usize = text.parse().map_err(|_| ())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
        Ok(length)
    }

    /// How the body is framed, or why the head is malformed (RFC 9112):
    /// HTTP/1.1 without exactly one `Host`, a bad `Content-Length`, both a
    /// length and a transfer coding, a transfer coding in HTTP/1.0 or one
    /// that does not end in `chunked` (400), one other than `chunked` (501).
    pub fn body(&self) -> Result<Body, Malformed> {
        let bad = |why| Err(Malformed { status: 400, why });
        let mut hosts = self.values("Host");
        match (hosts.next(), hosts.next()) {
            (None, _) if self.version >= 1 => return bad("HTTP/1.1 needs a Host header (Host: name:port)"),
            (Some(host), None) if !is_host(host) => return bad("a Host header that is not a host and port"),
            (_, None) => {}
            (_, Some(_)) => return bad("more than one Host header"),
        }
        let Ok(length) = self.content_length() else { return bad("malformed Content-Length") };
        if self.values("Transfer-Encoding").next().is_none() {
            return Ok(length.map_or(Body::Empty, Body::Length));
        }
        let codings: Vec<&[u8]> = self
            .values("Transfer-Encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty())
            .collect();
        if length.is_some() {
            return bad("both Content-Length and Transfer-Encoding");
        }
        if self.version == 0 {
            return bad("Transfer-Encoding in an HTTP/1.0 request");
        }
        let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        if !codings.last().is_some_and(|c| chunked(c)) {
            return bad("Transfer-Encoding that does not end in chunked");
        }
        if codings.iter().filter(|c| chunked(c)).count() > 1 {
            return bad("chunked more than once in Transfer-Encoding");
        }
        if codings.len() > 1 {
            return Err(Malformed { status: 501, why: "only Transfer-Encoding: chunked is understood" });
        }
        Ok(Body::Chunked)
    }
}

/// Whether a `Host` value is a host with an optional port (RFC 9112 §3.2:
/// anything else is a 400): no spaces or lists, a port of 1 to 65535.
fn is_host(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else { return false };
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b',' || b == b'/') {
        return false;
    }
    // `[::1]:8123`, `lab:8123`, `lab`: the port is after the last colon outside brackets.
    let port = match value.rfind(':') {
        Some(i) if !value[i..].contains(']') => Some(&value[i + 1..]),
        _ => None,
    };
    port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// What follows `http://` or `https://` (any case) in an absolute-form target.
fn absolute_form(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then(|| &target[scheme.len()..])
    })
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
        head.push_str(&format!("Date: {}\r\n", date::now()));
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
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
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
        let out = String::from_utf8(out).unwrap();
        let (status, rest) = out.split_once("\r\n").unwrap();
        let (date, rest) = rest.split_once("\r\n").unwrap();
        assert_eq!(status, "HTTP/1.1 204 No Content");
        assert!(date.starts_with("Date: ") && date.ends_with(" GMT"), "{date}");
        assert_eq!(
            rest,
            "Content-Type: text/plain; charset=utf-8\r\nAllow: GET\r\nConnection: close\r\n\r\n"
        );
        let mut out = Vec::new();
        Response::text(200, "ok").write_to(&mut out, false).unwrap();
        assert!(out.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n"));
    }

    fn head(version: u8, headers: &[(&str, &str)]) -> Request {
        Request::new("POST", "/api/relay", headers.iter().map(|(n, v)| (*n, v.as_bytes())), 0)
            .with_version(version)
    }

    #[test]
    fn the_body_framing_follows_rfc_9112() {
        let host = ("Host", "lab:8123");
        assert_eq!(head(1, &[host]).body(), Ok(Body::Empty));
        assert_eq!(head(1, &[host, ("Content-Length", "5")]).body(), Ok(Body::Length(5)));
        assert_eq!(head(1, &[host, ("Transfer-Encoding", "chunked")]).body(), Ok(Body::Chunked));
        assert_eq!(head(1, &[host, ("transfer-encoding", " Chunked ")]).body(), Ok(Body::Chunked));
        assert_eq!(head(0, &[]).body(), Ok(Body::Empty), "HTTP/1.0 needs no Host");
        let status = |req: Request| req.body().map_err(|m| m.status);
        assert_eq!(status(head(1, &[])), Err(400), "HTTP/1.1 without Host");
        assert_eq!(status(head(1, &[host, host])), Err(400), "two Hosts");
        assert_eq!(status(head(1, &[host, ("Content-Length", "x")])), Err(400));
        let both = [host, ("Content-Length", "5"), ("Transfer-Encoding", "chunked")];
        assert_eq!(status(head(1, &both)), Err(400), "a length and a coding: a smuggling attempt");
        assert_eq!(status(head(0, &[("Transfer-Encoding", "chunked")])), Err(400));
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", "chunked, gzip")])), Err(400));
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", "gzip")])), Err(400));
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", "chunked, chunked")])), Err(400));
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", ""), ("Content-Length", "5")])), Err(400));
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", "")])), Err(400), "an empty coding");
        for good in ["lab", "lab:8123", "10.0.0.7:80", "[::1]:8123", "[::1]", "xn--bcher-kva.example"] {
            assert_eq!(head(1, &[("Host", good)]).body(), Ok(Body::Empty), "{good}");
        }
        for bad in ["a, b", "a b", "x:99999", "x:0", "x:", "x:8o", "a/b"] {
            assert_eq!(status(head(1, &[("Host", bad)])), Err(400), "{bad}");
        }
        assert_eq!(status(head(1, &[host, ("Transfer-Encoding", "gzip, chunked")])), Err(501));
        assert_eq!(
            status(head(1, &[host, ("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])),
            Err(501)
        );
    }

    #[test]
    fn an_absolute_form_target_has_the_path_after_its_host() {
        let path = |target: &str| Request::new("GET", target, std::iter::empty(), 0).path().to_string();
        assert_eq!(path("http://lab:8123/chat.html?x=1"), "/chat.html");
        assert_eq!(path("HTTPS://lab/ws/echo"), "/ws/echo");
        assert_eq!(path("http://lab:8123"), "/");
        assert_eq!(path("http://lab:8123?x"), "/");
        assert_eq!(path("http://lab?x/y"), "/");
        assert_eq!(path("/plain?x#y"), "/plain");
        assert_eq!(path("httpx://lab/"), "httpx://lab/");
    }

    #[test]
    fn content_length_must_be_one_plain_number() {
        assert_eq!(with_lengths(&[]).content_length(), Ok(None));
        assert_eq!(with_lengths(&["12"]).content_length(), Ok(Some(12)));
        assert_eq!(with_lengths(&["12", "12"]).content_length(), Ok(Some(12)));
        for bad in [
            &["12", "13"][..],
            &["+12"],
            &["-1"],
            &["1e3"],
            &["0x10"],
            &[""],
            &["12 13"],
            &["12, 12"],
            &["12,12"],
            &["99999999999999999999999"],
        ] {
            assert_eq!(with_lengths(bad).content_length(), Err(()), "{bad:?}");
        }
    }
}
