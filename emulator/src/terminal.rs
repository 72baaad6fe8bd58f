//! The host terminal under the guest console: raw mode for an interactive stdin (undone on drop,
//! on panic and on `std::process::exit`), and the QEMU-style Ctrl-A escape keys that stay with
//! petrel while every other key, Ctrl-C included, goes to the guest.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Ctrl-A, the escape key (QEMU's and screen's).
pub const ESCAPE: u8 = 0x01;

/// Printed for Ctrl-A h. Lines end in "\r\n" because the terminal is raw when it is shown.
pub const HELP: &str = "\r\n\
petrel console keys (press Ctrl-A, then):\r\n\
\x20 x        exit petrel\r\n\
\x20 h or ?   print this help\r\n\
\x20 a        send Ctrl-A to the guest (so does Ctrl-A again)\r\n\
Any other key after Ctrl-A is dropped.\r\n";

/// What a chunk of input amounts to, for callers that prefer one value to [`EscapeFilter::feed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// Bytes for the guest (possibly empty: the chunk was all escape keys).
    Bytes(Vec<u8>),
    /// Ctrl-A x: the user wants petrel to exit.
    Exit,
}

/// Separates the escape keys from the bytes typed for the guest. An escape may be split across
/// reads, so the filter remembers a pending Ctrl-A between calls.
#[derive(Debug, Default)]
pub struct EscapeFilter {
    pending: bool,
    exited: bool,
}

impl EscapeFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the guest's bytes from `input` to `out`, printing [`HELP`] to stderr for Ctrl-A h.
    /// Returns true once Ctrl-A x has been typed; input after it is not forwarded, then or later.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        self.feed_to(input, out, &mut std::io::stderr())
    }

    /// [`feed`](Self::feed) with the help text going to `help` instead of stderr.
    pub fn feed_to(&mut self, input: &[u8], out: &mut Vec<u8>, help: &mut impl Write) -> bool {
        if self.exited {
            return true;
        }
        for &b in input {
            if !self.pending {
                if b == ESCAPE {
                    self.pending = true;
                } else {
                    out.push(b);
                }
                continue;
            }
            self.pending = false;
            match b {
                // Ctrl-X too: a finger still on Ctrl should not need lifting.
                b'x' | b'X' | 0x18 => {
                    self.exited = true;
                    return true;
                }
                b'h' | b'H' | b'?' => {
                    // Nothing useful to do if stderr is gone; the guest keeps running.
                    let _ = help.write_all(HELP.as_bytes());
                    let _ = help.flush();
                }
                b'a' | b'A' | ESCAPE => out.push(ESCAPE),
                // QEMU's other keys (c: monitor, s: save, b: break, t: timestamps) have no
                // petrel counterpart; dropping them beats surprising the guest with them.
                _ => {}
            }
        }
        false
    }

    /// [`feed`](Self::feed) as one value. On exit, bytes typed before Ctrl-A x in the same
    /// chunk are dropped along with the guest.
    pub fn event(&mut self, input: &[u8]) -> InputEvent {
        let mut out = Vec::with_capacity(input.len());
        if self.feed(input, &mut out) {
            InputEvent::Exit
        } else {
            InputEvent::Bytes(out)
        }
    }
}

/// The terminal on stdin, switched to raw mode while the guest owns it.
///
/// Raw mode is process-wide state, so restoring is too: any [`Terminal`]'s `restore` (or drop),
/// a panic on any thread, or `std::process::exit` puts back the settings found at the first
/// `setup`, and doing so again is harmless.
#[derive(Debug)]
pub struct Terminal {
    raw: AtomicBool,
}

impl Terminal {
    /// Switches stdin to raw mode if it is a terminal this process may change (it is, and the
    /// process is in its foreground). Otherwise, pipes and files included, changes nothing.
    pub fn setup() -> Terminal {
        #[cfg(unix)]
        {
            Self::on_fd(libc::STDIN_FILENO)
        }
        #[cfg(not(unix))]
        {
            Terminal {
                raw: AtomicBool::new(false),
            }
        }
    }

    /// Leaves the terminal alone (standard streams are used for something else).
    pub fn untouched() -> Terminal {
        Terminal {
            raw: AtomicBool::new(false),
        }
    }

    #[cfg(unix)]
    fn on_fd(fd: libc::c_int) -> Terminal {
        Terminal {
            raw: AtomicBool::new(raw::enter(fd)),
        }
    }

    /// Whether this `setup` put the terminal in raw mode (and nothing has restored it since).
    pub fn is_raw(&self) -> bool {
        self.raw.load(Ordering::Relaxed)
    }

    /// Puts the terminal back as it was. For callers about to exit; dropping does the same.
    pub fn restore(&self) {
        if self.raw.swap(false, Ordering::Relaxed) {
            #[cfg(unix)]
            raw::leave();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(unix)]
mod raw {
    use std::sync::{Mutex, MutexGuard, Once, TryLockError};

    /// The terminal in raw mode and its settings from before.
    static SAVED: Mutex<Option<(libc::c_int, libc::termios)>> = Mutex::new(None);
    static HOOKS: Once = Once::new();

    fn lock() -> MutexGuard<'static, Option<(libc::c_int, libc::termios)>> {
        // The lock guards plain data that no panic can leave half-written.
        SAVED.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns whether `fd` is now raw.
    pub(super) fn enter(fd: libc::c_int) -> bool {
        // SAFETY: isatty, tcgetpgrp and getpgrp only read process and descriptor state.
        unsafe {
            if libc::isatty(fd) != 1 {
                return false;
            }
            // A background job changing the terminal would be stopped by SIGTTOU. When the
            // terminal is not our controlling one the question does not arise (tcgetpgrp fails).
            let foreground = libc::tcgetpgrp(fd);
            if foreground >= 0 && foreground != libc::getpgrp() {
                return false;
            }
        }
        let mut saved = lock();
        if saved.is_some() {
            // Already raw: the original settings are the ones to keep.
            return true;
        }
        // SAFETY: termios is plain data; tcgetattr fills it in or fails without writing.
        let mut orig: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut orig) } != 0 {
            return false;
        }
        let mut raw = orig;
        // cfmakeraw, except that output post-processing stays on as in TinyEMU and QEMU: the
        // guest's "\r\n" is unchanged by it, and petrel's own "\n"-terminated messages (logs,
        // panics) still start at the left margin.
        raw.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON);
        // No ISIG: Ctrl-C and Ctrl-Z are the guest's keys; Ctrl-A x is the way out.
        raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        raw.c_cflag &= !(libc::CSIZE | libc::PARENB);
        raw.c_cflag |= libc::CS8;
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: raw is a valid termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return false;
        }
        *saved = Some((fd, orig));
        drop(saved);
        install_hooks();
        true
    }

    pub(super) fn leave() {
        let saved = lock().take();
        restore(saved);
    }

    /// For the panic hook and atexit: the thread that holds the lock may be the one that is
    /// gone, so never wait for it.
    fn leave_without_waiting() {
        let saved = match SAVED.try_lock() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(e)) => e.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        };
        restore(saved);
    }

    fn restore(saved: Option<(libc::c_int, libc::termios)>) {
        if let Some((fd, orig)) = saved {
            // SAFETY: orig came from tcgetattr on this fd. Failure (the terminal is gone)
            // leaves nothing to restore.
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, &orig);
            }
        }
    }

    extern "C" fn at_exit() {
        leave_without_waiting();
    }

    fn install_hooks() {
        // set_hook panics on a panicking thread; raw mode then simply lacks the hook.
        if std::thread::panicking() {
            return;
        }
        HOOKS.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // First, so that the panic message lands on a sane terminal.
                leave_without_waiting();
                previous(info);
            }));
            // std::process::exit runs atexit handlers but no destructors.
            #[cfg(not(target_os = "nto"))]
            // SAFETY: at_exit is a plain extern "C" fn that never unwinds.
            unsafe {
                libc::atexit(at_exit);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: &mut EscapeFilter, input: &[u8]) -> (Vec<u8>, bool, Vec<u8>) {
        let mut out = Vec::new();
        let mut help = Vec::new();
        let exit = f.feed_to(input, &mut out, &mut help);
        (out, exit, help)
    }

    #[test]
    fn plain_bytes_pass_through() {
        let mut f = EscapeFilter::new();
        let all: Vec<u8> = (0..=255u8).filter(|&b| b != ESCAPE).collect();
        assert_eq!(run(&mut f, &all), (all.clone(), false, vec![]));
        // Ctrl-C is the guest's.
        assert_eq!(run(&mut f, b"\x03"), (b"\x03".to_vec(), false, vec![]));
        assert_eq!(run(&mut f, b""), (vec![], false, vec![]));
    }

    #[test]
    fn literal_ctrl_a() {
        let mut f = EscapeFilter::new();
        assert_eq!(run(&mut f, b"p\x01aq").0, b"p\x01q");
        assert_eq!(run(&mut f, b"\x01A").0, b"\x01");
        assert_eq!(run(&mut f, b"\x01\x01").0, b"\x01");
        // Three Ctrl-As: one literal, then a pending escape.
        assert_eq!(run(&mut f, b"\x01\x01\x01").0, b"\x01");
        assert_eq!(run(&mut f, b"a").0, b"\x01");
    }

    #[test]
    fn split_across_feeds() {
        let mut f = EscapeFilter::new();
        assert_eq!(run(&mut f, b"ls\x01"), (b"ls".to_vec(), false, vec![]));
        assert_eq!(run(&mut f, b"a"), (b"\x01".to_vec(), false, vec![]));
        assert_eq!(run(&mut f, b"\x01"), (vec![], false, vec![]));
        let (out, exit, help) = run(&mut f, b"h");
        assert_eq!((out, exit), (vec![], false));
        assert_eq!(help, HELP.as_bytes());
        assert_eq!(run(&mut f, b"\x01"), (vec![], false, vec![]));
        assert_eq!(run(&mut f, b"x"), (vec![], true, vec![]));
    }

    #[test]
    fn exit_mid_buffer_stops_forwarding() {
        let mut f = EscapeFilter::new();
        let (out, exit, _) = run(&mut f, b"abc\x01xdef\x01a");
        assert_eq!((out.as_slice(), exit), (&b"abc"[..], true));
        // Sticky: nothing more reaches the guest.
        assert_eq!(run(&mut f, b"more"), (vec![], true, vec![]));
        for key in [b'X', 0x18] {
            let mut f = EscapeFilter::new();
            assert!(run(&mut f, &[ESCAPE, key]).1);
        }
    }

    #[test]
    fn help_and_unknown_keys() {
        let mut f = EscapeFilter::new();
        let (out, exit, help) = run(&mut f, b"1\x01h2\x01?3");
        assert_eq!((out.as_slice(), exit), (&b"123"[..], false));
        assert_eq!(help, [HELP, HELP].concat().as_bytes());
        let lines: Vec<&str> = HELP.split('\n').collect();
        assert_eq!(lines.last(), Some(&""));
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with('\r')));
        // Unknown keys after the escape vanish together with it.
        assert_eq!(run(&mut f, b"\x01c\x01z\x01\x03ok").0, b"ok");
    }

    #[test]
    fn event_form() {
        let mut f = EscapeFilter::new();
        assert_eq!(f.event(b"hi\x01a"), InputEvent::Bytes(b"hi\x01".to_vec()));
        assert_eq!(f.event(b"bye\x01x"), InputEvent::Exit);
        assert_eq!(f.event(b"later"), InputEvent::Exit);
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_is_left_alone() {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let t = Terminal::on_fd(fds[0]);
        assert!(!t.is_raw());
        t.restore();
        drop(t);
        // SAFETY: both descriptors are ours and unused from here on.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn raw_mode_on_a_pty_and_back() {
        fn attrs(fd: libc::c_int) -> libc::termios {
            // SAFETY: termios is plain data, filled in by tcgetattr.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
            t
        }
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: null name, termios and winsize are allowed.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r != 0 {
            eprintln!("no pseudo-terminals here; skipping");
            return;
        }
        let before = attrs(slave);
        assert_ne!(before.c_lflag & libc::ICANON, 0);

        let t = Terminal::on_fd(slave);
        assert!(t.is_raw());
        let raw = attrs(slave);
        assert_eq!(
            raw.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN),
            0
        );
        assert_eq!(raw.c_iflag & (libc::ICRNL | libc::IXON), 0);
        assert_eq!(raw.c_oflag & libc::OPOST, before.c_oflag & libc::OPOST);
        assert_eq!(raw.c_cc[libc::VMIN], 1);

        t.restore();
        assert!(!t.is_raw());
        let after = attrs(slave);
        assert_eq!(after.c_lflag, before.c_lflag);
        assert_eq!(after.c_iflag, before.c_iflag);
        assert_eq!(after.c_cflag, before.c_cflag);

        // Dropping restores too, and a second restore is harmless.
        let t = Terminal::on_fd(slave);
        assert!(t.is_raw());
        drop(t);
        assert_eq!(attrs(slave).c_lflag, before.c_lflag);
        // SAFETY: both descriptors are ours and unused from here on.
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    }
}
