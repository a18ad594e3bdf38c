//! The path → app table, consulted by connection threads before the 101.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::app::AppId;

/// Where a WebSocket upgrade goes: an app, and the path parameter for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The app.
    pub app: AppId,
    /// The parameter (e.g. a room name); empty for exact paths.
    pub param: String,
}

/// How a WebSocket path is matched.
enum Pattern {
    /// This path exactly.
    Exact(String),
    /// This prefix, then a parameter the function accepts.
    Prefix(String, fn(&str) -> bool),
}

/// The path → app table.
#[derive(Default)]
pub struct Routes {
    /// WebSocket paths: pattern, app, parameter.
    ws: Vec<(Pattern, AppId, String)>,
    /// `/api` paths and the app that answers them.
    api: Vec<(String, AppId)>,
    /// The app that takes plain-socket backend clients (spec §3.5), if any.
    backend: Option<AppId>,
    /// Apps that can be down (script apps), by app id: up while true.
    gates: Vec<(AppId, Arc<AtomicBool>)>,
}

impl Routes {
    /// Routes `path` exactly to `app`, with `param` as its parameter.
    pub(crate) fn exact(&mut self, path: &str, app: AppId, param: &str) {
        self.ws.push((Pattern::Exact(path.to_string()), app, param.to_string()));
    }

    /// Routes every `prefix` + NAME with `valid(NAME)` to `app`, NAME as parameter.
    pub(crate) fn prefix(&mut self, prefix: &str, app: AppId, valid: fn(&str) -> bool) {
        self.ws.push((Pattern::Prefix(prefix.to_string(), valid), app, String::new()));
    }

    /// Routes HTTP requests on `path` to `app`'s `on_request`.
    pub(crate) fn api(&mut self, path: &str, app: AppId) {
        self.api.push((path.to_string(), app));
    }

    /// Makes `app` the one that takes plain-socket backend clients.
    pub(crate) fn backends(&mut self, app: AppId) {
        self.backend = Some(app);
    }

    /// Upgrades to `app` are taken only while `up` holds.
    pub(crate) fn gate(&mut self, app: AppId, up: Arc<AtomicBool>) {
        self.gates.push((app, up));
    }

    /// Whether `app` takes upgrades now (false: a script app that is down).
    pub fn is_up(&self, app: AppId) -> bool {
        self.gates.iter().filter(|(a, _)| *a == app).all(|(_, up)| up.load(Ordering::SeqCst))
    }

    /// The app for a WebSocket upgrade on `path`, if any.
    pub fn websocket(&self, path: &str) -> Option<Route> {
        self.ws.iter().find_map(|(pattern, app, param)| match pattern {
            Pattern::Exact(p) if p == path => Some(Route { app: *app, param: param.clone() }),
            Pattern::Prefix(p, valid) => {
                let rest = path.strip_prefix(p.as_str())?;
                valid(rest).then(|| Route { app: *app, param: rest.to_string() })
            }
            _ => None,
        })
    }

    /// The app that takes plain-socket backend clients, if any.
    pub fn backend_app(&self) -> Option<AppId> {
        self.backend
    }

    /// The app that answers HTTP requests on `path`, if any.
    pub fn api_app(&self, path: &str) -> Option<AppId> {
        self.api.iter().find(|(p, _)| p == path).map(|(_, app)| *app)
    }
}
