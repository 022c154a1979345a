//! No `Debug` output of the core names a secret: formatted while the client records, holds the
//! API key and a JWT, has a polling POST in flight carrying the CONNECT and its JWT, knows the
//! Engine.IO sid, and holds an `authorization` event that came before the CONNECT reply.

use serde_json::json;
use unicat_core::api::Secret;
use unicat_core::client::Command;
use unicat_core::config::TransportMode;
use unicat_core::io::{Body, Input};
use unicat_tests::script::{envelope, Script, Scripted, OPEN};

const KEY: &str = "api-key-3f9a1c77e2";
const JWT: &str = "jwt-token-b81d05c4aa";
const PUSHED_JWT: &str = "jwt-pushed-6e2f91d0c3";
const SID: &str = "eio-sid-7c4e2a90d1";

fn answer<M: Scripted>(s: &mut Script<M>, id: unicat_core::io::RequestId, body: &str) {
    let response = http::Response::builder()
        .status(200)
        .body(Body(body.as_bytes().to_vec()))
        .unwrap();
    s.client
        .handle_input(s.now, Input::HttpResponse { id, response });
    s.pump();
}

#[test]
fn no_debug_output_names_the_key_the_jwt_or_the_sid() {
    let mut s = Script::new(|c| c.keep_api_key(true).transport(TransportMode::Polling)).recorded();
    let api_key = Secret::new(KEY);
    let _ = s
        .client
        .execute(s.now, Command::Connect { api_key })
        .unwrap();
    let auth = s.take("/auth");
    let mut outputs = vec![format!("{:?}", auth.raw)];
    s.reply(
        auth.id,
        200,
        envelope(json!({"cc.cursor": 1, "cursor": 1}), json!({})),
        Some(JWT),
    );
    let open = s.take("/sync/io/");
    answer(
        &mut s,
        open.id,
        &OPEN.replace("\"eio\"", &format!("\"{SID}\"")),
    );
    // The CONNECT with the JWT goes out in a POST, not answered yet; the long-poll brings an
    // `authorization` event before the CONNECT reply, which the session holds.
    s.pump();
    let post = s.requests.iter().find(|r| r.method == "POST").unwrap();
    assert!(String::from_utf8_lossy(post.raw.request.body().as_bytes()).contains(JWT));
    outputs.extend(s.requests.iter().map(|r| format!("{:?}", r.raw)));
    let get = s.requests.iter().position(|r| r.method == "GET").unwrap();
    let get = s.requests.remove(get).unwrap();
    answer(
        &mut s,
        get.id,
        &format!(r#"42["authorization",{{"JWT":"{PUSHED_JWT}"}}]"#),
    );
    let mut seen = vec![
        format!("{:?}", s.client),
        format!("{:#?}", s.client),
        format!("{:?}", s.client.session_for_tests()),
        format!("{:?}", s.client.config()),
        format!("{:?}", s.client.store()),
        format!("{:?}", s.client.health()),
        format!("{:?}", s.client.stats()),
        format!("{:?}", s.events),
    ];
    seen.extend(outputs);
    // The log itself is redacted.
    seen.extend(std::iter::from_fn(|| s.client.poll_record()));
    for text in &seen {
        for secret in [KEY, JWT, PUSHED_JWT, SID] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(
        seen.iter().any(|t| t.contains("REDACTED-JWT-1")),
        "the log was read"
    );
}
