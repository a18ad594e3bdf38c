//! `/api/...`: `GET /api/status` here; other routes go to the app mounted on them.

use std::time::Duration;

use crossbeam_channel::bounded;
use serde_json::json;

use super::{Request, Response};
use crate::app::ApiRequest;
use crate::dispatch::Event;
use crate::state::Shared;

/// How long an HTTP handler waits for the dispatcher's answer.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers one `/api/...` request; `body` is the request body.
pub(crate) fn handle(req: &Request, body: Vec<u8>, server: &Shared) -> Response {
    let path = req.path();
    if path == "/api/status" {
        if req.method() != "GET" && req.method() != "HEAD" {
            return Response::json(405, &json!({"ok": false, "error": "use GET"})).with("Allow", "GET, HEAD");
        }
        let (reply, answer) = bounded(1);
        if server.events.send(Event::Status { reply }).is_err() {
            return unavailable();
        }
        return match answer.recv_timeout(DISPATCH_TIMEOUT) {
            Ok(status) => Response::json(200, &status),
            Err(_) => unavailable(),
        };
    }
    let Some(app) = server.routes.api_app(path) else {
        return Response::json(404, &json!({"ok": false, "error": "no such api route"}));
    };
    let request = ApiRequest { method: req.method().to_string(), path: path.to_string(), body };
    let (reply, answer) = bounded(1);
    if server.events.send(Event::Request { app, request, reply }).is_err() {
        return unavailable();
    }
    match answer.recv_timeout(DISPATCH_TIMEOUT) {
        Ok(r) => match r.allow {
            Some(allow) => Response::json(r.status, &r.body).with("Allow", allow),
            None => Response::json(r.status, &r.body),
        },
        Err(_) => unavailable(),
    }
}

/// Whether `path` is an `/api` route: `/api/status`, or one an app answers.
pub(crate) fn is_route(path: &str, server: &Shared) -> bool {
    path == "/api/status" || server.routes.api_app(path).is_some()
}

fn unavailable() -> Response {
    Response::json(503, &json!({"ok": false, "error": "server is shutting down"}))
}
