//! Profiles: created from the token's claims the first time a user shows up.

use super::App;
use crate::auth::Caller;
use crate::domain::{DisplayName, Profile};
use crate::Error;

fn fresh_profile(app: &App, caller: &Caller) -> Profile {
    Profile {
        user_id: caller.user_id.clone(),
        email: caller.email.clone(),
        display_name: None,
        created_at: app.now(),
    }
}

pub async fn my_profile(app: &App, caller: &Caller) -> Result<Profile, Error> {
    if let Some(profile) = app.store.profile(&caller.user_id).await? {
        return Ok(profile);
    }
    Ok(app.store.insert_profile(&fresh_profile(app, caller)).await?)
}

pub async fn rename_me(app: &App, caller: &Caller, name: &DisplayName) -> Result<Profile, Error> {
    Ok(app.store.set_display_name(&fresh_profile(app, caller), name).await?)
}
