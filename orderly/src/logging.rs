//! Logs: one JSON object per line by default (what log pipelines and CloudWatch want), or a
//! readable format for people. `RUST_LOG` filters, `info` by default.

use clap::ValueEnum;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Readable lines on stderr, for the one-shot commands whose answer is their stdout.
pub fn init_for_command() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // `try_init` fails only when a subscriber is already set, which leaves logging working.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.compact().with_ansi(std::io::stdout().is_terminal()).try_init(),
    };
}
