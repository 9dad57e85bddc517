//! Profiles: created once from the token's claims, then only the display name changes.

use crate::fixtures::{at, display_name, profile, unique_user};
use orderly_core::domain::Profile;
use orderly_core::ports::Store;
use std::sync::Arc;

async fn stored_profile(store: &dyn Store, profile: &Profile) -> Option<Profile> {
    store
        .profile(&profile.user_id)
        .await
        .unwrap_or_else(|e| panic!("profile({}) failed: {e:?}", profile.user_id))
}

/// The first `insert_profile` stores the profile; a second returns the stored one and
/// overwrites nothing (display name, email, creation time).
pub async fn insert_profile_keeps_the_first(store: Arc<dyn Store>) {
    let ada = unique_user();
    let first = profile(&ada, Some("ada@example.com"), Some("Ada"), at(0));
    assert_eq!(
        stored_profile(&*store, &first).await,
        None,
        "no profile before the first sight"
    );

    let stored = store.insert_profile(&first).await.expect("the first insert_profile");
    assert_eq!(stored, first, "the first insert returns what it stored");

    let second = profile(&ada, Some("other@example.com"), Some("Not Ada"), at(5_000));
    let kept = store.insert_profile(&second).await.expect("the second insert_profile");
    assert_eq!(kept, first, "a second insert returns the profile stored first");
    assert_eq!(
        stored_profile(&*store, &first).await,
        Some(first.clone()),
        "nothing overwritten"
    );

    let nameless = profile(&unique_user(), None, None, at(0));
    let stored = store
        .insert_profile(&nameless)
        .await
        .expect("insert_profile without name or email");
    assert_eq!(stored, nameless, "a profile without name or email round-trips");
    assert_eq!(stored_profile(&*store, &nameless).await, Some(nameless));
    assert_eq!(
        stored_profile(&*store, &first).await,
        Some(first),
        "profiles are per user"
    );
}

/// `set_display_name` for a user without a profile creates it from `fresh`, with the name.
pub async fn set_display_name_creates_a_missing_profile(store: Arc<dyn Store>) {
    let fresh = profile(&unique_user(), Some("grace@example.com"), None, at(0));

    let created = store
        .set_display_name(&fresh, &display_name("Grace"))
        .await
        .expect("set_display_name without a profile");
    let expected = Profile {
        display_name: Some(display_name("Grace")),
        ..fresh.clone()
    };
    assert_eq!(created, expected, "the profile is created from fresh, with the name");
    assert_eq!(stored_profile(&*store, &fresh).await, Some(expected), "and stored");
}

/// `set_display_name` for an existing profile changes the name and nothing else, whatever `fresh`
/// says.
pub async fn set_display_name_updates_only_the_name(store: Arc<dyn Store>) {
    let user = unique_user();
    let existing = profile(&user, Some("old@example.com"), Some("Old name"), at(0));
    store.insert_profile(&existing).await.expect("insert_profile");
    let fresh = profile(&user, Some("new@example.com"), None, at(9_000));

    let renamed = store
        .set_display_name(&fresh, &display_name("New name"))
        .await
        .expect("set_display_name of an existing profile");
    let expected = Profile {
        display_name: Some(display_name("New name")),
        ..existing.clone()
    };
    assert_eq!(
        renamed, expected,
        "only the display name changes; email and created_at are kept"
    );
    assert_eq!(
        stored_profile(&*store, &existing).await,
        Some(expected.clone()),
        "and stored"
    );

    let again = store
        .set_display_name(&fresh, &display_name("Third name"))
        .await
        .expect("set_display_name again");
    assert_eq!(
        again.display_name,
        Some(display_name("Third name")),
        "the last name wins"
    );
    assert_eq!(again.email, existing.email);
    assert_eq!(again.created_at, existing.created_at);
}
