//! The `www/` responder: path safety, index files, and the MIME table.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::{Request, Response};

/// Why a path cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The target is not a valid path (bad percent-encoding, not absolute): 400.
    Malformed,
    /// Nothing servable there, or it would leave the web root: 404.
    NotFound,
    /// A directory asked for without its trailing slash: 301 to the path
    /// with it, so that the page's relative links resolve inside it.
    Directory,
}

/// Answers a GET or HEAD for a file under `root`.
pub fn handle(req: &Request, root: &Path) -> Response {
    if req.method() != "GET" && req.method() != "HEAD" {
        return Response::text(405, "method not allowed").with("Allow", "GET, HEAD");
    }
    match resolve(root, req.path()) {
        Ok(file) => match fs::read(&file) {
            Ok(body) => {
                Response { status: 200, headers: vec![("Content-Type", content_type(&file).into())], body }
                    .with("Cache-Control", "no-cache")
            }
            Err(_) => Response::text(404, "not found"),
        },
        Err(PathError::Malformed) => Response::text(400, "malformed path"),
        Err(PathError::NotFound) => Response::text(404, "not found"),
        Err(PathError::Directory) => {
            // One leading slash: `//host` would send the browser to another site.
            let mut location = format!("/{}/", req.path().trim_start_matches('/'));
            if let Some((_, query)) = req.target().split('#').next().and_then(|t| t.split_once('?')) {
                location = format!("{location}?{query}");
            }
            Response::text(301, &format!("moved to {location}")).with("Location", location)
        }
    }
}

/// Maps a request path to a file inside `root`, or says why not.
///
/// The path is percent-decoded; `..`, backslashes, NUL bytes and absolute
/// paths after decoding are refused, and the canonical result must still
/// lie inside the canonical root (which also stops symlinks that leave it).
/// A directory means its `index.html`, and must be asked for with its
/// trailing slash (else [`PathError::Directory`]); a file must not.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::Malformed);
    }
    let decoded = percent_decode(path).ok_or(PathError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotFound)?;
    if decoded.contains(['\0', '\\']) {
        return Err(PathError::NotFound);
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(PathError::NotFound),
            s => {
                let mut components = Path::new(s).components();
                match (components.next(), components.next()) {
                    (Some(Component::Normal(c)), None) => relative.push(c),
                    _ => return Err(PathError::NotFound),
                }
            }
        }
    }
    let root = root.canonicalize().map_err(|_| PathError::NotFound)?;
    let mut file = root.join(&relative).canonicalize().map_err(|_| PathError::NotFound)?;
    if file.is_dir() {
        if !decoded.ends_with('/') {
            return Err(PathError::Directory);
        }
        file = file.join("index.html").canonicalize().map_err(|_| PathError::NotFound)?;
    } else if decoded.ends_with('/') {
        return Err(PathError::NotFound);
    }
    if !file.starts_with(&root) || !file.is_file() {
        return Err(PathError::NotFound);
    }
    Ok(file)
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The Content-Type for a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("/a%20b").unwrap(), b"/a b");
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert!(percent_decode("/a%2").is_none());
        assert!(percent_decode("/a%zz").is_none());
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type(Path::new("a.HTML")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("a.mjs")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("a.bin")), "application/octet-stream");
    }

    #[test]
    fn refuses_escapes_from_the_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
        for bad in
            ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/..%2fCargo.toml", "/a\\..\\..", "/%00", "//etc/passwd"]
        {
            assert!(resolve(&root, bad).is_err(), "{bad} resolved");
        }
        assert_eq!(resolve(&root, "x"), Err(PathError::Malformed));
        assert_eq!(resolve(&root, "/%zz"), Err(PathError::Malformed));
    }

    #[test]
    fn a_directory_needs_its_slash_and_a_file_must_not_have_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
        assert!(resolve(&root, "/").unwrap().ends_with("index.html"));
        assert!(resolve(&root, "/index.html").is_ok());
        assert_eq!(resolve(&root, "/index.html/"), Err(PathError::NotFound));
        assert_eq!(resolve(&root, "/css"), Err(PathError::Directory));
        assert!(resolve(&root, "/css/").is_err(), "no index.html in css/");
    }
}
