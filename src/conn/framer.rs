//! The JSON stream framer of plain-socket backends (spec §3.5): cuts a byte
//! stream into JSON values, whatever the whitespace between them and
//! however the stream is split, in linear time.

use serde::de::IgnoredAny;

/// Largest message a backend may send, in bytes (leading whitespace not counted).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What [`Framer::next`] found in the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Not a complete value yet: read more.
    Need,
    /// One complete JSON value (any kind: the app refuses non-objects), as sent.
    Message(String),
    /// The stream cannot go on: too big, or not JSON. Send this and close.
    Fail(String),
}

/// The shape of the value being scanned, known from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Nothing scanned yet.
    Unknown,
    /// An object or array: it ends where its brackets balance.
    Nested,
    /// A string: it ends at its closing quote.
    Str,
    /// A number or literal: it ends before the next delimiter (or at the end
    /// of the stream), since `12` might still become `123`; `true`, `false`
    /// and `null` end at their last letter, since nothing can extend them.
    Scalar,
}

/// Cuts a byte stream into JSON values, with or without whitespace between
/// them, at most [`MAX_MESSAGE`] bytes each.
///
/// A scanner that only tracks strings and bracket depth finds where a value
/// ends, in one pass over the bytes however they are split; serde_json then
/// checks that value once. While a value is incomplete, serde_json looks at
/// it each time the buffer has doubled, so that bytes that are not JSON get
/// their error at once rather than after 64 KiB, at a linear total cost.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of the current value scanned so far.
    scanned: usize,
    shape: Shape,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Buffer length at the last syntax check of the incomplete value.
    checked: usize,
}

impl Framer {
    /// A framer that starts with the bytes already read.
    pub fn new(buf: Vec<u8>) -> Framer {
        Framer {
            buf,
            scanned: 0,
            shape: Shape::Unknown,
            depth: 0,
            in_string: false,
            escape: false,
            checked: 0,
        }
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held, the current value's included.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete value, if the buffer holds one. `eof`: no more bytes will come.
    pub fn next(&mut self, eof: bool) -> Frame {
        if self.shape == Shape::Unknown {
            let blank = self.buf.iter().take_while(|&&b| is_blank(b)).count();
            self.buf.drain(..blank);
        }
        if self.buf.is_empty() {
            return Frame::Need;
        }
        let end = match self.scan() {
            Some(end) => end,
            None if eof => self.buf.len(),
            None if self.buf.len() > MAX_MESSAGE => return too_big(),
            None => return self.check_early(),
        };
        if end > MAX_MESSAGE {
            return too_big();
        }
        let bytes: Vec<u8> = self.buf.drain(..end).collect();
        *self = Framer::new(std::mem::take(&mut self.buf));
        let Ok(text) = String::from_utf8(bytes) else {
            return Frame::Fail("not JSON: invalid UTF-8".into());
        };
        match serde_json::from_str::<IgnoredAny>(&text) {
            Ok(_) => Frame::Message(text),
            Err(e) if e.is_eof() => Frame::Fail("the stream ended in the middle of a JSON value".into()),
            Err(e) => Frame::Fail(format!("not JSON: {e}")),
        }
    }

    /// Scans on from where it stopped; the end of the value, if it is in the buffer.
    fn scan(&mut self) -> Option<usize> {
        let limit = self.buf.len().min(MAX_MESSAGE + 1);
        while self.scanned < limit {
            let i = self.scanned;
            let b = self.buf[i];
            self.scanned += 1;
            match self.shape {
                Shape::Unknown => match b {
                    b'{' | b'[' => {
                        self.shape = Shape::Nested;
                        self.depth = 1;
                    }
                    b'"' => {
                        self.shape = Shape::Str;
                        self.in_string = true;
                    }
                    // A stray closing bracket or separator: one byte that serde refuses.
                    b'}' | b']' | b',' | b':' => return Some(1),
                    _ => self.shape = Shape::Scalar,
                },
                Shape::Scalar => {
                    if is_blank(b) || b"{}[],:\"".contains(&b) {
                        return Some(i);
                    }
                    // A client that waits for the reply before it writes on
                    // (phpWebSocketServer's) must get it without another byte.
                    if matches!(&self.buf[..=i], b"true" | b"false" | b"null") {
                        return Some(i + 1);
                    }
                }
                Shape::Nested | Shape::Str if self.in_string => {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.in_string = false;
                        if self.shape == Shape::Str {
                            return Some(i + 1);
                        }
                    }
                }
                Shape::Nested | Shape::Str => match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                },
            }
        }
        None
    }

    /// Looks at an incomplete value with serde_json when the buffer has
    /// doubled since the last look: bytes that can never become JSON fail now.
    fn check_early(&mut self) -> Frame {
        if self.buf.len() < 2 * self.checked {
            return Frame::Need;
        }
        self.checked = self.buf.len();
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<IgnoredAny>();
        match values.next() {
            Some(Err(e)) if !e.is_eof() => Frame::Fail(format!("not JSON: {e}")),
            _ => Frame::Need,
        }
    }
}

/// JSON's whitespace.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn too_big() -> Frame {
    Frame::Fail(format!("message over {MAX_MESSAGE} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(framer: &mut Framer, eof: bool) -> Vec<Frame> {
        let mut out = Vec::new();
        loop {
            match framer.next(eof) {
                Frame::Need => return out,
                f @ Frame::Fail(_) => {
                    out.push(f);
                    return out;
                }
                m => out.push(m),
            }
        }
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.to_string())
    }

    #[test]
    fn values_with_and_without_whitespace_between() {
        let mut f = Framer::new(b"{\"a\":1}{\"b\":[1,{\"c\":\"}\"}]}\n\r\n {\"d\":\"x\\\"}\"}  ".to_vec());
        assert_eq!(
            messages(&mut f, false),
            vec![msg("{\"a\":1}"), msg("{\"b\":[1,{\"c\":\"}\"}]}"), msg("{\"d\":\"x\\\"}\"}")]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_value_split_anywhere_comes_out_once_complete() {
        let text = "{\"opcode\":\"feedback\",\"message\":\"a \\\\\\\" { [ } ] b\",\"n\":[1,2,{}]}";
        for split in 0..text.len() {
            let mut f = Framer::new(Vec::new());
            f.push(&text.as_bytes()[..split]);
            assert_eq!(messages(&mut f, false), vec![], "split at {split}");
            f.push(&text.as_bytes()[split..]);
            assert_eq!(messages(&mut f, false), vec![msg(text)], "split at {split}");
        }
        // Byte by byte, too.
        let mut f = Framer::new(Vec::new());
        let mut got = Vec::new();
        for &b in text.as_bytes() {
            f.push(&[b]);
            got.extend(messages(&mut f, false));
        }
        assert_eq!(got, vec![msg(text)]);
    }

    #[test]
    fn values_that_are_not_objects_are_messages_too() {
        let mut f = Framer::new(b"[1,2] \"s\" 42 true\nnull{}".to_vec());
        assert_eq!(
            messages(&mut f, false),
            vec![msg("[1,2]"), msg("\"s\""), msg("42"), msg("true"), msg("null"), msg("{}")]
        );
        // A number at the end may go on; at the end of the stream it is complete.
        let mut f = Framer::new(b"12".to_vec());
        assert_eq!(messages(&mut f, false), vec![]);
        f.push(b"3 ");
        assert_eq!(messages(&mut f, false), vec![msg("123")]);
        let mut f = Framer::new(b"7".to_vec());
        assert_eq!(messages(&mut f, true), vec![msg("7")]);
        // A literal is complete at its last letter: no further byte is needed.
        for literal in ["true", "false", "null"] {
            let mut f = Framer::new(Vec::new());
            for &b in literal.as_bytes() {
                f.push(&[b]);
                if f.buffered() < literal.len() {
                    assert_eq!(messages(&mut f, false), vec![], "{literal}");
                }
            }
            assert_eq!(messages(&mut f, false), vec![msg(literal)]);
        }
        // Bytes that only start like one are still not JSON.
        let mut f = Framer::new(b"nulls ".to_vec());
        let frames = messages(&mut f, false);
        assert_eq!(frames[0], msg("null"));
        assert!(matches!(&frames[1], Frame::Fail(m) if m.starts_with("not JSON")), "{frames:?}");
    }

    #[test]
    fn bytes_that_are_not_json_fail_at_once() {
        for bad in [&b"{oops}"[..], b"{\"a\" 1}", b"hello", b"}", b"{\"a\":1,,", b"{\"a\":tru3"] {
            let mut f = Framer::new(bad.to_vec());
            let frames = messages(&mut f, false);
            assert!(
                matches!(frames.last(), Some(Frame::Fail(m)) if m.starts_with("not JSON")),
                "{bad:?}: {frames:?}"
            );
        }
        // After good values, too.
        let mut f = Framer::new(b"{\"a\":1}\n{\"b\": nope}\n".to_vec());
        let frames = messages(&mut f, false);
        assert_eq!(frames[0], msg("{\"a\":1}"));
        assert!(matches!(&frames[1], Frame::Fail(m) if m.starts_with("not JSON")));
        // Invalid UTF-8 inside a string.
        let mut f = Framer::new(b"{\"a\":\"\xff\"}".to_vec());
        assert!(matches!(f.next(false), Frame::Fail(_)));
    }

    #[test]
    fn a_value_cut_off_by_the_end_of_the_stream_fails() {
        let mut f = Framer::new(b"{\"a\":".to_vec());
        assert_eq!(f.next(false), Frame::Need);
        assert!(matches!(f.next(true), Frame::Fail(m) if m.contains("ended")));
        let mut f = Framer::new(b" \n".to_vec());
        assert_eq!(f.next(true), Frame::Need);
    }

    #[test]
    fn sixty_four_kib_pass_and_one_byte_more_fails() {
        let object = |len: usize| {
            let head = "{\"p\":\"";
            let pad = "x".repeat(len - head.len() - 2);
            format!("{head}{pad}\"}}")
        };
        let exact = object(MAX_MESSAGE);
        assert_eq!(exact.len(), MAX_MESSAGE);
        let mut f = Framer::new(format!("\n\n{exact}").into_bytes());
        assert_eq!(f.next(false), msg(&exact));

        let over = object(MAX_MESSAGE + 1);
        let mut f = Framer::new(over.clone().into_bytes());
        assert!(matches!(f.next(false), Frame::Fail(m) if m.contains("over")));
        // Incomplete and already over the limit: no need to wait for the rest.
        let mut f = Framer::new(over.as_bytes()[..MAX_MESSAGE + 1].to_vec());
        assert!(matches!(f.next(false), Frame::Fail(m) if m.contains("over")));
        let mut f = Framer::new(over.as_bytes()[..MAX_MESSAGE].to_vec());
        assert_eq!(f.next(false), Frame::Need);
    }
}
