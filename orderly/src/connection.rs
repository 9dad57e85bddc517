//! One client connection of the local server, from accept to close: hyper serves it, and the
//! transport under hyper ([`Watched`]) follows which phase it is in, so that each phase has its
//! own time limit and what hyper answers by itself becomes the contract's problem+json.
//!
//! hyper (1.x) has one header-read timer, started whenever it waits for a request, so a
//! connection idling between requests and a head trickling in cannot have limits of their own.
//! And when it refuses a head (a control byte in a header, a URI or a header section over its
//! limits), it writes a bare 400, 414 or 431 itself, before any service runs, with no hook to
//! change it. Both are visible from below: a request's first byte arrives through the
//! transport, and anything hyper writes while it has no request of ours in hand is one of those
//! answers, which is swapped for the one `Rules::refuse` makes.

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// The largest request head (request line and header fields) hyper reads; beyond it, hyper
/// refuses the head. Generous: a head is usually well under 2 KiB, a bearer token included.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields hyper reads (hyper's own default, stated here because the refusal's
/// message names it).
pub const MAX_HEADERS: usize = 100;

/// How long a client that is still sending after the server closed its side may take to stop,
/// and how much it may send meanwhile (see [`Watched::poll_linger`]).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// The most of hyper's own answer kept, to read its status and date from: a few hundred bytes.
const REFUSAL_KEPT_BYTES: usize = 4096;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing of the next request has arrived since `since`: when the connection was accepted or
    /// its last answer was flushed.
    Waiting { since: Instant },
    /// A request's head is arriving; its first byte came at `since`.
    Head { since: Instant },
    /// hyper handed the request over: its body is being read, or it is being answered.
    Busy,
    /// The answer is whole in hyper's hands; once it is flushed, the connection waits again.
    Answered,
}

/// The phase of one connection, moved on by its transport, its service and its answers' bodies.
#[derive(Clone)]
struct Tracker(watch::Sender<Phase>);

impl Tracker {
    fn new() -> Self {
        Tracker(watch::Sender::new(Phase::Waiting { since: Instant::now() }))
    }

    fn first_byte(&self) {
        self.0.send_if_modified(|phase| match phase {
            Phase::Waiting { .. } => {
                *phase = Phase::Head { since: Instant::now() };
                true
            }
            _ => false,
        });
    }

    fn busy(&self) {
        self.0.send_replace(Phase::Busy);
    }

    fn answered(&self) {
        self.0.send_if_modified(|phase| {
            let busy = *phase == Phase::Busy;
            if busy {
                *phase = Phase::Answered;
            }
            busy
        });
    }

    fn flushed(&self) {
        self.0.send_if_modified(|phase| {
            let answered = *phase == Phase::Answered;
            if answered {
                *phase = Phase::Waiting { since: Instant::now() };
            }
            answered
        });
    }

    /// No request is in hyper's hands: whatever it writes now is its own refusal of a head.
    fn has_no_request(&self) -> bool {
        matches!(*self.0.borrow(), Phase::Waiting { .. } | Phase::Head { .. })
    }

    fn is_waiting(&self) -> bool {
        matches!(*self.0.borrow(), Phase::Waiting { .. })
    }
}

/// The time limits of a connection's phases; a request's body has its own, in the service.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the connection's start or its last answer to the next request's first byte.
    pub idle: Duration,
    /// From a request's first byte to the end of its head.
    pub head: Duration,
}

/// Which limit a connection outstayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outstayed {
    Idle,
    Head,
}

/// When a connection in `phase` has outstayed its limit, and which; never while a request is in
/// hand (its body has its own limit, and answering it is the store's to bound).
fn deadline(phase: Phase, timeouts: Timeouts) -> Option<(Instant, Outstayed)> {
    match phase {
        Phase::Waiting { since } => Some((since + timeouts.idle, Outstayed::Idle)),
        Phase::Head { since } => Some((since + timeouts.head, Outstayed::Head)),
        Phase::Busy | Phase::Answered => None,
    }
}

/// Resolves when the connection has been waiting, or receiving a head, for longer than it may.
async fn outstayed(mut phases: watch::Receiver<Phase>, timeouts: Timeouts) -> Outstayed {
    loop {
        let limit = deadline(*phases.borrow_and_update(), timeouts);
        let changed = match limit {
            Some((deadline, outstayed)) => tokio::select! {
                changed = phases.changed() => changed,
                () = tokio::time::sleep_until(deadline) => return outstayed,
            },
            None => phases.changed().await,
        };
        if changed.is_err() {
            // Everything that moves the phase is gone, so is the connection: its task ends on that.
            std::future::pending::<()>().await;
        }
    }
}

/// How one connection is served.
#[derive(Clone, Copy)]
pub struct Rules {
    pub timeouts: Timeouts,
    /// Whether the connection may carry more than one request.
    pub keep_alive: bool,
    /// The answer that replaces hyper's own refusal of a head, by the status hyper gave it.
    pub refuse: fn(u16) -> Response<Bytes>,
}

/// Serves `stream` until the client closes it, a time limit ends it, or, once `stopping` turns
/// true, its request in flight is answered (an idle connection is closed at once). A `handler`
/// error closes the connection without an answer. Dropping the future closes it too.
pub async fn run<H, F, E>(stream: TcpStream, handler: H, rules: Rules, mut stopping: watch::Receiver<bool>)
where
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<Response<Bytes>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let tracker = Tracker::new();
    let phases = tracker.0.subscribe();
    let service = {
        let tracker = tracker.clone();
        hyper::service::service_fn(move |request| {
            tracker.busy();
            let tracker = tracker.clone();
            let answering = handler(request);
            async move {
                answering
                    .await
                    .map(|response| response.map(|body| Answer::new(body, tracker)))
            }
        })
    };
    let io = TokioIo::new(Watched::new(stream, tracker.clone(), rules.refuse));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(rules.keep_alive)
        // `outstayed` keeps the time instead, phase by phase.
        .header_read_timeout(None)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES);
    let connection = http.serve_connection(io, service);
    let outstayed = outstayed(phases, rules.timeouts);
    tokio::pin!(connection, outstayed);
    let mut asked_to_stop = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "a connection ended with an error");
                }
                return;
            }
            outstayed = &mut outstayed => {
                match outstayed {
                    Outstayed::Head => tracing::info!(
                        timeout_ms = rules.timeouts.head.as_millis(),
                        "closed a connection whose request head did not arrive in time"
                    ),
                    Outstayed::Idle => tracing::debug!(
                        timeout_ms = rules.timeouts.idle.as_millis(),
                        "closed a connection that sent no request in time"
                    ),
                }
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !asked_to_stop => {
                asked_to_stop = true;
                connection.as_mut().graceful_shutdown();
                // Not a byte of a request has arrived: there is nothing to finish.
                if tracker.is_waiting() {
                    return;
                }
            }
        }
    }
}

/// An answer's body, which tells the connection when hyper has taken all of it.
struct Answer {
    bytes: Option<Bytes>,
    tracker: Tracker,
}

impl Answer {
    fn new(bytes: Bytes, tracker: Tracker) -> Self {
        Answer {
            bytes: (!bytes.is_empty()).then_some(bytes),
            tracker,
        }
    }
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.bytes.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.tracker.answered();
    }
}

/// The connection's transport as hyper sees it: the socket, with the phase moved on by what
/// passes through it, hyper's own refusals swapped for ours, and a lingering close.
struct Watched<T> {
    io: T,
    tracker: Tracker,
    refuse: fn(u16) -> Response<Bytes>,
    refusal: Option<Refusal>,
    write_closed: bool,
    linger: Option<Pin<Box<Sleep>>>,
    lingered_bytes: usize,
}

/// hyper's answer to a head it refused, as it wrote it, and ours as it is being sent.
#[derive(Default)]
struct Refusal {
    hypers: BytesMut,
    ours: Option<Bytes>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Watched<T> {
    fn new(io: T, tracker: Tracker, refuse: fn(u16) -> Response<Bytes>) -> Self {
        Watched {
            io,
            tracker,
            refuse,
            refusal: None,
            write_closed: false,
            linger: None,
            lingered_bytes: 0,
        }
    }

    /// Whether what hyper writes now is its own refusal, which goes no further than here.
    fn refusing(&mut self) -> bool {
        if self.refusal.is_none() && self.tracker.has_no_request() {
            self.refusal = Some(Refusal::default());
        }
        self.refusal.is_some()
    }

    fn keep_refusal(&mut self, bytes: &[u8]) {
        if let Some(refusal) = &mut self.refusal {
            let room = REFUSAL_KEPT_BYTES.saturating_sub(refusal.hypers.len());
            refusal.hypers.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Sends our answer in place of hyper's, once hyper has written all of its own (it flushes
    /// or closes after that).
    fn poll_send_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(refusal) = &mut self.refusal else {
            return Poll::Ready(Ok(()));
        };
        let refuse = self.refuse;
        let ours = refusal.ours.get_or_insert_with(|| replacement(&refusal.hypers, refuse));
        while ours.has_remaining() {
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, ours))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            ours.advance(written);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads and drops whatever the client still sends, until it closes its side, for at most
    /// `LINGER`: a socket closed with unread bytes in it is reset, and a client still sending (a
    /// body that was not read, the rest of a head that was refused) could then lose the answer.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
        let mut scratch = [0u8; 4096];
        loop {
            let mut buffer = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buffer) {
                Poll::Ready(Ok(())) if buffer.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    self.lingered_bytes += buffer.filled().len();
                    if self.lingered_bytes > LINGER_BYTES {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return deadline.as_mut().poll(cx),
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracker.first_byte();
        }
        read
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusing() {
            this.keep_refusal(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusing() {
            let mut taken = 0;
            for buf in bufs {
                this.keep_refusal(buf);
                taken += buf.len();
            }
            return Poll::Ready(Ok(taken));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_refusal(cx))?;
        let flushed = ready!(Pin::new(&mut this.io).poll_flush(cx));
        if flushed.is_ok() {
            // hyper flushes an answer only after handing over all of its bytes.
            this.tracker.flushed();
        }
        Poll::Ready(flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_refusal(cx))?;
        if !this.write_closed {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.write_closed = true;
        }
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}

/// Our answer in place of hyper's refusal: the status hyper chose, answered by `refuse`, with
/// hyper's `date` and the connection closed after it (hyper closes it anyway).
fn replacement(hypers: &[u8], refuse: fn(u16) -> Response<Bytes>) -> Bytes {
    // "HTTP/1.1 431 Request Header Fields Too Large\r\n..."
    let status = hypers
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .unwrap_or(400);
    let response = refuse(status);
    let mut out = BytesMut::new();
    let status = response.status();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let date = hypers
        .split(|&b| b == b'\n')
        .find(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:"));
    if let Some(date) = date {
        out.extend_from_slice(date);
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", response.body().len()).as_bytes());
    out.extend_from_slice(response.body());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse(status: u16) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from(format!("{{\"status\":{status}}}")));
        *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
        response
            .headers_mut()
            .insert("x-request-id", hyper::header::HeaderValue::from_static("01TEST"));
        response
    }

    #[test]
    fn hypers_refusal_is_replaced_by_ours_with_its_date() {
        let hypers = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                       date: Sat, 28 Nov 2026 19:29:00 GMT\r\n\r\n";
        let ours = replacement(hypers, refuse);
        let text = String::from_utf8_lossy(&ours);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("\r\nx-request-id: 01TEST\r\n"), "{text}");
        assert!(text.contains("\r\ndate: Sat, 28 Nov 2026 19:29:00 GMT\r\n"), "{text}");
        assert!(
            text.ends_with("content-length: 14\r\nconnection: close\r\n\r\n{\"status\":431}"),
            "{text}"
        );
    }

    #[test]
    fn an_unreadable_refusal_is_taken_for_a_400() {
        let ours = replacement(b"HTTP/1.1", refuse);
        assert!(String::from_utf8_lossy(&ours).ends_with("{\"status\":400}"));
    }

    #[test]
    fn each_phase_has_its_own_limit() {
        let timeouts = Timeouts {
            idle: Duration::from_secs(5),
            head: Duration::from_secs(2),
        };
        let at = Instant::now();
        assert_eq!(
            deadline(Phase::Waiting { since: at }, timeouts),
            Some((at + timeouts.idle, Outstayed::Idle))
        );
        assert_eq!(
            deadline(Phase::Head { since: at }, timeouts),
            Some((at + timeouts.head, Outstayed::Head))
        );
        assert_eq!(deadline(Phase::Busy, timeouts), None);
        assert_eq!(deadline(Phase::Answered, timeouts), None);
    }

    #[test]
    fn the_phase_moves_with_the_connection() {
        let tracker = Tracker::new();
        assert!(tracker.is_waiting() && tracker.has_no_request());
        tracker.answered();
        tracker.flushed();
        assert!(tracker.is_waiting(), "nothing to answer or flush yet");
        tracker.first_byte();
        assert!(!tracker.is_waiting() && tracker.has_no_request());
        tracker.busy();
        assert!(!tracker.has_no_request());
        tracker.first_byte();
        tracker.flushed();
        assert_eq!(
            *tracker.0.borrow(),
            Phase::Busy,
            "a request in hand stays in hand until answered"
        );
        tracker.answered();
        assert_eq!(*tracker.0.borrow(), Phase::Answered);
        tracker.flushed();
        assert!(tracker.is_waiting());
    }
}
