//! The local server's configuration, read once at start-up from the environment. An invalid
//! value stops the process with a message naming the variable. Secrets that are not set are
//! generated into the data dir, so the first run needs no set-up.

use crate::jobs::JobSettings;
use crate::secrets::{self, SecretFileError, JWT_SECRET_FILE, WEBHOOK_SECRET_FILE};
use orderly_core::auth::Hs256Key;
use orderly_core::config::{Secret, PAYMENT_WEBHOOK_SECRET};
use orderly_core::{ConfigError, Settings};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const ORDERLY_JWT_SECRET: &str = "ORDERLY_JWT_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
    #[error("cannot read or create a secret: {0}")]
    SecretFile(#[from] SecretFileError),
    #[error("no {variable} is set and {path} does not exist: start `orderly serve` once, or set {variable}")]
    NoSecret { variable: &'static str, path: PathBuf },
}

pub struct ServeSettings {
    pub core: Settings,
    pub jwt_key: Hs256Key,
    pub jobs: JobSettings,
}

impl ServeSettings {
    pub fn from_environment(data_dir: &Path) -> Result<Self, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let jwt = secret_from(&vars, ORDERLY_JWT_SECRET, data_dir, JWT_SECRET_FILE)?;
        let webhook = secret_from(&vars, PAYMENT_WEBHOOK_SECRET, data_dir, WEBHOOK_SECRET_FILE)?;
        let core = Settings::from_vars(&vars, webhook)?;
        Ok(ServeSettings {
            core,
            jwt_key: Hs256Key::new(jwt),
            jobs: JobSettings::from_vars(&vars)?,
        })
    }
}

/// The variable's value; or, when it is unset, the secret kept in the data dir (generated now
/// if this is the first run).
fn secret_from(
    vars: &HashMap<String, String>,
    variable: &'static str,
    dir: &Path,
    file: &str,
) -> Result<Secret, SettingsError> {
    match vars.get(variable) {
        Some(value) if value.is_empty() => Err(ConfigError::new(variable, "must not be empty").into()),
        Some(value) => {
            if value.len() < 32 {
                tracing::warn!(
                    variable,
                    "the secret is shorter than 32 bytes; use a longer random one in production"
                );
            }
            Ok(Secret::new(value.as_bytes()))
        }
        None => {
            let (secret, generated) = secrets::read_or_generate(dir, file)?;
            let path = dir.join(file);
            if generated {
                tracing::info!(variable, path = %path.display(), "generated a secret because {variable} is unset");
            } else {
                tracing::info!(variable, path = %path.display(), "using the stored secret because {variable} is unset");
            }
            Ok(Secret::new(secret.into_bytes()))
        }
    }
}

/// The secret `orderly token` and `orderly webhook` use: the variable, else the data dir's file.
fn tool_secret(variable: &'static str, dir: &Path, file: &str) -> Result<Secret, SettingsError> {
    if let Ok(value) = std::env::var(variable) {
        if !value.is_empty() {
            return Ok(Secret::new(value.into_bytes()));
        }
    }
    match secrets::read(dir, file)? {
        Some(secret) => Ok(Secret::new(secret.into_bytes())),
        None => Err(SettingsError::NoSecret {
            variable,
            path: dir.join(file),
        }),
    }
}

pub fn jwt_key_for_tools(dir: &Path) -> Result<Hs256Key, SettingsError> {
    tool_secret(ORDERLY_JWT_SECRET, dir, JWT_SECRET_FILE).map(Hs256Key::new)
}

pub fn webhook_secret_for_tools(dir: &Path) -> Result<Secret, SettingsError> {
    tool_secret(PAYMENT_WEBHOOK_SECRET, dir, WEBHOOK_SECRET_FILE)
}
