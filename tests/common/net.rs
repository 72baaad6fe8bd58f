//! Network test helpers: bringing the bundled guest's eth0 up by DHCP, an HTTP server on the
//! host's loopback, reproducible payloads and their MD5.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// Brings eth0 up with udhcpc (its script configures the lease and writes resolv.conf).
pub const DHCP: &str =
    "printf '#!/bin/sh\\n[ \"$1\" = bound ] || exit 0\\nip addr add $ip/$mask dev \
    $interface\\nip route add default via $router\\necho nameserver $dns > /etc/resolv.conf\\n\
    echo lease=$ip router=$router dns=$dns\\n' > /tmp/dhcp.sh && chmod +x /tmp/dhcp.sh && \
    ip link set eth0 up && udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5";

/// Serves `body` to every HTTP request.
pub fn http_server(body: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    req.push(b[0]);
                }
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    port
}

pub fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    let mut c = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout)[..32].to_string()
}
