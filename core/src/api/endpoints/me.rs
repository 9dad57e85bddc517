//! `/v1/me`: the caller's own profile.

use super::{json, ApiRequest, ApiResponse};
use crate::api::input::{json_body, string, Checker};
use crate::api::views::ProfileView;
use crate::auth::Caller;
use crate::domain::DisplayName;
use crate::services::profiles;
use crate::{App, Error};
use http::StatusCode;

pub async fn get(app: &App, caller: &Caller) -> Result<ApiResponse, Error> {
    let profile = profiles::my_profile(app, caller).await?;
    json(StatusCode::OK, &ProfileView::new(&profile))
}

pub async fn update(app: &App, caller: &Caller, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let body = json_body(request)?;
    let mut checker = Checker::new();
    let name = checker.object(&body, "$").and_then(|object| {
        checker.reject_unknown(object, "", &["display_name"]);
        checker.required(object, "", "display_name", |v| string(v).and_then(DisplayName::parse))
    });
    checker.finish()?;
    let name = name.ok_or_else(|| Error::invalid("display_name", "is required"))?;
    let profile = profiles::rename_me(app, caller, &name).await?;
    json(StatusCode::OK, &ProfileView::new(&profile))
}
