//! Where to go after logging in. A page that needs a user sends a visitor to
//! `/login?next=<where they were>` (the agent's QR code opens `/pair?code=…`, and the code must
//! survive the detour); login and registration go back there. Only paths on this site are
//! followed, so a crafted link cannot bounce a person to another site.

use crate::router::Location;
use leptos::prelude::*;

/// `/login?next=…` for a visitor who was at `path` (path and query).
pub fn login_path(path: &str) -> String {
    with_next("/login", path)
}

/// `page`, carrying `next` along (the login and registration pages link to each other).
pub fn with_next(page: &str, next: &str) -> String {
    if next.is_empty() || next == "/" {
        page.into()
    } else {
        format!("{page}?next={}", encode(next))
    }
}

/// The page to open after logging in: this page's `next`, if it is a path on this site.
/// Called in a component's body (it reads the app's `Location`).
pub fn use_next_path() -> Signal<String> {
    let location = Location::get();
    Signal::derive(move || safe(location.query("next").as_deref()))
}

/// `next` if it is a local path, else the dashboard. Judged the way a browser parses it: the
/// URL parser drops tabs and newlines anywhere and reads `\` as `/`, so `/<tab>/evil` and
/// `/\evil` are `//evil`, another site. Any control character or backslash is refused
/// outright (a CR or LF would also break the redirect's header).
fn safe(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.into()
        }
        _ => "/".into(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe(Some("/pair?code=ABCD-EFGH")), "/pair?code=ABCD-EFGH");
        assert_eq!(safe(Some("/watch?d=1,2")), "/watch?d=1,2");
        for hostile in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=y",
            "/\u{0}/evil.example",
            "/pair\\..\\evil",
            "",
        ] {
            assert_eq!(safe(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(safe(None), "/");
    }

    #[test]
    fn the_query_survives_the_login_link() {
        assert_eq!(login_path("/"), "/login");
        assert_eq!(
            login_path("/pair?code=ABCD-EFGH"),
            "/login?next=/pair%3Fcode%3DABCD-EFGH"
        );
        assert_eq!(
            login_path("/watch?d=a b&x"),
            "/login?next=/watch%3Fd%3Da%20b%26x"
        );
    }
}
