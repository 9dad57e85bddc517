//! The asynchronous functions, written once like the route table: each job's one name (its Lambda
//! function, binary and `events/` file) and what triggers it. The template, the binaries and the
//! local server's scheduler are checked against this list.

/// What starts a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// New items on the table's change stream (DynamoDB Streams).
    TableStream,
    /// Messages on the events queue (SQS).
    Queue,
    /// A schedule (EventBridge Scheduler), in its expression syntax.
    Schedule(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Job {
    pub function: &'static str,
    pub trigger: Trigger,
    pub summary: &'static str,
}

/// Publishes every order event the table's stream carries to the events queue.
pub static RELAY_EVENTS: Job = Job {
    function: "relay-events",
    trigger: Trigger::TableStream,
    summary: "publish each new order event to the events queue",
};

/// Turns each order event into its user's notification.
pub static NOTIFY: Job = Job {
    function: "notify",
    trigger: Trigger::Queue,
    summary: "record the user's notification for each order event",
};

/// Expires unpaid orders past their deadline and returns their stock.
pub static EXPIRE_ORDERS: Job = Job {
    function: "expire-orders",
    trigger: Trigger::Schedule("rate(1 minute)"),
    summary: "expire unpaid orders past their deadline and return their stock",
};

/// Computes the previous UTC day's sales report, five minutes after midnight UTC. (The name
/// `compute-daily-report` belongs to the route that computes any day on request.)
pub static REPORT_PREVIOUS_DAY: Job = Job {
    function: "report-previous-day",
    trigger: Trigger::Schedule("cron(5 0 * * ? *)"),
    summary: "compute the previous UTC day's sales report",
};

/// Every job, in the order an event travels.
pub static JOBS: &[&Job] = &[&RELAY_EVENTS, &NOTIFY, &EXPIRE_ORDERS, &REPORT_PREVIOUS_DAY];
