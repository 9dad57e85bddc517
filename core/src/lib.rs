//! Orderly's core: the business of a small shop's order backend, free of any I/O.
//!
//! Dependencies point inwards: `domain` (types and rules) ← `services` (use cases over the
//! `ports`) ← `api` (HTTP in, HTTP out). Adapters (the embedded store, DynamoDB, the Lambda
//! runtime, the local server) live in other crates and plug into the ports, so the same core runs
//! as one local process and as a fleet of Lambda functions.

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod ports;
pub mod services;

pub use config::{ConfigError, Settings};
pub use error::{Error, FieldError};
pub use services::App;
