//! The `tap` backend: a Linux TAP interface through /dev/net/tun (IFF_TAP | IFF_NO_PI), an
//! existing one or one created on the spot (which needs CAP_NET_ADMIN). Each read of the
//! non-blocking descriptor is one frame, each write sends one.

use crate::{Backend, Link, MAX_FRAME};
use crossbeam_channel::TrySendError;
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};

const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

pub struct Tap {
    fd: OwnedFd,
    link: Link,
    pub ifname: String,
    /// A guest frame the interface would not take yet (its queue is full).
    held_out: Option<Vec<u8>>,
    /// A frame for the guest waiting for room in the link.
    held_in: Option<Vec<u8>>,
    /// The read buffer, kept: reads happen on every poll.
    buf: Vec<u8>,
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    pub fn open(ifname: Option<&str>, link: Link) -> Result<Tap, String> {
        let name = ifname.unwrap_or("");
        if name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ', '\0']) {
            return Err(format!("net tap: '{name}' is not a valid interface name"));
        }
        let err = |what: &str, e: io::Error| format!("net tap: {what}: {e}");
        // SAFETY: open() with a constant C string; the result is checked.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(err("/dev/net/tun", io::Error::last_os_error()));
        }
        // SAFETY: raw is a descriptor we just opened and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TAP | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReq lays out.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req) } < 0 {
            let e = io::Error::last_os_error();
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (creating or attaching a tap needs CAP_NET_ADMIN, or a tap owned by this user)"
            } else {
                ""
            };
            return Err(format!(
                "net tap: cannot attach {}: {e}{hint}",
                if name.is_empty() { "a new tap" } else { name }
            ));
        }
        let len = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        let ifname = String::from_utf8_lossy(&req.name[..len]).into_owned();
        Ok(Tap {
            fd,
            link,
            ifname,
            held_out: None,
            held_in: None,
            buf: vec![0; MAX_FRAME],
        })
    }

    fn write_frame(&self, f: &[u8]) -> io::Result<()> {
        // SAFETY: writes f.len() bytes from a live slice.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), f.as_ptr().cast(), f.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Backend for Tap {
    fn poll(&mut self) -> Result<bool, String> {
        let mut did = false;
        // Guest to interface.
        while let Some(f) = self
            .held_out
            .take()
            .or_else(|| self.link.from_guest.try_recv().ok())
        {
            match self.write_frame(&f) {
                Ok(()) => did = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.held_out = Some(f);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.held_out = Some(f),
                // The interface is down or the frame was refused: like a wire, drop it.
                Err(_) => did = true,
            }
        }
        // Interface to guest.
        if let Some(f) = self.held_in.take() {
            if let Err(TrySendError::Full(f)) = self.link.to_guest.try_send(f) {
                self.held_in = Some(f);
                return Ok(did);
            }
        }
        loop {
            // SAFETY: reads at most self.buf.len() bytes into it.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(format!("net tap {}: {e}", self.ifname)),
                }
            }
            if n == 0 {
                break;
            }
            did = true;
            let f = self.buf[..n as usize].to_vec();
            match self.link.to_guest.try_send(f) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(f)) => {
                    self.held_in = Some(f);
                    break;
                }
            }
        }
        Ok(did)
    }

    fn wait_fds(&self, fds: &mut Vec<i32>) -> bool {
        fds.push(self.fd.as_raw_fd());
        self.held_out.is_none()
    }
}
