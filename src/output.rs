//! Writing to standard output and standard error. A reader that goes away (`zksim sweep |
//! head`) ends the command quietly, as a closed pipe ends any Unix filter; any other
//! failure to write (a full disk behind a redirection) is one line on standard error and
//! exit 2. `print!` would panic on both.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

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
