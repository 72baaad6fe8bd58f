//! petrel.wasm, the whole program built for wasm32-wasip1, booting the bundled riscv64 guest
//! under the embedding host (petrel-host) and under the wasmtime CLI: a command's output and
//! exit status, networking through the host's native `user` stack, a 9p share and networking
//! at the same time, `--net port` on a socket wasmtime pre-opens (the c2w-net arrangement),
//! and bad input to the host.
//!
//! The artifacts come from scripts/build-wasm, scripts/build-host and the wasmtime CLI that
//! scripts/test installs (PETREL_WASM, PETREL_HOST and WASMTIME override the paths).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::net::{http_server, md5_hex, pseudo_random, DHCP};

fn artifact(var: &str, default: PathBuf, how: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        p.is_file(),
        "{} is missing: {how} (or set {var})",
        p.display()
    );
    p
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn wasm() -> PathBuf {
    artifact(
        "PETREL_WASM",
        repo().join("target/wasm32-wasip1/release/petrel.wasm"),
        "run scripts/build-wasm",
    )
}

fn host() -> PathBuf {
    artifact(
        "PETREL_HOST",
        repo().join("target/release/petrel-host"),
        "run scripts/build-host",
    )
}

fn wasmtime() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    artifact(
        "WASMTIME",
        home.join(".cache/petrel/tools/bin/wasmtime"),
        "run scripts/test, which installs the wasmtime CLI",
    )
}

/// The guest's boot arguments: quiet, bounded, running `script`.
fn boot_args(script: &str) -> Vec<String> {
    [
        "boot",
        "--append",
        "console=ttyS0 quiet",
        "--timeout",
        "300",
        "--run",
        script,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its standard output.
fn run_ok(c: Command) -> String {
    let o = run(c);
    let out = text(&o);
    assert!(
        o.status.success(),
        "stdout:\n{out}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).replace('\r', "")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("petrel-wasm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn host_boots_the_guest_and_passes_the_exit_status() {
    let mut c = Command::new(host());
    c.arg("--wasm").arg(wasm()).arg("--");
    c.args(boot_args("uname -m; echo answer=$((6 * 7)); exit 3"));
    let o = run(c);
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "stdout:\n{out}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("riscv64"), "{out}");
    assert!(out.contains("answer=42"), "{out}");
}

/// WASI hosts refuse exit statuses from 126 up; petrel-host takes them all, the wasmtime CLI
/// gets 125 and a line saying why.
#[test]
fn large_exit_statuses_under_the_host_and_the_cli() {
    let mut c = Command::new(host());
    c.arg("--wasm").arg(wasm()).arg("--");
    c.args(boot_args("exit 200"));
    let o = run(c);
    assert_eq!(
        o.status.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mut c = Command::new(wasmtime());
    c.arg("run").arg(wasm());
    c.args(boot_args("exit 200"));
    let o = run(c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("exit status 200"), "{err}");
}

#[test]
fn guest_in_wasm_fetches_a_page_through_the_hosts_user_stack() {
    let page = pseudo_random(300 << 10);
    let want = md5_hex(&page);
    let port = http_server(page);
    let script = format!("{DHCP} && wget -q -O - http://10.0.2.2:{port}/page | md5sum");
    let mut c = Command::new(host());
    c.arg("--wasm").arg(wasm()).args(["--net", "user", "--"]);
    c.args(boot_args(&script)).args(["--net", "host"]);
    let out = run_ok(c);
    assert!(out.contains("lease=10.0.2.15"), "{out}");
    assert!(out.contains(&want), "want {want} in:\n{out}");
}

#[test]
fn ninep_share_and_network_together_in_wasm() {
    let dir = temp_dir("share");
    std::fs::write(dir.join("from-host.txt"), "written by the host\n").unwrap();
    let page = pseudo_random(64 << 10);
    let want = md5_hex(&page);
    let port = http_server(page);
    let script = format!(
        "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt && \
         cat /mnt/from-host.txt && {DHCP} && \
         wget -q -O /mnt/page.bin http://10.0.2.2:{port}/page && \
         echo guest-wrote > /mnt/from-guest.txt && sync && md5sum /mnt/page.bin"
    );
    let mut c = Command::new(host());
    c.arg("--wasm")
        .arg(wasm())
        .arg("--dir")
        .arg(format!("{}::/share", dir.display()))
        .args(["--net", "user", "--"]);
    c.args(boot_args(&script))
        .args(["--share", "/share", "--net", "host"]);
    let out = run_ok(c);
    assert!(out.contains("written by the host"), "{out}");
    assert_eq!(md5_hex(&std::fs::read(dir.join("page.bin")).unwrap()), want);
    assert_eq!(
        std::fs::read_to_string(dir.join("from-guest.txt")).unwrap(),
        "guest-wrote\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under the plain CLI, from a pre-opened directory: a 9p share, a virtio-blk disk image read
/// and written by the guest, and the `user` router running inside the module (DHCP, ping).
#[test]
fn wasmtime_cli_boots_the_guest_with_a_share_a_disk_and_the_user_router() {
    let dir = temp_dir("cli-share");
    std::fs::write(dir.join("note.txt"), "via wasmtime\n").unwrap();
    let disk = pseudo_random(1 << 20);
    std::fs::write(dir.join("disk.img"), &disk).unwrap();
    let mut c = Command::new(wasmtime());
    c.arg("run")
        .arg("--dir")
        .arg(format!("{}::/share", dir.display()))
        .arg(wasm());
    c.args(boot_args(&format!(
        "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt && \
         cat /mnt/note.txt && echo back > /mnt/back.txt && sync && \
         md5sum /dev/vda && echo -n disk-written | dd of=/dev/vda bs=512 seek=7 conv=notrunc,fsync && \
         {DHCP} && ping -c 1 10.0.2.2"
    )))
    .args(["--share", "/share", "--drive", "/share/disk.img", "--net", "user"]);
    let out = run_ok(c);
    assert!(out.contains("via wasmtime"), "{out}");
    assert!(out.contains(&md5_hex(&disk)), "{out}");
    assert!(out.contains("lease=10.0.2.15"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("back.txt")).unwrap(),
        "back\n"
    );
    let after = std::fs::read(dir.join("disk.img")).unwrap();
    assert_eq!(&after[7 * 512..7 * 512 + 12], b"disk-written");
    assert_eq!(after[..7 * 512], disk[..7 * 512]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads one length-prefixed frame (the stream format of QEMU, c2w-net and petrel's port).
fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut f = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut f)?;
    Ok(f)
}

/// wasmtime pre-opens a listening socket (`-S tcplisten`, with its legacy WASI p1 that has
/// them); petrel uses it as `--net port,fd=3`; this test connects as c2w-net would, answers the
/// guest's ARP request and sees the ping that follows. A directory pre-opened after the socket
/// is shared over 9p at the same time (wasi-libc alone does not find it).
#[test]
fn wasmtime_cli_port_on_a_preopened_socket_with_a_share() {
    let dir = temp_dir("cli-port");
    std::fs::write(dir.join("marker.txt"), "share-seen\n").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = Command::new(wasmtime());
    c.args(["run", "-S", "preview2=n", "-S"])
        .arg(format!("tcplisten=127.0.0.1:{port}"))
        .arg("--dir")
        .arg(format!("{}::/share", dir.display()))
        .arg(wasm());
    c.args(boot_args(
        "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt && \
         cat /mnt/marker.txt && \
         ip addr add 10.0.9.2/24 dev eth0 && ip link set eth0 up && ping -c 3 -W 5 10.0.9.1",
    ))
    .args(["--share", "/share", "--net", "port,fd=3"]);
    // A pipe, not /dev/null: the legacy WASI that has pre-opened sockets fails every wait that
    // includes a /dev/null stdin (it asks it for a byte count).
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => {
                let _ = child.kill();
                panic!("wasmtime never listened on {port}: {e}");
            }
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(240))).unwrap();
    let peer_mac = [0x02, 0, 0, 0, 0, 9];
    let mut got_ping = false;
    while let Ok(f) = read_frame(&mut s) {
        if f.len() < 42 {
            continue;
        }
        let ethertype = u16::from_be_bytes([f[12], f[13]]);
        if ethertype == 0x0806 && f[21] == 1 && f[38..42] == [10, 0, 9, 1] {
            // ARP reply: 10.0.9.1 is at peer_mac.
            let mut r = Vec::with_capacity(42);
            r.extend_from_slice(&f[6..12]);
            r.extend_from_slice(&peer_mac);
            r.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
            r.extend_from_slice(&peer_mac);
            r.extend_from_slice(&[10, 0, 9, 1]);
            r.extend_from_slice(&f[22..32]);
            s.write_all(&(r.len() as u32).to_be_bytes()).unwrap();
            s.write_all(&r).unwrap();
        } else if ethertype == 0x0800 && f[23] == 1 && f[34] == 8 && f[0..6] == peer_mac {
            got_ping = true;
            break;
        }
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        got_ping,
        "no ICMP echo request reached the peer\nstdout:\n{}\nstderr:\n{}",
        text(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text(&o).contains("share-seen"), "{}", text(&o));
}

#[test]
fn host_refuses_bad_input_with_one_line() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--wasm".into(),
                "/nonexistent/petrel.wasm".into(),
                "boot".into(),
            ],
            "/nonexistent/petrel.wasm",
        ),
        (
            vec!["--net".into(), "bogus".into(), "boot".into()],
            "--net bogus",
        ),
        (
            vec!["--net".into(), "host".into(), "boot".into()],
            "native backend",
        ),
        (
            vec!["--dir".into(), "/nonexistent-dir".into(), "boot".into()],
            "not a directory",
        ),
        (vec!["--frobnicate".into()], "unknown option"),
        (vec![], "no petrel arguments"),
    ];
    for (args, want) in cases {
        let mut c = Command::new(host());
        c.args(&args);
        let o = run(c);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            matches!(o.status.code(), Some(1) | Some(2)),
            "{args:?}: {:?} {err}",
            o.status
        );
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    // The module itself: a host port that the host does not offer.
    let mut c = Command::new(host());
    c.arg("--wasm").arg(wasm()).arg("--");
    c.args(boot_args("true")).args(["--net", "host,id=4"]);
    let o = run(c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no host port 4"), "{err}");
}

/// A small container image: busybox, a user, and a Cmd.
fn container_image() -> common::oci::Image {
    common::oci::Image::new(serde_json::json!({
        "Cmd": ["/bin/sh", "-c", "echo default"],
        "Env": ["FROM_IMAGE=yes"],
    }))
    .layer(&common::oci::base_layer(), common::oci::Compression::Gzip)
}

#[test]
fn wasmtime_cli_runs_a_container_with_stdin_and_a_volume() {
    let dir = temp_dir("ctr-cli");
    container_image().write_oci_dir(&dir.join("img"), true);
    std::fs::create_dir_all(dir.join("vol")).unwrap();
    let mut c = Command::new(wasmtime());
    c.arg("run")
        .arg("--dir")
        .arg(format!("{}::/img", dir.join("img").display()))
        .arg("--dir")
        .arg(format!("{}::/vol", dir.join("vol").display()))
        .arg(wasm())
        .args(["run", "-v", "/vol:/out", "-e", "X=1", "/img"])
        .args(["sh", "-c", "cat > /out/stdin; echo $FROM_IMAGE $X; exit 7"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let data = pseudo_random(100 << 10);
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(text(&o), "yes 1\n");
    assert_eq!(std::fs::read(dir.join("vol/stdin")).unwrap(), data);
}

#[test]
fn host_runs_a_docker_save_image_with_a_cache_and_the_network() {
    let dir = temp_dir("ctr-host");
    container_image().write_docker_save(&dir.join("save.tar"));
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    let page = pseudo_random(200 << 10);
    let want = md5_hex(&page);
    let port = http_server(page);
    let run_host = |script: &str| {
        let mut c = Command::new(host());
        c.arg("--wasm").arg(wasm()).args(["--net", "user"]);
        c.arg("--dir").arg(format!("{}::/d", dir.display()));
        c.args([
            "--",
            "run",
            "--net",
            "host",
            "--cache-dir",
            "/d/cache",
            "/d/save.tar",
        ]);
        c.args(["sh", "-c", script]);
        run(c)
    };
    let o = run_host(&format!(
        "wget -q -O - http://10.0.2.2:{port}/ | md5sum; exit 200"
    ));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(200), "{err}");
    assert_eq!(text(&o), format!("{want}  -\n"), "{err}");
    assert!(err.contains("converting"), "{err}");
    let o = run_host("echo again");
    assert_eq!(text(&o), "again\n");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("converting"));
}
