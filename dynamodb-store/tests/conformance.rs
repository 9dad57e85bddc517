//! The store conformance suite against the DynamoDB adapter, on the official DynamoDB Local that
//! the test command starts (`ORDERLY_TEST_DYNAMODB_ENDPOINT`). Each test gets a fresh table.

mod local;

orderly_store_conformance::conformance_tests!(local::fresh_store);
