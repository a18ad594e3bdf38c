//! How an app is mounted: [`Registration`], one constructor call per app.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::hooks::App;
use crate::config::Config;
use crate::error::Result;

/// Where an app takes WebSocket upgrades.
#[derive(Clone)]
pub enum Mount {
    /// One exact path, e.g. `/ws/echo`.
    Path(String),
    /// A prefix followed by a parameter that the function accepts, e.g.
    /// `/ws/room/NAME`; the parameter is [`crate::ClientInfo::param`].
    Prefix(String, fn(&str) -> bool),
}

/// Builds the app when the server starts (it may read files named in the configuration).
type Build = Box<dyn FnOnce(&Config) -> Result<Box<dyn App>>>;

/// One app, ready to be mounted: its name, where it is mounted, and how to
/// make it.
///
/// ```
/// use wslab::{App, Registration};
/// # #[derive(Default)] struct Counter;
/// # impl App for Counter {}
/// let reg = Registration::new("counter", "/ws/counter", Counter::default());
/// assert_eq!(reg.name(), "counter");
/// ```
pub struct Registration {
    /// Used in logs, `/api/status` and (by default) `--root-app`.
    pub(crate) name: String,
    /// WebSocket path(s).
    pub(crate) mount: Mount,
    /// `/api/...` paths answered by [`App::on_request`].
    pub(crate) api: Vec<String>,
    /// Whether it takes the plain-socket backend clients of spec §3.5.
    pub(crate) backends: bool,
    /// The `--root-app` name that puts it on `/`, and the parameter its
    /// clients on `/` get.
    pub(crate) root: (String, String),
    /// When set, upgrades on its path get 503 while this is false (a script
    /// app whose process is down).
    pub(crate) gate: Option<Arc<AtomicBool>>,
    /// Makes the app.
    pub(crate) build: Build,
}

impl Registration {
    /// `app` on the exact WebSocket path `path`, under `name`.
    pub fn new(name: &str, path: &str, app: impl App) -> Registration {
        Registration::with_mount(name, Mount::Path(path.into()), Box::new(move |_| Ok(Box::new(app))))
    }

    /// `app` on every path `prefix` + NAME for which `valid(NAME)` holds.
    pub fn prefix(name: &str, prefix: &str, valid: fn(&str) -> bool, app: impl App) -> Registration {
        Registration::with_mount(
            name,
            Mount::Prefix(prefix.into(), valid),
            Box::new(move |_| Ok(Box::new(app))),
        )
    }

    /// An app on `path` that is made by `build` when the server starts, from
    /// its configuration (files it names); an error stops the start.
    pub fn build<A: App>(
        name: &str,
        path: &str,
        build: impl FnOnce(&Config) -> Result<A> + 'static,
    ) -> Registration {
        let build: Build = Box::new(move |config| Ok(Box::new(build(config)?)));
        Registration::with_mount(name, Mount::Path(path.into()), build)
    }

    fn with_mount(name: &str, mount: Mount, build: Build) -> Registration {
        Registration {
            name: name.into(),
            mount,
            api: Vec::new(),
            backends: false,
            root: (name.into(), String::new()),
            gate: None,
            build,
        }
    }

    /// Also answers HTTP requests on `path` (`/api/...`) with [`App::on_request`].
    pub fn api(mut self, path: &str) -> Registration {
        self.api.push(path.into());
        self
    }

    /// Also takes the plain-socket backend clients of spec §3.5 (the last
    /// registration that says so does).
    pub fn backends(mut self) -> Registration {
        self.backends = true;
        self
    }

    /// `--root-app NAME` puts it on `/` (instead of its own name), and its
    /// clients there get `param` as their [`crate::ClientInfo::param`]: the
    /// rooms app is `lobby` on `/`, room `lobby`.
    pub fn root_as(mut self, name: &str, param: &str) -> Registration {
        self.root = (name.into(), param.into());
        self
    }

    /// Upgrades on its path get 503 while `up` is false.
    pub fn gate(mut self, up: Arc<AtomicBool>) -> Registration {
        self.gate = Some(up);
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a WebSocket upgrade on `path` would come to it.
    pub fn serves(&self, path: &str) -> bool {
        match &self.mount {
            Mount::Path(p) => p == path,
            Mount::Prefix(prefix, valid) => path.strip_prefix(prefix.as_str()).is_some_and(valid),
        }
    }

    /// The `--root-app` name that puts it on `/`.
    pub fn root_name(&self) -> &str {
        &self.root.0
    }
}
