//! `orderly`: the whole Orderly API as one local process on an embedded database.

mod cli;
mod client;
mod connection;
mod jobs;
mod limits;
mod logging;
mod metrics;
mod secrets;
mod server;
mod settings;
mod stores;
mod traces;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("orderly: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orderly: {error}");
            ExitCode::FAILURE
        }
    }
}
