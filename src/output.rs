//! Writing to standard output and standard error. A reader that goes away (`zksim sweep |
//! head`) ends the command quietly, as a closed pipe ends any Unix filter; any other
//! failure to write (a full disk behind a redirection) is one line on standard error and
//! exit 2. `print!` would panic on both.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};
use std::path::Path;

/// Exit status when standard output cannot be written for a reason other than a closed
/// pipe: the command could not do its job.
const CANNOT_WRITE: i32 = 2;

/// Write to standard output, ending the process on failure.
pub fn write_out(args: Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        failed("standard output", &error);
    }
}

/// Write to standard error, ending the process on failure.
pub fn write_err(args: Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    if let Err(error) = stderr.write_fmt(args) {
        failed("standard error", &error);
    }
}

fn failed(what: &str, error: &std::io::Error) -> ! {
    if error.kind() == ErrorKind::BrokenPipe {
        // Whoever read our output has what it wanted.
        std::process::exit(0);
    }
    // Standard error may be the stream that failed; this is the last word either way.
    let _ = writeln!(std::io::stderr(), "zksim: cannot write to {what}: {error}");
    std::process::exit(CANNOT_WRITE);
}

/// `println!` that ends the command quietly when the reader has gone.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that ends the command quietly when the reader has gone.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that ends the command quietly when standard error's reader has gone.
macro_rules! errln {
    () => { $crate::output::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};

/// Check, before a long run, that `path` can be written: its folder exists and takes a
/// new file. The file itself is left as it was (created and removed if it did not exist).
pub fn check_writable_file(path: &Path) -> Result<(), String> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Check, before reading it, that the regular file `path` is at most `max_mb` MB (what
/// `reader` reads, with `why` it holds more than the file); a pipe is read as it comes,
/// and a file that cannot be read is reported when it is opened.
pub fn check_file_size(path: &Path, max_mb: u64, reader: &str, why: &str) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_file() && meta.len() > max_mb.saturating_mul(1 << 20) {
        return Err(format!(
            "{}: {} MB is over the {max_mb} MB {reader} reads ({why}); raise --max-file-mb on a machine with the memory",
            path.display(),
            meta.len().div_ceil(1 << 20),
        ));
    }
    Ok(())
}

/// Check, before a long run, that files can be written in the folder `dir` (made if
/// missing).
pub fn check_writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".zksim-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Write `files` into the folder `dir` completely or not at all: into a hidden folder
/// beside it first, renamed to `dir` once every file is written. An earlier `dir` is
/// replaced. An interrupted write leaves only the hidden folder, which a later write
/// of the same case removes.
pub fn write_dir_atomically(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    let name = dir
        .file_name()
        .ok_or_else(|| format!("{}: not a folder name", dir.display()))?;
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    let partial = parent.join(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    for (file, text) in files {
        let path = partial.join(file);
        let mut f = std::fs::File::create(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
    }
    std::fs::rename(&partial, dir).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A case folder appears whole or not at all: a write that fails part way leaves no
    // folder under the case's name, and a later write replaces what an interrupted one
    // left behind.
    #[test]
    fn a_folder_is_written_whole_or_not_at_all() {
        let root = std::env::temp_dir().join(format!("zksim-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("a temporary folder");
        let case = root.join("case");
        let failing = [
            ("scenario.json", "{}".to_string()),
            ("no/such/folder/report.txt", "x".to_string()),
        ];
        assert!(write_dir_atomically(&case, &failing).is_err());
        assert!(!case.exists(), "a failed write leaves no case");
        let files = [
            ("scenario.json", "{}".to_string()),
            ("report.txt", "failed".to_string()),
        ];
        write_dir_atomically(&case, &files).expect("written");
        assert_eq!(
            std::fs::read_to_string(case.join("report.txt")).expect("read"),
            "failed"
        );
        let again = [("scenario.json", "{\"again\": 1}".to_string())];
        write_dir_atomically(&case, &again).expect("rewritten");
        assert!(
            !case.join("report.txt").exists(),
            "the case is replaced whole"
        );
        let left: Vec<_> = std::fs::read_dir(&root)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("case")],
            "no partial folder left"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
