//! Black-box tests of the HTTP contract (`shared/API.md`) against the real `orderly` binary.
//! One test binary with several modules keeps link time low.

mod support;

mod concurrency;
mod errors_and_auth;
mod lifecycle;
mod me_and_reports;
mod orders;
mod payments;
mod products;
mod restart;
