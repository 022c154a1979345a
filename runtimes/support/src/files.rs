//! Local files, as both runtimes touch them: downloads land through a temporary file that
//! nobody can plant or guess, uploads are read with a cap, and `stat` answers the same way
//! everywhere. Every call here blocks; the smol runtime runs them on its blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use unicat_core::error::{TransportError, TransportErrorKind};
use unicat_core::io::{Body, FileInfo};

/// How many fresh names a temporary file gets before creation gives up: a clash means
/// someone planted a file under a name drawn from 64 random bits, over and over.
const TEMP_ATTEMPTS: usize = 16;

/// A local file error, as the core wants it.
pub fn file_error(e: std::io::Error) -> TransportError {
    TransportError::with_source(TransportErrorKind::File, e)
}

/// The answer to a `Stat` output: size and modification time of a regular file, or `None`.
pub fn stat(path: &Path) -> Option<FileInfo> {
    let metadata = std::fs::metadata(path).ok()?;
    metadata.is_file().then(|| FileInfo {
        size: metadata.len(),
        modified: metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
    })
}

/// Reads a whole file of at most `limit` bytes; a longer one is `TooLarge`, found out after
/// reading one byte past the limit, never the whole file.
pub fn read_capped(path: &Path, limit: u64) -> Result<Body, TransportError> {
    let file = File::open(path).map_err(file_error)?;
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
}

/// A file being written beside its destination, moved into place by [`TempFile::persist`]
/// only when complete, so a reader never sees half a file and a failure leaves the old one.
/// Dropped unpersisted, it removes itself.
///
/// Its name is `.unicat-<16 random hex digits>.part`, whatever the destination's: a fixed
/// length that fits beside a destination name of the file system's full length, and a name
/// nobody can guess to plant a link at. It is created with `create_new`, which fails on any
/// existing entry, a symlink included, so nothing planted is ever followed or truncated.
#[derive(Debug)]
pub struct TempFile {
    file: Option<File>,
    path: PathBuf,
    dest: PathBuf,
}

impl TempFile {
    /// Creates the temporary file for `dest`, and `dest`'s folders.
    pub fn create(dest: &Path) -> std::io::Result<TempFile> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut last = None;
        for _ in 0..TEMP_ATTEMPTS {
            let path = dir.join(format!(".unicat-{:016x}.part", crate::random_u64()));
            match open_new(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        file: Some(file),
                        path,
                        dest: dest.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for writing.
    pub fn file(&mut self) -> std::io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the temporary file is closed"))
    }

    /// Syncs the file, renames it over the destination, and syncs the folder, so the new
    /// name survives a crash.
    pub fn persist(mut self) -> std::io::Result<()> {
        let file = self.file.take();
        if let Some(f) = &file {
            f.sync_all()?;
        }
        drop(file);
        std::fs::rename(&self.path, &self.dest)?;
        // Renamed: nothing left for `drop` to remove.
        self.path = PathBuf::new();
        sync_dir(&self.dest);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates a file that did not exist. `create_new` is `O_CREAT | O_EXCL`, which fails on any
/// existing entry at `path`, a symlink (dangling or not) included: nothing is followed.
fn open_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Syncs the folder holding `path`, where the platform can (a folder cannot be opened for
/// syncing on Windows, where the rename is durable by itself).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `bytes` to `dest` atomically: through a [`TempFile`] beside it, so a reader sees
/// the old content or the new, never a mix, a planted symlink is never followed, and a
/// failure leaves no temporary file behind.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = TempFile::create(dest)?;
    tmp.file()?.write_all(bytes)?;
    tmp.persist()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "unicat-support-{name}-{}-{:x}",
            std::process::id(),
            crate::random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_nothing_else() {
        let d = dir("atomic");
        let dest = d.join("store.json");
        write_atomically(&dest, b"old").unwrap();
        write_atomically(&dest, b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(names(&d), ["store.json"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_temporary_file_dropped_unfinished_is_removed() {
        let d = dir("dropped");
        let mut tmp = TempFile::create(&d.join("x.jpg")).unwrap();
        tmp.file().unwrap().write_all(b"half").unwrap();
        assert_eq!(names(&d).len(), 1);
        drop(tmp);
        assert!(names(&d).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn temporary_names_are_short_whatever_the_destination() {
        let d = dir("long");
        let long = "n".repeat(251) + ".jpg";
        let tmp = TempFile::create(&d.join(&long)).unwrap();
        let name = tmp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(name.len(), ".unicat-0123456789abcdef.part".len());
        tmp.persist().unwrap();
        assert_eq!(names(&d), [long]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_followed() {
        let d = dir("planted");
        let victim = d.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        // Even a link at the very name drawn is refused, not followed.
        let planted = d.join(".unicat-0000000000000000.part");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let e = open_new(&planted).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        let dangling = d.join(".unicat-1111111111111111.part");
        std::os::unix::fs::symlink(d.join("nowhere"), &dangling).unwrap();
        assert!(open_new(&dangling).is_err());
        assert!(!d.join("nowhere").exists());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_read_over_its_cap_is_too_large_and_reads_no_further() {
        let d = dir("capped");
        let f = d.join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_capped(&f, 10).unwrap().as_bytes(), b"0123456789");
        assert_eq!(
            read_capped(&f, 9).unwrap_err().kind,
            TransportErrorKind::TooLarge
        );
        assert_eq!(
            read_capped(&d.join("missing"), 9).unwrap_err().kind,
            TransportErrorKind::File
        );
        assert_eq!(stat(&f).map(|i| i.size), Some(10));
        assert_eq!(stat(&d), None, "a folder is not a file");
        let _ = std::fs::remove_dir_all(&d);
    }
}
