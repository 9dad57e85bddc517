//! How much of the local server one client may hold, and for how long: the time limits on each
//! phase of a connection, the bound on connections and the shutdown deadline. Read once at
//! start-up, like every setting; without them a client that sends nothing, or half a request,
//! holds a connection (and a file descriptor) for ever, and enough such clients stop the server.

use orderly_core::config::whole_number;
use orderly_core::ConfigError;
use std::collections::HashMap;
use std::time::Duration;

/// How long a request's head may take to arrive, from its first byte (default 10 s).
pub const HEADER_TIMEOUT_MS: &str = "ORDERLY_HEADER_TIMEOUT_MS";
/// How long a request's body may take to arrive, from the end of its head (default 10 s).
pub const BODY_TIMEOUT_MS: &str = "ORDERLY_BODY_TIMEOUT_MS";
/// How long a connection may wait for its next request (default 10 s).
pub const KEEP_ALIVE_TIMEOUT_MS: &str = "ORDERLY_KEEP_ALIVE_TIMEOUT_MS";
/// How many connections are served at once (default 100).
pub const MAX_CONNECTIONS: &str = "ORDERLY_MAX_CONNECTIONS";
/// How long in-flight requests may run once shutdown is asked for (default 8 s).
pub const SHUTDOWN_TIMEOUT_MS: &str = "ORDERLY_SHUTDOWN_TIMEOUT_MS";

/// Every limit is at least this long: shorter ones would cut off healthy clients on a busy machine.
const SHORTEST_MS: u64 = 100;
/// And at most an hour: longer is no limit at all.
const LONGEST_MS: u64 = 3_600_000;
const MOST_CONNECTIONS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// From a request's first byte to the end of its head. A head is a few hundred bytes that
    /// every client sends at once; only a stalled or hostile one needs longer than seconds.
    pub header_timeout: Duration,
    /// From the end of a request's head to the end of its body (at most 64 KiB, which even a slow
    /// mobile link sends in a few seconds).
    pub body_timeout: Duration,
    /// From an answer (or the connection's start) to the first byte of the next request: long
    /// enough for a client's next call in a session, short enough that idle sockets give their
    /// place back within seconds.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; beyond it new ones are answered 503 and closed. Below the
    /// open-file limit of a laptop (macOS's is 256): each connection holds a descriptor, and on
    /// DynamoDB a request may hold a second one towards the store.
    pub max_connections: usize,
    /// From the shutdown signal to closing whatever is still open. Under the stop timeouts of
    /// supervisors (Docker's 10 s, systemd's 90 s), so a stop is never escalated to a kill.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
            max_connections: 100,
            shutdown_timeout: Duration::from_secs(8),
        }
    }
}

impl ServerLimits {
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let defaults = ServerLimits::default();
        Ok(ServerLimits {
            header_timeout: millis(vars, HEADER_TIMEOUT_MS, defaults.header_timeout)?,
            body_timeout: millis(vars, BODY_TIMEOUT_MS, defaults.body_timeout)?,
            keep_alive_timeout: millis(vars, KEEP_ALIVE_TIMEOUT_MS, defaults.keep_alive_timeout)?,
            max_connections: whole_number(vars, MAX_CONNECTIONS, defaults.max_connections, 1..=MOST_CONNECTIONS)?,
            shutdown_timeout: millis(vars, SHUTDOWN_TIMEOUT_MS, defaults.shutdown_timeout)?,
        })
    }
}

/// A duration in whole milliseconds from `SHORTEST_MS` to `LONGEST_MS`; anything else is refused
/// by name.
fn millis(vars: &HashMap<String, String>, variable: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    orderly_core::config::milliseconds(vars, variable, default, SHORTEST_MS..=LONGEST_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unset_limits_take_their_defaults() {
        let limits = ServerLimits::from_vars(&vars(&[])).unwrap();
        assert_eq!(limits, ServerLimits::default());
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_connections, 100);
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(8));
    }

    #[test]
    fn limits_are_read_and_bad_values_name_their_variable() {
        let limits = ServerLimits::from_vars(&vars(&[
            (HEADER_TIMEOUT_MS, "1000"),
            (BODY_TIMEOUT_MS, "2000"),
            (KEEP_ALIVE_TIMEOUT_MS, "3000"),
            (MAX_CONNECTIONS, "7"),
            (SHUTDOWN_TIMEOUT_MS, "4000"),
        ]))
        .unwrap();
        assert_eq!(
            limits,
            ServerLimits {
                header_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(2),
                keep_alive_timeout: Duration::from_secs(3),
                max_connections: 7,
                shutdown_timeout: Duration::from_secs(4),
            }
        );
        for (variable, value) in [
            (HEADER_TIMEOUT_MS, "99"),
            (BODY_TIMEOUT_MS, "3600001"),
            (KEEP_ALIVE_TIMEOUT_MS, "10s"),
            (SHUTDOWN_TIMEOUT_MS, ""),
            (MAX_CONNECTIONS, "0"),
            (MAX_CONNECTIONS, "65537"),
            (MAX_CONNECTIONS, "-1"),
        ] {
            assert_eq!(
                ServerLimits::from_vars(&vars(&[(variable, value)])).map_err(|e| e.variable),
                Err(variable),
                "{variable}={value:?}"
            );
        }
    }
}
