//! Logs: one JSON object per line by default (what log pipelines and CloudWatch want), with every
//! field at the top level and `"function": "local"` (the deployed functions name themselves
//! there), or a readable format for people. `RUST_LOG` filters, `info` by default.

use crate::traces::Traces;
use clap::ValueEnum;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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

/// Installs the logger, and the OTLP trace exporter when one is configured (returned, to be shut
/// down when the server stops).
pub fn init(format: LogFormat) -> Result<Option<Traces>, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let traces = Traces::from_environment()?;
    let exported = traces.as_ref().map(Traces::layer);
    let lines = match format {
        LogFormat::Json => {
            let mut layer = json_subscriber::JsonLayer::new(std::io::stdout);
            layer.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime);
            layer.with_level("level");
            layer.add_static_field("function", serde_json::Value::from("local"));
            layer.with_top_level_flattened_span_list();
            layer.with_flattened_event();
            layer.with_filter(filter).boxed()
        }
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .compact()
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter)
            .boxed(),
    };
    // `try_init` fails only when a subscriber is already set, which leaves logging working.
    let _ = tracing_subscriber::registry().with(lines).with(exported).try_init();
    Ok(traces)
}
