//! Profiles in memory: created once from the token's claims, then only the display name changes.

use crate::MemoryStore;
use async_trait::async_trait;
use orderly_core::domain::{DisplayName, Profile, UserId};
use orderly_core::ports::{ProfileStore, StoreError};

#[async_trait]
impl ProfileStore for MemoryStore {
    async fn profile(&self, user: &UserId) -> Result<Option<Profile>, StoreError> {
        Ok(self.lock()?.profiles.get(user).cloned())
    }

    async fn insert_profile(&self, profile: &Profile) -> Result<Profile, StoreError> {
        let mut state = self.lock()?;
        let stored = state
            .profiles
            .entry(profile.user_id.clone())
            .or_insert_with(|| profile.clone());
        Ok(stored.clone())
    }

    async fn set_display_name(&self, fresh: &Profile, name: &DisplayName) -> Result<Profile, StoreError> {
        let mut state = self.lock()?;
        let stored = state
            .profiles
            .entry(fresh.user_id.clone())
            .or_insert_with(|| fresh.clone());
        stored.display_name = Some(name.clone());
        Ok(stored.clone())
    }
}
