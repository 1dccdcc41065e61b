//! Real HTTP stand-ins for the node services nodecap talks to, for nodecap's tests and
//! benchmarks: a test IMDS ([`imds`]), a test VPC CNI ipamd ([`ipamd`]), a test EC2 endpoint
//! for the subnet listings ([`ec2`]), a test Price List API ([`pricing`]) and a
//! fault-injecting proxy for the AWS API emulator ([`proxy`]). Each runs on its own thread and runtime and stops when
//! its handle is dropped. The `testkit` binary runs them as processes for shell-driven tests
//! (systemd boots, benchmarks).

pub mod ec2;
pub mod imds;
pub mod ipamd;
pub mod peak;
pub mod pricing;
pub mod proxy;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::oneshot;

/// A server running on a background thread until dropped.
#[derive(Debug)]
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Closed when the server's thread ends.
    ended: std::sync::mpsc::Receiver<()>,
}

/// How long dropping a server waits for its thread: a handler stuck in a blocking call
/// would otherwise hang the test that drops it.
#[cfg(not(test))]
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
#[cfg(test)]
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Background {
    /// Binds `addr` and serves every connection with `service` until dropped. Returns the
    /// bound address (useful with port 0).
    pub fn serve<F, Fut>(addr: SocketAddr, service: F) -> std::io::Result<(Self, SocketAddr)>
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>
            + Send
            + 'static,
    {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        // One thread per server: a fleet test runs hundreds of them.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (ending, ended) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ending = ending;
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(imds::serve_connection(stream, service.clone()));
                            }
                        }
                    }
                }
            });
            runtime.shutdown_background();
        });
        Ok((
            Background {
                stop: Some(stop),
                thread: Some(thread),
                ended,
            },
            bound,
        ))
    }
}

impl Drop for Background {
    // A test helper's one way to say it left a thread behind.
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Joined once it has ended, within STOP_WAIT; else left behind (it ends with the
        // test process) with a line saying so, rather than hanging the test.
        match self.ended.recv_timeout(STOP_WAIT) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("testkit: a test server did not stop within {STOP_WAIT:?}; left behind");
            }
            _ => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;

    /// A server whose handler blocks its thread for good is left behind after STOP_WAIT
    /// rather than hanging the test that drops it.
    #[test]
    fn a_stuck_server_does_not_hang_its_drop() {
        let (server, addr) = Background::serve("127.0.0.1:0".parse().unwrap(), |_req| async {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        })
        .unwrap();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let started = std::time::Instant::now();
        drop(server);
        assert!(started.elapsed() < STOP_WAIT * 3, "{:?}", started.elapsed());
    }
}
