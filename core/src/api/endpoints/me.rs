//! `/v1/me`: the caller's own profile and notifications.

use super::{json, ApiRequest, ApiResponse};
use crate::api::cursor;
use crate::api::input::{json_body, list_query, string, Checker};
use crate::api::views::{ListView, NotificationView, ProfileView};
use crate::auth::Caller;
use crate::domain::DisplayName;
use crate::services::{notifications, profiles};
use crate::{App, Error};
use http::StatusCode;

pub async fn get(app: &App, caller: &Caller) -> Result<ApiResponse, Error> {
    let profile = profiles::my_profile(app, caller).await?;
    json(StatusCode::OK, &ProfileView::new(&profile))
}

/// The list whose cursors these are, so a cursor of another list is refused.
const NOTIFICATIONS: &str = "notifications";

pub async fn notifications(app: &App, caller: &Caller, request: &ApiRequest) -> Result<ApiResponse, Error> {
    let key = app.cursor_key()?;
    let query = list_query(&request.query)?;
    let owner = caller.user_id.as_str();
    let before = match &query.cursor {
        None => None,
        Some(text) => Some(cursor::decode(key, NOTIFICATIONS, owner, text)?),
    };
    let (page, more) = notifications::notifications_of(app, &caller.user_id, before.as_deref(), query.limit).await?;
    let next_cursor = match (more, page.last()) {
        (true, Some(last)) => Some(cursor::encode(key, NOTIFICATIONS, owner, &last.id)),
        _ => None,
    };
    let items = page.iter().map(NotificationView::new).collect();
    json(StatusCode::OK, &ListView { items, next_cursor })
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
