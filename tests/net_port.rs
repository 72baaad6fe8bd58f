//! virtio-net and the `port` backend seen from a Linux guest: a peer written here speaks the
//! length-prefixed frame protocol (as QEMU's -netdev stream and c2w-net do) on a Unix socket,
//! answers ARP, ICMP echo, a DNS query and a TCP SYN, and checks the checksums the device
//! completed for the guest (which offloads them); two guests ping each other through ports; a
//! malformed record closes the port with a message while the guest runs on.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 1];
const GUEST_UP: &str = "ip addr add 10.0.0.2/24 dev eth0 && ip link set eth0 up";

fn petrel(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_petrel"));
    c.args(["boot", "--append", "console=ttyS0 quiet", "--timeout", "90"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).replace('\r', "")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("petrel-net-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn connect_retrying(p: &Path) -> UnixStream {
    let start = Instant::now();
    loop {
        match UnixStream::connect(p) {
            Ok(s) => return s,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("petrel never listened on {}: {e}", p.display()),
        }
    }
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

fn checksum(parts: &[&[u8]]) -> u16 {
    let mut s: u32 = parts.iter().map(|p| sum16(p)).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Whether an IPv4 TCP/UDP segment's checksum verifies (pseudo-header included).
fn l4_checksum_ok(ip: &[u8]) -> bool {
    let ihl = usize::from(ip[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let seg = &ip[ihl..total];
    let len = (seg.len() as u16).to_be_bytes();
    let pseudo = [&ip[12..20], &[0, ip[9]], &len[..]].concat();
    checksum(&[&pseudo, seg]) == 0
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// Fills in a TCP or UDP checksum of a segment from `src` to `dst`.
fn seal_l4(src: [u8; 4], dst: [u8; 4], proto: u8, seg: &mut [u8], at: usize) {
    let len = (seg.len() as u16).to_be_bytes();
    let pseudo = [&src[..], &dst[..], &[0, proto], &len[..]].concat();
    let c = checksum(&[&pseudo, seg]);
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

#[derive(Default, Debug)]
struct PeerLog {
    pings: usize,
    udp_checked: usize,
    tcp_checked: usize,
    bad_checksums: usize,
}

/// Answers the guest until it hangs up: ARP for PEER_IP, ICMP echo, DNS (any A query gets
/// 10.9.8.7) and TCP SYNs (with a reset), verifying every TCP/UDP checksum on the way in.
fn serve(s: UnixStream) -> PeerLog {
    let w = s.try_clone().unwrap();
    serve_streams(s, w)
}

fn serve_streams(mut r: impl Read, mut s: impl Write) -> PeerLog {
    let mut log = PeerLog::default();
    let send = |s: &mut dyn Write, dst: &[u8], ethertype: u16, payload: &[u8]| {
        let mut f = dst.to_vec();
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        let mut rec = (f.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(&f);
        let _ = s.write_all(&rec);
        let _ = s.flush();
    };
    loop {
        let mut len = [0u8; 4];
        if r.read_exact(&mut len).is_err() {
            return log;
        }
        let mut f = vec![0u8; u32::from_be_bytes(len) as usize];
        if r.read_exact(&mut f).is_err() {
            return log;
        }
        let src = f[6..12].to_vec();
        match u16::from_be_bytes([f[12], f[13]]) {
            0x0806 if f[20..22] == [0, 1] && f[38..42] == PEER_IP => {
                let mut arp = f[14..20].to_vec();
                arp.extend_from_slice(&[0, 2]);
                arp.extend_from_slice(&PEER_MAC);
                arp.extend_from_slice(&PEER_IP);
                arp.extend_from_slice(&f[22..32]);
                send(&mut s, &src, 0x0806, &arp);
            }
            0x0800 if f[30..34] == PEER_IP => {
                let ip = &f[14..];
                let ihl = usize::from(ip[0] & 15) * 4;
                let from: [u8; 4] = ip[12..16].try_into().unwrap();
                let l4 = &ip[ihl..usize::from(u16::from_be_bytes([ip[2], ip[3]]))];
                match ip[9] {
                    1 if l4[0] == 8 => {
                        log.pings += 1;
                        let mut echo = l4.to_vec();
                        echo[0] = 0;
                        echo[2..4].fill(0);
                        let c = checksum(&[&echo]);
                        echo[2..4].copy_from_slice(&c.to_be_bytes());
                        send(&mut s, &src, 0x0800, &ipv4(PEER_IP, from, 1, &echo));
                    }
                    17 => {
                        if l4_checksum_ok(ip) {
                            log.udp_checked += 1;
                        } else {
                            log.bad_checksums += 1;
                            continue;
                        }
                        if u16::from_be_bytes([l4[2], l4[3]]) != 53 {
                            continue;
                        }
                        // A DNS answer: the question echoed, one A record.
                        let q = &l4[8..];
                        let mut dns = q[..2].to_vec();
                        dns.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                        dns.extend_from_slice(&q[12..]);
                        dns.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                        dns.extend_from_slice(&[10, 9, 8, 7]);
                        let mut udp = [&l4[2..4], &l4[0..2], &[0, 0, 0, 0]].concat();
                        udp[4..6].copy_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
                        udp.extend_from_slice(&dns);
                        seal_l4(PEER_IP, from, 17, &mut udp, 6);
                        send(&mut s, &src, 0x0800, &ipv4(PEER_IP, from, 17, &udp));
                    }
                    6 => {
                        if l4_checksum_ok(ip) {
                            log.tcp_checked += 1;
                        } else {
                            log.bad_checksums += 1;
                            continue;
                        }
                        if l4[13] & 0x02 == 0 {
                            continue;
                        }
                        // SYN: refuse with RST|ACK, ack = seq + 1.
                        let seq = u32::from_be_bytes(l4[4..8].try_into().unwrap());
                        let mut tcp = [&l4[2..4], &l4[0..2], &[0; 4]].concat();
                        tcp.extend_from_slice(&seq.wrapping_add(1).to_be_bytes());
                        tcp.extend_from_slice(&[0x50, 0x14, 0, 0, 0, 0, 0, 0]);
                        seal_l4(PEER_IP, from, 6, &mut tcp, 16);
                        send(&mut s, &src, 0x0800, &ipv4(PEER_IP, from, 6, &tcp));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

#[test]
fn guest_talks_to_a_peer_through_a_unix_port() {
    let dir = temp("peer");
    let sock = dir.join("port.sock");
    let spec = format!("port,listen=unix:{}", sock.display());
    let script = format!(
        "{GUEST_UP} && ping -c 3 -s 1400 10.0.0.1 && nslookup petrel.test 10.0.0.1; \
         nc -w 5 10.0.0.1 80 </dev/null; echo nc-status=$?"
    );
    let child = petrel(&["--net", &spec, "--run", &script]).spawn().unwrap();
    let peer = std::thread::spawn({
        let sock = sock.clone();
        move || serve(connect_retrying(&sock))
    });
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("3 packets received"), "{out}");
    assert!(out.contains("10.9.8.7"), "{out}");
    assert!(out.contains("nc-status=1"), "{out}");
    let log = peer.join().unwrap();
    assert!(log.pings >= 3, "{log:?}");
    assert_eq!(log.bad_checksums, 0, "{log:?}");
    assert!(log.udp_checked >= 1 && log.tcp_checked >= 1, "{log:?}");
}

/// Hands `fd` to the child as its descriptor 3.
fn with_fd3(c: &mut Command, fd: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        c.pre_exec(move || {
            // dup2 onto itself would leave close-on-exec set.
            let ok = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) >= 0
            } else {
                libc::dup2(fd, 3) >= 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

const PING_PEER: &str =
    "ip addr add 10.0.0.2/24 dev eth0 && ip link set eth0 up && ping -c 2 -w 30 10.0.0.1";

#[test]
fn port_on_a_descriptor_from_the_embedder() {
    use std::os::unix::io::AsRawFd;
    // A connected socket.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut c = petrel(&["--net", "port,fd=3", "--run", PING_PEER]);
    with_fd3(&mut c, theirs.as_raw_fd());
    let child = c.spawn().unwrap();
    drop(theirs);
    let peer = std::thread::spawn(move || serve(ours));
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 packets received"));
    assert!(peer.join().unwrap().pings >= 2);

    // A listening socket, as c2w's listenfd: petrel accepts the peer on it.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut c = petrel(&["--net", "port,fd=3", "--run", PING_PEER]);
    with_fd3(&mut c, l.as_raw_fd());
    let child = c.spawn().unwrap();
    drop(l);
    let peer = std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        serve_streams(s.try_clone().unwrap(), s)
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(peer.join().unwrap().pings >= 2);
}

#[test]
fn port_on_standard_streams_moves_the_console_to_stderr() {
    let mut child = petrel(&["--net", "port,stdio", "--run", PING_PEER])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let (r, w) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let peer = std::thread::spawn(move || serve_streams(r, w));
    let o = child.wait_with_output().unwrap();
    let console = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{console}");
    assert!(console.contains("2 packets received"), "{console}");
    assert!(peer.join().unwrap().pings >= 2);
}

#[test]
fn two_guests_ping_each_other_through_ports() {
    let dir = temp("pair");
    let sock = dir.join("link.sock");
    let listen = format!("port,listen=unix:{},mac=52:54:00:00:00:0a", sock.display());
    let connect = format!("port,connect=unix:{},mac=52:54:00:00:00:0b", sock.display());
    let a = petrel(&[
        "--net",
        &listen,
        "--run",
        "ip addr add 10.0.0.1/24 dev eth0 && ip link set eth0 up && \
         ping -c 3 -w 60 10.0.0.2 && sleep 3",
    ])
    .spawn()
    .unwrap();
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = petrel(&[
        "--net",
        &connect,
        "--run",
        &format!("{GUEST_UP} && ping -c 3 -w 60 10.0.0.1 && sleep 3"),
    ])
    .spawn()
    .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        let out = text(o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(out.contains("3 packets received"), "{out}");
    }
}

#[test]
fn a_malformed_record_closes_the_port_not_the_guest() {
    let dir = temp("bad");
    let sock = dir.join("port.sock");
    let spec = format!("port,listen=unix:{}", sock.display());
    let child = petrel(&["--net", &spec, "--run", "sleep 3; echo still-running"])
        .spawn()
        .unwrap();
    let mut s = connect_retrying(&sock);
    // Claims a 4 GiB frame.
    s.write_all(&[0xff, 0xff, 0xff, 0xf0, 1, 2, 3]).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(text(&o).contains("still-running"));
    assert!(err.contains("no Ethernet frame"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("net port")).count(),
        1,
        "{err}"
    );
}

#[test]
fn bad_net_specs_are_one_line_errors() {
    for spec in [
        "bogus",
        "port",
        "port,listen=tcp:nowhere",
        "port,fd=x",
        "user,mac=1",
    ] {
        let o = petrel(&["--net", spec]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{spec}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{spec}: {err}");
        assert!(err.contains("--net"), "{spec}: {err}");
    }
    // Host ports belong to petrel.wasm under an embedder (tests/wasm.rs).
    let o = petrel(&["--net", "host"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("petrel.wasm"), "{err}");
}
