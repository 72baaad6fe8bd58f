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
                file("data/orig", b"linked\n", 0o640),
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
