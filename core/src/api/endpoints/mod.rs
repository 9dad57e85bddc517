//! One function per operation: read the input, call the service, render the answer.

mod me;
mod orders;
mod payments;
mod products;
mod reports;

use super::{ApiRequest, ApiResponse, Operation};
use crate::auth::Caller;
use crate::{App, Error};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

pub async fn public(
    app: &App,
    operation: Operation,
    param: Option<&str>,
    request: &ApiRequest,
) -> Result<ApiResponse, Error> {
    use Operation::*;
    match operation {
        Health => health(app).await,
        ListProducts => products::list(app, request).await,
        GetProduct => products::get(app, path_param(param)?).await,
        PaymentWebhook => payments::webhook(app, request).await,
        _ => Err(Error::Internal(format!("{operation:?} is not a public operation"))),
    }
}

pub async fn protected(
    app: &App,
    operation: Operation,
    caller: &Caller,
    param: Option<&str>,
    request: &ApiRequest,
) -> Result<ApiResponse, Error> {
    use Operation::*;
    match operation {
        GetMe => me::get(app, caller).await,
        UpdateMe => me::update(app, caller, request).await,
        CreateProduct => products::create(app, request).await,
        UpdateProduct => products::update(app, path_param(param)?, request).await,
        AdjustStock => products::adjust_stock(app, path_param(param)?, request).await,
        ListOrders => orders::list(app, caller, request).await,
        PlaceOrder => orders::place(app, caller, request).await,
        GetOrder => orders::get(app, caller, path_param(param)?).await,
        CancelOrder => orders::cancel(app, caller, path_param(param)?).await,
        GetDailyReport => reports::get(app, path_param(param)?).await,
        ComputeDailyReport => reports::compute(app, path_param(param)?).await,
        Health | ListProducts | GetProduct | PaymentWebhook => Err(Error::Internal(format!("{operation:?} is public"))),
    }
}

fn path_param(param: Option<&str>) -> Result<&str, Error> {
    param.ok_or_else(|| Error::NotFound("the path lacks its id".into()))
}

/// A JSON answer.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<ApiResponse, Error> {
    let body = serde_json::to_vec(value).map_err(|e| Error::Internal(format!("rendering the response: {e}")))?;
    Ok(json_bytes(status, Bytes::from(body)))
}

fn json_bytes(status: StatusCode, body: Bytes) -> ApiResponse {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn with_header(mut response: ApiResponse, name: header::HeaderName, value: &str) -> Result<ApiResponse, Error> {
    let value = HeaderValue::from_str(value).map_err(|e| Error::Internal(format!("header {name}: {e}")))?;
    response.headers_mut().insert(name, value);
    Ok(response)
}

async fn health(app: &App) -> Result<ApiResponse, Error> {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
    }
    match app.store.check_health().await {
        Ok(()) => json(StatusCode::OK, &Health { status: "ok" }),
        Err(error) => {
            tracing::warn!(cause = %error, "health check failed");
            let response = json(StatusCode::SERVICE_UNAVAILABLE, &Health { status: "unavailable" })?;
            with_header(response, header::RETRY_AFTER, super::problem::RETRY_AFTER_SECONDS)
        }
    }
}
