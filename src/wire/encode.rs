//! What the server writes, encoded once: WebSocket frames (a server's
//! frames are not masked, so the same bytes go to every recipient) and the
//! JSON lines of plain-socket backends.

use tungstenite::Bytes;

use crate::app::Message;

/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const PING: u8 = 0x9;

/// The keepalive's ping: an empty ping frame.
pub const PING_FRAME: &[u8] = &[0x80 | PING, 0];

/// One unmasked frame with FIN set: the header, then `payload`.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// The frame of a message.
pub fn message(message: &Message) -> Bytes {
    match message {
        Message::Text(text) => frame(TEXT, text.as_bytes()),
        Message::Binary(data) => frame(BINARY, data),
    }
}

/// A close frame with `code` and `reason` (cut to fit the 125-byte control
/// frame limit at a character boundary).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(CLOSE, &payload)
}

/// A text message as one line for a plain-socket backend; binary messages
/// have no line form (`None`).
pub fn line(message: &Message) -> Option<Bytes> {
    let Message::Text(text) = message else { return None };
    let mut out = Vec::with_capacity(text.len() + 1);
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
    Some(Bytes::from(out))
}

/// `{"opcode":"error","message":...}` and a newline: how a plain-socket
/// backend is told why it is being closed (spec §3.5).
pub fn error_line(message: &str) -> String {
    format!("{{\"opcode\":\"error\",\"message\":{}}}\n", serde_json::Value::from(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back what `frame` wrote with tungstenite's own parser.
    fn parse(bytes: &[u8]) -> (u8, bool, Vec<u8>) {
        use tungstenite::protocol::frame::FrameHeader;
        let mut cursor = std::io::Cursor::new(bytes);
        let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = cursor.position() as usize;
        assert!(header.mask.is_none(), "server frames are not masked");
        let opcode: u8 = header.opcode.into();
        (opcode, header.is_final, bytes[start..start + len as usize].to_vec())
    }

    #[test]
    fn frames_of_every_length_class_parse_back() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 100_000] {
            let payload = vec![b'x'; len];
            let bytes = frame(TEXT, &payload);
            assert_eq!(parse(&bytes), (TEXT, true, payload), "length {len}");
        }
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let reason = "é".repeat(100);
        let bytes = close_frame(1008, &reason);
        let (opcode, _, payload) = parse(&bytes);
        assert_eq!(opcode, CLOSE);
        assert!(payload.len() <= 125);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1008);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }

    #[test]
    fn lines_are_text_with_a_newline() {
        assert_eq!(line(&Message::text("{}")).unwrap(), Bytes::from_static(b"{}\n"));
        assert!(line(&Message::binary(vec![1])).is_none());
        assert_eq!(error_line("say \"hi\""), "{\"opcode\":\"error\",\"message\":\"say \\\"hi\\\"\"}\n");
    }
}
