//! What an app knows of a client: its id, address, and the request that
//! opened it (Ratchet's `$conn->resourceId`, `remoteAddress`, `httpRequest`).

use std::net::SocketAddr;

/// A connection's id, unique for the life of the server; Ratchet calls it `resourceId`.
pub type ClientId = u64;

/// Index of an app in the server's app table.
pub type AppId = usize;

/// How a client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A WebSocket client: a browser page, or any other WebSocket library.
    WebSocket,
    /// A backend script on a plain TCP socket sending JSON objects (spec §3.5).
    Socket {
        /// It opened with the legacy greeting `php process` (and expects `ready`).
        greeted: bool,
    },
}

/// How a client's connection ended, as its app's `on_close` sees it
/// through [`crate::Ctx::close_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    /// The close code: the peer's, the server's when it closed the client,
    /// 1005 for a close frame without one, 1006 for a connection that
    /// dropped without a close frame.
    pub code: u16,
    /// The close reason (may be empty).
    pub reason: String,
    /// Whether the server closed it (an app, a limit, keepalive, shutdown).
    pub by_server: bool,
}

impl CloseStatus {
    /// The peer closed with `code` and `reason`.
    pub fn peer(code: u16, reason: impl Into<String>) -> Self {
        CloseStatus { code, reason: reason.into(), by_server: false }
    }

    /// The server closed the client with `code` and `reason`.
    pub fn server(code: u16, reason: impl Into<String>) -> Self {
        CloseStatus { code, reason: reason.into(), by_server: true }
    }

    /// The connection dropped without a close frame (1006).
    pub fn dropped() -> Self {
        CloseStatus::peer(1006, "")
    }
}

impl ClientKind {
    /// Whether this is a WebSocket client.
    pub fn is_websocket(self) -> bool {
        self == ClientKind::WebSocket
    }
}

/// The request headers an app may look at (others are not kept).
pub const KEPT_HEADERS: &[&str] = &["Origin", "User-Agent", "Cookie", "Sec-WebSocket-Protocol"];

/// What the server knows about a client, from [`crate::Ctx::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id (Ratchet's `resourceId`).
    pub id: ClientId,
    /// The peer's address (Ratchet's `remoteAddress`).
    pub peer: SocketAddr,
    /// How it is connected.
    pub kind: ClientKind,
    /// The request path, without the query string (`/ws/room/lobby`; empty
    /// for a backend socket).
    pub path: String,
    /// The part of the path a prefix route matched, e.g. the room name of
    /// `/ws/room/NAME`; empty for exact routes. For `/` as the lobby: `lobby`.
    pub param: String,
    /// The query string's pairs, percent-decoded, in order (`?name=ann&x`
    /// gives `("name", "ann")`, `("x", "")`).
    pub query: Vec<(String, String)>,
    /// The query string as the request sent it, without the `?` (empty when none).
    pub query_string: String,
    /// The headers of [`KEPT_HEADERS`] that the request had, names as listed there.
    pub headers: Vec<(String, String)>,
    /// The subprotocol the server chose (the first one offered), if any.
    pub subprotocol: Option<String>,
    /// The app it belongs to.
    pub(crate) app: AppId,
}

impl ClientInfo {
    /// A client of app 0 with just an address and a kind: the rest empty.
    pub fn new(id: ClientId, peer: SocketAddr, kind: ClientKind) -> ClientInfo {
        ClientInfo {
            id,
            peer,
            kind,
            path: String::new(),
            param: String::new(),
            query: Vec::new(),
            query_string: String::new(),
            headers: Vec::new(),
            subprotocol: None,
            app: 0,
        }
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Header `name` (case-insensitive), if the request had it and it is
    /// one of [`KEPT_HEADERS`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The app it belongs to.
    pub(crate) fn app(&self) -> AppId {
        self.app
    }

    /// Sets the app it belongs to.
    pub(crate) fn with_app(mut self, app: AppId) -> ClientInfo {
        self.app = app;
        self
    }
}

/// Splits a query string into percent-decoded pairs (`+` is a space, as
/// browsers' forms write it). Bad escapes are kept as they are.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_and_decoded() {
        let q = parse_query("name=Ann+Lee&room=a%2Fb&flag&&x=%zz&last=%4");
        assert_eq!(
            q,
            vec![
                ("name".into(), "Ann Lee".into()),
                ("room".into(), "a/b".into()),
                ("flag".into(), "".into()),
                ("x".into(), "%zz".into()),
                ("last".into(), "%4".into()),
            ]
        );
        assert_eq!(parse_query("é=%C3%A9"), vec![("é".into(), "é".into())]);
        assert!(parse_query("").is_empty());
    }

    #[test]
    fn query_and_header_lookups() {
        let mut info = ClientInfo::new(1, "127.0.0.1:9".parse().unwrap(), ClientKind::WebSocket);
        info.query = parse_query("a=1&a=2");
        info.headers = vec![("User-Agent".into(), "Firefox".into())];
        assert_eq!(info.query("a"), Some("1"));
        assert_eq!(info.query("b"), None);
        assert_eq!(info.header("user-agent"), Some("Firefox"));
    }
}
