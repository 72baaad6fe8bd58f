//! The host side of the guest console: bytes typed on stdin go to the guest on a channel. The
//! reader is a thread natively, so the device side never blocks on the terminal.

use crossbeam_channel::Receiver;

/// Starts forwarding stdin to the returned channel. EOF closes the channel; the guest keeps
/// running.
pub fn stdin_channel() -> Receiver<u8> {
    let (tx, rx) = crossbeam_channel::bounded::<u8>(4096);
    #[cfg(not(target_family = "wasm"))]
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if tx.send(b).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    #[cfg(target_family = "wasm")]
    drop(tx);
    rx
}
