//! Local files for downloads and uploads: the shared file rules of
//! `unicat_runtime_support::files`, run on the `blocking` crate's thread pool, never on the
//! executor.

use std::path::PathBuf;

use futures_lite::AsyncWriteExt;
use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Body, FileInfo};
use unicat_runtime_support::files::{self, TempFile};
use unicat_smol_http::{BodySink, BoxFuture, SinkError};

/// Size and modification time of a regular file, or `None`.
pub(crate) async fn stat(path: PathBuf) -> Option<FileInfo> {
    blocking::unblock(move || files::stat(&path)).await
}

/// Reads a whole file of at most `limit` bytes.
pub(crate) async fn read(path: PathBuf, limit: u64) -> Result<Body, TransportError> {
    blocking::unblock(move || files::read_capped(&path, limit)).await
}

/// A download under way, into a [`TempFile`] beside its destination, created once the
/// response is a 200 and renamed into place only when the whole body arrived. Writes go
/// through a second handle on the file, pipelined on the blocking pool. Dropped unfinished,
/// the temporary file goes, in the background.
pub(crate) struct PartFile {
    dest: PathBuf,
    writer: Option<blocking::Unblock<std::fs::File>>,
    tmp: Option<TempFile>,
}

fn not_open() -> SinkError {
    TransportError::new(TransportErrorKind::File, "the download is not open").into()
}

impl PartFile {
    /// A download to `dest`; nothing is created yet.
    pub(crate) fn new(dest: PathBuf) -> PartFile {
        PartFile {
            dest,
            writer: None,
            tmp: None,
        }
    }
}

// Errors are the core's `TransportError`s, which the HTTP adapter passes on as they are.
impl BodySink for PartFile {
    /// Creates the temporary file, and the destination's folders.
    fn open(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        let dest = self.dest.clone();
        Box::pin(async move {
            let (tmp, file) = blocking::unblock(move || {
                let mut tmp = TempFile::create(&dest)?;
                let file = tmp.file()?.try_clone()?;
                Ok::<_, std::io::Error>((tmp, file))
            })
            .await
            .map_err(files::file_error)?;
            self.writer = Some(blocking::Unblock::new(file));
            self.tmp = Some(tmp);
            Ok(())
        })
    }

    fn write<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let writer = self.writer.as_mut().ok_or_else(not_open)?;
            Ok(writer.write_all(bytes).await.map_err(files::file_error)?)
        })
    }

    /// Syncs the file and renames it into place.
    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<(), SinkError>> {
        Box::pin(async move {
            let mut writer = self.writer.take().ok_or_else(not_open)?;
            writer.flush().await.map_err(files::file_error)?;
            // The second handle closes before the rename, which Windows needs.
            drop(writer.into_inner().await);
            let tmp = self.tmp.take().ok_or_else(not_open)?;
            blocking::unblock(move || tmp.persist())
                .await
                .map_err(files::file_error)?;
            Ok(())
        })
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let (writer, tmp) = (self.writer.take(), self.tmp.take());
        if tmp.is_some() {
            blocking::unblock(move || drop((writer, tmp))).detach();
        }
    }
}
