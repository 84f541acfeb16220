//! Atomic file replacement: write a temporary file beside the target, fsync, rename, fsync dir.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, io_err};
use crate::store::sync_dir;

/// Replaces `path` with `data` so that a reader sees either the old or the new content.
pub(crate) fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        crate::name::unique_base(std::time::SystemTime::now(), "t").replace('.', "")
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let res = f
        .write_all(data)
        .and_then(|()| if fsync { f.sync_all() } else { Ok(()) });
    drop(f);
    if let Err(e) = res
        .map_err(io_err("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io_err("rename", path)))
    {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}
