//! A minimal Lambda Runtime API, for what cargo-lambda's emulator does not
//! give: a real deadline (it sends the timeout, e.g. 600000, where Lambda sends
//! the epoch time in milliseconds) and the moment of the function's first poll
//! (cold start). Serves one request per connection (`Connection: close`).

use serde_json::Value;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Invocation {
    id: String,
    body: String,
    deadline_ms: u128,
}

/// What the function answered: its result, or its error (type and message).
pub type Outcome = Result<Value, Value>;

pub struct RuntimeApi {
    pub port: u16,
    invocations: Sender<Invocation>,
    outcomes: Mutex<Receiver<(String, Outcome)>>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    next_id: Mutex<u64>,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (invocations, pending) = channel::<Invocation>();
        let (done, outcomes) = channel();
        let pending = Arc::new(Mutex::new(pending));
        let first_poll = Arc::new(Mutex::new(None));
        let poll = first_poll.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (pending, done, poll) = (pending.clone(), done.clone(), poll.clone());
                std::thread::spawn(move || serve(stream, &pending, &done, &poll));
            }
        });
        RuntimeApi {
            port,
            invocations,
            outcomes: Mutex::new(outcomes),
            first_poll,
            next_id: Mutex::new(0),
        }
    }

    /// The value for the function's `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// When the function first asked for an invocation.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.first_poll.lock().unwrap()
    }

    /// Invokes the function with `event`, giving it `time` until its deadline.
    pub fn invoke(&self, event: &Value, time: Duration) -> Outcome {
        self.invoke_text(event.to_string(), time)
    }

    /// Invokes the function with an event already serialized (so that a
    /// measurement holds the function's time, not the serializing).
    pub fn invoke_text(&self, body: String, time: Duration) -> Outcome {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("req-{n}")
        };
        let deadline_ms = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + time).as_millis();
        self.invocations
            .send(Invocation {
                id: id.clone(),
                body,
                deadline_ms,
            })
            .unwrap();
        let outcomes = self.outcomes.lock().unwrap();
        loop {
            let (done_id, outcome) = outcomes
                .recv_timeout(time + Duration::from_secs(30))
                .expect("the function did not answer within its deadline and 30 s");
            if done_id == id {
                return outcome;
            }
        }
    }
}

fn serve(
    mut stream: TcpStream,
    pending: &Mutex<Receiver<Invocation>>,
    done: &Sender<(String, Outcome)>,
    first_poll: &Mutex<Option<Instant>>,
) {
    let Some((line, body)) = read_request(&mut stream) else {
        return;
    };
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        first_poll.lock().unwrap().get_or_insert_with(Instant::now);
        let Ok(invocation) = pending.lock().unwrap().recv() else {
            return;
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {}\r\n\
             Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\n\
             Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nConnection: close\r\n\r\n",
            invocation.body.len(),
            invocation.id,
            invocation.deadline_ms
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(invocation.body.as_bytes());
        return;
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [.., "invocation", id, "response"] => drop(done.send((id.to_string(), Ok(value)))),
        [.., "invocation", id, "error"] => drop(done.send((id.to_string(), Err(value)))),
        _ => {}
    }
    let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
}

/// One request's first line and body.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let request = super::read_request(stream)?;
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let line = String::from_utf8_lossy(&request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    Some((line, request[head_end..].to_vec()))
}
