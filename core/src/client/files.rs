//! File operations: the stats and reads the client asks its runtime for around uploads and
//! downloads, kept by request id until answered ([`FileOps`]), and what each answer means.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::TransportError;
use crate::io::{Body, FileInfo, RequestId};

use super::calls::{Download, Request};
use super::CallId;

/// A file operation the runtime was asked for, and the step of its command it serves.
#[derive(Debug)]
pub(super) enum FileOp {
    /// Is the file to upload there, and how large?
    UploadStat {
        command: CallId,
        url: String,
        fields: Vec<(String, String)>,
        path: PathBuf,
    },
    /// The file to upload's contents.
    UploadRead {
        command: CallId,
        url: String,
        fields: Vec<(String, String)>,
        name: String,
    },
    /// Before the DAM call: is a fresh copy there already?
    DownloadBefore(Download, Request),
    /// After the DAM call: the same question for the name the DAM gave.
    DownloadAfter {
        command: CallId,
        relative: PathBuf,
        url: String,
        updated_on: Option<f64>,
    },
}

impl FileOp {
    /// The command it serves.
    fn owner(&self) -> CallId {
        match self {
            FileOp::UploadStat { command, .. }
            | FileOp::UploadRead { command, .. }
            | FileOp::DownloadAfter { command, .. } => *command,
            FileOp::DownloadBefore(d, _) => d.command,
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

/// A file operation with its answer: the next step of its command.
#[derive(Debug)]
pub(super) enum Answered {
    /// The file to upload was looked at.
    UploadStat {
        command: CallId,
        url: String,
        fields: Vec<(String, String)>,
        path: PathBuf,
        info: Option<FileInfo>,
    },
    /// The file to upload was read.
    UploadRead {
        command: CallId,
        url: String,
        fields: Vec<(String, String)>,
        name: String,
        read: Result<Body, TransportError>,
    },
    /// A copy at least as new as the asset is there: the download is done, with this path
    /// relative to the asset folder.
    Kept { command: CallId, relative: String },
    /// No fresh copy where the command said: ask the DAM.
    Dam(Download, Request),
    /// No fresh copy under the name the DAM gave: fetch the media.
    Media {
        command: CallId,
        relative: PathBuf,
        url: String,
    },
    /// A stat answered with a read, or the reverse: the runtime broke the contract, and the
    /// command must still finish.
    WrongKind { command: CallId },
}

/// The file operations the runtime was asked for and has not answered yet.
#[derive(Debug)]
pub(super) struct FileOps {
    /// By the id their answer will carry.
    in_flight: BTreeMap<RequestId, FileOp>,
    /// The last multipart boundary's seed: from the configured seed, one step per upload, so
    /// that a replay builds the same bodies.
    multipart_seed: u64,
}

impl FileOps {
    /// No operation yet; upload boundaries numbered from `multipart_seed`.
    pub(super) fn new(multipart_seed: u64) -> FileOps {
        FileOps {
            in_flight: BTreeMap::new(),
            multipart_seed,
        }
    }

    /// The runtime was asked for `op` as request `id`.
    pub(super) fn asked(&mut self, id: RequestId, op: FileOp) {
        self.in_flight.insert(id, op);
    }

    /// The runtime answered request `id`: the next step, or `None` when no operation waits
    /// for that id.
    pub(super) fn answer(&mut self, id: RequestId, answer: FileAnswer) -> Option<Answered> {
        let op = self.in_flight.remove(&id)?;
        Some(match (op, answer) {
            (
                FileOp::UploadStat {
                    command,
                    url,
                    fields,
                    path,
                },
                FileAnswer::Stat(info),
            ) => Answered::UploadStat {
                command,
                url,
                fields,
                path,
                info,
            },
            (
                FileOp::UploadRead {
                    command,
                    url,
                    fields,
                    name,
                },
                FileAnswer::Read(read),
            ) => Answered::UploadRead {
                command,
                url,
                fields,
                name,
                read,
            },
            (FileOp::DownloadBefore(d, request), FileAnswer::Stat(info)) => {
                if fresh(info, d.updated_on) {
                    let relative = d.relative.as_deref().map(slashed).unwrap_or_default();
                    Answered::Kept {
                        command: d.command,
                        relative,
                    }
                } else {
                    Answered::Dam(d, request)
                }
            }
            (
                FileOp::DownloadAfter {
                    command,
                    relative,
                    url,
                    updated_on,
                },
                FileAnswer::Stat(info),
            ) => {
                if fresh(info, updated_on) {
                    let relative = slashed(&relative);
                    Answered::Kept { command, relative }
                } else {
                    Answered::Media {
                        command,
                        relative,
                        url,
                    }
                }
            }
            (op, _) => {
                crate::log!(warn, "file answer of the wrong kind for {op:?}");
                Answered::WrongKind {
                    command: op.owner(),
                }
            }
        })
    }

    /// The seed of the next upload's multipart boundary.
    pub(super) fn next_multipart_seed(&mut self) -> u64 {
        self.multipart_seed = self.multipart_seed.wrapping_add(1);
        self.multipart_seed
    }

    /// Forgets every operation: the commands that waited on one.
    pub(super) fn close(&mut self) -> Vec<CallId> {
        std::mem::take(&mut self.in_flight)
            .values()
            .map(FileOp::owner)
            .collect()
    }
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
pub(super) fn slashed(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::error::{TransportError, TransportErrorKind};
    use crate::io::{FileInfo, RequestId};

    use super::{Answered, CallId, Download, FileAnswer, FileOp, FileOps, Request};

    fn after_dam(command: u64, updated_on: Option<f64>) -> FileOp {
        FileOp::DownloadAfter {
            command: CallId(command),
            relative: PathBuf::from("shoes/red.jpg"),
            url: "https://cdn.test/red.jpg".into(),
            updated_on,
        }
    }

    fn stat(modified: Option<f64>) -> FileAnswer {
        FileAnswer::Stat(Some(FileInfo { size: 10, modified }))
    }

    #[test]
    fn a_download_keeps_a_file_at_least_as_new_as_the_asset() {
        let mut ops = FileOps::new(0);
        for (updated_on, answer, kept) in [
            // No date on the asset: any file there will do.
            (None, stat(None), true),
            (Some(100.0), stat(Some(100.0)), true),
            (Some(100.0), stat(Some(150.0)), true),
            (Some(100.0), stat(Some(99.5)), false),
            // A file whose age is unknown may be older.
            (Some(100.0), stat(None), false),
            (None, FileAnswer::Stat(None), false),
        ] {
            ops.asked(RequestId(1), after_dam(7, updated_on));
            match ops.answer(RequestId(1), answer) {
                Some(Answered::Kept { command, relative }) => {
                    assert!(kept, "{updated_on:?}");
                    assert_eq!((command, relative.as_str()), (CallId(7), "shoes/red.jpg"));
                }
                Some(Answered::Media { command, url, .. }) => {
                    assert!(!kept, "{updated_on:?}");
                    assert_eq!(
                        (command, url.as_str()),
                        (CallId(7), "https://cdn.test/red.jpg")
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn before_the_dam_call_a_stale_file_asks_the_dam_with_the_request_kept() {
        let mut ops = FileOps::new(0);
        let download = Download {
            command: CallId(3),
            relative: Some(PathBuf::from("a/b.pdf")),
            asset_pathname: "/a/b.pdf".into(),
            updated_on: Some(100.0),
        };
        let dam = Request::Dam {
            url: "https://unicat.test/dam/publish/x".into(),
        };
        ops.asked(RequestId(4), FileOp::DownloadBefore(download, dam));
        match ops.answer(RequestId(4), stat(Some(50.0))) {
            Some(Answered::Dam(d, Request::Dam { url })) => {
                assert_eq!(d.command, CallId(3));
                assert_eq!(url, "https://unicat.test/dam/publish/x");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stat_answered_with_a_read_fails_the_call_and_an_answer_counts_once() {
        let mut ops = FileOps::new(0);
        ops.asked(RequestId(2), after_dam(5, None));
        let read = FileAnswer::Read(Err(TransportError::new(TransportErrorKind::File, "x")));
        assert!(matches!(
            ops.answer(RequestId(2), read),
            Some(Answered::WrongKind { command: CallId(5) })
        ));
        assert!(
            ops.answer(RequestId(2), stat(None)).is_none(),
            "answered once"
        );
        assert!(
            ops.answer(RequestId(8), stat(None)).is_none(),
            "never asked"
        );
    }

    #[test]
    fn upload_boundaries_step_from_the_seed_and_closing_names_every_command_that_waited() {
        let mut ops = FileOps::new(41);
        assert_eq!(ops.next_multipart_seed(), 42);
        assert_eq!(ops.next_multipart_seed(), 43);
        ops.asked(
            RequestId(6),
            FileOp::UploadRead {
                command: CallId(1),
                url: "u".into(),
                fields: Vec::new(),
                name: "x.txt".into(),
            },
        );
        ops.asked(RequestId(3), after_dam(2, None));
        assert_eq!(ops.close(), [CallId(2), CallId(1)]);
        assert!(ops.answer(RequestId(6), stat(None)).is_none());
    }
}
