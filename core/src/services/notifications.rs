//! Telling users about their orders: the notification job's one use case, and the user's list.

use super::App;
use crate::domain::{Notification, OrderEvent, UserId};
use crate::Error;

/// Records the notification for `event` unless it was recorded before, so an event delivered
/// twice (or in two batches) tells its user once. Returns whether it was recorded now.
pub async fn notify_user(app: &App, event: &OrderEvent) -> Result<bool, Error> {
    let notification = Notification::of(event, app.now());
    Ok(app.store.insert_notification(&notification).await?)
}

/// One page of the user's notifications, newest first, and whether more follow.
pub async fn notifications_of(
    app: &App,
    user: &UserId,
    before: Option<&str>,
    limit: usize,
) -> Result<(Vec<Notification>, bool), Error> {
    let mut page = app.store.notifications_of(user, before, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    Ok((page, more))
}
