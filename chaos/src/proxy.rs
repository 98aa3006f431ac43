//! A fault-injecting TCP proxy for the Raft peer links.
//!
//! Each node reaches each peer through its own [`Proxy`] (node a's
//! connections to node b go through proxy a->b, which forwards to b's real
//! Raft port). What the proxies deliver is governed by one [`Net`]: per
//! directed flow (bytes sent by a to b, whichever connection carries them)
//! whether it is cut, how long each chunk is delayed, and how likely a
//! chunk is to be lost. A Raft exchange a->b carries requests a->b and
//! replies b->a, so cutting flow a->b alone is a one-way partition.
//!
//! A cut flow stalls: its bytes wait (in the kernel buffers and here)
//! instead of being thrown away, because dropping bytes from the middle of
//! a TCP stream would corrupt its frames, which no real network does. A
//! connection stalled for longer than [`STALL_CLOSE`] is closed, as TCP
//! would give up; a lost chunk resets its connection (the loss TCP could
//! not hide). Raft sees timeouts and resets, as with a real partition.
//!
//! Invariants:
//! - Bytes of one connection are delivered in order and never altered.
//! - Every thread here stops within [`POLL`] of [`Proxy::stop`] or of its
//!   connection closing.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often blocked threads look at the flags.
const POLL: Duration = Duration::from_millis(20);
/// A connection whose flow stays cut this long is closed.
const STALL_CLOSE: Duration = Duration::from_secs(3);

/// The state of one directed flow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub cut: bool,
    pub delay_ms: u64,
    /// Chance per chunk, in thousandths, that the connection is reset.
    pub loss_per_mille: u32,
}

/// The network between the nodes: one [`Flow`] per ordered pair of ids.
#[derive(Default)]
pub struct Net {
    flows: Mutex<HashMap<(u64, u64), Flow>>,
    /// Seed of the loss draws, advanced per draw.
    draws: AtomicU64,
}

impl Net {
    pub fn new(seed: u64) -> Arc<Net> {
        Arc::new(Net {
            flows: Mutex::default(),
            draws: AtomicU64::new(seed),
        })
    }

    /// The flow of bytes sent by `from` to `to`.
    pub fn flow(&self, from: u64, to: u64) -> Flow {
        self.flows
            .lock()
            .expect("net lock")
            .get(&(from, to))
            .copied()
            .unwrap_or_default()
    }

    pub fn set(&self, from: u64, to: u64, flow: Flow) {
        self.flows
            .lock()
            .expect("net lock")
            .insert((from, to), flow);
    }

    /// Every flow back to normal.
    pub fn heal(&self) {
        self.flows.lock().expect("net lock").clear();
    }

    /// Whether any flow is faulty.
    pub fn is_faulty(&self) -> bool {
        self.flows
            .lock()
            .expect("net lock")
            .values()
            .any(|f| *f != Flow::default())
    }

    fn lose(&self, per_mille: u32) -> bool {
        if per_mille == 0 {
            return false;
        }
        let draw = self
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        crate::rng::mix(draw) % 1000 < u64::from(per_mille)
    }
}

/// One proxy: listens on a free loopback port, forwards to `target`.
pub struct Proxy {
    pub listen: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts the proxy for node `from`'s connections to node `to`.
    pub fn start(from: u64, to: u64, target: SocketAddr, net: Arc<Net>) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let listen = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        thread::Builder::new()
            .name(format!("proxy-{from}-{to}"))
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let link = Link {
                                from,
                                to,
                                net: net.clone(),
                                stop: stopping.clone(),
                            };
                            link.start(client, target);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                        Err(_) => thread::sleep(POLL),
                    }
                }
            })?;
        Ok(Proxy { listen, stop })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One proxied connection.
#[derive(Clone)]
struct Link {
    from: u64,
    to: u64,
    net: Arc<Net>,
    stop: Arc<AtomicBool>,
}

impl Link {
    fn start(self, client: TcpStream, target: SocketAddr) {
        let _ = client.set_nonblocking(false);
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
            return;
        };
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let closed = Arc::new(AtomicBool::new(false));
        let forward = (self.clone(), self.from, self.to, closed.clone());
        let backward = (self, forward.2, forward.1, closed);
        let _ = thread::Builder::new()
            .name("proxy-pump".into())
            .spawn(move || {
                forward
                    .0
                    .pump(client, server, forward.1, forward.2, &forward.3)
            });
        let _ = thread::Builder::new()
            .name("proxy-pump".into())
            .spawn(move || {
                backward
                    .0
                    .pump(server2, client2, backward.1, backward.2, &backward.3)
            });
    }

    /// Copies `source` to `sink` as flow `from -> to` allows, until either
    /// side closes, the proxy stops, or the flow stays cut too long.
    fn pump(
        &self,
        mut source: TcpStream,
        mut sink: TcpStream,
        from: u64,
        to: u64,
        closed: &AtomicBool,
    ) {
        let _ = source.set_read_timeout(Some(POLL));
        let mut buf = vec![0u8; 64 * 1024];
        'outer: while !closed.load(Ordering::Relaxed) && !self.stop.load(Ordering::Relaxed) {
            // While the flow is cut, read nothing: bytes wait upstream.
            let stalled = Instant::now();
            loop {
                let flow = self.net.flow(from, to);
                if !flow.cut {
                    break;
                }
                if stalled.elapsed() > STALL_CLOSE || closed.load(Ordering::Relaxed) {
                    break 'outer;
                }
                thread::sleep(POLL);
            }
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(_) => break,
            };
            let flow = self.net.flow(from, to);
            if self.net.lose(flow.loss_per_mille) {
                break;
            }
            if flow.delay_ms > 0 {
                thread::sleep(Duration::from_millis(flow.delay_ms));
            }
            // A cut that began during the delay holds the chunk back too.
            let held = Instant::now();
            while self.net.flow(from, to).cut {
                if held.elapsed() > STALL_CLOSE || self.stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
                thread::sleep(POLL);
            }
            if sink.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        closed.store(true, Ordering::Relaxed);
        let _ = source.shutdown(Shutdown::Both);
        let _ = sink.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port; returns its address.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let mut stream = stream.unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping")?;
        let mut back = [0u8; 4];
        stream.read_exact(&mut back)?;
        Ok(back.to_vec())
    }

    #[test]
    fn forwards_then_stalls_a_cut_flow_then_delivers_on_heal() {
        let net = Net::new(1);
        let proxy = Proxy::start(1, 2, echo_server(), net.clone()).unwrap();
        let mut stream = TcpStream::connect(proxy.listen).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");

        // One way: replies 2 -> 1 cut; the request gets there, the echo waits.
        net.set(
            2,
            1,
            Flow {
                cut: true,
                ..Flow::default()
            },
        );
        assert!(round_trip(&mut stream).is_err(), "a cut flow delivered");
        net.heal();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping", "the held reply arrives after the heal");
    }

    #[test]
    fn delay_slows_each_chunk() {
        let net = Net::new(2);
        let proxy = Proxy::start(1, 2, echo_server(), net.clone()).unwrap();
        net.set(
            1,
            2,
            Flow {
                delay_ms: 150,
                ..Flow::default()
            },
        );
        let mut stream = TcpStream::connect(proxy.listen).unwrap();
        let started = Instant::now();
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn certain_loss_resets_the_connection() {
        let net = Net::new(3);
        let proxy = Proxy::start(1, 2, echo_server(), net.clone()).unwrap();
        net.set(
            1,
            2,
            Flow {
                loss_per_mille: 1000,
                ..Flow::default()
            },
        );
        let mut stream = TcpStream::connect(proxy.listen).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert!(round_trip(&mut stream).is_err());
    }
}
