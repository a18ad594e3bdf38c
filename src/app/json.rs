//! JSON as browsers write it: `JSON.stringify` escapes a lone surrogate
//! (half an emoji, from `text.slice(0, n)`) as `"\ud83d"`, which is valid
//! JSON (RFC 8259 §8.2) but not a Rust string; serde_json refuses it.

use serde::de::DeserializeOwned;

/// Parses `text` as JSON into `T`; a lone surrogate escape becomes U+FFFD
/// (what a browser shows for it) instead of an error.
///
/// # Errors
///
/// Text that is not JSON of that shape: serde_json's error.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    match serde_json::from_str(text) {
        Err(e) if text.contains("\\u") => match replace_lone_surrogates(text) {
            Some(fixed) => serde_json::from_str(&fixed).map_err(|_| e),
            None => Err(e),
        },
        result => result,
    }
}

/// `text` with every `\uD800`–`\uDFFF` escape that is not half of a pair
/// replaced by `\uFFFD`; `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let escape_at = |i: usize| -> Option<u32> {
        let hex = bytes.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match escape_at(i) {
            Some(0xD800..=0xDBFF) if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) => i += 12,
            Some(0xD800..=0xDFFF) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\uFFFD");
                i += 6;
                copied = i;
                changed = true;
            }
            // Any other escape, `\\` included: its next byte is not an escape of its own.
            _ => i += 2,
        }
    }
    out.push_str(&text[copied.min(text.len())..]);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn lone_surrogates_become_the_replacement_character_and_pairs_stay() {
        let v: Value = parse_json(r#"{"text":"a\ud83d"}"#).unwrap();
        assert_eq!(v, json!({"text": "a\u{FFFD}"}));
        let v: Value = parse_json(r#"{"text":"\udc00x\ud83d\ude00\ud800"}"#).unwrap();
        assert_eq!(v, json!({"text": "\u{FFFD}x😀\u{FFFD}"}));
        // An escaped backslash before `ud83d` is text, not an escape.
        let v: Value = parse_json(r#"{"text":"\\ud83d é"}"#).unwrap();
        assert_eq!(v["text"], "\\ud83d é");
        // What is not JSON keeps serde_json's own error.
        let e = parse_json::<Value>(r#"{"text":"\ud83d"#).unwrap_err();
        assert!(e.is_eof(), "{e}");
        assert!(parse_json::<Value>("nope").is_err());
        assert_eq!(replace_lone_surrogates(r#""\ud83d\ude00" \\"#), None);
    }
}
