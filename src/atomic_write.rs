//! Replacing a file that holds secrets, atomically and without being steered: a temp file
//! with a random name, created exclusively (`O_CREAT|O_EXCL`) without following a symlink
//! (`O_NOFOLLOW`), mode 0600 from its creation, written and fsynced, renamed over the
//! target, then the directory fsynced. Another local user who can write to the directory can
//! neither pre-create the temp file (to keep a handle or loosen its mode) nor plant a symlink
//! there to have the secrets written elsewhere; a symlink at the target itself is replaced,
//! not followed, by the rename.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The prefix of every temp file `write` makes for `path`, so leftovers of a crash can be
/// found and removed.
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// Atomically replaces `path` with `bytes`, durable when this returns.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(dir)?;
    let (tmp, mut file) = create_temp(dir, &temp_prefix(path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory entry is.
    File::open(dir)?.sync_all()
}

fn create_temp(dir: &Path, prefix: &str) -> io::Result<(PathBuf, File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    // A name taken by someone else (however unlikely with 96 random bits) is skipped, not
    // opened.
    let mut last = None;
    for _ in 0..8 {
        let random = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
        let tmp = dir.join(format!("{prefix}{random}.tmp"));
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temp file name was free")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_mode_0600_and_replaces_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("tokens.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write(&path, b"secret").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
