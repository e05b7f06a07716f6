//! Atomic file replacement (temp file, fsync, rename) and cross-process file locks.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Replace `path` with `contents` so that a reader sees either the old or the new file, never a
/// torn one, even if the machine loses power midway.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = path.parent().ok_or_else(|| Error::Write {
        path: path.to_path_buf(),
        reason: "no parent folder".into(),
    })?;
    fs::create_dir_all(dir).map_err(fail)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Persist the rename itself.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ignored = fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// An exclusive advisory lock on a file, held until dropped. Works across threads (each call
/// opens its own file description) and across processes.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the lock is held. Call it from a blocking context.
    pub fn acquire(path: &Path) -> Result<Self> {
        let fail = |e: std::io::Error| Error::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/file.json");
        write_atomically(&path, b"one").expect("first write");
        write_atomically(&path, b"two").expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "temp files must not be left behind: {names:?}"
        );
    }
}
