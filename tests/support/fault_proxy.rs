//! A small HTTP proxy in front of moto that behaves like CloudFront where
//! moto does not, and misbehaves on demand. It is as strict as CloudFront
//! wherever it can be: no test needs it kinder.
//! - CallerReference, per distribution (invalidations, and their references,
//!   live under their distribution: `POST /distribution/{Id}/invalidation`).
//!   The same reference with the same paths gets the first invalidation back,
//!   not created or billed again; with other paths,
//!   `InvalidationBatchAlreadyExists`. Both answers are documented in the
//!   CloudFront API reference, CreateInvalidation, request element
//!   `CallerReference` (and the `InvalidationBatch` data type):
//!   <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateInvalidation.html>.
//!   What the reference does not say is whether a repeated request can be
//!   refused for the in-progress limits: the proxy answers it before checking
//!   them (it creates nothing, so it passes no limit), and the injected
//!   faults, TooManyInvalidationsInProgress among them, reach repeated
//!   requests as they reach any other, so the function meets both readings.
//! - In-progress state and its limits, always: an invalidation stays
//!   `InProgress` for [`DEFAULT_HOLD`] (or what [`FaultProxy::hold`] sets) on
//!   the proxy's clock, which a test can move on with [`FaultProxy::advance`],
//!   in CreateInvalidation's, ListInvalidations' and GetInvalidation's answers
//!   (moto says COMPLETED at once). A creation that would take a distribution
//!   past 3,000 file paths or 15 wildcard paths in progress is refused with
//!   TooManyInvalidationsInProgress, as CloudFront does, and counted.
//! - Every invalidation's `CreateTime` on the proxy's clock (moto writes the
//!   Unix epoch; see [`FaultProxy::wall_clock`]).
//! - Faults per request, by rule (request line contains a text) or at random
//!   on CreateInvalidation at a given rate: an error answer (Throttling, 503,
//!   TooManyInvalidationsInProgress...), a connection closed before or after
//!   forwarding (the latter: CloudFront accepted it, the answer was lost), or
//!   a response slower than the client's timeout.
//!
//! One request per connection (`Connection: close`), which the SDK handles.

use super::read_request;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// CloudFront's in-progress limits per distribution.
pub const HELD_FILES: usize = 3000;
pub const HELD_WILDCARDS: usize = 15;
/// How long an invalidation stays in progress unless a test says otherwise:
/// within what CloudFront takes (seconds to over ten minutes).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and CloudFront error code.
    Error { status: u16, code: &'static str },
    /// Wait, then go on (a response slower than the client's timeout).
    Delay(Duration),
    /// Close the connection without forwarding.
    ResetBeforeForward,
    /// Forward (CloudFront accepts the request), then close the connection
    /// without answering: the client cannot know it was accepted.
    ResetAfterForward,
}

impl Fault {
    /// CloudFront's answer when a distribution has no room in progress.
    pub const TOO_MANY_IN_PROGRESS: Fault = Fault::Error {
        status: 400,
        code: "TooManyInvalidationsInProgress",
    };
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Applies to requests whose request line contains this text.
    pub request_line_contains: String,
    pub fault: Fault,
}

impl Rule {
    /// `fault` on every request whose request line contains `text`.
    pub fn on(text: impl Into<String>, fault: Fault) -> Rule {
        Rule {
            request_line_contains: text.into(),
            fault,
        }
    }

    /// `fault` on every CreateInvalidation at `distribution`.
    pub fn creates_at(distribution: &str, fault: Fault) -> Rule {
        Rule::on(
            format!("POST /2020-05-31/distribution/{distribution}/invalidation"),
            fault,
        )
    }
}

/// Random faults on CreateInvalidation requests: each request gets one of
/// `faults` (in turn at random) with probability `rate`.
#[derive(Clone, Debug)]
pub struct Mix {
    pub rate: f64,
    pub faults: Vec<Fault>,
    pub seed: u64,
}

/// What the proxy saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: usize,
    pub faults: usize,
    pub forwarded: usize,
    /// Same reference and paths: the first invalidation answered again.
    pub replayed: usize,
    /// Same reference, other paths: InvalidationBatchAlreadyExists.
    pub conflicts: usize,
    /// Creations refused because the distribution's in-progress limits
    /// would be passed.
    pub refused: usize,
}

/// One invalidation CloudFront accepted, as the in-progress state sees it.
#[derive(Clone, Debug)]
struct Held {
    id: String,
    created: Duration,
    files: usize,
    wildcards: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    mix: Option<Mix>,
    rng: u64,
    /// (distribution, caller reference) -> (paths, CloudFront's answer to
    /// the first request).
    references: HashMap<(String, String), (Vec<String>, Vec<u8>)>,
    counters: Counters,
    log: Vec<String>,
    /// How long an invalidation stays in progress.
    hold: Duration,
    /// The proxy's clock: time since start, plus what tests added.
    started: Option<Instant>,
    /// The wall-clock time of the start.
    started_wall: Option<SystemTime>,
    skew: Duration,
    /// Per distribution, the invalidations created through the proxy.
    held: HashMap<String, Vec<Held>>,
}

impl State {
    fn now(&self) -> Duration {
        self.started.map_or(Duration::ZERO, |s| s.elapsed()) + self.skew
    }

    fn running(&self, held: &Held) -> bool {
        self.now() < held.created + self.hold
    }

    /// Files and wildcards in progress at a distribution now.
    fn in_progress(&self, distribution: &str) -> (usize, usize) {
        let running = self
            .held
            .get(distribution)
            .into_iter()
            .flatten()
            .filter(|h| self.running(h));
        running.fold((0, 0), |(f, w), h| (f + h.files, w + h.wildcards))
    }

    fn held_by_id(&self, id: &str) -> Option<&Held> {
        self.held.values().flatten().find(|h| h.id == id)
    }

    /// When invalidation `id` was created on the proxy's clock, as
    /// CloudFront writes it (moto writes the Unix epoch), if the proxy
    /// created it.
    fn create_time(&self, id: &str) -> Option<String> {
        let at = self.started_wall? + self.held_by_id(id)?.created;
        Some(super::aws_time(at.into()))
    }

    /// The status CloudFront would give invalidation `id` now, if the proxy
    /// knows it.
    fn status(&self, id: &str) -> Option<&'static str> {
        let held = self.held_by_id(id)?;
        Some(if self.running(held) {
            "InProgress"
        } else {
            "Completed"
        })
    }
}

pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            rules,
            hold: DEFAULT_HOLD,
            started: Some(Instant::now()),
            started_wall: Some(SystemTime::now()),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(client, upstream_port, &state));
            }
        });
        FaultProxy { port, state }
    }

    /// Keeps every invalidation in progress for `hold` after its creation
    /// (instead of [`DEFAULT_HOLD`]).
    pub fn hold(&self, hold: Duration) {
        self.state.lock().unwrap().hold = hold;
    }

    /// The wall-clock time on the proxy's clock: now, plus what
    /// [`FaultProxy::advance`] added. Invalidations are created at this time
    /// (their `CreateTime`).
    pub fn wall_clock(&self) -> SystemTime {
        let s = self.state.lock().unwrap();
        s.started_wall.unwrap_or_else(SystemTime::now) + s.now()
    }

    /// Moves the proxy's clock on (an invocation a minute later, without
    /// waiting a minute).
    pub fn advance(&self, by: Duration) {
        self.state.lock().unwrap().skew += by;
    }

    /// Files and wildcards in progress at `distribution` now.
    pub fn in_progress(&self, distribution: &str) -> (usize, usize) {
        self.state.lock().unwrap().in_progress(distribution)
    }

    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.state.lock().unwrap().rules = rules;
    }

    pub fn set_mix(&self, mix: Option<Mix>) {
        let mut state = self.state.lock().unwrap();
        state.rng = mix.as_ref().map_or(1, |m| m.seed.max(1));
        state.mix = mix;
    }

    /// Request line and planned outcome of every request, in order of arrival.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn counters(&self) -> Counters {
        self.state.lock().unwrap().counters.clone()
    }
}

/// xorshift64: reproducible faults from a seed, no dependency.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// The request with `Connection: close`, so the upstream ends the response with EOF.
fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
    let head = String::from_utf8_lossy(&request[..head_end]);
    let mut out: String = head
        .split_inclusive("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    out.push_str("Connection: close\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&request[head_end..]);
    bytes
}

/// The texts of every `<tag>` element in an XML body (CloudFront's request
/// bodies are flat enough for this).
fn elements(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_owned()))
        .collect()
}

fn error_response(status: u16, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message>\
         </Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    );
    format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(mut client: TcpStream, upstream_port: u16, state: &Mutex<State>) {
    let Some(request) = read_request(&mut client) else {
        return;
    };
    let text = String::from_utf8_lossy(&request).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    let creates_invalidation = line.starts_with("POST ") && line.contains("/invalidation");
    let fault = {
        let mut s = state.lock().unwrap();
        s.counters.requests += 1;
        let by_rule = s
            .rules
            .iter()
            .find(|r| line.contains(&r.request_line_contains))
            .map(|r| r.fault.clone());
        let fault = by_rule.or_else(|| {
            let mix = s
                .mix
                .clone()
                .filter(|m| creates_invalidation && !m.faults.is_empty())?;
            let roll = next_random(&mut s.rng);
            let hit = (roll % 1_000_000) as f64 / 1_000_000.0 < mix.rate;
            hit.then(|| mix.faults[(next_random(&mut s.rng) % mix.faults.len() as u64) as usize].clone())
        });
        if fault.is_some() {
            s.counters.faults += 1;
        }
        // Logged on arrival, so a test sees a request that is still being delayed.
        s.log.push(format!(
            "{line} -> {}",
            fault.as_ref().map_or("forwarded".into(), |f| format!("{f:?}"))
        ));
        fault
    };
    let answer = match fault {
        Some(Fault::Error { status, code }) => Some(error_response(status, code)),
        Some(Fault::ResetBeforeForward) => None,
        Some(Fault::Delay(delay)) => {
            std::thread::sleep(delay);
            Some(upstream(
                &request,
                &text,
                creates_invalidation,
                upstream_port,
                state,
            ))
        }
        Some(Fault::ResetAfterForward) => {
            upstream(&request, &text, creates_invalidation, upstream_port, state);
            None
        }
        None => Some(upstream(
            &request,
            &text,
            creates_invalidation,
            upstream_port,
            state,
        )),
    };
    if let Some(answer) = answer {
        let _ = client.write_all(&answer);
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// What CloudFront answers: for CreateInvalidation with CallerReference
/// semantics, else moto's answer.
fn upstream(
    request: &[u8],
    text: &str,
    creates_invalidation: bool,
    port: u16,
    state: &Mutex<State>,
) -> Vec<u8> {
    if !creates_invalidation {
        let answer = forward(port, request);
        let s = state.lock().unwrap();
        return with_statuses(answer, &s);
    }
    let reference = elements(text, "CallerReference")
        .into_iter()
        .next()
        .unwrap_or_default();
    let paths = elements(text, "Path");
    let distribution = text
        .split("/distribution/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let key = (distribution.clone(), reference);
    {
        let mut s = state.lock().unwrap();
        // The API reference's rule for a reference CloudFront knows (see the
        // module's comment), before the limits: a repeat creates nothing.
        if let Some((first_paths, first_answer)) = s.references.get(&key).cloned() {
            if first_paths == paths {
                s.counters.replayed += 1;
                return with_statuses(first_answer, &s);
            }
            s.counters.conflicts += 1;
            return error_response(409, "InvalidationBatchAlreadyExists");
        }
        let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
        let (files, held_wildcards) = s.in_progress(&distribution);
        if files + paths.len() - wildcards > HELD_FILES || held_wildcards + wildcards > HELD_WILDCARDS {
            s.counters.refused += 1;
            return error_response(400, "TooManyInvalidationsInProgress");
        }
    }
    let answer = forward(port, request);
    let mut s = state.lock().unwrap();
    s.counters.forwarded += 1;
    if answer.starts_with(b"HTTP/1.1 201") || answer.starts_with(b"HTTP/1.0 201") {
        if let Some(id) = elements(&String::from_utf8_lossy(&answer), "Id")
            .into_iter()
            .next()
        {
            let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
            let created = s.now();
            s.held.entry(distribution).or_default().push(Held {
                id,
                created,
                files: paths.len() - wildcards,
                wildcards,
            });
        }
        s.references.entry(key).or_insert((paths, answer.clone()));
    }
    with_statuses(answer, &s)
}

/// `xml` with the text of its first `<tag>` element replaced by `value`.
fn with_element(xml: &str, tag: &str, value: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let Some(start) = xml.find(&open).map(|i| i + open.len()) else {
        return xml.to_owned();
    };
    let Some(end) = xml[start..].find(&close).map(|i| start + i) else {
        return xml.to_owned();
    };
    format!("{}{value}{}", &xml[..start], &xml[end..])
}

/// moto's answer with each invalidation's creation time on the proxy's
/// clock and its status as CloudFront would give it now (see
/// [`State::status`]), and its Content-Length to match.
fn with_statuses(answer: Vec<u8>, state: &State) -> Vec<u8> {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
        return answer;
    };
    let body = String::from_utf8_lossy(&answer[head_end..]).into_owned();
    // Each invalidation element holds its <Id> before its <Status> and
    // <CreateTime>: the body is cut before each <Id>, and each piece's
    // elements rewritten for that invalidation.
    let mut cuts: Vec<usize> = body.match_indices("<Id>").map(|(i, _)| i).collect();
    cuts.push(body.len());
    let mut out = body[..cuts[0]].to_owned();
    for piece in cuts.windows(2).map(|w| &body[w[0]..w[1]]) {
        let id = piece["<Id>".len()..].split("</Id>").next().unwrap_or_default();
        let mut piece = piece.to_owned();
        if let Some(status) = state.status(id) {
            piece = with_element(&piece, "Status", status);
        }
        if let Some(created) = state.create_time(id) {
            piece = with_element(&piece, "CreateTime", &created);
        }
        out.push_str(&piece);
    }
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let head: String = head
        .split_inclusive("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}\r\n", out.len())
            } else {
                line.to_owned()
            }
        })
        .collect();
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(out.as_bytes());
    bytes
}

fn forward(upstream_port: u16, request: &[u8]) -> Vec<u8> {
    let mut response = Vec::new();
    if let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port))
        && upstream.write_all(&with_connection_close(request)).is_ok()
    {
        let _ = upstream.read_to_end(&mut response);
    }
    response
}
