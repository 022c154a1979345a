//! Where a downloaded asset lands under the asset folder, decided from untrusted text.
//!
//! The SDK builds the local path by string concatenation from the asset's tree pathname and
//! the base name of the public URL, both sent by the server, and joins it onto the asset
//! folder unchecked. A `..`, an absolute path or a drive prefix in either would let the server
//! (or anyone who can name an asset) write anywhere the client can. Here the path is rebuilt
//! from validated segments only, so `asset_folder.join(path)` stays inside the folder on every
//! platform, and anything that would need interpreting is refused rather than repaired.

use std::fmt;
use std::path::{Component, PathBuf};

/// Longest accepted input and result, in bytes: far beyond real asset paths, and short
/// enough that no platform's path limit is the thing that fails.
const MAX_PATH_BYTES: usize = 4096;
/// Most segments in the result.
const MAX_SEGMENTS: usize = 64;
/// Longest segment, in bytes: `NAME_MAX` on common file systems.
const MAX_SEGMENT_BYTES: usize = 255;

/// A download path refused because following it could leave the asset folder or could not
/// be created as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnsafePath {
    /// The text that was refused: the joined path, or the public URL.
    pub(crate) text: String,
    /// Why, in a few words.
    pub(crate) reason: &'static str,
}

impl UnsafePath {
    fn new(text: &str, reason: &'static str) -> Self {
        Self {
            text: text.to_owned(),
            reason,
        }
    }
}

impl fmt::Display for UnsafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bounded and escaped: the text is server-controlled and ends up in logs.
        const SHOWN: usize = 200;
        let shown: String = self.text.chars().take(SHOWN).collect();
        let more = if self.text.chars().nth(SHOWN).is_some() {
            "…"
        } else {
            ""
        };
        write!(
            f,
            "unsafe download path \"{}\"{more}: {}",
            shown.escape_debug(),
            self.reason
        )
    }
}

impl std::error::Error for UnsafePath {}

/// Python's `posixpath.dirname`, with `\` also a separator: everything before the last
/// separator, trailing separators trimmed unless that leaves nothing.
pub(crate) fn dirname(pathname: &str) -> &str {
    let head = match pathname.rfind(['/', '\\']) {
        Some(at) => pathname.get(..=at).unwrap_or_default(),
        None => "",
    };
    let trimmed = head.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        head
    } else {
        trimmed
    }
}

/// The path, relative to the asset folder, where the SDK's `download` would write this asset.
///
/// `requested` is the caller's `pathname`: without a leading `/` it is relative to the
/// asset's tree folder (the directory of `asset_pathname`), with one it is relative to the
/// asset folder. Like the SDK's `if pathname:`, an empty `requested` counts as absent, and
/// then the file is named after the last path segment of `public_url`, percent-decoded and
/// without query or fragment, in the asset's tree folder.
///
/// The result has only [`Component::Normal`] components. Anything containing `..`, a control
/// character, a drive prefix, a segment of only dots and spaces (which Windows trims to `..`
/// or nothing), or ending without a file name is refused, as are oversize inputs, URLs that
/// are not http(s), and URL names that decode to a separator.
pub(crate) fn download_path(
    asset_pathname: &str,
    requested: Option<&str>,
    public_url: Option<&str>,
) -> Result<PathBuf, UnsafePath> {
    for input in [
        asset_pathname,
        requested.unwrap_or(""),
        public_url.unwrap_or(""),
    ] {
        if input.len() > MAX_PATH_BYTES {
            return Err(UnsafePath::new(input, "too long"));
        }
    }
    let joined = match requested.filter(|r| !r.is_empty()) {
        Some(absolute) if absolute.starts_with('/') => absolute.to_owned(),
        Some(relative) => format!("{}/{relative}", dirname(asset_pathname)),
        None => {
            let Some(url) = public_url else {
                return Err(UnsafePath::new(asset_pathname, "no file name given"));
            };
            let name = url_file_name(url)?;
            format!("{}/{name}", dirname(asset_pathname))
        }
    };
    relative_path(&joined)
}

fn relative_path(joined: &str) -> Result<PathBuf, UnsafePath> {
    let refuse = |reason| Err(UnsafePath::new(joined, reason));
    if joined.len() > MAX_PATH_BYTES {
        return refuse("too long");
    }
    let last = joined.rsplit(['/', '\\']).next().unwrap_or_default();
    if last.is_empty() || last == "." {
        return refuse("no file name");
    }
    let mut path = PathBuf::new();
    let mut count = 0usize;
    for segment in joined.split(['/', '\\']) {
        if segment.is_empty() || segment == "." {
            continue;
        }
        if let Err(reason) = check_segment(segment) {
            return refuse(reason);
        }
        count = count.saturating_add(1);
        if count > MAX_SEGMENTS {
            return refuse("too many segments");
        }
        path.push(segment);
    }
    // Belt and braces: whatever this platform's path parser makes of the segments, only
    // plain names may come out.
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return refuse("not a plain relative path");
    }
    Ok(path)
}

fn check_segment(segment: &str) -> Result<(), &'static str> {
    if segment.chars().all(|c| c == '.' || c == ' ') {
        return Err("dot segment");
    }
    if segment.chars().any(char::is_control) {
        return Err("control character");
    }
    let mut bytes = segment.bytes();
    if let (Some(letter), Some(b':')) = (bytes.next(), bytes.next()) {
        if letter.is_ascii_alphabetic() {
            return Err("drive prefix");
        }
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err("segment too long");
    }
    // The same folder must work on every platform the application may run on.
    windows_name(segment)
}

/// Whether Windows can create a file of this name as written: no `<>:"|?*` (a `:` names an
/// alternate data stream), no reserved device name with or without an extension (`CON`,
/// `nul.jpg`, `COM1.txt`), and no trailing dot or space (which Windows drops, so the file
/// would land under another name).
pub(crate) fn windows_name(segment: &str) -> Result<(), &'static str> {
    if segment.contains(['<', '>', ':', '"', '|', '?', '*']) {
        return Err("a character Windows refuses in a file name");
    }
    if segment.ends_with(['.', ' ']) {
        return Err("a trailing dot or space");
    }
    let stem = segment
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        upper
            .strip_prefix(prefix)
            .is_some_and(|n| matches!(n, "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"))
    };
    let device = matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || numbered("COM")
        || numbered("LPT");
    if device {
        return Err("a device name Windows reserves");
    }
    Ok(())
}

/// The last segment of an http(s) URL's path, percent-decoded, refused if decoding makes it
/// anything other than a single plain name.
fn url_file_name(url: &str) -> Result<String, UnsafePath> {
    let refuse = |reason| Err(UnsafePath::new(url, reason));
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("not an http(s) URL");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return refuse("not an http(s) URL");
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    // Browsers read `\` as `/` in http(s) URLs, so it separates segments here too.
    let Some(path_start) = rest.find(['/', '\\']) else {
        return refuse("no file name");
    };
    let path = rest.get(path_start..).unwrap_or_default();
    let raw = path.rsplit(['/', '\\']).next().unwrap_or_default();
    let Ok(name) = String::from_utf8(percent_decode(raw)) else {
        return refuse("file name is not UTF-8");
    };
    if name.contains(['/', '\\']) {
        return refuse("encoded separator in file name");
    }
    if name.is_empty() || name.chars().all(|c| c == '.' || c == ' ') {
        return refuse("no file name");
    }
    Ok(name)
}

/// `%XX` to the byte; a `%` not followed by two hex digits stays as it is, as in browsers.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let escaped = if b == b'%' {
            let hi = bytes.get(i.saturating_add(1)).and_then(|&h| hex_value(h));
            let lo = bytes.get(i.saturating_add(2)).and_then(|&l| hex_value(l));
            hi.zip(lo).map(|(hi, lo)| hi.wrapping_shl(4) | lo)
        } else {
            None
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i = i.saturating_add(3);
            }
            None => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    const URL: &str = "https://h/media/p-x/src/abc~3.jpg";

    #[test]
    fn names_windows_refuses_are_refused_everywhere() {
        for bad in [
            "CON",
            "con.txt",
            "NUL.jpg",
            "nul",
            "Aux.tar.gz",
            "prn",
            "COM1",
            "com9.png",
            "LPT3.doc",
            "a:b.jpg",
            "stream.jpg:hidden",
            "what?.png",
            "a*b",
            "x<y",
            "q\"q",
            "p|p",
            "trailing.",
            "space ",
        ] {
            assert!(windows_name(bad).is_err(), "{bad}");
            assert!(
                download_path("/img/a.jpg", Some(&format!("/dir/{bad}")), None).is_err(),
                "{bad}"
            );
        }
        for good in [
            "CONSOLE.txt",
            "nullable.png",
            "COM10",
            "lpt",
            "com",
            "a.b.c",
            "con-tact.pdf",
        ] {
            assert!(windows_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn sdk_cases() {
        // (asset pathname, requested, public_url, expected relative path). The expected paths
        // are what the SDK's download() computes before stripping leading '/' and '\'.
        let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
            ("/img/photo-1.jpg", None, Some(URL), "img/abc~3.jpg"),
            ("/img/photo-1.jpg", Some("thumb.png"), None, "img/thumb.png"),
            (
                "/img/photo-1.jpg",
                Some("thumb.png"),
                Some(URL),
                "img/thumb.png",
            ),
            (
                "/img/photo-1.jpg",
                Some("/other/x.png"),
                None,
                "other/x.png",
            ),
            ("/img/photo-1.jpg", Some("sub/x.png"), None, "img/sub/x.png"),
            ("/a.jpg", None, Some(URL), "abc~3.jpg"),
            ("/a.jpg", Some("b.png"), None, "b.png"),
            ("a.jpg", None, Some(URL), "abc~3.jpg"),
            ("/deep/er/a.jpg", None, Some(URL), "deep/er/abc~3.jpg"),
            ("/img/photo-1.jpg", Some(""), Some(URL), "img/abc~3.jpg"),
            ("/img/photo-1.jpg", Some("///x.png"), None, "x.png"),
            (
                "/img/photo-1.jpg",
                Some("\\other\\x.png"),
                None,
                "img/other/x.png",
            ),
            ("/img/photo-1.jpg", Some("./a/./b.png"), None, "img/a/b.png"),
            ("/img//photo-1.jpg", None, Some(URL), "img/abc~3.jpg"),
            (
                "/img/photo-1.jpg",
                None,
                Some("https://h/m/a%20b.jpg?v=2#top"),
                "img/a b.jpg",
            ),
            (
                "/img/photo-1.jpg",
                None,
                Some("HTTP://h/m/caf%C3%A9.jpg"),
                "img/café.jpg",
            ),
            (
                "/img/photo-1.jpg",
                None,
                Some("http://h/m/100%.jpg"),
                "img/100%.jpg",
            ),
            (
                "/img/photo-1.jpg",
                None,
                Some("https://h/m/...x.jpg"),
                "img/...x.jpg",
            ),
            (
                "/img/photo-1.jpg",
                Some("日本/写真.jpg"),
                None,
                "img/日本/写真.jpg",
            ),
        ];
        for &(asset, requested, url, expected) in cases {
            let got = download_path(asset, requested, url);
            assert_eq!(
                got,
                Ok(PathBuf::from(expected)),
                "{asset} {requested:?} {url:?}"
            );
        }
    }

    #[test]
    fn hostile_cases() {
        let long = "a/".repeat(3000);
        let many = "a/".repeat(100);
        let wide = "n".repeat(300);
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("/img/a.jpg", Some("../../etc/passwd"), None),
            ("/img/a.jpg", Some("/../x"), None),
            ("/img/../../x.jpg", Some("x.png"), None),
            ("/img/../../x.jpg", None, Some(URL)),
            ("/img/a.jpg", Some("..\\..\\x"), None),
            ("/img/a.jpg", Some("ok/..\\x"), None),
            ("/img/a.jpg", None, Some("https://h/m/..")),
            ("/img/a.jpg", None, Some("https://h/m/%2e%2e")),
            ("/img/a.jpg", None, Some("https://h/m/%2E%2e")),
            ("/img/a.jpg", None, Some("https://h/m/.")),
            ("/img/a.jpg", None, Some("https://h/m/..%2Fetc%2Fpasswd")),
            ("/img/a.jpg", None, Some("https://h/m/x%2fy.jpg")),
            ("/img/a.jpg", None, Some("https://h/m/..%5Cx.jpg")),
            ("/img/a.jpg", None, Some("https://h/m/a%00.jpg")),
            ("/img/a.jpg", None, Some("https://h/m/a%0A.jpg")),
            ("/img/a.jpg", None, Some("https://h/m/%FF.jpg")),
            ("/img/a.jpg", None, Some("https://h/m/")),
            ("/img/a.jpg", None, Some("https://h")),
            ("/img/a.jpg", None, Some("https://h?x=/a.jpg")),
            ("/img/a.jpg", None, Some("file:///etc/passwd")),
            ("/img/a.jpg", None, Some("ftp://h/a.jpg")),
            ("/img/a.jpg", None, Some("/relative/a.jpg")),
            ("/img/a.jpg", None, None),
            ("/img/a.jpg", Some("a\0b"), None),
            ("/img\0/a.jpg", Some("b.png"), None),
            ("/img/a.jpg", Some("x\u{7f}.png"), None),
            ("/img/a.jpg", Some("C:\\x"), None),
            ("/img/a.jpg", Some("/C:/x"), None),
            ("/img/a.jpg", Some("sub/d:x.png"), None),
            ("/img/a.jpg", None, Some("https://h/m/a:b.jpg")),
            ("C:\\a.jpg", None, Some(URL)),
            ("/img/a.jpg", Some("dir/"), None),
            ("/img/a.jpg", Some("dir/."), None),
            ("/img/a.jpg", Some("/"), None),
            ("/img/a.jpg", Some("..."), None),
            ("/img/a.jpg", Some(".. "), None),
            ("/img/a.jpg", Some(" "), None),
            ("/img/a.jpg", Some(&long), None),
            (&long, None, Some(URL)),
            ("/img/a.jpg", Some(&many), None),
            ("/img/a.jpg", Some(&wide), None),
        ];
        for &(asset, requested, url) in cases {
            let got = download_path(asset, requested, url);
            assert!(
                got.is_err(),
                "{asset:.40} {requested:.40?} {url:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn error_says_what_and_why() {
        let err = download_path("/img/a.jpg", Some("../x\n"), None).unwrap_err();
        assert_eq!(err.text, "/img/../x\n");
        assert_eq!(
            err.to_string(),
            "unsafe download path \"/img/../x\\n\": dot segment"
        );
        let long = "x".repeat(5000);
        let shown = download_path(&long, None, None).unwrap_err().to_string();
        assert!(shown.len() < 300 && shown.contains('…'), "{shown}");
    }

    #[test]
    fn dirname_matches_posixpath() {
        // os.path.dirname on POSIX, plus '\' as a separator.
        for (path, dir) in [
            ("/img/photo-1.jpg", "/img"),
            ("/a.jpg", "/"),
            ("a.jpg", ""),
            ("", ""),
            ("//a.jpg", "//"),
            ("a//b", "a"),
            ("/x/y/", "/x/y"),
            ("\\img\\a.jpg", "\\img"),
        ] {
            assert_eq!(dirname(path), dir, "{path}");
        }
    }

    #[test]
    fn stays_inside_the_folder() {
        let folder = Path::new("/srv/assets");
        let p = download_path("/img/photo-1.jpg", None, Some(URL)).unwrap();
        assert_eq!(folder.join(p), Path::new("/srv/assets/img/abc~3.jpg"));
    }

    fn assert_plain(p: &Path) -> Result<(), TestCaseError> {
        prop_assert!(p.is_relative());
        prop_assert!(p.components().next().is_some());
        for c in p.components() {
            prop_assert!(matches!(c, Component::Normal(_)), "{p:?}");
            prop_assert!(c.as_os_str() != "..", "{p:?}");
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn only_plain_components(
            asset in any::<String>(),
            requested in proptest::option::of(any::<String>()),
            url in proptest::option::of(any::<String>()),
        ) {
            if let Ok(p) = download_path(&asset, requested.as_deref(), url.as_deref()) {
                assert_plain(&p)?;
            }
        }

        #[test]
        fn only_plain_components_from_path_like_text(
            asset in "[/\\\\a.:C%2eEfF\0 ]{0,24}",
            requested in proptest::option::of("[/\\\\a.:C%2eEfF\0 ]{0,24}"),
            name in "[/\\\\a.:%2eEfFc5 ]{0,16}",
        ) {
            let url = format!("https://h/m/{name}");
            if let Ok(p) = download_path(&asset, requested.as_deref(), Some(&url)) {
                assert_plain(&p)?;
            }
        }
    }
}
