//! The host side of the guest console: bytes typed on stdin go to the guest on a channel. The
//! reader is a thread natively, so the device side never blocks on the terminal. On a raw
//! terminal, Ctrl-A sequences are interpreted (Ctrl-A x quits, Ctrl-A h lists the keys).

use crossbeam_channel::Receiver;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Starts forwarding stdin to the returned channel. EOF closes the channel; the guest keeps
/// running. With `escapes`, Ctrl-A sequences are handled and Ctrl-A x sets `exit`.
pub fn stdin_channel(escapes: bool, exit: Arc<AtomicBool>) -> Receiver<u8> {
    let (tx, rx) = crossbeam_channel::bounded::<u8>(4096);
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
                    let quit = if escapes {
                        filter.feed(&buf[..n], &mut out)
                    } else {
                        out.extend_from_slice(&buf[..n]);
                        false
                    };
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
    {
        let _ = (escapes, exit);
        drop(tx);
    }
    rx
}
