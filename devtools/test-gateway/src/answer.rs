//! A function's result turned into the HTTP answer, by API Gateway's payload 2.0 rules: an object
//! with `statusCode` is a response to send; any other JSON is a body to send with 200; a function
//! error, or anything that is not JSON, is the gateway's 500.

use crate::error::GatewayError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

/// What the Invoke API answered for a successful invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// `X-Amz-Function-Error` was set: the function failed (the payload describes how).
    pub function_error: bool,
    pub payload: Bytes,
}

pub fn response_from(invoked: &Invoked) -> Result<Response<Bytes>, GatewayError> {
    if invoked.function_error {
        return Err(GatewayError::FunctionFailed(excerpt(&invoked.payload)));
    }
    let result: Value = serde_json::from_slice(&invoked.payload)
        .map_err(|_| GatewayError::InvalidAnswer(format!("not JSON: {}", excerpt(&invoked.payload))))?;
    match &result {
        Value::Object(fields) if fields.contains_key("statusCode") => structured(fields),
        Value::Object(fields) if fields.contains_key("errorType") || fields.contains_key("errorMessage") => {
            Err(GatewayError::FunctionFailed(excerpt(&invoked.payload)))
        }
        _ => {
            let mut response = Response::new(invoked.payload.clone());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(response)
        }
    }
}

/// A response the function wrote out: `statusCode`, `headers`, `multiValueHeaders`, `cookies`,
/// `body` and `isBase64Encoded`.
fn structured(fields: &Map<String, Value>) -> Result<Response<Bytes>, GatewayError> {
    let invalid = |what: &str| GatewayError::InvalidAnswer(what.to_string());
    let status = fields
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (100..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| invalid("statusCode is not a status from 100 to 599"))?;

    let mut headers = HeaderMap::new();
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(named)) => {
            for (name, value) in named {
                let value = value
                    .as_str()
                    .ok_or_else(|| invalid("a header's value is not a string"))?;
                add_header(&mut headers, name, value)?;
            }
        }
        Some(_) => return Err(invalid("headers is not an object")),
    }
    match fields.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(named)) => {
            for (name, values) in named {
                for value in strings(values).ok_or_else(|| invalid("multiValueHeaders holds a non-string"))? {
                    add_header(&mut headers, name, value)?;
                }
            }
        }
        Some(_) => return Err(invalid("multiValueHeaders is not an object")),
    }
    match fields.get("cookies") {
        None | Some(Value::Null) => {}
        Some(cookies) => {
            for cookie in strings(cookies).ok_or_else(|| invalid("cookies is not a list of strings"))? {
                add_header(&mut headers, SET_COOKIE.as_str(), cookie)?;
            }
        }
    }

    let base64 = match fields.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid("isBase64Encoded is not a boolean")),
    };
    let body = match fields.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if base64 => STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|_| invalid("the body is not valid base64"))?,
        Some(Value::String(text)) => Bytes::from(text.clone()),
        Some(_) => return Err(invalid("the body is not a string")),
    };

    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn strings(values: &Value) -> Option<Vec<&str>> {
    values.as_array()?.iter().map(Value::as_str).collect()
}

fn add_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), GatewayError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| GatewayError::InvalidAnswer(format!("{name:?} is not a header name")))?;
    // The gateway frames the answer itself: a length or connection header from the function
    // would contradict the body we send.
    if [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION].contains(&name) {
        return Ok(());
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| GatewayError::InvalidAnswer(format!("the value of {name} is not a header value")))?;
    headers.append(name, value);
    Ok(())
}

/// The start of a payload, for the log.
fn excerpt(payload: &[u8]) -> String {
    const LONGEST: usize = 500;
    let text = String::from_utf8_lossy(payload);
    match text.char_indices().nth(LONGEST) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(result: Value) -> Result<Response<Bytes>, GatewayError> {
        response_from(&Invoked {
            function_error: false,
            payload: Bytes::from(result.to_string()),
        })
    }

    fn header_values(response: &Response<Bytes>, name: &str) -> Vec<String> {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_response_object_is_sent_as_written() {
        // What a function writes for an HTTP API (payload format 2.0).
        let response = answer(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "location": "/v1/orders/o1", "content-length": "999"},
            "multiValueHeaders": {},
            "body": "{\"id\":\"o1\"}",
            "isBase64Encoded": false,
            "cookies": ["a=1; Path=/", "b=2"],
        }))
        .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.body().as_ref(), b"{\"id\":\"o1\"}");
        assert_eq!(header_values(&response, "content-type"), ["application/json"]);
        assert_eq!(header_values(&response, "location"), ["/v1/orders/o1"]);
        assert_eq!(header_values(&response, "set-cookie"), ["a=1; Path=/", "b=2"]);
        assert!(response.headers().get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn multi_value_headers_add_to_the_headers() {
        let response = answer(json!({
            "statusCode": 200,
            "headers": {"vary": "accept"},
            "multiValueHeaders": {"vary": ["origin"], "x-tag": ["a", "b"]},
        }))
        .unwrap();
        assert_eq!(header_values(&response, "vary"), ["accept", "origin"]);
        assert_eq!(header_values(&response, "x-tag"), ["a", "b"]);
        assert!(response.body().is_empty());
    }

    #[test]
    fn a_base64_body_is_decoded() {
        let response = answer(json!({"statusCode": 200, "body": "/wD+", "isBase64Encoded": true})).unwrap();
        assert_eq!(response.body().as_ref(), [0xff, 0x00, 0xfe]);
        let broken = answer(json!({"statusCode": 200, "body": "not base64!", "isBase64Encoded": true}));
        assert!(matches!(broken, Err(GatewayError::InvalidAnswer(_))));
    }

    #[test]
    fn json_without_a_status_code_is_a_200_body() {
        for result in [json!({"ok": true}), json!([1, 2]), json!("text"), json!(7), json!(null)] {
            let response = answer(result.clone()).unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(response.body().as_ref(), result.to_string().as_bytes());
        }
    }

    #[test]
    fn a_function_error_is_a_500() {
        let flagged = response_from(&Invoked {
            function_error: true,
            payload: Bytes::from_static(br#"{"errorType":"Panic","errorMessage":"boom"}"#),
        });
        assert!(matches!(flagged, Err(GatewayError::FunctionFailed(_))));
        // start-lambda does not always set the header.
        for result in [
            json!({"errorType": "Runtime.ExitError", "errorMessage": "exited"}),
            json!({"errorMessage": "Task timed out after 30.00 seconds"}),
        ] {
            let error = answer(result).unwrap_err();
            assert!(matches!(error, GatewayError::FunctionFailed(_)));
            assert_eq!(error.to_response().status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }

    #[test]
    fn an_invalid_response_is_a_500() {
        let not_json = response_from(&Invoked {
            function_error: false,
            payload: Bytes::from_static(b"<html>"),
        });
        assert!(matches!(not_json, Err(GatewayError::InvalidAnswer(_))));
        for result in [
            json!({"statusCode": "200"}),
            json!({"statusCode": 99}),
            json!({"statusCode": 600}),
            json!({"statusCode": -1}),
            json!({"statusCode": 200.5}),
            json!({"statusCode": 200, "headers": {"x": 1}}),
            json!({"statusCode": 200, "headers": ["x"]}),
            json!({"statusCode": 200, "headers": {"bad name": "x"}}),
            json!({"statusCode": 200, "headers": {"x": "line\nbreak"}}),
            json!({"statusCode": 200, "multiValueHeaders": {"x": "a"}}),
            json!({"statusCode": 200, "cookies": "a=1"}),
            json!({"statusCode": 200, "body": {"ok": true}}),
            json!({"statusCode": 200, "isBase64Encoded": "false"}),
        ] {
            let error = answer(result.clone()).unwrap_err();
            assert!(matches!(error, GatewayError::InvalidAnswer(_)), "{result}");
            assert_eq!(error.to_response().status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}
