//! The control operations over HTTP: `/_dev/<op>`, JSON in, plain JSON out.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::Response;
use serde_json::{json, Value};

use super::{spawn_job, Control};
use crate::api::{error_response, json_response, read_body, Params};
use crate::faults::ApiFailure;
use crate::lock;
use crate::net::Cut;
use crate::server::Shared;
use crate::sio;
use crate::store::ApiError;

/// `/_dev/<op>`: the control operations over HTTP (the caller already checked the peer).
pub(crate) async fn handle_http(
    shared: Arc<Shared>,
    op: String,
    peer: Option<SocketAddr>,
    req: Request,
) -> Response<Body> {
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let params = match Params::from_body(&body) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let control = Control::new(shared);
    if op == "state" {
        return json_response(200, control.state_json().into_bytes());
    }
    let cut = match op.as_str() {
        "drop_transports" => Some((Cut::Fin, "dropped")),
        "reset_transports" => Some((Cut::Reset, "reset")),
        "silence_transports" => Some((Cut::Silence, "silenced")),
        "close_websockets" => Some((Cut::CloseFrame, "closed")),
        _ => None,
    };
    if let Some((how, key)) = cut {
        let n = if how == Cut::CloseFrame {
            control.shared.conns.cut_all(how, peer)
        } else {
            sio::drop_transports(&control.shared, how, peer)
        };
        return json_response(200, json!({ key: n }).to_string().into_bytes());
    }
    match control_op(&control, &op, &params) {
        Ok(v) => json_response(200, serde_json::to_vec(&v).unwrap_or_default()),
        Err(e) => error_response(&e),
    }
}

fn count_param(p: &Params, key: &str) -> Result<usize, ApiError> {
    let n = p.opt_u64(key)?.ok_or_else(|| ApiError::missing(key))?;
    usize::try_from(n).map_err(|_| ApiError::wrong_type(key, "smaller count"))
}

fn control_op(c: &Control, op: &str, p: &Params) -> Result<Value, ApiError> {
    Ok(match op {
        "set_field" => {
            let value =
                p.0.get("value")
                    .cloned()
                    .ok_or_else(|| ApiError::missing("value"))?;
            let cursor = c.set_field(
                p.req_str("record")?,
                p.opt_str("language")?,
                p.req_str("field")?,
                value,
            )?;
            json!({"cursor": cursor})
        }
        "change_records" => {
            json!({"changed": c.change_records(count_param(p, "count")?, p.opt_str("field")?)?})
        }
        "insert_record" => {
            let fields = p.get("fields").cloned();
            json!({"record": c.insert_record(p.opt_str("parent")?, fields)?})
        }
        "delete_record" => {
            c.delete_record(p.req_str("record")?)?;
            json!({})
        }
        "add_definition" => {
            let fields = p.opt_strs("fields")?.unwrap_or_default();
            json!({"definition": c.add_definition(p.req_str("name")?, &fields)?})
        }
        "add_field" => {
            let type_ = p.opt_str("type")?.unwrap_or("textline");
            json!({"field": c.add_field(p.req_str("name")?, type_, p.opt_str("definition")?)?})
        }
        "patch" => {
            let patch = p
                .get("patch")
                .cloned()
                .ok_or_else(|| ApiError::missing("patch"))?;
            json!({"cursor": c.patch(p.req_str("data_type")?, p.req_str("key")?, patch)?})
        }
        "bump_version" => json!({"version": c.bump_version(p.opt_str("version")?)}),
        "backup" => {
            c.live()?;
            let (token, version, _) =
                lock(&c.shared.inner).start_backup(p.opt_str("created_by")?, p.opt_str("name")?);
            spawn_job(&c.shared, token.clone());
            json!({"job.token": token, "version": version})
        }
        "restore" => {
            c.live()?;
            let (token, _) = lock(&c.shared.inner).start_restore(p.opt_u64("version")?)?;
            spawn_job(&c.shared, token.clone());
            json!({"job.token": token})
        }
        "job" => json!({"status": c.job_status(p.req_str("token")?)}),
        "disconnect_sockets" => json!({"disconnected": c.disconnect_sockets()}),
        "pause_sync" => {
            c.pause_sync();
            json!({"paused": true})
        }
        "resume_sync" => {
            c.resume_sync();
            json!({"paused": false})
        }
        "expire_jwts" => json!({"expired": c.expire_jwts()}),
        "refuse_connects" => {
            let seconds = p
                .opt_f64("seconds")?
                .ok_or_else(|| ApiError::missing("seconds"))?;
            let duration = std::time::Duration::try_from_secs_f64(seconds)
                .map_err(|_| ApiError::wrong_type("seconds", "smaller number"))?;
            c.refuse_connects(
                duration,
                p.opt_str("message")?.unwrap_or("Service unavailable"),
            );
            json!({})
        }
        "fail_api" => {
            let statuses = match p.get("statuses") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|s| s.as_u64().and_then(|s| u16::try_from(s).ok()))
                    .collect::<Option<Vec<u16>>>()
                    .ok_or_else(|| ApiError::wrong_type("statuses", "list of statuses"))?,
                _ => return Err(ApiError::missing("statuses")),
            };
            let fraction = p.opt_f64("fraction")?.unwrap_or(1.0).min(1.0);
            c.fail_api(Some(ApiFailure {
                statuses,
                fraction,
                count: p.opt_u64("count")?,
                html: p.opt_bool("html")?.unwrap_or(false),
            }));
            json!({})
        }
        "delay_api" => {
            c.delay_api(std::time::Duration::from_millis(
                p.opt_u64("ms")?.unwrap_or(0),
            ));
            json!({})
        }
        "delay_sync" => {
            c.delay_sync(std::time::Duration::from_millis(
                p.opt_u64("ms")?.unwrap_or(0),
            ));
            json!({})
        }
        "stall_responses" => {
            c.stall_responses(
                p.opt_u64("count")?
                    .ok_or_else(|| ApiError::missing("count"))?,
            );
            json!({})
        }
        "restart" => {
            let down = std::time::Duration::from_millis(p.opt_u64("ms")?.unwrap_or(0));
            // After a moment, so that this request's answer leaves before every connection
            // is cut.
            let control = c.clone();
            c.shared.rt.spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                control.restart(down);
            });
            json!({})
        }
        "clear_faults" => {
            c.clear_faults();
            json!({})
        }
        "push_authorization" => json!({"sent": c.push_authorization()}),
        "issue_jwt" => json!({"JWT": c.issue_jwt()}),
        "counters" => serde_json::to_value(c.counters()).unwrap_or_default(),
        "counters/reset" => {
            c.reset_counters();
            json!({})
        }
        "record_gids" => json!({"records": c.record_gids(count_param(p, "count")?)}),
        "plant_children" => {
            let (parent, children) = c.plant_children(count_param(p, "count")?)?;
            json!({"parent": parent, "children": children})
        }
        "plant_empty_page" => json!({"record": c.plant_empty_page()?}),
        "plant_cycle" => {
            let (parent, child) = c.plant_cycle()?;
            json!({"parent": parent, "child": child})
        }
        "plant_field_types" => c.plant_field_types()?,
        "plant_queries" => c.plant_queries()?,
        "info" => c.info(),
        _ => {
            return Err(ApiError::not_implemented(
                json!({"endpoint": format!("/_dev/{op}")}),
            ))
        }
    })
}
