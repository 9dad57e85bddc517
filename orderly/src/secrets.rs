//! Secrets the first run generates so that `orderly serve` needs no set-up: random, kept in the
//! data dir with owner-only permissions, and reused by later runs and by `orderly token`.

use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "./.orderly";
pub const JWT_SECRET_FILE: &str = "jwt-secret";
pub const WEBHOOK_SECRET_FILE: &str = "webhook-secret";
/// The list cursors' key: its own secret, so that a cursor says nothing about the webhook's.
pub const CURSOR_KEY_FILE: &str = "cursor-key";

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SecretFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The secret stored in `dir/name`, if that file exists.
pub fn read(dir: &Path, name: &str) -> Result<Option<String>, SecretFileError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretFileError { path, source }),
    }
}

/// A fresh random secret: 32 bytes, hex-encoded.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex_encode(&bytes)
}

/// Stores `secret` as `dir/name`, readable by its owner only. Never overwrites: a file that
/// appeared meanwhile (another process's first run) is an error, not replaced.
pub fn write_new(dir: &Path, name: &str, secret: &str) -> Result<(), SecretFileError> {
    let path = dir.join(name);
    let fail = |source| SecretFileError {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(fail)?;
    file.write_all(secret.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    Ok(())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
