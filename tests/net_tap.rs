//! The `tap` backend for real: a network namespace of its own holds a TAP interface with an
//! address; petrel runs in that namespace attached to the tap, and the Linux guest pings the
//! namespace's address and fetches a page from a server thread that lives in the namespace.
//! Needs root and iproute2 (as CI has); elsewhere the test says it was skipped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2 is installed");
    assert!(st.success(), "ip {args:?} failed");
}

/// Runs `f` on a thread that has entered the namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        use std::os::unix::io::AsRawFd;
        // SAFETY: setns on a namespace descriptor changes only this thread's network namespace.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

#[test]
fn guest_reaches_a_process_behind_a_tap() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: the tap test needs root and /dev/net/tun");
        return;
    }
    let name = format!("petrel-t{}", std::process::id());
    ip(&["netns", "add", &name]);
    let ns = Netns(name.clone());
    ip(&["-n", &ns.0, "tuntap", "add", "dev", "ptap0", "mode", "tap"]);
    ip(&["-n", &ns.0, "addr", "add", "10.77.0.1/24", "dev", "ptap0"]);
    ip(&["-n", &ns.0, "link", "set", "ptap0", "up"]);
    let listener = in_netns(&ns.0, || TcpListener::bind("10.77.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
            req.push(b[0]);
        }
        let body = "hello from the namespace\n";
        let _ = write!(
            s,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    let script = format!(
        "ip addr add 10.77.0.2/24 dev eth0 && ip link set eth0 up && ping -c 3 -w 30 10.77.0.1 \
         && wget -q -O - http://10.77.0.1:{port}/"
    );
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_petrel"), "boot"])
        .args(["--append", "console=ttyS0 quiet", "--timeout", "90"])
        .args(["--net", "tap,ifname=ptap0", "--run", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("3 packets received"), "{out}");
    assert!(out.contains("hello from the namespace"), "{out}");
    server.join().unwrap();
}

#[test]
fn a_missing_tap_without_privileges_is_a_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(["boot", "--net", "tap,ifname=a-name-far-too-long-for-linux"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a valid interface name"), "{err}");
}
