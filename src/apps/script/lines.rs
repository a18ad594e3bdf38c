//! The JSON lines between wslab and a script app's child (docs/scripts.md):
//! the events wslab writes, the commands it reads, and base64 for binary.

use serde_json::{json, Value};

use crate::app::{ClientId, ClientInfo, CloseStatus, Message};

/// The protocol version both sides say in their `hello`.
pub const VERSION: u64 = 1;

/// A command line read from the child, already checked. Fields: `to` the
/// recipients, `except` the one left out, `id` the client to close.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Command {
    /// The child's `hello`, with the version it speaks.
    Hello(u64),
    /// Send `message` (encoded once) to each of `to`.
    Send { to: Vec<ClientId>, message: Message },
    /// Send `message` to every client of the app but `except`.
    Broadcast { message: Message, except: Option<ClientId> },
    /// Close client `id`.
    Close { id: ClientId, code: u16, reason: String },
    /// A line for wslab's log.
    Log { level: log::Level, message: String },
}

/// `hello`, the first line wslab writes.
pub fn hello(app: &str) -> String {
    json!({"type": "hello", "version": VERSION, "server": concat!("wslab ", env!("CARGO_PKG_VERSION")), "app": app})
        .to_string()
}

/// `open`: a client connected.
pub fn open(info: &ClientInfo) -> String {
    let headers: serde_json::Map<String, Value> =
        info.headers.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    json!({
        "type": "open",
        "id": info.id,
        "peer": info.peer.to_string(),
        "path": info.path,
        "query": info.query,
        "query_string": info.query_string,
        "headers": headers,
        "subprotocol": info.subprotocol,
    })
    .to_string()
}

/// `message`: a client sent a text (`text`) or binary (`binary`, base64) message.
pub fn message(id: ClientId, message: &Message) -> String {
    match message {
        Message::Text(text) => json!({"type": "message", "id": id, "text": text.as_str()}),
        Message::Binary(data) => json!({"type": "message", "id": id, "binary": encode64(data)}),
    }
    .to_string()
}

/// `close`: a client is gone, with the close code and reason and whether
/// the server closed it (`status` is `None` only outside `on_close`).
pub fn close(id: ClientId, status: Option<&CloseStatus>) -> String {
    let (code, reason, by_server) =
        status.map_or((1006, "", false), |s| (s.code, s.reason.as_str(), s.by_server));
    json!({"type": "close", "id": id, "code": code, "reason": reason, "by_server": by_server}).to_string()
}

/// `error`: a client broke the protocol (it is closed next).
pub fn error(id: ClientId, error: &str) -> String {
    json!({"type": "error", "id": id, "error": error}).to_string()
}

/// Reads one command line. The error says what is wrong with it, for the log.
pub fn parse(line: &str) -> Result<Command, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let kind = value.get("type").and_then(Value::as_str).ok_or("no \"type\"")?;
    let id = |key: &str| value.get(key).and_then(Value::as_u64);
    match kind {
        "hello" => Ok(Command::Hello(id("version").ok_or("hello without a \"version\"")?)),
        "send" => {
            let to = match value.get("to") {
                Some(Value::Array(ids)) => ids.iter().map(Value::as_u64).collect::<Option<Vec<_>>>(),
                Some(one) => one.as_u64().map(|id| vec![id]),
                None => None,
            }
            .ok_or("send needs \"to\": a client id or a list of them")?;
            Ok(Command::Send { to, message: payload(&value)? })
        }
        "broadcast" => {
            let except = match value.get("except") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or("broadcast's \"except\" must be a client id")?),
            };
            Ok(Command::Broadcast { message: payload(&value)?, except })
        }
        "close" => {
            let id = id("id").ok_or("close needs an \"id\"")?;
            let code = match value.get("code") {
                None | Some(Value::Null) => 1000,
                // What RFC 6455 lets an endpoint send (1004-1006 and 1015 are never sent).
                Some(c) => match c.as_u64() {
                    Some(c @ (1000..=1003 | 1007..=1011 | 3000..=4999)) => c as u16,
                    _ => {
                        return Err(format!(
                            "close code {c}: use a number, 1000-1003, 1007-1011 or 3000-4999"
                        ))
                    }
                },
            };
            let reason = value.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
            Ok(Command::Close { id, code, reason })
        }
        "log" => {
            let level = match value.get("level").and_then(Value::as_str).unwrap_or("info") {
                "error" => log::Level::Error,
                "warn" | "warning" => log::Level::Warn,
                "debug" => log::Level::Debug,
                _ => log::Level::Info,
            };
            let message = value.get("message").and_then(Value::as_str).unwrap_or("").to_string();
            Ok(Command::Log { level, message })
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// The message of a `send` or `broadcast`: `text`, or `binary` in base64.
fn payload(value: &Value) -> Result<Message, String> {
    if let Some(text) = value.get("text").and_then(Value::as_str) {
        return Ok(Message::text(text));
    }
    if let Some(b64) = value.get("binary").and_then(Value::as_str) {
        return decode64(b64).map(Message::binary).ok_or_else(|| "\"binary\" is not base64".to_string());
    }
    Err("needs \"text\" (a string) or \"binary\" (base64)".into())
}

/// At most 200 bytes of `line` (at a character boundary), for the log.
pub fn cut(line: &str) -> &str {
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn encode64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` for anything else.
pub fn decode64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", &[0, 255, 128, 7]] {
            assert_eq!(decode64(&encode64(data)).unwrap(), data);
        }
        assert_eq!(encode64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode64(b"fo"), "Zm8=");
        assert_eq!(decode64("Zm8"), Some(b"fo".to_vec()));
        assert_eq!(decode64("a*b="), None);
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse(r#"{"type":"send","to":[1,2],"text":"hi"}"#),
            Ok(Command::Send { to: vec![1, 2], message: Message::text("hi") })
        );
        assert_eq!(
            parse(r#"{"type":"send","to":3,"binary":"AP8="}"#),
            Ok(Command::Send { to: vec![3], message: Message::binary(vec![0, 255]) })
        );
        assert_eq!(
            parse(r#"{"type":"broadcast","text":"x","except":4}"#),
            Ok(Command::Broadcast { message: Message::text("x"), except: Some(4) })
        );
        assert_eq!(
            parse(r#"{"type":"close","id":5}"#),
            Ok(Command::Close { id: 5, code: 1000, reason: String::new() })
        );
        assert!(parse(r#"{"type":"close","id":5,"code":1005}"#).is_err());
        // A code that is not a whole number is refused too, not read as 1000.
        assert!(parse(r#"{"type":"close","id":5,"code":"4000"}"#).is_err());
        assert!(parse(r#"{"type":"close","id":5,"code":4000.5}"#).is_err());
        assert!(parse(r#"{"type":"broadcast","text":"x","except":"a"}"#).is_err(), "not to everyone instead");
        assert_eq!(
            parse(r#"{"type":"close","id":5,"code":1003}"#),
            Ok(Command::Close { id: 5, code: 1003, reason: String::new() })
        );
        assert_eq!(parse(r#"{"type":"hello","version":1}"#), Ok(Command::Hello(1)));
        assert!(parse("not json").unwrap_err().starts_with("not JSON"));
        assert!(parse(r#"{"type":"fly"}"#).unwrap_err().contains("unknown command"));
        assert!(parse(r#"{"type":"send","text":"no to"}"#).is_err());
        assert_eq!(cut(&"é".repeat(300)).len(), 200);
    }
}
