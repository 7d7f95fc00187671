//! Whole-file replacement that a crash cannot leave half done.
//!
//! A store writes its file as: a temporary file in the same directory (created fresh, mode 0600
//! on unix), the bytes, `fsync` of the file, `rename` over the target, `fsync` of the
//! directory. `rename` within one directory is atomic on POSIX file systems, so a reader sees
//! either the old file or the new one, never a mixture; the two `fsync`s make the new file
//! durable before and after it takes the target's name. A crash before the rename leaves the
//! target untouched and a temporary file behind, which [`remove_leftover`] deletes and every
//! reader ignores.
//!
//! The temporary file has one fixed name per target ([`temp_path`]), so a store has a single
//! writer: two processes storing to the same path at once may fail (never corrupt the target).

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary file a write to `path` goes through: `.<name>.tmp` beside it.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or(path.as_os_str()));
    name.push(".tmp");
    path.with_file_name(name)
}

/// Removes a temporary file left by a write that did not finish. A missing file is fine.
pub(crate) fn remove_leftover(path: &Path) -> io::Result<()> {
    match fs::remove_file(temp_path(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Replaces the contents of `path` with `bytes`, atomically and durably (module docs).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // A first write may be into a directory that does not exist yet (`device/credential.cbor`).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let temp = temp_path(path);
    // A leftover from a crash may have any mode and contents: start from a fresh file.
    remove_leftover(path)?;
    let result = write_temp(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(path)
}

fn write_temp(temp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temp)?;
    #[cfg(unix)]
    {
        // The umask can only take bits away from 0600; set it exactly all the same.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename durable: fsync of the directory that holds `path` (unix only; elsewhere
/// the rename is as durable as the platform makes it).
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_sits_beside_the_target() {
        assert_eq!(
            temp_path(Path::new("/var/lib/vouch/dc.cbor")),
            Path::new("/var/lib/vouch/.dc.cbor.tmp")
        );
        assert_eq!(temp_path(Path::new("dc.bin")), Path::new(".dc.bin.tmp"));
    }

    #[test]
    fn write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn a_stale_temp_of_another_mode_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(temp_path(&path), b"partial garbage from a crash").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!temp_path(&path).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn failed_write_leaves_target_alone() {
        // A missing directory is created now; a parent that is a file cannot be.
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("not-a-dir");
        fs::write(&not_a_dir, b"file").unwrap();
        let path = not_a_dir.join("f");
        assert!(write(&path, b"x").is_err());
        assert!(!path.exists());
        assert_eq!(fs::read(&not_a_dir).unwrap(), b"file");
    }
}
