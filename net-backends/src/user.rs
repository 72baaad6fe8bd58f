//! The `user` backend: a userspace NAT router in the manner of QEMU's `-netdev user`, needing
//! no privileges. The guest sees a 10.0.2.0/24 network: a DHCP server handing out 10.0.2.15,
//! a gateway at 10.0.2.2 that answers ping and stands for the host's loopback, and a DNS server
//! at 10.0.2.3 that forwards to the host's resolver. TCP is terminated in smoltcp and spliced
//! to host sockets; UDP is relayed datagram by datagram through host sockets; `hostfwd` rules
//! carry host TCP (or UDP) ports to the guest.
//!
//! In petrel.wasm (WASI p1) the router runs too, but the host gives the module no sockets of
//! its own: DHCP and the gateway work, while connections and datagrams to the outside are
//! refused (said once on stderr); petrel-host's host ports carry frames to a native stack
//! instead.
//!
//! Everything is bounded: connections and UDP flows are counted and time out, socket buffers
//! have fixed sizes, and frames for the guest wait in the link's bounded channel — a guest that
//! floods is held back by TCP windows and full queues, never by host memory growth.

use crate::spec::{FwdProto, HostFwd};
use crate::{Backend, Link};
use crossbeam_channel::TrySendError;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

pub const NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 0);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
pub const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const GATEWAY_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
const MTU: usize = 1500;

const MAX_TCP: usize = 512;
const MAX_UDP: usize = 256;
/// Per-connection socket buffers, each way (the guest's TCP window follows them).
const TCP_BUF: usize = 128 << 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// An established connection with no traffic either way for this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(2 * 3600);
const UDP_IDLE: Duration = Duration::from_secs(120);
const DNS_IDLE: Duration = Duration::from_secs(15);
const LEASE_SECS: u32 = 86400;
/// Frames smoltcp produced that wait for room in the link.
const OUT_MAX: usize = 512;

/// The wire between smoltcp and the link: frames for the stack, frames it produced.
struct Wire {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct RxTok(Vec<u8>);
struct TxTok<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Wire {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(RxTok, TxTok<'_>)> {
        if self.tx.len() >= OUT_MAX {
            return None;
        }
        let f = self.rx.pop_front()?;
        Some((RxTok(f), TxTok(&mut self.tx)))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<TxTok<'_>> {
        if self.tx.len() < OUT_MAX {
            Some(TxTok(&mut self.tx))
        } else {
            None
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = MTU + 14;
        c
    }
}

/// A guest TCP connection: the guest's (port, destination) and the host end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TcpKey {
    guest_port: u16,
    dst: SocketAddrV4,
}

enum HostEnd {
    /// Connecting; the guest's SYN waits until the host side answers.
    Connecting {
        sock: PendingConnect,
        syn: Vec<u8>,
        since: Instant,
    },
    Open {
        stream: TcpStream,
        handle: SocketHandle,
        host_eof: bool,
        shut_write: bool,
        last: Instant,
    },
}

impl HostEnd {
    fn open(stream: TcpStream, handle: SocketHandle) -> HostEnd {
        let _ = stream.set_nodelay(true);
        HostEnd::Open {
            stream,
            handle,
            host_eof: false,
            shut_write: false,
            last: Instant::now(),
        }
    }
}

/// A stack-side socket for one spliced connection (Nagle off: the host side already batches).
fn new_tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUF]),
        tcp::SocketBuffer::new(vec![0; TCP_BUF]),
    );
    s.set_nagle_enabled(false);
    s
}

struct UdpFlow {
    sock: UdpSocket,
    /// The address the guest sent to (replies come from it).
    guest_dst: SocketAddrV4,
    guest_port: u16,
    last: Instant,
    idle: Duration,
}

pub struct User {
    link: Link,
    wire: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    start: Instant,
    tcp: HashMap<TcpKey, HostEnd>,
    udp: HashMap<(u16, SocketAddrV4), UdpFlow>,
    tcp_listeners: Vec<(TcpListener, SocketAddrV4)>,
    udp_forwards: Vec<(UdpSocket, SocketAddrV4)>,
    /// hostfwd'ed UDP: the host peer behind each gateway port the guest sees.
    udp_fwd_peers: HashMap<(usize, SocketAddr), u16>,
    /// Frames we built (DHCP, UDP) waiting for room in the link.
    out: VecDeque<Vec<u8>>,
    guest_mac: Option<[u8; 6]>,
    resolver: Option<SocketAddr>,
    udp_buf: Vec<u8>,
    next_port: u16,
}

impl User {
    pub fn open(
        hostfwd: &[HostFwd],
        resolver: Option<SocketAddr>,
        link: Link,
    ) -> Result<User, String> {
        let mut wire = Wire {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(GATEWAY_MAC)));
        cfg.random_seed = seed;
        let start = Instant::now();
        let mut iface = Interface::new(cfg, &mut wire, SmolInstant::from_micros(0));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(GATEWAY), 24));
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(DNS), 24));
        });
        // Guest connections to any address end in this stack (the frames are filtered first).
        iface.set_any_ip(true);
        let mut tcp_listeners = Vec::new();
        let mut udp_forwards = Vec::new();
        for f in hostfwd {
            let guest = SocketAddrV4::new(f.guest_addr.unwrap_or(GUEST), f.guest_port);
            let err = |e: io::Error| format!("net user: hostfwd {}: {e}", f.host);
            match f.proto {
                FwdProto::Tcp => {
                    let l = TcpListener::bind(f.host).map_err(err)?;
                    l.set_nonblocking(true).map_err(err)?;
                    tcp_listeners.push((l, guest));
                }
                FwdProto::Udp => {
                    let s = UdpSocket::bind(f.host).map_err(err)?;
                    s.set_nonblocking(true).map_err(err)?;
                    udp_forwards.push((s, guest));
                }
            }
        }
        let resolver = resolver.or_else(host_resolver);
        Ok(User {
            link,
            wire,
            iface,
            sockets: SocketSet::new(Vec::new()),
            start,
            tcp: HashMap::new(),
            udp: HashMap::new(),
            tcp_listeners,
            udp_forwards,
            udp_fwd_peers: HashMap::new(),
            out: VecDeque::new(),
            guest_mac: None,
            resolver,
            udp_buf: vec![0; 65536],
            next_port: 49152,
        })
    }

    fn now(&self) -> SmolInstant {
        SmolInstant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Where a guest destination really is on the host side; None if nothing is there.
    fn host_target(&self, dst: SocketAddrV4) -> Option<SocketAddr> {
        let ip = *dst.ip();
        if ip == GATEWAY {
            return Some(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), dst.port()));
        }
        if ip == DNS {
            return (dst.port() == 53).then_some(self.resolver?);
        }
        let in_subnet = u32::from(ip) & 0xffff_ff00 == u32::from(NETWORK);
        if in_subnet || ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified() {
            return None;
        }
        Some(SocketAddr::V4(dst))
    }

    /// Takes a frame from the guest: to smoltcp, to the DHCP server, to a UDP flow, or away.
    fn take_guest_frame(&mut self, f: Vec<u8>) {
        if f.len() < 14 || f[6] & 1 != 0 {
            return;
        }
        let src_mac: [u8; 6] = f[6..12].try_into().unwrap();
        match u16::from_be_bytes([f[12], f[13]]) {
            // ARP: requests only for the gateway's and DNS's addresses (any_ip would answer
            // for every address otherwise); replies always.
            0x0806 if f.len() >= 42 => {
                let target = Ipv4Addr::new(f[38], f[39], f[40], f[41]);
                let op = u16::from_be_bytes([f[20], f[21]]);
                if op == 2 || target == GATEWAY || target == DNS {
                    self.wire.rx.push_back(f);
                }
            }
            0x0800 => {
                let Some(ip) = Ipv4::parse(&f[14..]) else {
                    return;
                };
                match ip.proto {
                    1 if ip.dst == GATEWAY || ip.dst == DNS => self.wire.rx.push_back(f),
                    6 => self.tcp_from_guest(f, &ip),
                    17 => {
                        let off = 14 + ip.header_len;
                        let udp = &f[off..14 + ip.total_len];
                        if udp.len() < 8 {
                            return;
                        }
                        let sport = u16::from_be_bytes([udp[0], udp[1]]);
                        let dport = u16::from_be_bytes([udp[2], udp[3]]);
                        let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
                        if ulen < 8 || ulen > udp.len() {
                            return;
                        }
                        let payload = udp[8..ulen].to_vec();
                        self.guest_mac = Some(src_mac);
                        if dport == 67 && sport == 68 {
                            self.dhcp(&payload, src_mac);
                        } else {
                            self.udp_from_guest(sport, SocketAddrV4::new(ip.dst, dport), &payload);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn tcp_from_guest(&mut self, f: Vec<u8>, ip: &Ipv4) {
        let off = 14 + ip.header_len;
        if f.len() < off + 20 {
            return;
        }
        let t = &f[off..];
        let key = TcpKey {
            guest_port: u16::from_be_bytes([t[0], t[1]]),
            dst: SocketAddrV4::new(ip.dst, u16::from_be_bytes([t[2], t[3]])),
        };
        let flags = t[13];
        let syn_only = flags & 0x12 == 0x02;
        match self.tcp.get(&key) {
            Some(HostEnd::Connecting { .. }) => {} // a retransmitted SYN: still waiting
            Some(HostEnd::Open { .. }) => self.wire.rx.push_back(f),
            None if syn_only => {
                let Some(target) = self.host_target(key.dst) else {
                    // Nothing there: smoltcp has no socket for it and answers with a reset.
                    self.wire.rx.push_back(f);
                    return;
                };
                if self.tcp.len() >= MAX_TCP {
                    self.wire.rx.push_back(f);
                    return;
                }
                match start_connect(target) {
                    Ok(sock) => {
                        self.tcp.insert(
                            key,
                            HostEnd::Connecting {
                                sock,
                                syn: f,
                                since: Instant::now(),
                            },
                        );
                    }
                    Err(e) => {
                        no_sockets_notice(&e);
                        self.wire.rx.push_back(f)
                    }
                }
            }
            // Segments of connections we do not know: smoltcp resets them.
            None => self.wire.rx.push_back(f),
        }
    }

    /// Moves pending connects along; a connected one gets its smoltcp socket and its SYN.
    fn progress_connects(&mut self) -> bool {
        let mut did = false;
        let keys: Vec<TcpKey> = self
            .tcp
            .iter()
            .filter(|(_, e)| matches!(e, HostEnd::Connecting { .. }))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some(HostEnd::Connecting { sock, since, .. }) = self.tcp.get(&key) else {
                continue;
            };
            let failed = sock.failed() || since.elapsed() > CONNECT_TIMEOUT;
            let connected = !failed && sock.connected();
            if !failed && !connected {
                continue;
            }
            did = true;
            let Some(HostEnd::Connecting { sock, syn, .. }) = self.tcp.remove(&key) else {
                continue;
            };
            if failed {
                // No socket listens: smoltcp answers the SYN with a reset, as a refused
                // connection should look.
                self.wire.rx.push_back(syn);
                self.poll_stack();
                continue;
            }
            let mut s = new_tcp_socket();
            let local = IpEndpoint::new(IpAddress::Ipv4(*key.dst.ip()), key.dst.port());
            if s.listen(local).is_err() {
                continue;
            }
            let handle = self.sockets.add(s);
            self.tcp
                .insert(key, HostEnd::open(sock.into_stream(), handle));
            // One new connection per stack poll, so each SYN meets its own listening socket.
            self.wire.rx.push_back(syn);
            self.poll_stack();
        }
        did
    }

    fn accept_forwards(&mut self) -> bool {
        let mut did = false;
        for i in 0..self.tcp_listeners.len() {
            let guest = self.tcp_listeners[i].1;
            while let Ok((stream, _)) = self.tcp_listeners[i].0.accept() {
                did = true;
                if self.tcp.len() >= MAX_TCP || stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let port = self.ephemeral_port();
                let mut s = new_tcp_socket();
                let remote = IpEndpoint::new(IpAddress::Ipv4(*guest.ip()), guest.port());
                let local = IpEndpoint::new(IpAddress::Ipv4(GATEWAY), port);
                if s.connect(self.iface.context(), remote, local).is_err() {
                    continue;
                }
                let handle = self.sockets.add(s);
                // Keyed as the guest sees it: its port, and the gateway's port as the peer.
                let key = TcpKey {
                    guest_port: guest.port(),
                    dst: SocketAddrV4::new(GATEWAY, port),
                };
                self.tcp.insert(key, HostEnd::open(stream, handle));
            }
        }
        did
    }

    fn ephemeral_port(&mut self) -> u16 {
        loop {
            let p = self.next_port;
            self.next_port = if p == 65535 { 49152 } else { p + 1 };
            let used = self
                .tcp
                .keys()
                .any(|k| k.dst.port() == p && *k.dst.ip() == GATEWAY)
                || self.udp_fwd_peers.values().any(|&v| v == p);
            if !used {
                return p;
            }
        }
    }

    /// Splices every open connection's host stream and smoltcp socket; drops finished ones.
    fn pump_tcp(&mut self) -> bool {
        let mut did = false;
        let mut gone = Vec::new();
        for (key, end) in &mut self.tcp {
            let HostEnd::Open {
                stream,
                handle,
                host_eof,
                shut_write,
                last,
            } = end
            else {
                continue;
            };
            let s = self.sockets.get_mut::<tcp::Socket>(*handle);
            let mut active = false;
            let mut broken = false;
            // Host to guest.
            while !*host_eof && s.can_send() {
                let r = s.send(|buf| match stream.read(buf) {
                    Ok(0) => (0, Some(true)),
                    Ok(n) => (n, Some(false)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => (0, None),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => (0, Some(false)),
                    Err(_) => (0, Some(true)),
                });
                match r {
                    Ok(Some(false)) => active = true,
                    Ok(Some(true)) => {
                        *host_eof = true;
                        active = true;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            if *host_eof && s.may_send() {
                s.close();
            }
            // Guest to host.
            while s.can_recv() {
                let r = s.recv(|buf| match stream.write(buf) {
                    Ok(n) => (n, n > 0),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => (0, false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => (0, true),
                    Err(_) => {
                        broken = true;
                        (0, false)
                    }
                });
                match r {
                    Ok(true) => active = true,
                    _ => break,
                }
            }
            // The guest sent FIN and everything before it reached the host.
            let guest_done = matches!(
                s.state(),
                tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing
            );
            if guest_done && s.recv_queue() == 0 && !*shut_write {
                let _ = stream.shutdown(std::net::Shutdown::Write);
                *shut_write = true;
            }
            if broken {
                s.abort();
            }
            // A socket that accepted someone else's SYN would splice the wrong peers.
            let wrong_peer = s
                .remote_endpoint()
                .is_some_and(|r| r.port != key.guest_port);
            if wrong_peer {
                s.abort();
            }
            if active {
                *last = Instant::now();
                did = true;
            }
            let closed = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if closed || last.elapsed() > TCP_IDLE {
                s.abort();
                gone.push(*key);
            }
        }
        for k in gone {
            if let Some(HostEnd::Open { handle, .. }) = self.tcp.remove(&k) {
                self.sockets.remove(handle);
            }
            did = true;
        }
        did
    }

    fn poll_stack(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.wire, &mut self.sockets);
    }

    fn udp_from_guest(&mut self, sport: u16, dst: SocketAddrV4, payload: &[u8]) {
        // Replies to a hostfwd'ed UDP peer: the guest answers the gateway port we showed it.
        if *dst.ip() == GATEWAY {
            let peer = self
                .udp_fwd_peers
                .iter()
                .find(|(_, &p)| p == dst.port())
                .map(|(k, _)| *k);
            if let Some((i, addr)) = peer {
                if self.udp_forwards[i].1.port() == sport {
                    let _ = self.udp_forwards[i].0.send_to(payload, addr);
                    return;
                }
            }
        }
        let Some(target) = self.host_target(dst) else {
            return;
        };
        let key = (sport, dst);
        if !self.udp.contains_key(&key) {
            if self.udp.len() >= MAX_UDP {
                // Evict the flow idle the longest.
                if let Some(old) = self
                    .udp
                    .iter()
                    .max_by_key(|(_, f)| f.last.elapsed())
                    .map(|(k, _)| *k)
                {
                    self.udp.remove(&old);
                }
            }
            let sock = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                Ok(s) => s,
                Err(e) => {
                    no_sockets_notice(&e);
                    return;
                }
            };
            if sock.set_nonblocking(true).is_err() || sock.connect(target).is_err() {
                return;
            }
            let idle = if *dst.ip() == DNS { DNS_IDLE } else { UDP_IDLE };
            self.udp.insert(
                key,
                UdpFlow {
                    sock,
                    guest_dst: dst,
                    guest_port: sport,
                    last: Instant::now(),
                    idle,
                },
            );
        }
        if let Some(flow) = self.udp.get_mut(&key) {
            flow.last = Instant::now();
            let _ = flow.sock.send(payload);
        }
    }

    fn pump_udp(&mut self) -> bool {
        let mut did = false;
        let Some(mac) = self.guest_mac else {
            return false;
        };
        // One datagram buffer for the backend's life: this runs on every poll.
        let mut buf = std::mem::take(&mut self.udp_buf);
        let mut frames = Vec::new();
        self.udp.retain(|_, flow| {
            while frames.len() < 64 {
                match flow.sock.recv(&mut buf) {
                    Ok(n) => {
                        flow.last = Instant::now();
                        let src = flow.guest_dst;
                        let dst = SocketAddrV4::new(GUEST, flow.guest_port);
                        if let Some(f) = udp_frame(mac, src, dst, &buf[..n]) {
                            frames.push(f);
                        }
                        did = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            flow.last.elapsed() < flow.idle
        });
        let mut forwarded = Vec::new();
        for (i, (sock, _)) in self.udp_forwards.iter().enumerate() {
            while frames.len() + forwarded.len() < 64 {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    break;
                };
                forwarded.push((i, from, buf[..n].to_vec()));
            }
        }
        self.udp_buf = buf;
        for (i, from, data) in forwarded {
            did = true;
            let port = match self.udp_fwd_peers.get(&(i, from)) {
                Some(&p) => p,
                None => {
                    if self.udp_fwd_peers.len() >= MAX_UDP {
                        self.udp_fwd_peers.clear();
                    }
                    let p = self.ephemeral_port();
                    self.udp_fwd_peers.insert((i, from), p);
                    p
                }
            };
            let src = SocketAddrV4::new(GATEWAY, port);
            if let Some(f) = udp_frame(mac, src, self.udp_forwards[i].1, &data) {
                frames.push(f);
            }
        }
        self.out.extend(frames);
        did
    }

    fn dhcp(&mut self, msg: &[u8], mac: [u8; 6]) {
        if msg.len() < 240 || msg[0] != 1 || msg[236..240] != [99, 130, 83, 99] {
            return;
        }
        let mut kind = 0u8;
        let mut requested = None;
        let mut opts = &msg[240..];
        while let [code, rest @ ..] = opts {
            match code {
                0 => opts = rest,
                255 => break,
                _ => {
                    let [len, rest @ ..] = rest else { break };
                    let len = usize::from(*len);
                    if rest.len() < len {
                        break;
                    }
                    let v = &rest[..len];
                    match code {
                        53 if len == 1 => kind = v[0],
                        50 if len == 4 => requested = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                        _ => {}
                    }
                    opts = &rest[len..];
                }
            }
        }
        let ciaddr = Ipv4Addr::new(msg[12], msg[13], msg[14], msg[15]);
        let reply = match kind {
            1 => 2, // DISCOVER -> OFFER
            3 => {
                // REQUEST -> ACK for our lease, NAK for anything else.
                let asked = requested.unwrap_or(ciaddr);
                if asked == GUEST {
                    5
                } else {
                    6
                }
            }
            _ => return,
        };
        let mut m = vec![0u8; 240];
        m[0] = 2;
        m[1] = 1;
        m[2] = 6;
        m[4..8].copy_from_slice(&msg[4..8]);
        m[10..12].copy_from_slice(&msg[10..12]);
        if reply != 6 {
            m[16..20].copy_from_slice(&GUEST.octets());
        }
        m[20..24].copy_from_slice(&GATEWAY.octets());
        m[28..44].copy_from_slice(&msg[28..44]);
        m[236..240].copy_from_slice(&[99, 130, 83, 99]);
        m.extend_from_slice(&[53, 1, reply]);
        m.extend_from_slice(&[54, 4]);
        m.extend_from_slice(&GATEWAY.octets());
        if reply != 6 {
            m.extend_from_slice(&[1, 4, 255, 255, 255, 0, 3, 4]);
            m.extend_from_slice(&GATEWAY.octets());
            m.extend_from_slice(&[6, 4]);
            m.extend_from_slice(&DNS.octets());
            m.extend_from_slice(&[51, 4]);
            m.extend_from_slice(&LEASE_SECS.to_be_bytes());
        }
        m.push(255);
        let src = SocketAddrV4::new(GATEWAY, 67);
        let dst = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);
        if let Some(f) = udp_frame(mac, src, dst, &m) {
            self.out.push_back(f);
        }
    }

    fn flush_out(&mut self) -> bool {
        let mut did = false;
        for q in [&mut self.out, &mut self.wire.tx] {
            while let Some(f) = q.pop_front() {
                match self.link.to_guest.try_send(f) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => did = true,
                    Err(TrySendError::Full(f)) => {
                        q.push_front(f);
                        return did;
                    }
                }
            }
        }
        did
    }
}

impl Backend for User {
    fn poll(&mut self) -> Result<bool, String> {
        let mut did = self.flush_out();
        // Take guest frames only while the way back has room: replies need it.
        while self.wire.tx.len() < OUT_MAX / 2 && self.out.len() < OUT_MAX / 2 {
            let Ok(f) = self.link.from_guest.try_recv() else {
                break;
            };
            did = true;
            self.take_guest_frame(f);
        }
        did |= self.accept_forwards();
        did |= self.progress_connects();
        self.poll_stack();
        did |= self.pump_tcp();
        did |= self.pump_udp();
        self.poll_stack();
        did |= self.flush_out();
        Ok(did)
    }

    #[cfg(any(unix, target_os = "wasi"))]
    fn wait_fds(&self, fds: &mut Vec<i32>) -> bool {
        use std::os::fd::AsRawFd;
        let mut idle = self.out.is_empty() && self.wire.tx.is_empty() && self.wire.rx.is_empty();
        for end in self.tcp.values() {
            match end {
                HostEnd::Open { stream, .. } => fds.push(stream.as_raw_fd()),
                // Connect completion shows as writability, which we do not wait for.
                HostEnd::Connecting { .. } => idle = false,
            }
        }
        fds.extend(self.udp.values().map(|f| f.sock.as_raw_fd()));
        fds.extend(self.tcp_listeners.iter().map(|(l, _)| l.as_raw_fd()));
        fds.extend(self.udp_forwards.iter().map(|(s, _)| s.as_raw_fd()));
        idle
    }

    fn checksums_valid(&self) -> bool {
        true
    }
}

/// A non-blocking connect on its way.
#[cfg(unix)]
struct PendingConnect(socket2::Socket);

#[cfg(unix)]
impl PendingConnect {
    fn failed(&self) -> bool {
        matches!(self.0.take_error(), Ok(Some(_)) | Err(_))
    }
    fn connected(&self) -> bool {
        self.0.peer_addr().is_ok()
    }
    fn into_stream(self) -> TcpStream {
        self.0.into()
    }
}

#[cfg(unix)]
fn start_connect(target: SocketAddr) -> io::Result<PendingConnect> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(target),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_nonblocking(true)?;
    match s.connect(&target.into()) {
        Ok(()) => Ok(PendingConnect(s)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(PendingConnect(s)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(PendingConnect(s)),
        Err(e) => Err(e),
    }
}

/// WASI p1 has no way to open a socket: no connect is ever pending.
#[cfg(not(unix))]
enum PendingConnect {}

#[cfg(not(unix))]
impl PendingConnect {
    fn failed(&self) -> bool {
        match *self {}
    }
    fn connected(&self) -> bool {
        match *self {}
    }
    fn into_stream(self) -> TcpStream {
        match self {}
    }
}

#[cfg(not(unix))]
fn start_connect(_: SocketAddr) -> io::Result<PendingConnect> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Says once why guest traffic to the outside goes nowhere on a host without sockets.
fn no_sockets_notice(e: &io::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    if e.kind() == io::ErrorKind::Unsupported {
        SAID.call_once(|| {
            eprintln!(
                "petrel: net user: this host gives the module no sockets, so guest connections \
                 to the outside are refused (petrel-host --net user gives petrel.wasm the \
                 host's network)"
            )
        });
    }
}

/// The first IPv4 nameserver in /etc/resolv.conf.
fn host_resolver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver"))
            .then(|| w.next()?.parse::<Ipv4Addr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip.into(), 53))
    })
}

/// The fields of an IPv4 header this router looks at (unfragmented packets only).
struct Ipv4 {
    header_len: usize,
    total_len: usize,
    proto: u8,
    dst: Ipv4Addr,
}

impl Ipv4 {
    fn parse(p: &[u8]) -> Option<Ipv4> {
        if p.len() < 20 || p[0] >> 4 != 4 {
            return None;
        }
        let header_len = usize::from(p[0] & 15) * 4;
        let total_len = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let frag = u16::from_be_bytes([p[6], p[7]]);
        // More-fragments set or a non-zero offset: fragments are not reassembled.
        if header_len < 20 || total_len < header_len || total_len > p.len() || frag & 0x3fff != 0 {
            return None;
        }
        if fold(sum(&p[..header_len])) != 0xffff {
            return None;
        }
        Some(Ipv4 {
            header_len,
            total_len,
            proto: p[9],
            dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        })
    }
}

fn sum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    let mut c = data.chunks_exact(2);
    for w in &mut c {
        s = s.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
    }
    if let [b] = c.remainder() {
        s = s.wrapping_add(u32::from(*b) << 8);
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// An Ethernet frame from the gateway to `mac` carrying one UDP datagram; None if it would not
/// fit the MTU (datagrams are not fragmented).
fn udp_frame(
    mac: [u8; 6],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let ulen = 8 + payload.len();
    if 20 + ulen > MTU {
        return None;
    }
    let mut f = Vec::with_capacity(14 + 20 + ulen);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&GATEWAY_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + ulen) as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let c = !fold(sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::with_capacity(ulen);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(ulen as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(ulen as u16).to_be_bytes());
    let c = !fold(fold(sum(&pseudo)) as u32 + fold(sum(&udp)) as u32);
    let c = if c == 0 { 0xffff } else { c };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frames_carry_valid_checksums() {
        let f = udp_frame(
            [2, 0, 0, 0, 0, 1],
            SocketAddrV4::new(DNS, 53),
            SocketAddrV4::new(GUEST, 40000),
            b"hello, odd length",
        )
        .unwrap();
        let ip = Ipv4::parse(&f[14..]).unwrap();
        assert_eq!((ip.proto, ip.dst), (17, GUEST));
        let udp = &f[34..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[26..34]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        assert_eq!(fold(sum(&pseudo) + sum(udp)), 0xffff);
        assert!(udp_frame(
            [2; 6],
            SocketAddrV4::new(DNS, 1),
            SocketAddrV4::new(GUEST, 1),
            &[0; 1473]
        )
        .is_none());
    }
}
