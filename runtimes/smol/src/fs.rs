//! Local files for downloads and uploads. The calls are blocking, so they run on the
//! `blocking` crate's thread pool, never on the executor.

use std::io::Read;
use std::path::{Path, PathBuf};

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Body, FileInfo};

fn file_error(e: std::io::Error) -> TransportError {
    TransportError::new(TransportErrorKind::File, e.to_string())
}

/// Size and modification time of a regular file, or `None`.
pub(crate) async fn stat(path: PathBuf) -> Option<FileInfo> {
    blocking::unblock(move || std::fs::metadata(&path).ok().and_then(|m| FileInfo::of(&m))).await
}

/// Reads a whole file of at most `limit` bytes.
pub(crate) async fn read(path: PathBuf, limit: u64) -> Result<Body, TransportError> {
    blocking::unblock(move || {
        let file = std::fs::File::open(&path).map_err(file_error)?;
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(file_error)?;
        if bytes.len() as u64 > limit {
            return Err(TransportError::new(
                TransportErrorKind::TooLarge,
                format!("the file is larger than {limit} bytes"),
            ));
        }
        Ok(Body(bytes))
    })
    .await
}

/// A download under way: a temporary file beside its destination, renamed into place only
/// when the whole body arrived, so a reader never sees half a file and a failed download
/// leaves the old one.
pub(crate) struct PartFile {
    file: Option<blocking::Unblock<std::fs::File>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl PartFile {
    /// Creates the temporary file, and the destination's folders.
    pub(crate) async fn create(path: &Path) -> Result<PartFile, TransportError> {
        let tmp = unicat_core::io::part_path(path);
        let (dir, at) = (path.parent().map(Path::to_path_buf), tmp.clone());
        let file = blocking::unblock(move || {
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::File::create(at)
        })
        .await
        .map_err(file_error)?;
        Ok(PartFile {
            file: Some(blocking::Unblock::new(file)),
            tmp,
            path: path.to_path_buf(),
        })
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        use futures_lite::AsyncWriteExt;
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes).await.map_err(file_error),
            None => Err(TransportError::new(TransportErrorKind::File, "closed")),
        }
    }

    /// Syncs the file and renames it into place.
    pub(crate) async fn finish(mut self) -> Result<(), TransportError> {
        let Some(mut file) = self.file.take() else {
            return Err(TransportError::new(TransportErrorKind::File, "closed"));
        };
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        let result = async {
            file.with_mut(|f| f.sync_all()).await.map_err(file_error)?;
            let file = file.into_inner().await;
            blocking::unblock(move || {
                drop(file);
                std::fs::rename(&tmp, &path)
            })
            .await
            .map_err(file_error)
        }
        .await;
        if result.is_ok() {
            // Renamed: nothing left to remove.
            self.tmp = PathBuf::new();
        }
        result
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.tmp.as_os_str().is_empty() {
            return;
        }
        // An unfinished download: the temporary file goes, in the background.
        let (file, tmp) = (self.file.take(), std::mem::take(&mut self.tmp));
        blocking::unblock(move || {
            drop(file);
            let _ = std::fs::remove_file(tmp);
        })
        .detach();
    }
}
