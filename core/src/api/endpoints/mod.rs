//! One function per operation: read the input, call the service, render the answer.

mod me;
mod orders;
mod payments;
mod products;
mod reports;

use super::{ApiRequest, ApiResponse};
use crate::auth::Caller;
use crate::{App, Error};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

/// What a route's operation runs on: the request, the caller once authenticated (protected routes
/// only), and the path's one parameter.
pub struct Call<'a> {
    pub request: &'a ApiRequest,
    pub caller: Option<&'a Caller>,
    pub param: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn caller(&self) -> Result<&'a Caller, Error> {
        self.caller
            .ok_or_else(|| Error::Internal("a protected operation ran without a caller".into()))
    }

    fn param(&self) -> Result<&'a str, Error> {
        self.param
            .ok_or_else(|| Error::NotFound("the path lacks its id".into()))
    }
}

/// An operation's answer, boxed so that every route's handler has the one type [`super::routes::Handler`].
pub type EndpointFuture<'a> = Pin<Box<dyn Future<Output = Result<ApiResponse, Error>> + Send + 'a>>;

/// The route table's handlers: each adapts one operation to [`super::routes::Handler`].
macro_rules! handlers {
    ($($name:ident($app:ident, $call:ident) => $body:expr;)*) => {
        $(
            pub(crate) fn $name<'a>($app: &'a App, $call: Call<'a>) -> EndpointFuture<'a> {
                Box::pin(async move { $body.await })
            }
        )*
    };
}

handlers! {
    check_health(app, _call) => health(app);
    get_profile(app, call) => me::get(app, call.caller()?);
    update_profile(app, call) => me::update(app, call.caller()?, call.request);
    list_notifications(app, call) => me::notifications(app, call.caller()?, call.request);
    list_products(app, call) => products::list(app, call.request);
    create_product(app, call) => products::create(app, call.request);
    get_product(app, call) => products::get(app, call.param()?);
    update_product(app, call) => products::update(app, call.param()?, call.request);
    adjust_stock(app, call) => products::adjust_stock(app, call.param()?, call.request);
    list_orders(app, call) => orders::list(app, call.caller()?, call.request);
    create_order(app, call) => orders::place(app, call.caller()?, call.request);
    get_order(app, call) => orders::get(app, call.caller()?, call.param()?);
    cancel_order(app, call) => orders::cancel(app, call.caller()?, call.param()?);
    payment_webhook(app, call) => payments::counted_webhook(app, call.request);
    get_daily_report(app, call) => reports::get(app, call.param()?);
    compute_daily_report(app, call) => reports::compute(app, call.param()?);
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
