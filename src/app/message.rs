//! What an app receives and sends: a text or a binary message.

use serde::Serialize;
use tungstenite::{Bytes, Utf8Bytes};

/// A WebSocket message as an app sees it: text or binary. (Pings, pongs
/// and close frames are the server's business.)
///
/// Anything that turns into a `Message` can be sent: a `String` or `&str`
/// (text), a `Vec<u8>` or `&[u8]` (binary), a `serde_json::Value` (text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8; read it with [`Message::as_text`] or as a `&str`).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Message {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::Binary(data.into())
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `value` as JSON text.
    ///
    /// # Panics
    ///
    /// When `value` cannot be JSON (a map with non-string keys): a bug in
    /// the app, which the server turns into a 1011 close of that client.
    pub fn json(value: &impl Serialize) -> Message {
        Message::text(serde_json::to_string(value).expect("the value serializes to JSON"))
    }

    /// The text of a text message; `None` for binary.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The message's bytes (the UTF-8 of a text).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// Whether it is text.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// Parses a text message as JSON into `T`.
    ///
    /// # Errors
    ///
    /// A binary message, or text that is not JSON of that shape.
    pub fn parse_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        match self {
            Message::Text(text) => super::json::parse_json(text).map_err(|e| e.to_string()),
            Message::Binary(_) => Err("a binary message is not JSON text".into()),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::text(text)
    }
}

impl From<&String> for Message {
    fn from(text: &String) -> Self {
        Message::text(text.as_str())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Message::Text(text)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::binary(Bytes::copy_from_slice(data))
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Message::Binary(data)
    }
}

impl From<serde_json::Value> for Message {
    fn from(value: serde_json::Value) -> Self {
        Message::text(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_binary_and_json() {
        let m = Message::from("hi");
        assert_eq!(m.as_text(), Some("hi"));
        assert!(m.is_text());
        assert_eq!(Message::from(vec![1, 2]).as_text(), None);
        assert_eq!(Message::from(vec![1, 2]).as_bytes(), &[1, 2]);
        let v = serde_json::json!({"type": "count", "n": 2});
        assert_eq!(Message::json(&v).as_text(), Some(r#"{"n":2,"type":"count"}"#));
        let back: serde_json::Value = Message::from(v.clone()).parse_json().unwrap();
        assert_eq!(back, v);
        assert!(Message::binary(vec![1]).parse_json::<serde_json::Value>().is_err());
    }
}
