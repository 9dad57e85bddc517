//! Profiles in the `profiles` table: created once (the first writer wins) and upserted by the
//! display name.

use crate::connection::{sql, stored};
use crate::{rows, EmbeddedStore};
use async_trait::async_trait;
use orderly_core::domain::{DisplayName, Profile, UserId};
use orderly_core::ports::{ProfileStore, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

fn query_profile(conn: &Connection, user: &str) -> Result<Option<Profile>, StoreError> {
    conn.prepare_cached("SELECT user_id, email, display_name, created_at FROM profiles WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.query_row([user], rows::profile).optional())
        .map_err(sql)?
        .transpose()
}

#[async_trait]
impl ProfileStore for EmbeddedStore {
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError> {
        let user = user.to_string();
        self.read(move |conn| query_profile(conn, &user)).await
    }

    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError> {
        let profile = profile.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO profiles (user_id, email, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO NOTHING",
                params![
                    profile.user_id.as_str(),
                    profile.email,
                    profile.display_name.as_ref().map(|n| n.as_str()),
                    profile.created_at.as_millis()
                ],
            )
            .map_err(sql)?;
            stored(query_profile(tx, profile.user_id.as_str())?, "the profile")
        })
        .await
    }

    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError> {
        let (fresh, name) = (fresh.clone(), name.as_str().to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO profiles (user_id, email, display_name, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name",
                params![fresh.user_id.as_str(), fresh.email, name, fresh.created_at.as_millis()],
            )
            .map_err(sql)?;
            stored(query_profile(tx, fresh.user_id.as_str())?, "the profile")
        })
        .await
    }
}
