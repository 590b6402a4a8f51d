//! Logs: `RUST_LOG` picks what is logged, as in any Rust program (tracing-subscriber's
//! `EnvFilter`: `RUST_LOG=zksim_core::zab=debug`, `RUST_LOG=info,zksim_harness=trace`);
//! `--log-format` picks text for people or JSON lines for machines. Lines go to stderr,
//! stamped with simulated time (seconds since the run began), inside the spans of the run
//! (`run{seed}`) and of the node (`server{id}`, `client{idx}`) they happened on.
//!
//! Without `RUST_LOG` no subscriber is installed and every log call is a disabled
//! callsite: logging costs nothing measurable then. Logs are never part of a run's trace
//! or its hash, so turning them on changes no run.

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for a person: time, level, spans, target, message, fields.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields, span and spans.
    Json,
}

/// Simulated time: what a log line is stamped with.
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match zksim_sim::sim_elapsed() {
            Some(t) => write!(w, "{}.{:06}s", t.as_secs(), t.subsec_micros()),
            None => write!(w, "-"),
        }
    }
}

fn directive(text: &str) -> Result<tracing_subscriber::filter::Directive, String> {
    text.parse()
        .map_err(|e| format!("log directive {text}: {e}"))
}

/// Install the subscriber `RUST_LOG` asks for; nothing when it is unset or empty. An
/// invalid `RUST_LOG` is an error (the message names the bad directive).
pub fn init(format: LogFormat) -> Result<(), String> {
    let Some(spec) = std::env::var_os("RUST_LOG") else {
        return Ok(());
    };
    let spec = spec
        .into_string()
        .map_err(|_| "RUST_LOG is not valid UTF-8".to_string())?;
    if spec.trim().is_empty() {
        return Ok(());
    }
    let mut filter = EnvFilter::builder()
        .parse(&spec)
        .map_err(|e| format!("RUST_LOG={spec}: {e}"))?
        // The node spans are always on, so that every event says where it happened.
        .add_directive(directive(&format!("{}=trace", zksim_sim::NODE_SPANS))?);
    if !spec.contains("madsim") {
        // madsim warns at every runtime's start that std's HashMap seeds are not
        // deterministic here; zksim's behaviour never iterates a HashMap (its traces are
        // byte-identical per seed, which the determinism tests check), so the warning is
        // noise unless madsim's own logs were asked for.
        filter = filter.add_directive(directive("madsim::sim::rand=error")?);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => {
            use std::io::IsTerminal;
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init()
        }
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}
