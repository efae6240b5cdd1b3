//! A small HTTP proxy in front of moto that behaves like CloudFront where
//! moto does not, and misbehaves on demand:
//! - CallerReference semantics: the same reference with the same paths gets
//!   the first invalidation back (not forwarded, not billed again); the same
//!   reference with other paths gets `InvalidationBatchAlreadyExists`.
//!   TooManyInvalidationsInProgress limits the creation of invalidations, so
//!   a request whose reference is already held is answered with that
//!   invalidation, never with that error.
//! - Faults per request, by rule (request line contains a text) or at random
//!   at a given rate: an error answer (Throttling, 503,
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
use std::time::Duration;

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

#[derive(Clone, Debug)]
pub struct Rule {
    /// Applies to requests whose request line contains this text.
    pub request_line_contains: String,
    pub fault: Fault,
}

/// Random faults on CreateInvalidation requests: each request gets one of
/// `faults` (in turn at random) with probability `rate`.
#[derive(Clone, Debug)]
pub struct Mix {
    pub rate: f64,
    pub faults: Vec<Fault>,
    pub seed: u64,
}

/// What the proxy saw, for a soak's report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: usize,
    pub faults: usize,
    pub forwarded: usize,
    /// Same reference and paths: the first invalidation answered again.
    pub replayed: usize,
    /// Same reference, other paths: InvalidationBatchAlreadyExists.
    pub conflicts: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    mix: Option<Mix>,
    rng: u64,
    /// Caller reference -> (paths, CloudFront's answer to the first request).
    references: HashMap<String, (Vec<String>, Vec<u8>)>,
    counters: Counters,
    log: Vec<String>,
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
        let reference = elements(&text, "CallerReference")
            .into_iter()
            .next()
            .unwrap_or_default();
        let held = creates_invalidation && s.references.contains_key(&reference);
        let fault = by_rule.or_else(|| {
            let mix = s
                .mix
                .clone()
                .filter(|m| creates_invalidation && !m.faults.is_empty())?;
            let roll = next_random(&mut s.rng);
            let hit = (roll % 1_000_000) as f64 / 1_000_000.0 < mix.rate;
            hit.then(|| mix.faults[(next_random(&mut s.rng) % mix.faults.len() as u64) as usize].clone())
        });
        let fault = fault.filter(|f| {
            !(held
                && matches!(
                    f,
                    Fault::Error {
                        code: "TooManyInvalidationsInProgress",
                        ..
                    }
                ))
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
        return forward(port, request);
    }
    let reference = elements(text, "CallerReference")
        .into_iter()
        .next()
        .unwrap_or_default();
    let paths = elements(text, "Path");
    {
        let mut s = state.lock().unwrap();
        if let Some((first_paths, first_answer)) = s.references.get(&reference).cloned() {
            if first_paths == paths {
                s.counters.replayed += 1;
                return first_answer;
            }
            s.counters.conflicts += 1;
            return error_response(409, "InvalidationBatchAlreadyExists");
        }
    }
    let answer = forward(port, request);
    let mut s = state.lock().unwrap();
    s.counters.forwarded += 1;
    if answer.starts_with(b"HTTP/1.1 201") || answer.starts_with(b"HTTP/1.0 201") {
        s.references.entry(reference).or_insert((paths, answer.clone()));
    }
    answer
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
