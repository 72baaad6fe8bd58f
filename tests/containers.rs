//! Container images: `petrel convert` on images made here (OCI layout, OCI archive, docker save;
//! gzip, zstd and plain layers with whiteouts, opaque directories, hard links, symlinks, owners
//! and device nodes) and by umoci and skopeo, checked with squashfs-tools' `unsquashfs` as an
//! independent reader; hostile and broken images; and `petrel run` with docker's semantics:
//! overrides, env, user, workdir, exit statuses, stdin, volumes, published ports, networking.

use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::net::{http_server, md5_hex, pseudo_random};
use common::oci::{self, base_layer, file, owned, Compression, Entry, Image};

fn petrel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_petrel"));
    // Each test converts into its own cache.
    c.env_remove("PETREL_CACHE_DIR");
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("petrel-ct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A three-layer image exercising what layers can do (its middle layer zstd-compressed).
fn layered_image(config: serde_json::Value) -> Image {
    layered_image_with(config, Compression::Zstd)
}

fn layered_image_with(config: serde_json::Value, middle: Compression) -> Image {
    let mut base = base_layer();
    base.extend([
        Entry::Dir("data", 0o755),
        file("data/keep", b"keep\n", 0o644),
        file("data/gone", b"gone\n", 0o644),
        Entry::Dir("opq", 0o755),
        file("opq/old", b"old\n", 0o644),
        owned("data/owned", b"mine\n", 0o4750, 1000, 50),
    ]);
    Image::new(config)
        .layer(&base, Compression::Gzip)
        .layer(
            &[
                Entry::Whiteout("data/gone"),
                Entry::Opaque("opq"),
                file("opq/new", b"new\n", 0o600),
                file("data/orig", b"linked\n", 0o644),
                Entry::Hardlink("data/hard", "data/orig"),
                Entry::Symlink("data/soft", "/data/keep"),
                Entry::Char("data/null", 1, 3),
            ],
            middle,
        )
        .layer(
            &[file("data/keep", b"kept and changed\n", 0o644)],
            Compression::None,
        )
}

fn convert(image: &Path, out: &Path) -> Output {
    petrel()
        .arg("convert")
        .arg(image)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// `unsquashfs -lln`: one line per inode with mode, owner, size or device, and link target.
fn listing(bundle: &Path) -> String {
    let out = Command::new("unsquashfs")
        .args(["-lln", "-d", ""])
        .arg(bundle.join("rootfs.sqfs"))
        .output()
        .expect("unsquashfs (squashfs-tools) is installed");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn line_for<'a>(listing: &'a str, path: &str) -> Option<&'a str> {
    listing
        .lines()
        .find(|l| l.ends_with(&format!(" {path}")) || l.contains(&format!(" {path} -> ")))
}

fn cat(bundle: &Path, path: &str) -> String {
    let out = Command::new("unsquashfs")
        .args(["-cat"])
        .arg(bundle.join("rootfs.sqfs"))
        .arg(path)
        .output()
        .unwrap();
    text(&out.stdout)
}

#[test]
fn layers_apply_with_whiteouts_links_owners_and_devices() {
    let dir = tmp("layers");
    let img = dir.join("img");
    layered_image(json!({"Cmd": ["/bin/sh"]})).write_oci_dir(&img, true);
    let bundle = dir.join("bundle");
    let out = convert(&img, &bundle);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("layer 3/3"), "progress per layer: {stderr}");
    let l = listing(&bundle);
    assert!(line_for(&l, "/data/gone").is_none(), "whiteout: {l}");
    assert!(line_for(&l, "/opq/old").is_none(), "opaque dir: {l}");
    assert!(line_for(&l, "/opq/new")
        .unwrap()
        .starts_with("-rw------- 0/0"));
    let owned = line_for(&l, "/data/owned").unwrap();
    assert!(owned.starts_with("-rwsr-x--- 1000/50"), "{owned}");
    let soft = line_for(&l, "/data/soft").unwrap();
    assert!(
        soft.starts_with('l') && soft.ends_with("-> /data/keep"),
        "{soft}"
    );
    let null = line_for(&l, "/data/null").unwrap();
    assert!(
        null.starts_with("crw-rw-rw-") && null.contains("1,  3"),
        "{null}"
    );
    assert!(line_for(&l, "/tmp").unwrap().starts_with("drwxrwxrwt"));
    assert_eq!(cat(&bundle, "data/keep"), "kept and changed\n");
    assert_eq!(cat(&bundle, "data/hard"), "linked\n");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(cfg["platform"], "linux/riscv64");
    assert_eq!(cfg["config"]["Cmd"], json!(["/bin/sh"]));
    assert!(bundle.join("boot/Image.gz").is_file());
    // The output must not exist yet.
    let again = convert(&img, &bundle);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
}

#[test]
fn docker_save_and_oci_archives_convert_alike() {
    let dir = tmp("formats");
    let image = layered_image(json!({"Cmd": ["/bin/sh"]}));
    let (save, archive) = (dir.join("save.tar"), dir.join("oci.tar"));
    image.write_docker_save(&save);
    image.write_oci_archive(&archive);
    let mut listings = Vec::new();
    for (name, path) in [("save", &save), ("archive", &archive)] {
        let b = dir.join(name);
        let out = convert(path, &b);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        listings.push(listing(&b));
    }
    assert_eq!(listings[0], listings[1]);
    assert!(line_for(&listings[0], "/data/hard").is_some());
}

#[test]
fn platform_choice_and_errors() {
    let dir = tmp("platform");
    let img = dir.join("img");
    let mut image = Image::new(json!({"Cmd": ["/bin/sh"]})).layer(&base_layer(), Compression::Gzip);
    image.arch = "arm64";
    image.write_oci_dir(&img, true);
    let out = convert(&img, &dir.join("b"));
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains("no manifest for linux/riscv64") && e.contains("linux/amd64"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!dir.join("b").exists() && !dir.join("b.partial").exists());
    let out = petrel()
        .args(["convert", "--platform", "linux/arm64"])
        .arg(&img)
        .arg("-o")
        .arg(dir.join("b"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Every hostile or broken image: one line on stderr, status 1, nothing left behind.
#[test]
fn hostile_and_broken_images_are_refused_cleanly() {
    let dir = tmp("hostile");
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "absolute",
            vec![file("/etc/evil", b"x", 0o644)],
            "absolute path",
        ),
        (
            "dotdot",
            vec![file("a/../../evil", b"x", 0o644)],
            "climbs out",
        ),
        (
            "symlink-escape",
            vec![
                Entry::Symlink("up", "../../../.."),
                file("up/tmp/evil", b"x", 0o644),
            ],
            "leads out of the root",
        ),
        (
            "hardlink-escape",
            vec![Entry::Hardlink("h", "../../etc/passwd")],
            "climbs out",
        ),
        (
            "hardlink-missing",
            vec![Entry::Hardlink("h", "nope")],
            "not a file",
        ),
    ];
    for (name, entries, want) in cases {
        let img = dir.join(name);
        Image::new(json!({"Cmd": ["/x"]}))
            .layer(&entries, Compression::Gzip)
            .write_oci_dir(&img, false);
        let out = dir.join(format!("{name}.bundle"));
        let r = convert(&img, &out);
        let e = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{name}: {e}");
        assert!(e.contains(want), "{name}: {e}");
        assert_eq!(e.lines().count(), 1, "{name}: {e}");
        assert!(!out.exists(), "{name}: a bundle was left");
        assert!(!dir.join(format!("{name}.bundle.partial")).exists());
    }
    // The escape targets were never written anywhere on the host.
    assert!(!dir.join("evil").exists() && !dir.parent().unwrap().join("evil").exists());

    // Corrupt, truncated and missing blobs.
    let good = dir.join("good");
    Image::new(json!({"Cmd": ["/x"]}))
        .layer(&base_layer(), Compression::Gzip)
        .write_oci_dir(&good, false);
    let biggest = std::fs::read_dir(good.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let name = biggest.file_name().unwrap().to_owned();
    let copy = |tag: &str| {
        let d = dir.join(tag);
        Command::new("cp")
            .arg("-r")
            .arg(&good)
            .arg(&d)
            .status()
            .unwrap();
        d
    };
    let flip = copy("corrupt");
    let p = flip.join("blobs/sha256").join(&name);
    let mut data = std::fs::read(&p).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    std::fs::write(&p, &data).unwrap();
    let cut = copy("truncated");
    let p = cut.join("blobs/sha256").join(&name);
    let data = std::fs::read(&p).unwrap();
    std::fs::write(&p, &data[..data.len() / 3]).unwrap();
    let gone = copy("missing");
    std::fs::remove_file(gone.join("blobs/sha256").join(&name)).unwrap();
    let garbled = dir.join("garbled.tar");
    std::fs::write(&garbled, pseudo_random(10_000)).unwrap();
    for (img, want) in [
        (&flip, "corrupt"),
        (&cut, "blob has"),
        (&gone, "No such file"),
        (&garbled, "not"),
        (&dir.join("nonexistent"), "No such file"),
    ] {
        let out = dir.join("x.bundle");
        let r = convert(img, &out);
        let e = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{}: {e}", img.display());
        assert!(e.contains(want), "{}: {e}", img.display());
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(!out.exists());
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Images written by real tooling: skopeo re-encodes our layout as docker-archive and
/// oci-archive; umoci builds an image from a directory tree.
#[test]
fn images_from_skopeo_and_umoci() {
    assert!(
        have("skopeo") && have("umoci"),
        "skopeo and umoci are installed by scripts/test"
    );
    let dir = tmp("tools");
    let img = dir.join("src");
    // Docker archives cannot carry zstd layers.
    layered_image_with(json!({"Cmd": ["/bin/sh"]}), Compression::Gzip).write_oci_dir(&img, false);
    let ours = dir.join("ours");
    assert!(convert(&img, &ours).status.success());
    let want = listing(&ours);
    for (transport, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let dest = dir.join(file);
        let out = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet"])
            .arg(format!("oci:{}:latest", img.display()))
            .arg(format!("{transport}:{}:petrel-test:latest", dest.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
        let b = dir.join(format!("{transport}.bundle"));
        let r = convert(&dest, &b);
        assert!(r.status.success(), "{transport}: {}", text(&r.stderr));
        assert_eq!(listing(&b), want, "{transport}");
    }

    // umoci: a new image, a rootfs tree unpacked, busybox and a file added, repacked.
    let layout = dir.join("umoci");
    let run = |args: &[&str]| {
        let out = Command::new("umoci").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            text(&out.stderr)
        );
    };
    let l = layout.display().to_string();
    run(&["init", "--layout", &l]);
    run(&["new", "--image", &format!("{l}:t")]);
    run(&[
        "config",
        "--image",
        &format!("{l}:t"),
        "--architecture",
        "riscv64",
        "--config.cmd",
        "/bin/sh",
    ]);
    let bundle_dir = dir.join("umoci-bundle");
    let b = bundle_dir.display().to_string();
    run(&["unpack", "--rootless", "--image", &format!("{l}:t"), &b]);
    let rootfs = bundle_dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/busybox"), oci::busybox()).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("hello.txt"), "from umoci\n").unwrap();
    run(&["repack", "--image", &format!("{l}:t"), &b]);
    let out = dir.join("umoci.out");
    let r = convert(&layout, &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(cat(&out, "hello.txt"), "from umoci\n");
    assert!(line_for(&listing(&out), "/bin/sh").is_some());
}

// ---- petrel run -------------------------------------------------------------------------

/// The image the run tests share: the layered tree, a user, a workdir and an env.
fn app_image(dir: &Path) -> PathBuf {
    let img = dir.join("app");
    layered_image(json!({
        "Cmd": ["/bin/sh", "-c", "echo cmd-default"],
        "Env": ["FOO=bar", "PATH=/bin"],
        "WorkingDir": "/data",
        "User": "app",
        "ExposedPorts": {"8080/tcp": {}},
    }))
    .write_oci_dir(&img, true);
    img
}

fn run_in(cache: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = petrel();
    c.arg("run").arg("--cache-dir").arg(cache).args(args);
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    child.wait_with_output().unwrap()
}

fn stdout_of(o: &Output) -> String {
    text(&o.stdout)
}

#[test]
fn run_follows_docker_semantics() {
    let dir = tmp("run");
    let img = app_image(&dir);
    let i = img.to_str().unwrap();
    let cache = dir.join("cache");

    // The image's Cmd, as its user, in its workdir: the first run converts, later ones reuse.
    let o = run_in(&cache, &[i], None);
    assert_eq!(
        (o.status.code(), stdout_of(&o).as_str()),
        (Some(0), "cmd-default\n"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("converting"));

    let script = "echo $FOO $X; pwd; id -u; id -g; id -G; echo $HOME; cat /data/keep /data/hard; \
                  ls /opq; test -e /data/gone || echo gone; readlink /data/soft; \
                  stat -c '%u %g %a' /data/owned; hostname; echo err >&2";
    let o = run_in(&cache, &["-e", "X=1", i, "sh", "-c", script], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("converting"),
        "cached: {}",
        text(&o.stderr)
    );
    assert_eq!(
        stdout_of(&o),
        "bar 1\n/data\n1000\n1000\n1000 50\n/home/app\nkept and changed\nlinked\nnew\ngone\n\
         /data/keep\n1000 50 4750\npetrel\n"
    );
    assert!(
        text(&o.stderr).ends_with("err\n"),
        "stderr apart: {}",
        text(&o.stderr)
    );

    // -w, -u, --entrypoint, writes to the read-only image land in the overlay.
    let o = run_in(
        &cache,
        &[
            "-w",
            "/tmp/new",
            "-u",
            "0:0",
            i,
            "sh",
            "-c",
            "pwd; id -u; echo w > /data/keep; cat /data/keep",
        ],
        None,
    );
    assert_eq!(stdout_of(&o), "/tmp/new\n0\nw\n", "{}", text(&o.stderr));
    let o = run_in(&cache, &["--entrypoint", "/bin/echo", i, "a", "-b"], None);
    assert_eq!(stdout_of(&o), "a -b\n", "{}", text(&o.stderr));

    // Exit statuses: the process's code, 128 + signal, 127 for a missing program.
    for (cmd, code) in [
        ("exit 0", 0),
        ("exit 1", 1),
        ("exit 42", 42),
        ("kill -9 $$", 137),
    ] {
        let o = run_in(&cache, &[i, "sh", "-c", cmd], None);
        assert_eq!(o.status.code(), Some(code), "{cmd}: {}", text(&o.stderr));
    }
    let o = run_in(&cache, &[i, "no-such-program"], None);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no-such-program"));

    // Bad flags are runtime errors (125), before any conversion or boot.
    let o = run_in(&cache, &["-w", "relative", i], None);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
}

#[test]
fn run_passes_stdin_large_environments_and_a_tty() {
    let dir = tmp("stdin");
    let img = app_image(&dir);
    let i = img.to_str().unwrap();
    let cache = dir.join("cache");
    let data = pseudo_random(300 << 10);
    let o = run_in(&cache, &[i, "md5sum"], Some(&data));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(stdout_of(&o), format!("{}  -\n", md5_hex(&data)));

    // container2wasm's 1 KiB limit broke on large environments: 300 KiB must pass (in
    // variables under Linux's 128 KiB limit for one string).
    let big = "x".repeat(100 << 10);
    let mut args: Vec<String> = Vec::new();
    for n in 0..3 {
        args.extend(["-e".into(), format!("BIG{n}={big}")]);
    }
    args.extend([
        i.into(),
        "sh".into(),
        "-c".into(),
        "echo ${#BIG0} ${#BIG1} ${#BIG2}".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_in(&cache, &args, None);
    let n = big.len();
    assert_eq!(
        stdout_of(&o),
        format!("{n} {n} {n}\n"),
        "{}",
        text(&o.stderr)
    );

    let o = run_in(&cache, &["-t", i, "tty"], None);
    assert_eq!(
        stdout_of(&o).trim_end(),
        "/dev/pts/0",
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn run_volumes_are_shared_with_the_host() {
    let dir = tmp("vol");
    let img = app_image(&dir);
    let cache = dir.join("cache");
    let (rw, ro) = (dir.join("rw"), dir.join("ro"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("in"), "from the host\n").unwrap();
    let o = run_in(
        &cache,
        &[
            "-u",
            "0",
            "-v",
            &format!("{}:/out", rw.display()),
            "-v",
            &format!("{}:/in:ro", ro.display()),
            img.to_str().unwrap(),
            "sh",
            "-c",
            "cat /in/in; echo written > /out/file; echo x > /in/nope || echo refused",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(stdout_of(&o), "from the host\nrefused\n");
    assert_eq!(
        std::fs::read_to_string(rw.join("file")).unwrap(),
        "written\n"
    );
    assert!(!ro.join("nope").exists());
}

#[test]
fn run_networking_out_and_published_ports_in() {
    let dir = tmp("net");
    let img = app_image(&dir);
    let i = img.to_str().unwrap();
    let cache = dir.join("cache");
    let body = pseudo_random(200 << 10);
    let port = http_server(body.clone());
    let url = format!("http://10.0.2.2:{port}/");
    let o = run_in(
        &cache,
        &[i, "sh", "-c", &format!("wget -q -O - {url} | md5sum")],
        None,
    );
    assert_eq!(
        stdout_of(&o),
        format!("{}  -\n", md5_hex(&body)),
        "{}",
        text(&o.stderr)
    );

    // -p: a server in the container, reached from the host.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = free.local_addr().unwrap().port();
    drop(free);
    let mut child = petrel()
        .arg("run")
        .arg("--cache-dir")
        .arg(&cache)
        .args(["-p", &format!("127.0.0.1:{host_port}:8080"), i])
        .args([
            "sh",
            "-c",
            "mkdir -p /tmp/www && echo served-from-container > /tmp/www/index.html \
               && httpd -f -p 8080 -h /tmp/www",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = String::new();
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", host_port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.contains("served-from-container") {
                got = r;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(got.contains("200 OK"), "no answer through -p: {got}");
}

#[test]
fn run_forwards_sigint_and_docker_save_images_run() {
    let dir = tmp("sig");
    let save = dir.join("save.tar");
    layered_image(json!({"Cmd": ["/bin/sh"]})).write_docker_save(&save);
    let mut child = petrel()
        .arg("run")
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg(&save)
        .args([
            "sh",
            "-c",
            "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut b = [0u8; 64];
    while !text(&seen).contains("ready") {
        let n = out.read(&mut b).unwrap();
        assert!(n > 0, "petrel ended before the container was ready");
        seen.extend_from_slice(&b[..n]);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    out.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(text(&seen), "ready\ngot-int\n");
    assert_eq!(status.code(), Some(5));
}
