//! Black-box tests of the HTTP contract (`openapi.yaml`) against the real `orderly` binary.
//! One test binary with several modules keeps link time low.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod concurrency;
mod connections;
mod contract_document;
mod errors_and_auth;
mod jobs;
mod lifecycle;
mod logs;
mod me_and_reports;
mod orders;
mod payments;
mod products;
mod reservation_limit;
mod restart;
mod shutdown;
mod traces;
