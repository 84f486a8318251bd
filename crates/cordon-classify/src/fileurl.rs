//! `file://` URLs → local paths: the one decoder of them, for the classifier (resource reads,
//! `curl file://…`) and for the gateway (the workspace roots an MCP client announces).
//!
//! One owner because the details decide what a path is: the scheme is case-insensitive, an
//! empty or `localhost` authority names this machine, a query or fragment is not part of the
//! path (cut before decoding, so an encoded `%3F` stays a literal `?` in a name), and the rest
//! is percent-decoded (`%2Eenv` is `.env`). Another authority (`file://host/x`) is left in the
//! result, which is then not an absolute path: callers that need one refuse it.

/// The path a `file://` URL names, percent-decoded; None when `uri` is not a `file://` URL.
pub fn file_url_path(uri: &str) -> Option<String> {
    let scheme = uri.get(..7)?;
    if !scheme.eq_ignore_ascii_case("file://") {
        return None;
    }
    let rest = uri.get(7..)?;
    // file:///abs, file://localhost/abs; a query or fragment is not part of the path.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    Some(percent_decode(rest))
}

/// Decodes `%XX` escapes; a malformed escape stays as written, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/home/u/%2Eenv"), "/home/u/.env");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn file_urls_name_local_paths_and_nothing_else() {
        let p = |u: &str| file_url_path(u);
        assert_eq!(
            p("file:///home/u/my%20dir").as_deref(),
            Some("/home/u/my dir")
        );
        assert_eq!(p("FILE:///home/u/.env").as_deref(), Some("/home/u/.env"));
        assert_eq!(p("file://localhost/srv/x").as_deref(), Some("/srv/x"));
        // A query or fragment is cut before decoding: an encoded `?` stays in the name.
        assert_eq!(p("file:///a/b?x=1#frag").as_deref(), Some("/a/b"));
        assert_eq!(p("file:///a/b%3Fc").as_deref(), Some("/a/b?c"));
        assert_eq!(
            p("file:///home/u/%2Essh/id_rsa").as_deref(),
            Some("/home/u/.ssh/id_rsa")
        );
        // Another host is not this machine: the result is not an absolute path.
        assert_eq!(
            p("file://evil.example/etc").as_deref(),
            Some("evil.example/etc")
        );
        assert_eq!(p("file://relative").as_deref(), Some("relative"));
        for not_file in ["https://example.com/x", "/etc/hosts", "file:/x", "fil", ""] {
            assert_eq!(p(not_file), None, "{not_file}");
        }
        // Multi-byte text before the scheme's length never panics.
        assert_eq!(p("éé"), None);
        assert_eq!(p("fileé://x"), None);
    }
}
