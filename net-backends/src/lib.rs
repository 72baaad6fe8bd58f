//! petrel's network backends: the one trait that moves Ethernet frames between a virtio-net
//! device and the outside, the spec strings that choose a backend, and the backends themselves
//! (`port`: length-prefixed frames over a stream; `user`: a userspace TCP/IP stack; `tap`: a
//! Linux TAP interface).
//!
//! The device and its backend share a `Link`: two bounded crossbeam channels of whole frames.
//! Everything is polled from the machine's one event loop (wasm has no threads): `poll` never
//! blocks, and a backend says which host descriptors would give it work so that an idle machine
//! can sleep on them instead of spinning.

pub mod host;
pub mod port;
pub mod spec;
#[cfg(target_os = "linux")]
pub mod tap;
#[cfg(any(unix, target_os = "wasi"))]
pub mod user;

use crossbeam_channel::{Receiver, Sender};
pub use spec::{BackendKind, NetSpec, PortAddr, PortMode};

/// Frames that may wait in each direction of a link before the sender is held back.
pub const LINK_DEPTH: usize = 256;
/// The largest Ethernet frame carried: a 64 KiB IP packet plus an Ethernet and a VLAN header.
pub const MAX_FRAME: usize = 65535 + 18;

/// The device's ends of a link.
pub struct DeviceEnd {
    pub to_backend: Sender<Vec<u8>>,
    pub from_backend: Receiver<Vec<u8>>,
}

/// The backend's ends of a link.
pub struct Link {
    pub from_guest: Receiver<Vec<u8>>,
    pub to_guest: Sender<Vec<u8>>,
}

/// A new link between a device and a backend.
pub fn link() -> (DeviceEnd, Link) {
    let (to_backend, from_guest) = crossbeam_channel::bounded(LINK_DEPTH);
    let (to_guest, from_backend) = crossbeam_channel::bounded(LINK_DEPTH);
    (
        DeviceEnd {
            to_backend,
            from_backend,
        },
        Link {
            from_guest,
            to_guest,
        },
    )
}

/// A network backend, polled from the machine's event loop.
pub trait Backend: Send {
    /// Moves whatever frames can move now, both ways, without blocking. Returns whether
    /// anything happened; an error means the backend stopped for good (the message says why).
    fn poll(&mut self) -> Result<bool, String>;

    /// Host descriptors whose readability means `poll` has work, for an idle machine to wait
    /// on. Returns false if the backend has work already and the machine should not sleep.
    #[cfg(any(unix, target_os = "wasi"))]
    fn wait_fds(&self, _fds: &mut Vec<std::os::fd::RawFd>) -> bool {
        true
    }

    /// For a backend whose input no descriptor announces: how long an idle machine may sleep
    /// before `poll` must look again.
    fn max_idle(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether frames from this backend carry checksums it computed itself (so a guest may be
    /// told they are already verified).
    fn checksums_valid(&self) -> bool {
        false
    }
}

/// Opens the backend a spec names, on `link`. `NetSpec::None` has no backend.
pub fn open(spec: &BackendKind, link: Link) -> Result<Box<dyn Backend>, String> {
    match spec {
        BackendKind::None => Err("net: 'none' has no backend".into()),
        BackendKind::Port(mode) => Ok(Box::new(port::Port::open(mode, link)?)),
        BackendKind::Host { id } => Ok(Box::new(host::HostPort::open(*id, link)?)),
        #[cfg(target_os = "linux")]
        BackendKind::Tap { ifname } => Ok(Box::new(tap::Tap::open(ifname.as_deref(), link)?)),
        #[cfg(not(target_os = "linux"))]
        BackendKind::Tap { .. } => Err("net tap: TAP interfaces exist only on Linux hosts".into()),
        #[cfg(any(unix, target_os = "wasi"))]
        BackendKind::User { hostfwd, resolver } => {
            Ok(Box::new(user::User::open(hostfwd, *resolver, link)?))
        }
        #[cfg(not(any(unix, target_os = "wasi")))]
        BackendKind::User { .. } => Err(
            "net user: host sockets for outgoing connections are not available on this \
             platform; use --net port with a host-side network instead"
                .into(),
        ),
    }
}
