//! `multipart/form-data` bodies for asset uploads, built without I/O or randomness.
//!
//! The SDK uploads through `requests`, which draws a random boundary. This crate owns no
//! random source, so the boundary comes from a caller-supplied seed. A seeded boundary can be
//! predicted, and a file that contains it could forge part delimiters, so every candidate is
//! checked against everything that goes into the body and replaced when it collides.
//!
//! The layout is `urllib3`'s (what `requests` sends): fields first, then the file, CRLF line
//! endings, parameters quoted with the WHATWG escapes. The file part also carries
//! `Content-Type: application/octet-stream`, as `aiohttp` and browsers send it.

use crate::rng::Rng;

/// A ready-to-send body and the `Content-Type` header value that names its boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Multipart {
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

/// Seeded candidates tried before falling back to extending the last one. Each is 128
/// random bits, so a collision means the content was built against this seed.
const CANDIDATES: u32 = 8;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Builds the body for `fields` followed by one file part named `file_field`.
///
/// Only the base name of `file_name` is sent: anything up to the last `/` or `\` is dropped.
pub(crate) fn build(
    fields: &[(String, String)],
    file_field: &str,
    file_name: &str,
    file: &[u8],
    seed: u64,
) -> Multipart {
    let mut headers: Vec<String> = fields
        .iter()
        .map(|(name, _)| {
            format!(
                "Content-Disposition: form-data; {}",
                quoted_param("name", name)
            )
        })
        .collect();
    headers.push(format!(
        "Content-Disposition: form-data; {}; {}\r\nContent-Type: application/octet-stream",
        quoted_param("name", file_field),
        quoted_param("filename", basename(file_name)),
    ));
    let contents: Vec<&[u8]> = fields
        .iter()
        .map(|(_, value)| value.as_bytes())
        .chain(std::iter::once(file))
        .collect();

    // Every header and content piece sits between CRLFs in the body and the boundary is hex
    // only, so a stray boundary can only occur wholly inside one of these pieces.
    let pieces: Vec<&[u8]> = headers
        .iter()
        .map(|h| h.as_bytes())
        .chain(contents.iter().copied())
        .collect();
    let boundary = choose_boundary(&pieces, seed);

    let capacity = pieces
        .iter()
        .fold(0usize, |acc, p| acc.saturating_add(p.len()))
        .saturating_add(
            pieces
                .len()
                .saturating_mul(boundary.len().saturating_add(16)),
        );
    let mut body = Vec::with_capacity(capacity);
    for (header, content) in headers.iter().zip(contents.iter()) {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(header.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");

    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

/// `name="value"` with the WHATWG form-data escapes (`\n` → `%0A`, `\r` → `%0D`,
/// `"` → `%22`), so a hostile value can neither end the quoted string nor start a header.
fn quoted_param(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len().saturating_add(value.len()).saturating_add(3));
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            '"' => out.push_str("%22"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// 32 lowercase hex digits, the shape of `requests`' boundaries.
fn candidate(rng: &mut Rng) -> Vec<u8> {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()).into_bytes()
}

fn choose_boundary(pieces: &[&[u8]], seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut boundary = candidate(&mut rng);
    for _ in 1..CANDIDATES {
        if !pieces.iter().any(|p| contains(p, &boundary)) {
            return hex_string(boundary);
        }
        boundary = candidate(&mut rng);
    }
    hex_string(extend_until_absent(boundary, pieces))
}

/// Makes `boundary` absent from every piece by appending hex digits, always the digit that
/// fewest current occurrences continue with. Sixteen digits share the occurrences, so each
/// step keeps at most a sixteenth of them: for any input that fits in memory this adds at
/// most 16 digits, and 32 + 16 stays under RFC 2046's 70-character limit.
fn extend_until_absent(mut boundary: Vec<u8>, pieces: &[&[u8]]) -> Vec<u8> {
    // (piece index, offset just past the occurrence)
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        let mut from = 0usize;
        while let Some(at) = piece.get(from..).and_then(|rest| find(rest, &boundary)) {
            let start = from.saturating_add(at);
            hits.push((index, start.saturating_add(boundary.len())));
            from = start.saturating_add(1);
        }
    }
    while !hits.is_empty() {
        let next_byte =
            |&(index, end): &(usize, usize)| pieces.get(index).and_then(|p| p.get(end)).copied();
        let mut counts = [0usize; 16];
        for hit in &hits {
            if let Some(byte) = next_byte(hit) {
                if let Some(slot) = HEX.iter().position(|&h| h == byte) {
                    if let Some(count) = counts.get_mut(slot) {
                        *count = count.saturating_add(1);
                    }
                }
            }
        }
        let (slot, _) = counts
            .iter()
            .enumerate()
            .min_by_key(|&(_, count)| *count)
            .unwrap_or((0, &0));
        let digit = HEX.get(slot).copied().unwrap_or(b'0');
        boundary.push(digit);
        hits = hits
            .iter()
            .filter(|hit| next_byte(hit) == Some(digit))
            .map(|&(index, end)| (index, end.saturating_add(1)))
            .collect();
    }
    boundary
}

fn hex_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    haystack
        .iter()
        .take(last_start.saturating_add(1))
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .map(|(i, _)| i)
        .find(|&i| haystack.get(i..i.saturating_add(needle.len())) == Some(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq)]
    struct Part {
        headers: Vec<String>,
        content: Vec<u8>,
    }

    /// Splits a body the way a strict RFC 7578 server would: delimiters are
    /// `--boundary` at the start or after CRLF, the close delimiter ends with `--`.
    fn parse(content_type: &str, body: &[u8]) -> Vec<Part> {
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .expect("content type");
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        // Prepend CRLF so the first delimiter looks like the others.
        let mut rest: Vec<u8> = b"\r\n".to_vec();
        rest.extend_from_slice(body);
        let mut chunks = Vec::new();
        let mut rest = rest.as_slice();
        loop {
            let at = find(rest, &delimiter).expect("delimiter");
            chunks.push(rest[..at].to_vec());
            rest = &rest[at + delimiter.len()..];
            if rest == b"--\r\n" {
                break;
            }
            rest = rest.strip_prefix(b"\r\n").expect("CRLF after delimiter");
        }
        assert_eq!(chunks.remove(0), b"", "preamble");
        chunks
            .into_iter()
            .map(|chunk| {
                let split = find(&chunk, b"\r\n\r\n").expect("header end");
                let headers = String::from_utf8(chunk[..split].to_vec()).unwrap();
                Part {
                    headers: headers.split("\r\n").map(str::to_owned).collect(),
                    content: chunk[split + 4..].to_vec(),
                }
            })
            .collect()
    }

    fn boundary_of(m: &Multipart) -> &str {
        m.content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_and_file_round_trip() {
        let file: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let m = build(
            &fields(&[("folder", "/img"), ("multi", "line one\r\nline two\n")]),
            "upload_file",
            "photo 1.jpg",
            &file,
            42,
        );
        let parts = parse(&m.content_type, &m.body);
        assert_eq!(
            parts,
            vec![
                Part {
                    headers: vec!["Content-Disposition: form-data; name=\"folder\"".into()],
                    content: b"/img".to_vec(),
                },
                Part {
                    headers: vec!["Content-Disposition: form-data; name=\"multi\"".into()],
                    content: b"line one\r\nline two\n".to_vec(),
                },
                Part {
                    headers: vec![
                        "Content-Disposition: form-data; name=\"upload_file\"; filename=\"photo 1.jpg\"".into(),
                        "Content-Type: application/octet-stream".into(),
                    ],
                    content: file,
                },
            ]
        );
    }

    /// Printed by `requests` 2.34.2 / `urllib3` 2.8.0 from the venv, with
    /// `urllib3.filepost.choose_boundary` patched to return `"BOUNDARY"`:
    /// `RequestEncodingMixin._encode_files({"upload_file": ("a.txt", b"hi",
    /// "application/octet-stream")}, {"gid": "g1"})`. (Without the explicit type, `requests`
    /// omits the file part's `Content-Type` line; the layout is otherwise the same.)
    const REQUESTS_BODY: &str = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"gid\"\r\n\r\ng1\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"upload_file\"; filename=\"a.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nhi\r\n--BOUNDARY--\r\n";

    #[test]
    fn layout_matches_requests() {
        let m = build(&fields(&[("gid", "g1")]), "upload_file", "a.txt", b"hi", 7);
        let b = boundary_of(&m);
        assert_eq!(
            String::from_utf8(m.body.clone()).unwrap(),
            REQUESTS_BODY.replace("BOUNDARY", b)
        );
        assert_eq!(b.len(), 32);
        assert!(b.bytes().all(|c| HEX.contains(&c)));
    }

    #[test]
    fn deterministic_per_seed() {
        let a = build(&[], "upload_file", "x", b"data", 1);
        let again = build(&[], "upload_file", "x", b"data", 1);
        let other = build(&[], "upload_file", "x", b"data", 2);
        assert_eq!(a, again);
        assert_ne!(boundary_of(&a), boundary_of(&other));
    }

    #[test]
    fn colliding_file_gets_another_boundary() {
        let first = boundary_of(&build(&[], "upload_file", "x", b"", 9)).to_owned();
        let hostile = format!("\r\n--{first}--\r\n").into_bytes();
        let m = build(&[], "upload_file", "x", &hostile, 9);
        assert_ne!(boundary_of(&m), first);
        let parts = parse(&m.content_type, &m.body);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].content, hostile);
    }

    #[test]
    fn collision_in_a_field_value_or_name_is_avoided_too() {
        let first = boundary_of(&build(&[], "upload_file", "x", b"", 3)).to_owned();
        for (name, value) in [("v", first.as_str()), (first.as_str(), "v")] {
            let m = build(&fields(&[(name, value)]), "upload_file", "x", b"", 3);
            assert_ne!(boundary_of(&m), first);
            assert_eq!(parse(&m.content_type, &m.body).len(), 2);
        }
    }

    #[test]
    fn every_seeded_candidate_present_still_yields_an_absent_boundary() {
        let mut rng = crate::rng::Rng::new(5);
        let mut hostile = Vec::new();
        for _ in 0..CANDIDATES {
            let c = candidate(&mut rng);
            // Each candidate followed by every hex digit, so no one-digit extension is free.
            for &d in HEX {
                hostile.extend_from_slice(&c);
                hostile.push(d);
                hostile.push(b'\n');
            }
        }
        let m = build(&[], "upload_file", "x", &hostile, 5);
        let b = boundary_of(&m);
        assert!(b.len() > 32 && b.len() <= 70, "{b}");
        assert!(!contains(&hostile, b.as_bytes()));
        assert_eq!(parse(&m.content_type, &m.body)[0].content, hostile);
    }

    #[test]
    fn hostile_names_are_neutralised() {
        let m = build(
            &fields(&[("a\"; x=\"y\r\nX-Evil: 1", "v")]),
            "upload_file",
            "../../etc/evil\".jpg\r\nX-Evil: 1",
            b"z",
            11,
        );
        let parts = parse(&m.content_type, &m.body);
        assert_eq!(
            parts[0].headers,
            vec!["Content-Disposition: form-data; name=\"a%22; x=%22y%0D%0AX-Evil: 1\"".to_owned()]
        );
        // Only the base name survives, and its quote and CRLF are escaped.
        assert_eq!(
            parts[1].headers,
            vec![
                "Content-Disposition: form-data; name=\"upload_file\"; filename=\"evil%22.jpg%0D%0AX-Evil: 1\"".to_owned(),
                "Content-Type: application/octet-stream".to_owned(),
            ]
        );
        let windows = build(&[], "upload_file", "C:\\Users\\me\\a.png", b"", 0);
        assert_eq!(
            parse(&windows.content_type, &windows.body)[0].headers[0],
            "Content-Disposition: form-data; name=\"upload_file\"; filename=\"a.png\""
        );
    }

    #[test]
    fn empty_file_and_no_fields() {
        let m = build(&[], "upload_file", "empty.bin", b"", 0);
        let parts = parse(&m.content_type, &m.body);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].content.is_empty());
        let b = boundary_of(&m);
        assert!(m
            .body
            .ends_with(format!("\r\n\r\n\r\n--{b}--\r\n").as_bytes()));
    }

    #[test]
    fn find_edges() {
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"abc", b"abcd"), None);
        assert_eq!(find(b"abc", b"abc"), Some(0));
        assert_eq!(find(b"aabc", b"abc"), Some(1));
        assert_eq!(find(b"ababc", b"abc"), Some(2));
    }

    proptest! {
        #[test]
        fn anything_round_trips(
            pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
            name in any::<String>(),
            file in prop::collection::vec(any::<u8>(), 0..512),
            seed in any::<u64>(),
        ) {
            let m = build(&pairs, "upload_file", &name, &file, seed);
            let parts = parse(&m.content_type, &m.body);
            prop_assert_eq!(parts.len(), pairs.len() + 1);
            for (part, (_, value)) in parts.iter().zip(&pairs) {
                prop_assert_eq!(part.headers.len(), 1);
                prop_assert_eq!(&part.content, value.as_bytes());
            }
            let last = parts.last().unwrap();
            prop_assert_eq!(last.headers.len(), 2);
            prop_assert_eq!(&last.content, &file);
        }
    }
}
