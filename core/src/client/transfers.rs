//! Uploads and downloads, part of the client's orchestration: the steps around the file
//! operations (the [`files`](super::files) part keeps them): a file looked at and read before
//! its upload, a fresh copy looked for before and after the DAM call, and the media GET.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::api::{self, ApiError, CallError};
use crate::error::{TransportError, TransportErrorKind};
use crate::io::{Body, FileInfo, Output, RequestId};

use super::calls::{Call, Download, Purpose, Request};
use super::files::{slashed, Answered, FileAnswer, FileOp};
use super::{CallId, Client};

impl Client {
    /// The media GET of a download answered: the file is in place, or the call fails.
    pub(super) fn on_media(&mut self, call: Call, status: u16, body: Body) {
        let Purpose::Media(id, relative) = call.into_purpose() else {
            return;
        };
        if status == 200 {
            self.finish(id, Ok(Value::String(slashed(&relative))));
        } else {
            self.finish(
                id,
                Err(CallError::InvalidResponse {
                    status,
                    detail: "the media download failed".into(),
                    excerpt: String::from_utf8_lossy(body.as_bytes())
                        .chars()
                        .take(256)
                        .collect(),
                }),
            );
        }
    }

    /// The DAM call of a download answered with the public URL: is a fresh copy there?
    pub(super) fn on_dam(&mut self, d: Download, result: &Map<String, Value>) {
        let url = match api::public_url(&Value::Object(result.clone())) {
            Ok(url) => url,
            Err(e) => return self.finish(d.command, Err(e)),
        };
        if let Err(reason) = self.cfg.media_hosts.check(&url, &self.cfg.urls.host()) {
            crate::log!(warn, "refused media URL: {reason}");
            let url = url.chars().take(200).collect();
            return self.finish(d.command, Err(CallError::UntrustedUrl { url, reason }));
        }
        let relative = match d.relative {
            Some(r) => r,
            None => match api::paths::download_path(&d.asset_pathname, None, Some(&url)) {
                Ok(r) => r,
                Err(e) => return self.finish(d.command, Err(CallError::UnsafePath(e.to_string()))),
            },
        };
        let Some(folder) = self.cfg.asset_folder.clone() else {
            return self.finish(
                d.command,
                Err(CallError::NotDownloadable("no asset folder".into())),
            );
        };
        let path = folder.join(&relative);
        let stat = FileOp::DownloadAfter {
            command: d.command,
            relative,
            url,
            updated_on: d.updated_on,
        };
        self.stat_file(stat, path);
    }

    /// Asks the runtime for a file's metadata, for the step `op`.
    pub(super) fn stat_file(&mut self, op: FileOp, path: PathBuf) {
        let id = self.ids.request();
        self.files.asked(id, op);
        self.out.push_back(Output::Stat { id, path });
    }

    /// A runtime's answer to a file operation: the next step of its command.
    pub(super) fn on_file(&mut self, id: RequestId, answer: FileAnswer) {
        let Some(answered) = self.files.answer(id, answer) else {
            return;
        };
        match answered {
            Answered::UploadStat {
                command,
                url,
                fields,
                path,
                info,
            } => self.on_upload_stat(command, (url, fields), path, info),
            Answered::UploadRead {
                command,
                url,
                fields,
                name,
                read,
            } => self.on_upload_read(command, (url, fields), &name, read),
            Answered::Kept { command, relative } => {
                self.finish(command, Ok(Value::String(relative)))
            }
            Answered::Dam(download, request) => self.start(Purpose::Dam(download), request, true),
            Answered::Media {
                command,
                relative,
                url,
            } => {
                if let Some(folder) = self.cfg.asset_folder.clone() {
                    let path = folder.join(&relative);
                    let request = Request::Media { url, path };
                    self.start(Purpose::Media(command, relative), request, true);
                }
            }
            Answered::WrongKind { command } => self.finish(
                command,
                Err(CallError::Transport(TransportError::new(
                    TransportErrorKind::File,
                    "the runtime answered a file operation with the wrong kind of answer",
                ))),
            ),
        }
    }

    /// The file to upload was looked at: read it if it is there and within the limit.
    fn on_upload_stat(
        &mut self,
        command: CallId,
        (url, fields): (String, Vec<(String, String)>),
        path: PathBuf,
        info: Option<FileInfo>,
    ) {
        match info {
            None => self.finish(
                command,
                Err(CallError::Transport(TransportError::new(
                    TransportErrorKind::File,
                    "the file to upload cannot be read",
                ))),
            ),
            Some(info) if info.size > self.cfg.max_upload_bytes => {
                self.finish(command, Err(too_large()));
            }
            Some(_) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let op = self.ids.request();
                let read = FileOp::UploadRead {
                    command,
                    url,
                    fields,
                    name,
                };
                self.files.asked(op, read);
                self.out.push_back(Output::ReadFile {
                    id: op,
                    path,
                    limit: self.cfg.max_upload_bytes,
                });
            }
        }
    }

    /// The file to upload was read: send it as a multipart body.
    fn on_upload_read(
        &mut self,
        command: CallId,
        (url, fields): (String, Vec<(String, String)>),
        name: &str,
        read: Result<Body, TransportError>,
    ) {
        match read {
            Err(e) if e.kind == TransportErrorKind::TooLarge => {
                self.finish(command, Err(too_large()));
            }
            Err(e) => self.finish(command, Err(CallError::Transport(e))),
            Ok(bytes) => {
                let seed = self.files.next_multipart_seed();
                let mp =
                    api::multipart::build(&fields, "upload_file", name, bytes.as_bytes(), seed);
                let request = Request::Upload {
                    url,
                    content_type: mp.content_type,
                    body: mp.body,
                };
                self.start(Purpose::App(command), request, false);
            }
        }
    }
}

/// An upload over the limit fails as the API would answer it.
fn too_large() -> CallError {
    CallError::Api(ApiError {
        status: 413,
        code: 413,
        message: "Request Entity Too Large".into(),
        info: Value::Null,
    })
}
