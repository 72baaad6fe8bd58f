//! The `user` network backend seen from a Linux guest, against real peers on the host's
//! loopback: the guest takes a DHCP lease, pings the gateway, resolves a name that this test's
//! own DNS server answers, fetches a page from an HTTP server here through the gateway address,
//! moves megabytes both ways intact, and a host client reaches a busybox httpd in the guest
//! through hostfwd.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::net::{http_server, md5_hex, pseudo_random, DHCP};

fn petrel(net: &str, script: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_petrel"));
    c.args([
        "boot",
        "--append",
        "console=ttyS0 quiet",
        "--timeout",
        "120",
    ])
    .args(["--net", net, "--run", script])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).replace('\r', "")
}

/// Answers every A query with 10.1.2.3 (others get NXDOMAIN-free empty answers).
fn dns_server() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            // Question section ends after the name's zero byte, then type and class.
            let Some(end) = q[12..].iter().position(|&b| b == 0).map(|p| 12 + p + 5) else {
                continue;
            };
            let qtype = u16::from_be_bytes([q[end - 4], q[end - 3]]);
            let mut r = q[..2].to_vec();
            let answers = u8::from(qtype == 1);
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, answers, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            if qtype == 1 {
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
            }
            let _ = s.send_to(&r, from);
        }
    });
    port
}

#[test]
fn dhcp_ping_dns_and_http_through_the_gateway() {
    let dns = dns_server();
    let big = pseudo_random(3 << 20);
    let big_md5 = md5_hex(&big);
    let http = http_server(big);
    let script = format!(
        "{DHCP} && ping -c 2 10.0.2.2 && nslookup petrel.test && \
         wget -q -O /tmp/big http://10.0.2.2:{http}/big && md5sum /tmp/big"
    );
    let o = petrel(&format!("user,resolver=127.0.0.1:{dns}"), &script)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("lease=10.0.2.15 router=10.0.2.2 dns=10.0.2.3"),
        "{out}"
    );
    assert!(out.contains("2 packets received"), "{out}");
    assert!(out.contains("10.1.2.3"), "{out}");
    assert!(out.contains(&format!("{big_md5}  /tmp/big")), "{out}");
}

#[test]
fn guest_uploads_to_the_host_intact() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut data = Vec::new();
        s.read_to_end(&mut data).unwrap();
        data
    });
    let script = format!(
        "{DHCP} && head -c 2000000 /dev/urandom > /tmp/up && md5sum /tmp/up && \
         nc 10.0.2.2 {port} < /tmp/up; echo nc-done"
    );
    let o = petrel("user", &script).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let data = sink.join().unwrap();
    assert_eq!(data.len(), 2_000_000, "{out}");
    assert!(
        out.contains(&format!("{}  /tmp/up", md5_hex(&data))),
        "{out}"
    );
}

fn wait_for_line(child: &mut Child, marker: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut r = BufReader::new(out);
    let mut seen = String::new();
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains(marker) {
            // Keep draining so the guest never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
            return seen;
        }
        line.clear();
    }
    panic!("guest never printed {marker}: {seen}");
}

#[test]
fn hostfwd_reaches_a_guest_httpd() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let net = format!("user,hostfwd=tcp:127.0.0.1:{port}-:80");
    let script = "mkdir -p /www && echo served-by-the-guest > /www/index.html && \
                  ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && \
                  httpd -p 80 -h /www && echo httpd-up && sleep 60";
    let mut child = petrel(&net, script).spawn().unwrap();
    wait_for_line(&mut child, "httpd-up");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = String::new();
    let r = s.read_to_string(&mut resp);
    let _ = child.kill();
    let _ = child.wait();
    r.unwrap();
    assert!(
        resp.starts_with("HTTP/1.") && resp.contains("served-by-the-guest"),
        "{resp}"
    );
}
