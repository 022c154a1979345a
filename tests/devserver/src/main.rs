//! `unicat-devserver`: runs the dev server on 127.0.0.1, prints one JSON line
//! `{"url": …, "project": …, "api_key": …}` on stdout, and serves until killed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use unicat_devserver::{DevConfig, DevServer};

const HELP: &str = "\
unicat-devserver: an in-memory Unicat project on 127.0.0.1

Prints {\"url\", \"project\", \"api_key\"} as one JSON line on stdout (plus \"ca_pem\", the
certificate to trust, with --tls), then serves until killed.
Logs go to stderr (RUST_LOG=debug for more).

Options (durations: 250ms, 2s, 5m, 1h; a bare number is seconds):
  --port N                     TCP port, 0 = any free one (default 0)
  --records N                  seeded article records (default 1000)
  --seed N                     seed of gids and data (default 1)
  --jwt-ttl D                  JWT lifetime (default 1h)
  --jwt-renew-after D|never    renew JWTs older than this (default 15m)
  --authorization-push D|never period of `authorization` events (default never)
  --sync-page-limit N          items per /sync/get answer (default 1000)
  --ping-interval D            Engine.IO ping interval (default 25s)
  --ping-timeout D             Engine.IO ping timeout (default 20s)
  --job-step-delay D           delay between job steps (default 20ms)
  --tls                        serve HTTPS/WSS with a self-signed certificate
";

fn duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

fn optional_duration(s: &str) -> Result<Option<Duration>, String> {
    if s == "never" || s == "off" {
        Ok(None)
    } else {
        duration(s).map(Some)
    }
}

fn number<T: std::str::FromStr>(flag: &str, s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{flag} needs a number, got {s:?}"))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<DevConfig>, String> {
    let mut cfg = DevConfig::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--tls" {
            cfg.tls = true;
            continue;
        }
        let (flag, value) = match flag.split_once('=') {
            Some((f, v)) => (f.to_owned(), v.to_owned()),
            None => {
                let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
                (flag, v)
            }
        };
        match flag.as_str() {
            "--port" => cfg.port = number(&flag, &value)?,
            "--records" => cfg.records = number(&flag, &value)?,
            "--seed" => cfg.seed = number(&flag, &value)?,
            "--jwt-ttl" => cfg.jwt_ttl = duration(&value)?,
            "--jwt-renew-after" => cfg.jwt_renew_after = optional_duration(&value)?,
            "--authorization-push" => cfg.authorization_push_period = optional_duration(&value)?,
            "--sync-page-limit" => cfg.sync_page_limit = number::<usize>(&flag, &value)?.max(1),
            "--ping-interval" => cfg.ping_interval = duration(&value)?,
            "--ping-timeout" => cfg.ping_timeout = duration(&value)?,
            "--job-step-delay" => cfg.job_step_delay = duration(&value)?,
            _ => return Err(format!("unknown option {flag} (try --help)")),
        }
    }
    Ok(Some(cfg))
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            let _ = std::io::stderr().write_all(HELP.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let server = match DevServer::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot start the dev server: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[derive(serde::Serialize)]
    struct Ready<'a> {
        url: &'a str,
        project: &'a str,
        api_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ca_pem: Option<&'a str>,
    }
    let ready = Ready {
        url: server.url(),
        project: server.project(),
        api_key: server.api_key(),
        ca_pem: server.tls_root_pem(),
    };
    let line = serde_json::to_string(&ready).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    drop(out);
    server.wait();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_flags() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(duration("1.5m").unwrap(), Duration::from_secs(90));
        assert!(duration("x").is_err());
        let cfg = parse_args(
            ["--port", "0", "--records=5", "--jwt-renew-after", "never"].map(String::from),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cfg.records, 5);
        assert_eq!(cfg.jwt_renew_after, None);
        assert!(parse_args(["--nope".to_owned(), "1".to_owned()]).is_err());
        assert!(parse_args(["--help".to_owned()]).unwrap().is_none());
    }
}
