//! A backend that answers with a reply as big as asked (a gigabyte of JSON whitespace, say),
//! with or without announcing its length, and counts what it managed to send: a client that
//! stops reading at its cap leaves most of it unsent. Plain threads and sockets, so the
//! gigabyte never sits in memory on this side either.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct HugeServer {
    pub url: String,
    /// Body bytes written to clients so far.
    pub sent: Arc<AtomicU64>,
    /// Replies started.
    pub replies: Arc<AtomicU64>,
}

/// Answers every GET whose path starts with `huge_path` with `size` bytes of spaces (valid
/// JSON whitespace, so only its size is wrong), `[]` to anything else.
pub fn start(huge_path: &'static str, size: u64, announce: bool) -> HugeServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let sent = Arc::new(AtomicU64::new(0));
    let replies = Arc::new(AtomicU64::new(0));
    let (s, r) = (Arc::clone(&sent), Arc::clone(&replies));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (s, r) = (Arc::clone(&s), Arc::clone(&r));
            std::thread::spawn(move || serve(conn, huge_path, size, announce, &s, &r));
        }
    });
    HugeServer { url, sent, replies }
}

fn serve(
    conn: TcpStream,
    huge_path: &str,
    size: u64,
    announce: bool,
    sent: &AtomicU64,
    replies: &AtomicU64,
) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut input = BufReader::new(conn);
    loop {
        let mut request = String::new();
        if input.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut line = String::new();
            if input.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        if !path.starts_with(huge_path) {
            let ok = out
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]")
                .is_ok();
            if !ok {
                return;
            }
            continue;
        }
        replies.fetch_add(1, Ordering::Relaxed);
        let head = if announce {
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n")
        } else {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_string()
        };
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b' '; 64 << 10];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            let wrote = if announce {
                out.write_all(&chunk[..n])
            } else {
                out.write_all(format!("{n:x}\r\n").as_bytes())
                    .and_then(|()| out.write_all(&chunk[..n]))
                    .and_then(|()| out.write_all(b"\r\n"))
            };
            if wrote.is_err() {
                // The client hung up: it stopped reading, as it should.
                return;
            }
            sent.fetch_add(n as u64, Ordering::Relaxed);
            left -= n as u64;
        }
        if !announce && out.write_all(b"0\r\n\r\n").is_err() {
            return;
        }
    }
}
