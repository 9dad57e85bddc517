//! The client's HTTPS: the production client (rustls on ring, not the SDK's default aws-lc-rs)
//! really speaks TLS. DynamoDB Local is plain HTTP, so the other tests never reach this code.
//! Here a listener on 127.0.0.1 stands in for DynamoDB's endpoint and reads what the client sends
//! first: a TLS handshake record carrying a ClientHello.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn the_client_opens_a_tls_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local address").port();
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut bytes = vec![0u8; 16 * 1024];
        let mut read = 0;
        // One whole record: its 5-byte header says how long it is (a ClientHello fits in one).
        let wanted = |bytes: &[u8], read: usize| {
            if read < 5 {
                5
            } else {
                5 + usize::from(u16::from_be_bytes([bytes[3], bytes[4]]))
            }
        };
        while read < wanted(&bytes, read).min(bytes.len()) {
            match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut bytes[read..])).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => read += n,
                Ok(Err(error)) => panic!("reading the client's first bytes: {error}"),
            }
        }
        bytes.truncate(read);
        bytes
    });

    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        // An address, not `localhost`, which may mean ::1: the tests talk to 127.0.0.1 only.
        .endpoint_url(format!("https://127.0.0.1:{port}"))
        .http_client(orderly_store_dynamodb::client::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "orderly-tls-test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    // The listener never answers the handshake, so the call fails; what it sent is the finding.
    let outcome = client.list_tables().send().await;
    assert!(outcome.is_err(), "a listener that never answers cannot be DynamoDB");

    let bytes = first_bytes.await.expect("the listener task");
    assert!(bytes.len() > 5, "the client sent {} bytes", bytes.len());
    assert_eq!(bytes[0], 0x16, "not a TLS handshake record: {:02x?}", &bytes[..5]);
    assert_eq!(bytes[1], 0x03, "not a TLS record version: {:02x?}", &bytes[..5]);
    assert_eq!(bytes[5], 0x01, "the first handshake message is not a ClientHello");
    let record_length = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
    assert_eq!(bytes.len(), 5 + record_length, "the ClientHello record arrived whole");
}
