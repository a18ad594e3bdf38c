//! Property tests: random and mutated bytes thrown at the peer classifier,
//! the HTTP request parser and the path resolver never panic, always give
//! a clear answer, and never resolve a path outside the web root.

mod support;

use proptest::prelude::*;
use wslab::conn::classify::{classify, Peer, MAX_HEAD};
use wslab::http::files::{resolve, PathError};

/// Requests a browser or curl would send, to be mutated.
const SEEDS: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: lab\r\n\r\n",
    "GET /ws/echo HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "POST /api/relay HTTP/1.1\r\nHost: lab\r\nContent-Length: 2\r\n\r\n{}",
    "POST http://lab/api/relay HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "php process\n\n{\"opcode\":\"feedback\"}",
    "{\"opcode\":\"uuid\",\"message\":\"u\"}",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (0..SEEDS.len(), prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8)).prop_map(
        |(i, edits)| {
            let mut bytes = SEEDS[i].as_bytes().to_vec();
            for (at, byte, op) in edits {
                let at = if bytes.is_empty() { 0 } else { at % (bytes.len() + 1) };
                match op {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            bytes
        },
    )
}

fn check_classify(bytes: &[u8]) {
    match classify(bytes) {
        Peer::Http(req) => {
            assert!(req.head_len <= bytes.len() && req.head_len <= MAX_HEAD);
            assert!(!req.method().is_empty());
            // The framing checks and the path never panic either.
            if let Err(bad) = req.body() {
                assert!(matches!(bad.status, 400 | 501) && !bad.why.is_empty());
            }
            let _ = req.path();
        }
        Peer::Backend => assert!(bytes[0] == b'{' || bytes.starts_with(b"php process")),
        Peer::NeedMore => assert!(bytes.len() <= MAX_HEAD + 1 || bytes.is_empty()),
        Peer::Invalid | Peer::TooLarge(_) => {}
    }
    // Every prefix is a consistent answer too: the server classifies as bytes arrive.
    let _ = classify(&bytes[..bytes.len() / 2]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn classify_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..10_000)) {
        check_classify(&bytes);
    }

    #[test]
    fn classify_never_panics_on_mutated_requests(bytes in mutated()) {
        check_classify(&bytes);
    }

    #[test]
    fn resolve_never_leaves_the_root(path in "(/|/\\.\\.|%2[eEfF]|%5[cC]|%00|\\.|\\\\|[a-z]{1,8}|/css|/js|index\\.html|%|%[0-9a-fA-F]{0,2}){0,12}") {
        let root = support::www();
        let canonical_root = root.canonicalize().unwrap();
        match resolve(&root, &path) {
            Ok(file) => {
                prop_assert!(file.starts_with(&canonical_root), "{path} -> {}", file.display());
                prop_assert!(file.is_file());
            }
            Err(PathError::Malformed | PathError::NotFound | PathError::Directory) => {}
        }
    }

    #[test]
    fn resolve_never_panics_on_any_string(path in any::<String>()) {
        let root = support::www();
        if let Ok(file) = resolve(&root, &path) {
            prop_assert!(file.starts_with(root.canonicalize().unwrap()));
        }
    }
}

use wslab::conn::framer::{Frame, Framer, MAX_MESSAGE};

/// Everything a framer makes of `chunks`, fed one by one, then the end of the stream.
fn frames(chunks: &[Vec<u8>]) -> Vec<Frame> {
    let mut framer = Framer::new(Vec::new());
    let mut out = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.next(false) {
                Frame::Need => break,
                Frame::Fail(why) => {
                    out.push(Frame::Fail(why));
                    return out;
                }
                message => out.push(message),
            }
        }
    }
    loop {
        match framer.next(true) {
            Frame::Need => return out,
            Frame::Fail(why) => {
                out.push(Frame::Fail(why));
                return out;
            }
            message => out.push(message),
        }
    }
}

/// Streams a backend might send: JSON values, whitespace, and noise.
fn backend_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{\"opcode\":\"feedback\",\"uuid\":\"u\",\"progress\":10}".to_vec()),
        Just(b"{\"a\":[1,{\"b\":\"}\\\"{\"}]}".to_vec()),
        Just(b"[1,2]".to_vec()),
        Just(b"\"text\"".to_vec()),
        Just(b"42 ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_backend_framer_never_panics_and_only_passes_json(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        for frame in frames(&[bytes]) {
            match frame {
                Frame::Message(text) => {
                    prop_assert!(text.len() <= MAX_MESSAGE);
                    prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{text:?}");
                }
                Frame::Fail(why) => prop_assert!(!why.is_empty()),
                Frame::Need => prop_assert!(false, "Need is never collected"),
            }
        }
    }

    #[test]
    fn the_backend_framer_gives_the_same_messages_however_the_bytes_are_split(
        bytes in backend_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = frames(std::slice::from_ref(&bytes));
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(bytes[start..p].to_vec());
            start = p;
        }
        chunks.push(bytes[start..].to_vec());
        let split = frames(&chunks);
        // Messages match one for one; a failure may come earlier with more
        // bytes at hand, but never a different message before it.
        let messages = |f: &[Frame]| f.iter().filter(|x| matches!(x, Frame::Message(_))).cloned().collect::<Vec<_>>();
        let (a, b) = (messages(&whole), messages(&split));
        let n = a.len().min(b.len());
        prop_assert_eq!(&a[..n], &b[..n]);
        prop_assert_eq!(whole.iter().any(|f| matches!(f, Frame::Fail(_))), split.iter().any(|f| matches!(f, Frame::Fail(_))));
    }
}

use wslab::http::chunked::{ChunkError, Dechunker};

/// What a chunked decoder makes of `chunks` fed one by one: the body and
/// where it ended, counted in all the bytes, or the error.
fn dechunk(chunks: &[&[u8]], limit: usize) -> Result<Option<(Vec<u8>, usize)>, ChunkError> {
    let mut d = Dechunker::new(limit);
    let mut before = 0;
    for chunk in chunks {
        if let Some(used) = d.feed(chunk)? {
            return Ok(Some((d.into_body(), before + used)));
        }
        before += chunk.len();
    }
    Ok(None)
}

/// Chunked bodies as clients send them, with noise mixed in.
fn chunked_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|data| {
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend(data);
            chunk.extend(b"\r\n");
            chunk
        }),
        Just(b"3;name=value\r\nabc\r\n".to_vec()),
        Just(b"0\r\nX-Trailer: 1\r\n\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn a_chunked_body_decodes_the_same_however_it_is_split_and_stays_in_its_limit(
        bytes in chunked_stream(),
        cut in any::<usize>(),
    ) {
        let whole = dechunk(&[&bytes], 100);
        let cut = cut % (bytes.len() + 1);
        prop_assert_eq!(&whole, &dechunk(&[&bytes[..cut], &bytes[cut..]], 100));
        if let Ok(Some((body, used))) = whole {
            prop_assert!(body.len() <= 100 && used <= bytes.len());
        }
    }
}
