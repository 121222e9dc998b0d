//! One HTTP GET over a runtime's unix socket (Docker's and Podman's API),
//! bounded in time and size: a socket that hangs, trickles, or answers with
//! a gigabyte costs at most the deadline and `BODY_MAX` bytes.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The most of an answer kept; an inspect answer is a few KiB.
pub const BODY_MAX: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answer larger than {BODY_MAX} bytes")]
    TooLarge,
    #[error("not an HTTP answer: {0}")]
    Bad(String),
    #[error("HTTP status {0}")]
    Status(u16),
}

/// GETs `path` from the API on the unix socket `sock` (HTTP/1.0, so the
/// server closes the connection after the body and never chunks it),
/// giving up at `deadline`. Returns the body of a 200 answer.
pub fn get(sock: &Path, path: &str, deadline: Duration) -> Result<Vec<u8>, HttpError> {
    let until = Instant::now() + deadline;
    let left = || {
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(HttpError::Timeout(deadline))
    };
    let mut s = UnixStream::connect(sock)?;
    s.set_write_timeout(Some(left()?))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        s.set_read_timeout(Some(left()?))?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if buf.len() + n > BODY_MAX {
                    return Err(HttpError::TooLarge);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Timeout(deadline));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(HttpError::Bad("cut short".into())),
        Err(e) => return Err(HttpError::Bad(e.to_string())),
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(HttpError::Status(code));
    }
    let chunked = resp.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    if chunked {
        return Err(HttpError::Bad("a chunked answer to HTTP/1.0".into()));
    }
    Ok(buf.split_off(head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread;

    fn server(
        answer: impl FnOnce(UnixStream) + Send + 'static,
    ) -> (tempdir::Dir, std::path::PathBuf) {
        let d = tempdir::Dir::new();
        let p = d.0.join("api.sock");
        let l = UnixListener::bind(&p).unwrap();
        thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                answer(s);
            }
        });
        (d, p)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p =
                    std::env::temp_dir().join(format!("tracee-http-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn read_request(s: &mut UnixStream) -> String {
        let mut b = [0u8; 1024];
        let n = s.read(&mut b).unwrap();
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    #[test]
    fn a_good_answer() {
        let (_d, p) = server(|mut s| {
            let req = read_request(&mut s);
            assert!(
                req.starts_with("GET /containers/abc/json HTTP/1.0\r\n"),
                "{req}"
            );
            s.write_all(
                b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"/x\"}",
            )
            .unwrap();
        });
        let body = get(&p, "/containers/abc/json", Duration::from_secs(2)).unwrap();
        assert_eq!(body, b"{\"Name\":\"/x\"}");
    }

    #[test]
    fn a_socket_that_never_answers_costs_the_deadline() {
        let (_d, p) = server(|s| {
            thread::sleep(Duration::from_secs(3));
            drop(s);
        });
        let t = Instant::now();
        let e = get(&p, "/x", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(e, HttpError::Timeout(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn a_trickle_is_cut_at_the_deadline() {
        let (_d, p) = server(|mut s| {
            let _ = read_request(&mut s);
            for _ in 0..100 {
                if s.write_all(b"H").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        let t = Instant::now();
        let e = get(&p, "/x", Duration::from_millis(400)).unwrap_err();
        assert!(matches!(e, HttpError::Timeout(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn lies_and_floods_are_errors() {
        let (_d, p) = server(|mut s| {
            let _ = read_request(&mut s);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            let junk = vec![b'x'; 64 * 1024];
            for _ in 0..40 {
                if s.write_all(&junk).is_err() {
                    return;
                }
            }
        });
        assert!(matches!(
            get(&p, "/x", Duration::from_secs(5)).unwrap_err(),
            HttpError::TooLarge
        ));
        let (_d, p) = server(|mut s| {
            let _ = read_request(&mut s);
            let _ = s.write_all(b"\x00\x01garbage");
        });
        assert!(matches!(
            get(&p, "/x", Duration::from_secs(2)).unwrap_err(),
            HttpError::Bad(_)
        ));
        let (_d, p) = server(|mut s| {
            let _ = read_request(&mut s);
            let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\n{}");
        });
        assert!(matches!(
            get(&p, "/x", Duration::from_secs(2)).unwrap_err(),
            HttpError::Status(404)
        ));
    }
}
