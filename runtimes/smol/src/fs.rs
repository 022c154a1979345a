//! Local files for downloads and uploads: the shared file rules of
//! `unicat_runtime_support::files`, run on the `blocking` crate's thread pool, never on the
//! executor.

use std::path::{Path, PathBuf};

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Body, FileInfo};
use unicat_runtime_support::files::{self, TempFile};

/// Size and modification time of a regular file, or `None`.
pub(crate) async fn stat(path: PathBuf) -> Option<FileInfo> {
    blocking::unblock(move || files::stat(&path)).await
}

/// Reads a whole file of at most `limit` bytes.
pub(crate) async fn read(path: PathBuf, limit: u64) -> Result<Body, TransportError> {
    blocking::unblock(move || files::read_capped(&path, limit)).await
}

/// A download under way, into a [`TempFile`] renamed into place only when the whole body
/// arrived. Writes go through a second handle on the file, pipelined on the blocking pool.
/// Dropped unfinished, the temporary file goes, in the background.
pub(crate) struct PartFile {
    writer: Option<blocking::Unblock<std::fs::File>>,
    tmp: Option<TempFile>,
}

fn finished() -> TransportError {
    TransportError::new(TransportErrorKind::File, "the download is finished")
}

impl PartFile {
    /// Creates the temporary file, and the destination's folders.
    pub(crate) async fn create(path: &Path) -> Result<PartFile, TransportError> {
        let dest = path.to_path_buf();
        let (tmp, file) = blocking::unblock(move || {
            let mut tmp = TempFile::create(&dest)?;
            let file = tmp.file()?.try_clone()?;
            Ok::<_, std::io::Error>((tmp, file))
        })
        .await
        .map_err(files::file_error)?;
        Ok(PartFile {
            writer: Some(blocking::Unblock::new(file)),
            tmp: Some(tmp),
        })
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        use futures_lite::AsyncWriteExt;
        let writer = self.writer.as_mut().ok_or_else(finished)?;
        writer.write_all(bytes).await.map_err(files::file_error)
    }

    /// Syncs the file and renames it into place.
    pub(crate) async fn finish(mut self) -> Result<(), TransportError> {
        use futures_lite::AsyncWriteExt;
        let mut writer = self.writer.take().ok_or_else(finished)?;
        writer.flush().await.map_err(files::file_error)?;
        // The second handle closes before the rename, which Windows needs.
        drop(writer.into_inner().await);
        let tmp = self.tmp.take().ok_or_else(finished)?;
        blocking::unblock(move || tmp.persist())
            .await
            .map_err(files::file_error)
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
