//! A small HTTP proxy in front of moto that injects CloudFront faults on
//! requests matching a rule, and forwards the rest. One request per
//! connection (it answers `Connection: close`), which the SDK handles.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this HTTP status and CloudFront error code.
    Error { status: u16, code: &'static str },
    /// Wait, then forward (a response slower than the client's timeout).
    Delay(Duration),
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Applies to requests whose request line contains this text.
    pub request_line_contains: String,
    pub fault: Fault,
}

pub struct FaultProxy {
    pub port: u16,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Request line and outcome of every request, in order.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules = Arc::new(Mutex::new(rules));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (r, l) = (rules.clone(), log.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, l) = (r.clone(), l.clone());
                std::thread::spawn(move || serve(client, upstream_port, &r, &l));
            }
        });
        FaultProxy { port, rules, log }
    }

    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap() = rules;
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request: head and Content-Length body.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
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

fn serve(mut client: TcpStream, upstream_port: u16, rules: &Mutex<Vec<Rule>>, log: &Mutex<Vec<String>>) {
    let Some(request) = read_request(&mut client) else {
        return;
    };
    let line = String::from_utf8_lossy(&request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let fault = rules
        .lock()
        .unwrap()
        .iter()
        .find(|r| line.contains(&r.request_line_contains))
        .map(|r| r.fault.clone());
    let planned = match &fault {
        Some(Fault::Error { status, code }) => format!("{status} {code}"),
        Some(Fault::Delay(delay)) => format!("delayed {delay:?}"),
        None => "forwarded".to_owned(),
    };
    // Logged on arrival, so a test sees a request that is still being delayed.
    log.lock().unwrap().push(format!("{line} -> {planned}"));
    match fault {
        Some(Fault::Error { status, code }) => {
            let body = format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
                 <Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message>\
                 </Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            );
            let response = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(response.as_bytes());
        }
        Some(Fault::Delay(delay)) => {
            std::thread::sleep(delay);
            forward(&mut client, upstream_port, &request);
        }
        None => forward(&mut client, upstream_port, &request),
    }
    let _ = client.shutdown(Shutdown::Both);
}

fn forward(client: &mut TcpStream, upstream_port: u16, request: &[u8]) {
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    if upstream.write_all(&with_connection_close(request)).is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = upstream.read_to_end(&mut response);
    let _ = client.write_all(&response);
}
