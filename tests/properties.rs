//! Property tests: random and mutated bytes thrown at the peer classifier,
//! the HTTP request parser and the path resolver never panic, always give
//! a clear answer, and never resolve a path outside the web root.

mod support;

use proptest::prelude::*;
use wslab::http::files::{resolve, PathError};
use wslab::http::{classify, Peer, MAX_HEAD};

/// Requests a browser or curl would send, to be mutated.
const SEEDS: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: lab\r\n\r\n",
    "GET /ws/echo HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "POST /api/relay HTTP/1.1\r\nHost: lab\r\nContent-Length: 2\r\n\r\n{}",
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
            assert!(!req.method.is_empty());
        }
        Peer::Backend => assert!(bytes[0] == b'{' || bytes.starts_with(b"php process")),
        Peer::NeedMore => assert!(bytes.len() <= MAX_HEAD + 1 || bytes.is_empty()),
        Peer::Invalid | Peer::TooLarge => {}
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
            Err(PathError::Malformed | PathError::NotFound) => {}
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
