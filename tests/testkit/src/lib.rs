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
}

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
        let thread = std::thread::spawn(move || {
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
            },
            bound,
        ))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
