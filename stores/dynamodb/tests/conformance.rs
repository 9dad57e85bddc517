//! The store conformance suite against the DynamoDB adapter, on the official DynamoDB Local that
//! the test command starts (`ORDERLY_TEST_DYNAMODB_ENDPOINT`). Each test gets a fresh table.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local;

orderly_store_conformance::conformance_tests!(local::fresh_store);
