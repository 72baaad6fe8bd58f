//! The `port` backend: frames as records on a byte stream — a 4-byte big-endian length, then
//! the Ethernet frame. It is the protocol of QEMU's `-netdev stream`/`socket`, container2wasm's
//! c2w-net and gvisor-tap-vsock, so their hosts can serve petrel guests, and two petrel
//! instances connected through ports form a link. The stream is a Unix or TCP socket (listen or
//! connect), a descriptor handed over by the embedder (connected, or listening as with c2w's
//! `listenfd`), or standard input and output. All I/O is non-blocking; buffers are bounded and a
//! record that cannot be a frame closes the port instead of allocating what it claims.

use crate::spec::{PortAddr, PortMode};
use crate::{Backend, Link, MAX_FRAME};
use crossbeam_channel::TrySendError;
use std::io::{self, Read, Write};

/// Guest frames encoded but not yet written, before the guest is held back.
const OUT_MAX: usize = 256 << 10;
/// Bytes read but not yet delivered, before reading stops until the guest catches up.
const IN_MAX: usize = 256 << 10;
/// The smallest Ethernet frame a record may carry (a header).
const MIN_FRAME: usize = 14;

enum Conn {
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
    /// A descriptor that is not a socket (a pipe, a character device): reads and writes on the
    /// same one, or on two (standard streams).
    #[cfg_attr(not(unix), allow(dead_code))]
    Files(std::fs::File, std::fs::File),
}

enum Listener {
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

impl Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
            Conn::Files(r, _) => r.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
            Conn::Files(_, w) => w.write(buf),
        }
    }
    #[cfg(any(unix, target_os = "wasi"))]
    fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Files(r, _) => r.as_raw_fd(),
        }
    }
}

impl Listener {
    fn accept(&self) -> io::Result<Conn> {
        let c = match self {
            #[cfg(unix)]
            Listener::Unix(l) => Conn::Unix(l.accept()?.0),
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            }
        };
        set_nonblocking(&c)?;
        Ok(c)
    }
    #[cfg(unix)]
    fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Listener::Unix(l) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        }
    }
}

fn set_nonblocking(c: &Conn) -> io::Result<()> {
    match c {
        #[cfg(unix)]
        Conn::Unix(s) => s.set_nonblocking(true),
        Conn::Tcp(s) => s.set_nonblocking(true),
        Conn::Files(r, w) => {
            #[cfg(unix)]
            {
                use std::os::unix::io::AsRawFd;
                for fd in [r.as_raw_fd(), w.as_raw_fd()] {
                    // SAFETY: fcntl on descriptors these files own; no memory is passed.
                    let ok = unsafe {
                        let fl = libc::fcntl(fd, libc::F_GETFL);
                        fl >= 0 && libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) >= 0
                    };
                    if !ok {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            }
            #[cfg(not(unix))]
            {
                let _ = (r, w);
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "non-blocking files are not available on this platform",
                ))
            }
        }
    }
}

pub struct Port {
    link: Link,
    what: String,
    listener: Option<Listener>,
    conn: Option<Conn>,
    inbuf: Vec<u8>,
    in_pos: usize,
    /// A frame read from the stream while the guest's channel was full.
    held: Option<Vec<u8>>,
    out: Vec<u8>,
    out_pos: usize,
}

impl Port {
    pub fn open(mode: &PortMode, link: Link) -> Result<Port, String> {
        let what = match mode {
            PortMode::Listen(a) => format!("listen={a}"),
            PortMode::Connect(a) => format!("connect={a}"),
            PortMode::Fd(n) => format!("fd={n}"),
            PortMode::Stdio => "stdio".into(),
        };
        let err = |e: io::Error| format!("net port,{what}: {e}");
        let (listener, conn) = match mode {
            PortMode::Listen(a) => (Some(listen(a).map_err(err)?), None),
            PortMode::Connect(a) => (None, Some(connect(a).map_err(err)?)),
            PortMode::Fd(fd) => from_fd(*fd).map_err(err)?,
            PortMode::Stdio => (None, Some(stdio().map_err(err)?)),
        };
        if let Some(c) = &conn {
            set_nonblocking(c).map_err(err)?;
        }
        Ok(Port {
            link,
            what,
            listener,
            conn,
            inbuf: Vec::new(),
            in_pos: 0,
            held: None,
            out: Vec::new(),
            out_pos: 0,
        })
    }

    /// The peer went away: a listening port waits for the next one, others stop.
    fn lost(&mut self, why: String) -> Result<bool, String> {
        self.conn = None;
        self.inbuf.clear();
        self.in_pos = 0;
        self.held = None;
        self.out.clear();
        self.out_pos = 0;
        if self.listener.is_some() {
            Ok(true)
        } else {
            Err(format!("net port,{}: {why}", self.what))
        }
    }

    /// The next whole record in the input buffer, or an error for one that is no frame.
    fn next_record(&mut self) -> Result<Option<Vec<u8>>, String> {
        let avail = &self.inbuf[self.in_pos..];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if !(MIN_FRAME..=MAX_FRAME).contains(&len) {
            return Err(format!(
                "net port,{}: the peer sent a record of {len} bytes, which is no Ethernet frame \
                 ({MIN_FRAME}..={MAX_FRAME} bytes); port closed",
                self.what
            ));
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let frame = avail[4..4 + len].to_vec();
        self.in_pos += 4 + len;
        Ok(Some(frame))
    }

    fn deliver(&mut self, frame: Vec<u8>) -> bool {
        match self.link.to_guest.try_send(frame) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(f)) => {
                self.held = Some(f);
                false
            }
        }
    }
}

impl Backend for Port {
    fn poll(&mut self) -> Result<bool, String> {
        let mut did = false;
        if self.conn.is_none() {
            if let Some(l) = &self.listener {
                match l.accept() {
                    Ok(c) => {
                        self.conn = Some(c);
                        did = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("net port,{}: accept: {e}", self.what)),
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            // No peer: the cable is unplugged and the guest's frames go nowhere.
            while self.link.from_guest.try_recv().is_ok() {
                did = true;
            }
            return Ok(did);
        };
        // Guest to peer.
        while self.out.len() - self.out_pos < OUT_MAX {
            let Ok(f) = self.link.from_guest.try_recv() else {
                break;
            };
            self.out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            self.out.extend_from_slice(&f);
        }
        while self.out_pos < self.out.len() {
            match conn.write(&self.out[self.out_pos..]) {
                Ok(0) => return self.lost("the peer closed the connection".into()),
                Ok(n) => {
                    self.out_pos += n;
                    did = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost(e.to_string()),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos >= OUT_MAX {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        // Peer to guest.
        if let Some(f) = self.held.take() {
            if !self.deliver(f) {
                return Ok(did);
            }
            did = true;
        }
        let mut chunk = [0u8; 16 << 10];
        loop {
            while let Some(f) = self.next_record()? {
                did = true;
                if !self.deliver(f) {
                    return Ok(did);
                }
            }
            if self.in_pos > 0 {
                self.inbuf.drain(..self.in_pos);
                self.in_pos = 0;
            }
            if self.inbuf.len() >= IN_MAX {
                break;
            }
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            match conn.read(&mut chunk) {
                Ok(0) => return self.lost("the peer closed the connection".into()),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    did = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost(e.to_string()),
            }
        }
        Ok(did)
    }

    #[cfg(any(unix, target_os = "wasi"))]
    fn wait_fds(&self, fds: &mut Vec<i32>) -> bool {
        match (&self.conn, &self.listener) {
            (Some(c), _) => fds.push(c.fd()),
            // wasmtime's legacy WASI (the one with pre-opened sockets) fails the whole wait
            // when a listening socket is among the descriptors: see `max_idle`.
            #[cfg(not(target_os = "wasi"))]
            (None, Some(l)) => fds.push(l.fd()),
            _ => {}
        }
        self.out_pos == self.out.len() && self.held.is_none()
    }

    fn max_idle(&self) -> Option<std::time::Duration> {
        (cfg!(target_os = "wasi") && self.conn.is_none() && self.listener.is_some())
            .then_some(std::time::Duration::from_millis(10))
    }
}

fn listen(a: &PortAddr) -> io::Result<Listener> {
    let l = match a {
        #[cfg(unix)]
        PortAddr::Unix(p) => {
            remove_stale_socket(p);
            let l = std::os::unix::net::UnixListener::bind(p)?;
            l.set_nonblocking(true)?;
            Listener::Unix(l)
        }
        #[cfg(not(unix))]
        PortAddr::Unix(_) => return Err(no_unix()),
        PortAddr::Tcp(addr) => {
            let l = std::net::TcpListener::bind(addr.as_str())?;
            l.set_nonblocking(true)?;
            Listener::Tcp(l)
        }
    };
    Ok(l)
}

/// A socket file left by an earlier listener that is gone (nobody accepts on it) is removed so
/// the path can be bound again, e.g. after a guest reboot. Anything else is left alone and
/// binding fails with "address in use".
#[cfg(unix)]
fn remove_stale_socket(p: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket());
    if is_socket
        && std::os::unix::net::UnixStream::connect(p)
            .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
    {
        let _ = std::fs::remove_file(p);
    }
}

fn connect(a: &PortAddr) -> io::Result<Conn> {
    Ok(match a {
        #[cfg(unix)]
        PortAddr::Unix(p) => Conn::Unix(std::os::unix::net::UnixStream::connect(p)?),
        #[cfg(not(unix))]
        PortAddr::Unix(_) => return Err(no_unix()),
        PortAddr::Tcp(addr) => {
            let s = std::net::TcpStream::connect(addr.as_str())?;
            let _ = s.set_nodelay(true);
            Conn::Tcp(s)
        }
    })
}

#[cfg(not(unix))]
fn no_unix() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "Unix sockets are not available on this platform",
    )
}

#[cfg(unix)]
fn stdio() -> io::Result<Conn> {
    use std::os::unix::io::FromRawFd;
    // SAFETY: dup returns fresh descriptors that the files then own.
    let (r, w) = unsafe { (libc::dup(0), libc::dup(1)) };
    if r < 0 || w < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: r and w are valid descriptors owned by nobody else.
    Ok(unsafe { Conn::Files(std::fs::File::from_raw_fd(r), std::fs::File::from_raw_fd(w)) })
}

#[cfg(not(unix))]
fn stdio() -> io::Result<Conn> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "standard streams cannot be made non-blocking on this platform",
    ))
}

/// A descriptor from the embedder: a listening socket, a connected socket, or another stream.
#[cfg(unix)]
fn from_fd(fd: i32) -> io::Result<(Option<Listener>, Option<Conn>)> {
    use std::os::unix::io::FromRawFd;
    let sockopt = |opt: i32| -> Option<i32> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid for writes of their sizes.
        let r =
            unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut v).cast(), &mut len) };
        (r == 0).then_some(v)
    };
    // SAFETY: fstat writes into st only.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        // SAFETY: the embedder gave this descriptor to petrel; dup keeps read and write apart.
        let w = unsafe { libc::dup(fd) };
        if w < 0 {
            return Err(io::Error::last_os_error());
        }
        let files = unsafe {
            (
                std::fs::File::from_raw_fd(fd),
                std::fs::File::from_raw_fd(w),
            )
        };
        return Ok((None, Some(Conn::Files(files.0, files.1))));
    }
    let unix = sockopt(libc::SO_DOMAIN) == Some(libc::AF_UNIX);
    let listening = sockopt(libc::SO_ACCEPTCONN) == Some(1);
    if sockopt(libc::SO_TYPE) != Some(libc::SOCK_STREAM) {
        return Err(io::Error::other("the descriptor is not a stream socket"));
    }
    // SAFETY: the embedder handed this socket to petrel, which now owns it.
    Ok(unsafe {
        match (unix, listening) {
            (true, true) => {
                let l = std::os::unix::net::UnixListener::from_raw_fd(fd);
                l.set_nonblocking(true)?;
                (Some(Listener::Unix(l)), None)
            }
            (false, true) => {
                let l = std::net::TcpListener::from_raw_fd(fd);
                l.set_nonblocking(true)?;
                (Some(Listener::Tcp(l)), None)
            }
            (true, false) => (
                None,
                Some(Conn::Unix(std::os::unix::net::UnixStream::from_raw_fd(fd))),
            ),
            (false, false) => (None, Some(Conn::Tcp(std::net::TcpStream::from_raw_fd(fd)))),
        }
    })
}

/// Under WASI a pre-opened socket is either listening (as c2w's `listenfd`) or connected; a
/// non-blocking accept tells them apart.
#[cfg(target_os = "wasi")]
fn from_fd(fd: i32) -> io::Result<(Option<Listener>, Option<Conn>)> {
    use std::os::wasi::io::FromRawFd;
    // SAFETY: the embedder pre-opened this descriptor for petrel, which now owns it.
    let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    l.set_nonblocking(true)?;
    match l.accept() {
        Ok((s, _)) => {
            // A first peer was already waiting; keep listening for later ones too.
            let c = Conn::Tcp(s);
            set_nonblocking(&c)?;
            Ok((Some(Listener::Tcp(l)), Some(c)))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok((Some(Listener::Tcp(l)), None)),
        Err(_) => {
            use std::os::wasi::io::IntoRawFd;
            let fd = l.into_raw_fd();
            // SAFETY: the same descriptor, now used as the connected stream it is.
            Ok((
                None,
                Some(Conn::Tcp(unsafe { std::net::TcpStream::from_raw_fd(fd) })),
            ))
        }
    }
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn from_fd(_: i32) -> io::Result<(Option<Listener>, Option<Conn>)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "descriptors cannot be passed in on this platform",
    ))
}
