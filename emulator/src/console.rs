//! The host side of the guest console: bytes typed on stdin go to the guest on a channel. The
//! reader is a thread natively, so the device side never blocks on the terminal; petrel.wasm
//! has no threads, so there the machine's event loop pumps stdin itself (`poll_input`) when it
//! is readable, and waits on it when idle (`input_fd`). On a raw terminal, Ctrl-A sequences
//! are interpreted (Ctrl-A x quits, Ctrl-A h lists the keys).

use crossbeam_channel::Receiver;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Console bytes that may wait for the guest.
const INPUT_DEPTH: usize = 4096;

/// Starts forwarding stdin to the returned channel. EOF closes the channel; the guest keeps
/// running. With `escapes`, Ctrl-A sequences are handled and Ctrl-A x sets `exit`.
pub fn stdin_channel(escapes: bool, exit: Arc<AtomicBool>) -> Receiver<u8> {
    let (tx, rx) = crossbeam_channel::bounded::<u8>(INPUT_DEPTH);
    #[cfg(not(target_family = "wasm"))]
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut filter = crate::terminal::EscapeFilter::new();
        let mut out = Vec::with_capacity(256);
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.clear();
                    let quit = filter_keys(escapes, &mut filter, &buf[..n], &mut out);
                    for &b in &out {
                        if tx.send(b).is_err() {
                            return;
                        }
                    }
                    if quit {
                        exit.store(true, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    });
    #[cfg(target_family = "wasm")]
    pump::start(tx, escapes, exit);
    rx
}

/// Appends what the guest gets of `input` to `out`, Ctrl-A sequences handled when `escapes`;
/// true when they asked to quit.
fn filter_keys(
    escapes: bool,
    filter: &mut crate::terminal::EscapeFilter,
    input: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    if escapes {
        filter.feed(input, out)
    } else {
        out.extend_from_slice(input);
        false
    }
}

/// The descriptor an idle machine should wait on for console input, if the event loop reads it.
pub fn input_fd() -> Option<i32> {
    #[cfg(target_family = "wasm")]
    return pump::fd();
    #[cfg(not(target_family = "wasm"))]
    None
}

/// Moves console input that is ready to the guest's channel without blocking: at once when
/// `ready` (a wait saw the descriptor readable), otherwise at most every few milliseconds.
/// Natively a reader thread does this and the call does nothing.
pub fn poll_input(ready: bool) {
    #[cfg(target_family = "wasm")]
    pump::poll(ready);
    #[cfg(not(target_family = "wasm"))]
    let _ = ready;
}

#[cfg(target_family = "wasm")]
mod pump {
    use super::INPUT_DEPTH;
    use crossbeam_channel::Sender;
    use std::cell::RefCell;
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// How stale console input may get while the guest is busy.
    const CHECK_EVERY: Duration = Duration::from_millis(10);

    struct Pump {
        tx: Sender<u8>,
        escapes: bool,
        filter: crate::terminal::EscapeFilter,
        exit: Arc<AtomicBool>,
        last_check: Instant,
    }

    thread_local! {
        static PUMP: RefCell<Option<Pump>> = const { RefCell::new(None) };
    }

    pub fn start(tx: Sender<u8>, escapes: bool, exit: Arc<AtomicBool>) {
        PUMP.with_borrow_mut(|p| {
            *p = Some(Pump {
                tx,
                escapes,
                filter: crate::terminal::EscapeFilter::new(),
                exit,
                last_check: Instant::now(),
            })
        });
    }

    pub fn fd() -> Option<i32> {
        PUMP.with_borrow(|p| p.as_ref().map(|_| 0))
    }

    pub fn poll(ready: bool) {
        PUMP.with_borrow_mut(|slot| {
            let Some(p) = slot.as_mut() else {
                return;
            };
            if !ready && p.last_check.elapsed() < CHECK_EVERY {
                return;
            }
            p.last_check = Instant::now();
            // Asked on its own even after a wait said so: wasmtime's legacy WASI reports every
            // descriptor of a wait ready when one is, and a read here must not block.
            if crate::host_wait::wait_readable(&[0], Duration::ZERO).is_empty() {
                return;
            }
            if !p.read_once() {
                *slot = None;
            }
        });
    }

    impl Pump {
        /// Reads what stdin has (it is readable, so this does not block); false at the end.
        fn read_once(&mut self) -> bool {
            // Unbuffered, so that readiness of the descriptor keeps telling the truth.
            // SAFETY: descriptor 0 stays open for the life of the process; ManuallyDrop keeps
            // this File from closing it.
            let mut stdin = std::mem::ManuallyDrop::new(unsafe {
                <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(0)
            });
            // Only what the channel has room for: a full channel must not block the one thread.
            let room = INPUT_DEPTH.saturating_sub(self.tx.len());
            if room == 0 {
                return true;
            }
            let mut buf = [0u8; INPUT_DEPTH];
            let n = match stdin.read(&mut buf[..room]) {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n);
            let quit = super::filter_keys(self.escapes, &mut self.filter, &buf[..n], &mut out);
            for b in out {
                if self.tx.try_send(b).is_err() {
                    return false;
                }
            }
            if quit {
                self.exit.store(true, Ordering::Relaxed);
                return false;
            }
            true
        }
    }
}
