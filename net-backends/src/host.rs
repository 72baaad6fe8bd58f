//! The `host` backend: petrel.wasm hands its frames to the program that embeds it (petrel-host,
//! or a browser page later) through functions that program provides, and takes the program's
//! frames the same way; no socket is involved. What the embedder does with them — a native
//! `user` stack, a TAP device — is its business.
//!
//! Why not plain wasm imports: a module that imports anything beyond WASI cannot even be
//! instantiated by the wasmtime CLI, and petrel.wasm must run there too. So the embedder puts
//! its functions into the module's (exported, growable) function table and names their slots in
//! the environment variable [`abi::ENV`]; a module started without it simply has no host ports.
//! A slot holding a function of another signature makes the call trap, it cannot misbehave.

use crate::{Backend, Link, MAX_FRAME};
use crossbeam_channel::TrySendError;

/// The contract between petrel.wasm and its embedder.
pub mod abi {
    /// `SEND,RECV,INFO`: the function-table slots of the three functions, in decimal.
    pub const ENV: &str = "PETREL_HOST_NET";
    /// `send(port: i32, ptr: i32, len: i32) -> i32`: the embedder copies the frame out.
    /// `recv(port: i32, ptr: i32, cap: i32) -> i32`: the embedder copies its next frame in and
    /// returns its length, or 0 when it has none.
    /// `info(port: i32) -> i32`: `INFO_*` bits, or `GONE` when there is no such port.
    pub const OK: i32 = 0;
    /// `send`: the embedder's queue is full; offer the frame again later.
    pub const BUSY: i32 = 1;
    /// Any call: the port does not exist or has stopped for good.
    pub const GONE: i32 = -1;
    /// `info` bit: frames from this port carry checksums the embedder's stack computed.
    pub const INFO_CHECKSUMS_VALID: i32 = 1;
    /// Set (to 1) by an embedder whose `proc_exit` takes any status: WASI hosts refuse 126 and
    /// above, so without it petrel.wasm reports such guest statuses as 125.
    pub const FULL_EXIT_ENV: &str = "PETREL_FULL_EXIT_STATUS";
}

/// How long an idle machine may sleep before asking the embedder for frames again: no
/// descriptor announces them, so this bounds the latency they see.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(1);

pub struct HostPort {
    link: Link,
    id: u32,
    api: Api,
    checksums_valid: bool,
    /// A guest frame the embedder had no room for.
    to_host: Option<Vec<u8>>,
    /// A frame from the embedder while the guest's channel was full.
    to_guest: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl HostPort {
    pub fn open(id: u32, link: Link) -> Result<HostPort, String> {
        let api = Api::from_env().map_err(|e| format!("net host,id={id}: {e}"))?;
        let info = api.info(id);
        if info < 0 {
            return Err(format!(
                "net host,id={id}: the embedder has no host port {id}"
            ));
        }
        Ok(HostPort {
            link,
            id,
            api,
            checksums_valid: info & abi::INFO_CHECKSUMS_VALID != 0,
            to_host: None,
            to_guest: None,
            buf: vec![0; MAX_FRAME],
        })
    }

    fn gone(&self) -> String {
        format!("net host,id={}: the embedder closed the port", self.id)
    }
}

impl Backend for HostPort {
    fn poll(&mut self) -> Result<bool, String> {
        let mut did = false;
        // Guest to embedder.
        while let Some(f) = self
            .to_host
            .take()
            .or_else(|| self.link.from_guest.try_recv().ok())
        {
            match self.api.send(self.id, &f) {
                abi::OK => did = true,
                abi::BUSY => {
                    self.to_host = Some(f);
                    break;
                }
                _ => return Err(self.gone()),
            }
        }
        // Embedder to guest.
        loop {
            let f = match self.to_guest.take() {
                Some(f) => f,
                None => match self.api.recv(self.id, &mut self.buf) {
                    0 => break,
                    n if n > 0 && n as usize <= self.buf.len() => self.buf[..n as usize].to_vec(),
                    _ => return Err(self.gone()),
                },
            };
            match self.link.to_guest.try_send(f) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => did = true,
                Err(TrySendError::Full(f)) => {
                    self.to_guest = Some(f);
                    break;
                }
            }
        }
        Ok(did)
    }

    #[cfg(any(unix, target_os = "wasi"))]
    fn wait_fds(&self, _fds: &mut Vec<i32>) -> bool {
        self.to_host.is_none() && self.to_guest.is_none()
    }

    fn max_idle(&self) -> Option<std::time::Duration> {
        Some(IDLE_POLL)
    }

    fn checksums_valid(&self) -> bool {
        self.checksums_valid
    }
}

/// The embedder's functions, as found in the function table.
#[cfg(target_family = "wasm")]
struct Api {
    send: unsafe extern "C" fn(u32, *const u8, usize) -> i32,
    recv: unsafe extern "C" fn(u32, *mut u8, usize) -> i32,
    info: unsafe extern "C" fn(u32) -> i32,
}

#[cfg(target_family = "wasm")]
impl Api {
    fn from_env() -> Result<Api, String> {
        let v = std::env::var(abi::ENV).map_err(|_| {
            format!(
                "no embedder offers host ports ({} is not set); run petrel.wasm under \
                 petrel-host, or use --net port",
                abi::ENV
            )
        })?;
        let slots: Vec<usize> = v
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{}='{v}': expected three table slots", abi::ENV))?;
        let [send, recv, info] = slots[..] else {
            return Err(format!("{}='{v}': expected three table slots", abi::ENV));
        };
        if [send, recv, info].contains(&0) {
            return Err(format!("{}='{v}': slot 0 holds no function", abi::ENV));
        }
        // SAFETY: on wasm32 a function pointer is an index into the function table and calls
        // through it are checked against the function's type by the engine (a mismatch traps).
        // The slots are non-zero, so the pointers are not null.
        unsafe {
            Ok(Api {
                send: std::mem::transmute::<
                    usize,
                    unsafe extern "C" fn(u32, *const u8, usize) -> i32,
                >(send),
                recv: std::mem::transmute::<usize, unsafe extern "C" fn(u32, *mut u8, usize) -> i32>(
                    recv,
                ),
                info: std::mem::transmute::<usize, unsafe extern "C" fn(u32) -> i32>(info),
            })
        }
    }
    fn send(&self, port: u32, frame: &[u8]) -> i32 {
        // SAFETY: the embedder reads `len` bytes at `ptr` from this module's memory.
        unsafe { (self.send)(port, frame.as_ptr(), frame.len()) }
    }
    fn recv(&self, port: u32, buf: &mut [u8]) -> i32 {
        // SAFETY: the embedder writes at most `cap` bytes at `ptr` in this module's memory.
        unsafe { (self.recv)(port, buf.as_mut_ptr(), buf.len()) }
    }
    fn info(&self, port: u32) -> i32 {
        // SAFETY: a call with no memory passed.
        unsafe { (self.info)(port) }
    }
}

/// Outside wasm there is no embedder to hand frames to.
#[cfg(not(target_family = "wasm"))]
struct Api;

#[cfg(not(target_family = "wasm"))]
impl Api {
    fn from_env() -> Result<Api, String> {
        Err("host ports exist only in petrel.wasm run by an embedder such as petrel-host".into())
    }
    fn send(&self, _: u32, _: &[u8]) -> i32 {
        abi::GONE
    }
    fn recv(&self, _: u32, _: &mut [u8]) -> i32 {
        abi::GONE
    }
    fn info(&self, _: u32) -> i32 {
        abi::GONE
    }
}
