//! The local server's configuration, read once at start-up from the environment. An invalid
//! value stops the process with a message naming the variable, before anything is written to the
//! data dir. Secrets that are not set are generated into the data dir, so the first run needs no
//! set-up; they are written only once every setting has been checked.

use crate::jobs::JobSettings;
use crate::limits::ServerLimits;
use crate::secrets::{self, SecretFileError, CURSOR_KEY_FILE, JWT_SECRET_FILE, WEBHOOK_SECRET_FILE};
use orderly_core::auth::jwt::ORDERLY_JWT_SECRET;
use orderly_core::auth::{Hs256Key, TokenRules};
use orderly_core::config::{Secret, Secrets, CURSOR_KEY, PAYMENT_WEBHOOK_SECRET};
use orderly_core::{ConfigError, Settings};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    pub limits: ServerLimits,
}

/// Every setting read and checked, with the secrets generated for a first run still to be
/// written: [`CheckedSettings::write_new_secrets`] does that once nothing else can fail on
/// configuration, so a mistake leaves the data dir as it was.
pub struct CheckedSettings {
    settings: ServeSettings,
    new_secrets: Vec<NewSecret>,
}

/// A secret generated because its variable is unset and the data dir holds none.
struct NewSecret {
    variable: &'static str,
    dir: PathBuf,
    file: &'static str,
    value: String,
}

impl ServeSettings {
    /// Reads and checks every setting; writes nothing.
    pub fn check(data_dir: &Path) -> Result<CheckedSettings, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let mut new_secrets = Vec::new();
        let jwt = secret_from(&vars, ORDERLY_JWT_SECRET, data_dir, JWT_SECRET_FILE, &mut new_secrets)?;
        let webhook = secret_from(
            &vars,
            PAYMENT_WEBHOOK_SECRET,
            data_dir,
            WEBHOOK_SECRET_FILE,
            &mut new_secrets,
        )?;
        // A data dir from before the cursors had their own key gets one here, like a first run;
        // cursors handed out before then are refused (400) and the client starts its list again.
        let cursor_key = secret_from(&vars, CURSOR_KEY, data_dir, CURSOR_KEY_FILE, &mut new_secrets)?;
        let settings = ServeSettings {
            core: Settings::from_vars(&vars, Secrets::both(webhook, cursor_key))?,
            jwt_key: Hs256Key::with_rules(jwt, TokenRules::from_vars(&vars)?),
            jobs: JobSettings::from_vars(&vars)?,
            limits: ServerLimits::from_vars(&vars)?,
        };
        Ok(CheckedSettings { settings, new_secrets })
    }
}

impl CheckedSettings {
    /// Writes the secrets generated for this first run into the data dir (owner-only).
    pub fn write_new_secrets(self) -> Result<ServeSettings, SettingsError> {
        for secret in &self.new_secrets {
            secrets::write_new(&secret.dir, secret.file, &secret.value)?;
            tracing::info!(
                variable = secret.variable,
                path = %secret.dir.join(secret.file).display(),
                "generated a secret because {} is unset",
                secret.variable
            );
        }
        Ok(self.settings)
    }
}

/// The variable's value; or, when it is unset, the secret kept in the data dir, or a fresh one
/// that `new_secrets` is to write there.
fn secret_from(
    vars: &HashMap<String, String>,
    variable: &'static str,
    dir: &Path,
    file: &'static str,
    new_secrets: &mut Vec<NewSecret>,
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
        None => match secrets::read(dir, file)? {
            Some(stored) => {
                tracing::info!(variable, path = %dir.join(file).display(), "using the stored secret because {variable} is unset");
                Ok(Secret::new(stored.into_bytes()))
            }
            None => {
                let value = secrets::generate();
                let secret = Secret::new(value.as_bytes());
                new_secrets.push(NewSecret {
                    variable,
                    dir: dir.to_path_buf(),
                    file,
                    value,
                });
                Ok(secret)
            }
        },
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

/// The server's key and token rules as the tools see them, so that the tokens they mint carry
/// the `iss` and `aud` the server expects and live no longer than it allows.
pub fn jwt_key_for_tools(dir: &Path) -> Result<Hs256Key, SettingsError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let rules = TokenRules::from_vars(&vars)?;
    tool_secret(ORDERLY_JWT_SECRET, dir, JWT_SECRET_FILE).map(|secret| Hs256Key::with_rules(secret, rules))
}

pub fn webhook_secret_for_tools(dir: &Path) -> Result<Secret, SettingsError> {
    tool_secret(PAYMENT_WEBHOOK_SECRET, dir, WEBHOOK_SECRET_FILE)
}
