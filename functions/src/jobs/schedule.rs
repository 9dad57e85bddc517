//! The scheduled jobs' input: the event EventBridge Scheduler sends with the input the template
//! configures (`{"time": "<aws.scheduler.scheduled-time>", ...}`), or an EventBridge rule's
//! "Scheduled Event". Both carry the schedule's own time in `time`; the jobs key off it, so every
//! retry of one run does the same work.

use orderly_core::domain::Timestamp;
use serde::Deserialize;

/// The fields of a scheduled event the jobs read. `detail` may be an object or the string `"{}"`
/// (as some emitters write it), and anything else in the event is ignored.
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("the scheduled event's time {0:?} {1}")]
    BadTime(String, String),
}

impl ScheduledEvent {
    /// The schedule's time; `now` for an event that carries none (a hand-made test invocation).
    pub fn scheduled_at(&self, now: Timestamp) -> Result<Timestamp, ScheduleError> {
        match &self.time {
            None => {
                tracing::warn!("the scheduled event has no time; using the clock's");
                Ok(now)
            }
            Some(text) => Timestamp::parse_rfc3339(text).map_err(|reason| ScheduleError::BadTime(text.clone(), reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

    fn at(event: &str) -> Result<Timestamp, ScheduleError> {
        serde_json::from_str::<ScheduledEvent>(event)
            .map_err(|e| ScheduleError::BadTime(event.into(), e.to_string()))?
            .scheduled_at(NOW)
    }

    #[test]
    fn reads_the_schedules_time_whatever_the_detail() {
        let expected = Timestamp::parse_rfc3339("2026-11-28T00:05:00Z").ok();
        for event in [
            r#"{"time": "2026-11-28T00:05:00Z", "detail": {}}"#,
            r#"{"time": "2026-11-28T00:05:00Z", "detail": "{}"}"#,
            r#"{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-28T00:05:00Z", "resources": [], "detail": {}}"#,
        ] {
            assert_eq!(at(event).ok(), expected, "{event}");
        }
    }

    #[test]
    fn no_time_is_now_and_a_bad_time_is_an_error() {
        assert_eq!(at("{}").ok(), Some(NOW));
        assert!(at(r#"{"time": "tomorrow"}"#).is_err());
        assert!(at(r#"{"time": 5}"#).is_err());
    }
}
