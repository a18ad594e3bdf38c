//! CORS on `/api/*` (spec §8): with `--allow-origin`, a page served from one
//! of those origins (a course's Apache on another port, say) may call the
//! API with `fetch`. Pure functions of the request head and the allow list;
//! `conn::respond` applies them.
//!
//! - A request whose `Origin` is in the list gets
//!   `Access-Control-Allow-Origin: <that origin>`; every `/api` response
//!   gets `Vary: Origin` as soon as a list is given, since the answer then
//!   depends on the `Origin`.
//! - `OPTIONS` never reaches an app: [`options`] answers it. A preflight from
//!   an allowed origin gets `204` with the `Access-Control-Allow-*` headers;
//!   an `OPTIONS` from an origin not in the list gets `403`; one without an
//!   `Origin` (a script), or any `OPTIONS` when no list is given, gets `204`
//!   with `Allow` and no CORS headers.
//! - No list, no CORS headers at all: browsers then let only pages of
//!   wslab's own origin read the answers, as before.

use super::{Request, Response};

/// What `OPTIONS` on `/api/*` lists in `Allow`: every method some `/api`
/// route answers (each route still refuses the ones it does not take).
pub const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// The methods a preflight allows (`Access-Control-Allow-Methods`). `HEAD`
/// is left out: a cross-origin `HEAD` needs no preflight.
pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";

/// The request headers a preflight allows when it names none.
pub const DEFAULT_ALLOW_HEADERS: &str = "Content-Type";

/// How long a browser may cache a preflight's answer, in seconds.
pub const MAX_AGE: &str = "600";

/// The request's `Origin`, when it is in `allow`.
fn allowed_origin<'r>(req: &'r Request, allow: &[String]) -> Option<&'r str> {
    let origin = req.header("Origin")?;
    allow.iter().any(|o| o == origin).then_some(origin)
}

/// The CORS headers for an answer to `req` (anything but a preflight):
/// none without a list; `Vary: Origin` with one; and
/// `Access-Control-Allow-Origin` when the `Origin` is in it.
pub fn headers(req: &Request, allow: &[String]) -> Vec<(&'static str, String)> {
    if allow.is_empty() {
        return Vec::new();
    }
    let mut headers = Vec::with_capacity(2);
    if let Some(origin) = allowed_origin(req, allow) {
        headers.push(("Access-Control-Allow-Origin", origin.to_string()));
    }
    headers.push(("Vary", "Origin".to_string()));
    headers
}

/// Adds [`headers`] to `response`.
pub fn apply(req: &Request, allow: &[String], mut response: Response) -> Response {
    response.headers.extend(headers(req, allow));
    response
}

/// Whether `value` may be echoed in `Access-Control-Allow-Headers`: a
/// comma-separated list of header names (RFC 9110 tokens), nothing else.
fn is_header_list(value: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !value.trim().is_empty()
        && value.split(',').all(|name| {
            let name = name.trim_matches([' ', '\t']);
            !name.is_empty() && name.bytes().all(token)
        })
}

/// The answer to `OPTIONS` on an `/api` route, CORS headers included (do
/// not [`apply`] them again). Never goes to the app: an `OPTIONS` is not a
/// message.
pub fn options(req: &Request, allow: &[String]) -> Response {
    let no_content =
        || Response { status: 204, headers: vec![("Allow", ALLOW.to_string())], body: Vec::new() };
    if allow.is_empty() {
        return no_content();
    }
    let Some(origin) = req.header("Origin") else {
        // Not from a browser page: nothing to allow or refuse.
        return no_content().with("Vary", "Origin");
    };
    if !allow.iter().any(|o| o == origin) {
        return origin_refused(origin).with("Vary", "Origin");
    }
    let mut response = no_content().with("Access-Control-Allow-Origin", origin);
    if req.header("Access-Control-Request-Method").is_some() {
        let asked = req.header("Access-Control-Request-Headers").filter(|v| is_header_list(v));
        response = response
            .with("Access-Control-Allow-Methods", ALLOW_METHODS)
            .with("Access-Control-Allow-Headers", asked.unwrap_or(DEFAULT_ALLOW_HEADERS))
            .with("Access-Control-Max-Age", MAX_AGE);
    }
    response.with("Vary", "Origin")
}

/// With a list, the `Origin` of a request that would change something
/// (any method but `GET`, `HEAD`, `OPTIONS`) from a page not in it: such
/// a request is refused, not carried out. CORS only hides the answer from
/// that page; a form or a `no-cors` `fetch` would still get its `POST` in
/// (cross-site request forgery).
pub fn forbidden_write<'r>(req: &'r Request, allow: &[String]) -> Option<&'r str> {
    if allow.is_empty() || matches!(req.method(), "GET" | "HEAD" | "OPTIONS") {
        return None;
    }
    let origin = req.header("Origin")?;
    (allowed_origin(req, allow).is_none()).then_some(origin)
}

/// The `403` for a page from an origin not in `--allow-origin`, saying
/// how to let it in (a preflight's and a WebSocket upgrade's answer).
pub fn origin_refused(origin: &str) -> Response {
    Response::text(
        403,
        &format!("origin {origin} is not allowed here: start wslab with --allow-origin {origin}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_from_a_page_not_in_the_list_is_forbidden_reads_and_scripts_are_not() {
        let req = |method: &str, origin: Option<&str>| {
            let headers: Vec<(&str, &[u8])> = origin.iter().map(|o| ("Origin", o.as_bytes())).collect();
            Request::new(method, "/api/relay", headers.into_iter(), 0)
        };
        let allow = vec!["http://good.example".to_string()];
        assert_eq!(
            forbidden_write(&req("POST", Some("http://evil.example")), &allow),
            Some("http://evil.example")
        );
        assert_eq!(forbidden_write(&req("POST", Some("http://good.example")), &allow), None);
        assert_eq!(forbidden_write(&req("POST", None), &allow), None, "curl, PHP: no Origin");
        assert_eq!(forbidden_write(&req("GET", Some("http://evil.example")), &allow), None);
        assert_eq!(forbidden_write(&req("POST", Some("http://evil.example")), &[]), None, "no list: any");
    }

    const SITE: &str = "http://apache.lab:8000";

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        Request::new(method, "/api/relay", headers.iter().map(|(n, v)| (*n, v.as_bytes())), 0)
    }

    fn allow() -> Vec<String> {
        vec!["http://other.lab".to_string(), SITE.to_string()]
    }

    fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
        response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn has_cors(response: &Response) -> bool {
        response.headers.iter().any(|(n, _)| n.starts_with("Access-Control-"))
    }

    #[test]
    fn an_allowed_origin_gets_its_own_origin_back() {
        let req = request("GET", &[("Origin", SITE)]);
        assert_eq!(
            headers(&req, &allow()),
            vec![("Access-Control-Allow-Origin", SITE.to_string()), ("Vary", "Origin".to_string())]
        );
    }

    #[test]
    fn another_origin_or_none_gets_only_vary() {
        for req in [request("GET", &[("Origin", "http://evil.example")]), request("GET", &[])] {
            assert_eq!(headers(&req, &allow()), vec![("Vary", "Origin".to_string())]);
        }
        // Origins are compared exactly: no prefix, no case folding, no port guessing.
        for near in ["http://apache.lab", "http://apache.lab:8000/", "HTTP://APACHE.LAB:8000"] {
            let req = request("GET", &[("Origin", near)]);
            assert!(
                !headers(&req, &allow()).iter().any(|(n, _)| *n == "Access-Control-Allow-Origin"),
                "{near}"
            );
        }
    }

    #[test]
    fn without_a_list_nothing_is_added() {
        let req = request("GET", &[("Origin", SITE)]);
        assert!(headers(&req, &[]).is_empty());
        let response = apply(&req, &[], Response::text(200, "ok"));
        assert_eq!(response.headers.len(), 1, "{:?}", response.headers);
    }

    #[test]
    fn apply_keeps_the_response_and_adds_the_headers() {
        let req = request("POST", &[("Origin", SITE)]);
        let response = apply(&req, &allow(), Response::text(404, "no"));
        assert_eq!(response.status, 404);
        assert_eq!(header(&response, "Access-Control-Allow-Origin"), Some(SITE));
        assert_eq!(header(&response, "Vary"), Some("Origin"));
        assert_eq!(response.body, b"no\n");
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_gets_204_with_everything() {
        let req = request(
            "OPTIONS",
            &[
                ("Origin", SITE),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type, x-job"),
            ],
        );
        let response = options(&req, &allow());
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        assert_eq!(header(&response, "Access-Control-Allow-Origin"), Some(SITE));
        assert_eq!(header(&response, "Access-Control-Allow-Methods"), Some("GET, POST, OPTIONS"));
        assert_eq!(header(&response, "Access-Control-Allow-Headers"), Some("content-type, x-job"));
        assert_eq!(header(&response, "Access-Control-Max-Age"), Some("600"));
        assert_eq!(header(&response, "Vary"), Some("Origin"));
        assert_eq!(header(&response, "Allow"), Some(ALLOW));
    }

    #[test]
    fn a_preflight_that_names_no_headers_gets_content_type() {
        let req = request("OPTIONS", &[("Origin", SITE), ("Access-Control-Request-Method", "GET")]);
        assert_eq!(header(&options(&req, &allow()), "Access-Control-Allow-Headers"), Some("Content-Type"));
    }

    #[test]
    fn requested_headers_that_are_not_a_list_of_names_are_not_echoed() {
        for odd in ["", " ", "a b", "x-a,,x-b", "x:y", "x-a, é"] {
            let req = request(
                "OPTIONS",
                &[
                    ("Origin", SITE),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", odd),
                ],
            );
            assert_eq!(
                header(&options(&req, &allow()), "Access-Control-Allow-Headers"),
                Some("Content-Type"),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn an_options_from_an_allowed_origin_that_is_no_preflight_gets_only_the_origin() {
        let req = request("OPTIONS", &[("Origin", SITE)]);
        let response = options(&req, &allow());
        assert_eq!(response.status, 204);
        assert_eq!(header(&response, "Access-Control-Allow-Origin"), Some(SITE));
        assert_eq!(header(&response, "Access-Control-Allow-Methods"), None);
        assert_eq!(header(&response, "Access-Control-Max-Age"), None);
    }

    #[test]
    fn a_preflight_from_another_origin_is_refused_with_a_hint() {
        let req = request(
            "OPTIONS",
            &[("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST")],
        );
        let response = options(&req, &allow());
        assert_eq!(response.status, 403);
        assert!(!has_cors(&response), "{:?}", response.headers);
        let body = String::from_utf8(response.body).unwrap();
        assert_eq!(body.lines().count(), 1, "{body:?}");
        assert!(body.contains("http://evil.example") && body.contains("--allow-origin"), "{body:?}");
    }

    #[test]
    fn options_without_a_list_or_without_an_origin_is_204_with_allow_only() {
        let preflight = request("OPTIONS", &[("Origin", SITE), ("Access-Control-Request-Method", "POST")]);
        let script = request("OPTIONS", &[]);
        for (req, list) in [(&preflight, vec![]), (&script, vec![]), (&script, allow())] {
            let response = options(req, &list);
            assert_eq!(response.status, 204);
            assert!(response.body.is_empty());
            assert_eq!(header(&response, "Allow"), Some(ALLOW));
            assert!(!has_cors(&response), "{:?}", response.headers);
        }
    }
}
