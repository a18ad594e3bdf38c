//! Answers one plain HTTP request (files, `/api`) and closes: one request
//! per connection, `Connection: close`.

use std::io;
use std::time::{Duration, Instant};

use super::stream::Stream;
use crate::http::chunked::{ChunkError, Dechunker};
use crate::http::{api, cors, files, Body, Request, Response, MAX_BODY};
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
    let forbidden = if api { cors::forbidden_write(&req, allow) } else { None };
    let response = match req.body() {
        // A malformed head leaves the end of the request unknown: answer and close.
        Err(bad) if api => cors::apply(&req, allow, json_error(bad.status, bad.why)),
        Err(bad) => Response::text(bad.status, &bad.line()),
        Ok(_) if forbidden.is_some() => {
            let origin = forbidden.unwrap_or_default();
            log::warn!(
                "{}: {} {} from origin {origin:?} refused (not in --allow-origin), 403",
                peer(&stream),
                req.method(),
                req.path(),
            );
            let error =
                format!("origin {origin} is not allowed here: start wslab with --allow-origin {origin}");
            cors::apply(&req, allow, json_error(403, error))
        }
        Ok(framing) if api => {
            let timeout = server.config.handshake_timeout;
            match read_body(&mut stream, &buf[req.head_len..], &req, framing, timeout) {
                Ok(_) if req.method() == "OPTIONS" && api::is_route(req.path(), server) => {
                    let response = cors::options(&req, allow);
                    if response.status == 403 {
                        log::warn!(
                            "{}: OPTIONS {} from origin {:?} refused (not in --allow-origin), 403",
                            peer(&stream),
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
        Ok(_) if server.inspect.is_none() && is_inspector_page(&req, &server.config.www) => {
            Response::text(404, "the inspector is off (the server runs with --no-inspect)")
        }
        Ok(_) => files::handle(&req, &server.config.www),
    };
    log::debug!("{} {} -> {}", req.method(), req.target(), response.status);
    response.write_to(&mut stream, head_only)?;
    stream.finish();
    Ok(())
}

/// Reads the request body, `Content-Length` bytes or chunked, at most
/// [`MAX_BODY`]. A request without either has none (RFC 9112 §6.3).
fn read_body(
    stream: &mut Stream,
    already: &[u8],
    req: &Request,
    framing: Body,
    timeout: Duration,
) -> Result<Vec<u8>, Response> {
    let mut body = match framing {
        // Bytes after a head that frames no body are not a body (RFC 9112
        // §6.3): a hand-written request that forgot its Content-Length.
        Body::Empty if !already.is_empty() && matches!(req.method(), "POST" | "PUT") => {
            let error = "the request has no Content-Length (or Transfer-Encoding: chunked), so what follows \
                         its head is not its body: add Content-Length: <bytes>";
            return Err(json_error(411, error));
        }
        Body::Empty => return Ok(Vec::new()),
        Body::Length(n) if n > MAX_BODY => return Err(too_large()),
        Body::Length(n) => Taking::Length { body: Vec::with_capacity(n), length: n },
        Body::Chunked => Taking::Chunked(Dechunker::new(MAX_BODY)),
    };
    let mut complete = body.take(already)?;
    if !complete && req.version >= 1 && req.header_has("expect", "100-continue") {
        // curl and PHP's clients wait for this (curl a second) before they
        // send the body; an HTTP/1.0 client never gets a 1xx (RFC 9110 §15.2).
        let _ = io::Write::write_all(stream, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    while !complete {
        complete = match stream.read_until(&mut chunk, deadline) {
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                let error =
                    format!("the request body did not all arrive within {timeout:?} (--handshake-timeout)");
                return Err(json_error(408, error));
            }
            Ok(0) | Err(_) => {
                let error = "the request body ended before its Content-Length (or its last chunk)";
                return Err(json_error(400, error));
            }
            Ok(n) => body.take(&chunk[..n])?,
        };
    }
    Ok(match body {
        Taking::Length { body, .. } => body,
        Taking::Chunked(d) => d.into_body(),
    })
}

/// A body being read.
enum Taking {
    /// `length` bytes, `body` holding those read so far.
    Length { body: Vec<u8>, length: usize },
    /// A chunked body, decoded as it comes.
    Chunked(Dechunker),
}

impl Taking {
    /// Takes the next bytes read; whether the body is complete.
    fn take(&mut self, bytes: &[u8]) -> Result<bool, Response> {
        match self {
            Taking::Length { body, length } => {
                body.extend_from_slice(&bytes[..bytes.len().min(*length - body.len())]);
                Ok(body.len() == *length)
            }
            Taking::Chunked(d) => match d.feed(bytes) {
                Ok(done) => Ok(done.is_some()),
                Err(ChunkError::TooLarge) => Err(too_large()),
                Err(ChunkError::Malformed(why)) => Err(json_error(400, format!("bad request: {why}"))),
            },
        }
    }
}

/// `413` for a body over [`MAX_BODY`].
fn too_large() -> Response {
    json_error(413, format!("body over {MAX_BODY} bytes"))
}

/// The peer's address, for the log.
fn peer(stream: &Stream) -> String {
    stream.tcp().peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string())
}

/// Whether `req` asks for the inspector's page, however its path is spelled
/// (`//inspect.html`, `/%69nspect.html`, `/./inspect.html`).
fn is_inspector_page(req: &Request, www: &std::path::Path) -> bool {
    let page = files::resolve(www, "/inspect.html").ok();
    page.is_some() && files::resolve(www, req.path()).ok() == page
}

/// An `/api` error answer: `{"ok":false,"error":error}`.
fn json_error(status: u16, error: impl Into<String>) -> Response {
    Response::json(status, &serde_json::json!({"ok": false, "error": error.into()}))
}
