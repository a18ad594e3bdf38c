//! Answers one plain HTTP request (files, `/api`) and closes: one request
//! per connection, `Connection: close`.

use std::io;
use std::time::{Duration, Instant};

use super::stream::Stream;
use crate::http::{api, cors, files, Request, Response, MAX_BODY};
use crate::state::Shared;

/// Answers one plain HTTP request and closes the connection.
///
/// `buf` holds everything read so far: the head, and maybe part of the body.
///
/// Every `/api/...` answer carries the CORS headers of `--allow-origin`
/// ([`cors`]); an `OPTIONS` on an `/api` route is answered here, by
/// [`cors::options`], and never reaches the app or the dispatcher.
pub(crate) fn respond(mut stream: Stream, buf: Vec<u8>, req: Request, server: &Shared) -> io::Result<()> {
    let head_only = req.method() == "HEAD";
    let api = req.path().starts_with("/api/");
    let allow = &server.config.allow_origins;
    let response = match req.content_length() {
        // A malformed length leaves the end of the request unknown: answer and close.
        Err(()) if api => cors::apply(
            &req,
            allow,
            Response::json(400, &serde_json::json!({"ok": false, "error": "bad Content-Length"})),
        ),
        Err(()) => Response::text(400, "bad request: malformed Content-Length"),
        Ok(length) if api => {
            let timeout = server.config.handshake_timeout;
            match read_body(&mut stream, &buf[req.head_len..], &req, length, timeout) {
                Ok(_) if req.method() == "OPTIONS" && api::is_route(req.path(), server) => {
                    let response = cors::options(&req, allow);
                    if response.status == 403 {
                        log::warn!(
                            "{}: OPTIONS {} from origin {:?} refused (not in --allow-origin), 403",
                            stream.tcp().peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string()),
                            req.path(),
                            req.header("Origin").unwrap_or("")
                        );
                    }
                    response
                }
                Ok(body) => cors::apply(&req, allow, api::handle(&req, body, server)),
                Err(response) => cors::apply(&req, allow, response),
            }
        }
        Ok(_) if server.inspect.is_none() && req.path().starts_with("/inspect.html") => {
            Response::text(404, "the inspector is off (the server runs with --no-inspect)")
        }
        Ok(_) => files::handle(&req, &server.config.www),
    };
    log::debug!("{} {} -> {}", req.method(), req.target(), response.status);
    response.write_to(&mut stream, head_only)?;
    stream.finish();
    Ok(())
}

/// Reads the request body: `Content-Length` bytes, at most [`MAX_BODY`].
/// Requests without a body (GET, HEAD, no length) get an empty one.
fn read_body(
    stream: &mut Stream,
    already: &[u8],
    req: &Request,
    length: Option<usize>,
    timeout: Duration,
) -> Result<Vec<u8>, Response> {
    let length = match length {
        None if req.method() == "POST" || req.method() == "PUT" => {
            return Err(Response::json(
                411,
                &serde_json::json!({"ok": false, "error": "Content-Length required"}),
            ))
        }
        None => return Ok(Vec::new()),
        Some(n) => n,
    };
    if length > MAX_BODY {
        return Err(Response::json(
            413,
            &serde_json::json!({"ok": false, "error": format!("body over {MAX_BODY} bytes")}),
        ));
    }
    let mut body = already[..already.len().min(length)].to_vec();
    if body.len() < length && req.header_has("expect", "100-continue") {
        // curl and PHP's clients wait for this (curl a second) before they send the body.
        let _ = io::Write::write_all(stream, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    while body.len() < length {
        match stream.read_until(&mut chunk, deadline) {
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                return Err(Response::text(400, "request body timed out"))
            }
            Ok(0) | Err(_) => return Err(Response::text(400, "request body incomplete")),
            Ok(n) => body.extend_from_slice(&chunk[..n.min(length - body.len())]),
        }
    }
    Ok(body)
}
