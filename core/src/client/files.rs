//! Downloads and uploads: the file checks before and after the DAM call, and the media step.

use super::*;

impl Client {
    pub(super) fn on_media(&mut self, call: Call, status: u16, body: Body) {
        let Purpose::Media(id, relative) = call.purpose else {
            return;
        };
        if status == 200 {
            self.finish(
                id,
                Ok(Value::String(relative.to_string_lossy().replace('\\', "/"))),
            );
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

    pub(super) fn on_dam(&mut self, d: Download, result: &Map<String, Value>) {
        let Some(url) = result
            .get("public_url")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return self.finish(
                d.call,
                Err(CallError::InvalidResponse {
                    status: 200,
                    detail: "the DAM result has no public_url".into(),
                    excerpt: String::new(),
                }),
            );
        };
        if let Err(reason) = self.cfg.media_hosts.check(&url, &self.cfg.urls.host()) {
            crate::log!(warn, "refused media URL: {reason}");
            let url = url.chars().take(200).collect();
            return self.finish(d.call, Err(CallError::UntrustedUrl { url, reason }));
        }
        let relative = match d.relative {
            Some(r) => r,
            None => match api::paths::download_path(&d.asset_pathname, None, Some(&url)) {
                Ok(r) => r,
                Err(e) => return self.finish(d.call, Err(CallError::UnsafePath(e.to_string()))),
            },
        };
        let Some(folder) = self.cfg.asset_folder.clone() else {
            return self.finish(
                d.call,
                Err(CallError::NotDownloadable("no asset folder".into())),
            );
        };
        let op = self.session.alloc_request_id();
        let path = folder.join(&relative);
        self.files.insert(
            op,
            FileOp::DownloadAfter {
                call: d.call,
                relative,
                url,
                updated_on: d.updated_on,
            },
        );
        self.out.push_back(Output::Stat { id: op, path });
    }

    /// A runtime's answer to a file operation: the path's metadata, or its contents.
    pub(super) fn on_file(&mut self, id: RequestId, answer: FileAnswer) {
        let Some(op) = self.files.remove(&id) else {
            return;
        };
        match (op, answer) {
            (
                FileOp::UploadStat {
                    call,
                    url,
                    fields,
                    path,
                },
                FileAnswer::Stat(info),
            ) => {
                self.on_upload_stat(call, (url, fields), path, info);
            }
            (
                FileOp::UploadRead {
                    call,
                    url,
                    fields,
                    name,
                },
                FileAnswer::Read(read),
            ) => {
                self.on_upload_read(call, (url, fields), &name, read);
            }
            (FileOp::DownloadBefore(d, req), FileAnswer::Stat(info)) => {
                if fresh(info, d.updated_on) {
                    let rel = d.relative.as_deref().map(slashed).unwrap_or_default();
                    self.finish(d.call, Ok(Value::String(rel)));
                } else {
                    self.start(Purpose::Dam(d), req, true);
                }
            }
            (
                FileOp::DownloadAfter {
                    call,
                    relative,
                    url,
                    updated_on,
                },
                FileAnswer::Stat(info),
            ) => {
                if fresh(info, updated_on) {
                    self.finish(call, Ok(Value::String(slashed(&relative))));
                } else if let Some(folder) = self.cfg.asset_folder.clone() {
                    let path = folder.join(&relative);
                    self.start(
                        Purpose::Media(call, relative),
                        Req::Media { url, path },
                        true,
                    );
                }
            }
            (op, _) => {
                // A stat answered with a read, or the reverse: the runtime broke the contract,
                // and the call must still finish.
                crate::log!(warn, "file answer of the wrong kind for {op:?}");
                let call = match op {
                    FileOp::UploadStat { call, .. }
                    | FileOp::UploadRead { call, .. }
                    | FileOp::DownloadAfter { call, .. } => call,
                    FileOp::DownloadBefore(d, _) => d.call,
                };
                self.finish(
                    call,
                    Err(CallError::Transport(TransportError::new(
                        TransportErrorKind::File,
                        "the runtime answered a file operation with the wrong kind of answer",
                    ))),
                );
            }
        }
    }

    /// The file to upload was looked at: read it if it is there and within the limit.
    fn on_upload_stat(
        &mut self,
        call: CallId,
        (url, fields): (String, Vec<(String, String)>),
        path: PathBuf,
        info: Option<FileInfo>,
    ) {
        match info {
            None => self.finish(
                call,
                Err(CallError::Transport(TransportError::new(
                    TransportErrorKind::File,
                    "the file to upload cannot be read",
                ))),
            ),
            Some(info) if info.size > self.cfg.max_upload_bytes => {
                self.finish(call, Err(too_large()));
            }
            Some(_) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let op = self.session.alloc_request_id();
                let read = FileOp::UploadRead {
                    call,
                    url,
                    fields,
                    name,
                };
                self.files.insert(op, read);
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
        call: CallId,
        (url, fields): (String, Vec<(String, String)>),
        name: &str,
        read: Result<Body, TransportError>,
    ) {
        match read {
            Err(e) if e.kind == TransportErrorKind::TooLarge => {
                self.finish(call, Err(too_large()));
            }
            Err(e) => self.finish(call, Err(CallError::Transport(e))),
            Ok(bytes) => {
                self.multipart_seed = self.multipart_seed.wrapping_add(1);
                let mp = api::multipart::build(
                    &fields,
                    "upload_file",
                    name,
                    bytes.as_bytes(),
                    self.multipart_seed,
                );
                let req = Req::Upload {
                    url,
                    content_type: mp.content_type,
                    body: mp.body,
                };
                self.start(Purpose::App(call), req, false);
            }
        }
    }
}

/// What a runtime answered to a file operation.
#[derive(Debug)]
pub(super) enum FileAnswer {
    /// The path's metadata; `None` when there is nothing readable there.
    Stat(Option<FileInfo>),
    /// The file's contents.
    Read(Result<Body, TransportError>),
}

/// Whether a local file is as new as the asset: it exists and, when the asset says when it
/// changed, was modified then or later.
fn fresh(info: Option<FileInfo>, updated_on: Option<f64>) -> bool {
    match (info, updated_on) {
        (Some(_), None) => true,
        (
            Some(FileInfo {
                modified: Some(m), ..
            }),
            Some(u),
        ) => u <= m,
        _ => false,
    }
}

/// A relative path with forward slashes, as the SDK reports it on every platform.
fn slashed(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
