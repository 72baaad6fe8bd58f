//! virtio devices seen from a Linux guest on the riscv board: an ext4 image on virtio-blk in
//! read-write, copy-on-write and read-only modes (checked on the host afterwards), and
//! /dev/hwrng from virtio-rng.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn petrel(args: &[&str]) -> Output {
    let mut all = vec!["boot", "--append", "console=ttyS0 quiet", "--timeout", "60"];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(&all)
        .stdin(Stdio::null())
        .output()
        .expect("petrel runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).replace('\r', "")
}

/// A 16 MiB ext4 image holding hello.txt, made with the host's mke2fs.
fn ext4_image(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("petrel-virtio-{}-{name}", std::process::id()));
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("hello.txt"), "hello from ext4\n").unwrap();
    let img = dir.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(16 << 20).unwrap();
    let st = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&img)
        .status()
        .expect("mke2fs (e2fsprogs) is installed");
    assert!(st.success(), "mke2fs failed");
    img
}

fn read_from_image(img: &Path, file: &str) -> Option<String> {
    let o = Command::new("debugfs")
        .args(["-R", &format!("cat /{file}")])
        .arg(img)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    (!s.is_empty()).then_some(s)
}

const RW_SCRIPT: &str = "mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt && \
     echo written-by-guest > /mnt/new.txt && sync && umount /mnt && echo done";

#[test]
fn ext4_read_write_reaches_the_host_file() {
    let img = ext4_image("rw");
    let o = petrel(&["--drive", img.to_str().unwrap(), "--run", RW_SCRIPT]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("hello from ext4") && out.contains("done"),
        "{out}"
    );
    assert_eq!(
        read_from_image(&img, "new.txt").as_deref(),
        Some("written-by-guest\n")
    );
}

#[test]
fn snapshot_leaves_the_host_file_untouched() {
    let img = ext4_image("cow");
    let before = std::fs::read(&img).unwrap();
    let spec = format!("{},snapshot", img.display());
    let o = petrel(&[
        "--drive",
        &spec,
        "--run",
        &format!("{RW_SCRIPT}; cat /dev/null"),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("done"),
        "guest writes must succeed in snapshot mode: {out}"
    );
    assert!(
        std::fs::read(&img).unwrap() == before,
        "the image file changed"
    );
}

#[test]
fn read_only_drive_refuses_writes() {
    let img = ext4_image("ro");
    let before = std::fs::read(&img).unwrap();
    let spec = format!("{},ro", img.display());
    let script = "mkdir -p /mnt && mount -o ro /dev/vda /mnt && cat /mnt/hello.txt; \
                  if echo x > /mnt/y; then echo WROTE; fi; \
                  if dd if=/dev/zero of=/dev/vda bs=512 count=1 2>/dev/null; then echo RAW-WROTE; fi; \
                  cat /sys/block/vda/ro";
    let o = petrel(&["--drive", &spec, "--run", script]);
    let out = text(&o);
    assert!(out.contains("hello from ext4"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "1"),
        "/sys/block/vda/ro should be 1: {out}"
    );
    assert!(
        std::fs::read(&img).unwrap() == before,
        "the image file changed"
    );
}

#[test]
fn bad_drive_specs_are_refused() {
    let o = petrel(&["--drive", "/nonexistent/disk.img", "--run", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/disk.img"));
    let odd = std::env::temp_dir().join(format!("petrel-odd-{}.img", std::process::id()));
    std::fs::write(&odd, vec![0u8; 1000]).unwrap();
    let o = petrel(&["--drive", odd.to_str().unwrap(), "--run", "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("multiple of 512"), "{err}");
    let o = petrel(&[
        "--drive",
        &format!("{},turbo", odd.display()),
        "--run",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("turbo"));
}

#[test]
fn hwrng_gives_entropy() {
    let o = petrel(&[
        "--rng",
        "--run",
        "head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \\n'; echo",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let hex = out
        .lines()
        .find(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no 32 random bytes in: {out}"));
    assert_ne!(hex, "0".repeat(64));
}

#[test]
fn console_port_carries_guest_output_to_the_host() {
    let out = std::env::temp_dir().join(format!("petrel-hvc-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let o = petrel(&[
        "--hvc",
        out.to_str().unwrap(),
        "--run",
        "echo data-channel-$((40+2)) > /dev/hvc1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(got.replace('\r', ""), "data-channel-42\n");
}

#[test]
fn console_port_round_trip() {
    let dir = std::env::temp_dir().join(format!("petrel-hvc-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, input) = (dir.join("out.txt"), dir.join("in.txt"));
    let _ = std::fs::remove_file(&out);
    // Offered from the first moment: the device must hold it until the guest opens the port.
    std::fs::write(&input, "ping-from-host\n").unwrap();
    let spec = format!("{},in={}", out.display(), input.display());
    let o = petrel(&[
        "--hvc",
        &spec,
        "--run",
        "sleep 1; read line < /dev/hvc1 && echo \"guest got: $line\" > /dev/hvc1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        got.replace('\r', "")
            .ends_with("guest got: ping-from-host\n"),
        "{got:?}"
    );
}

#[test]
fn ninep_share_is_read_write_and_confined() {
    let base = std::env::temp_dir().join(format!("petrel-9p-{}", std::process::id()));
    let (share, outside) = (base.join("share"), base.join("outside"));
    std::fs::create_dir_all(share.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(share.join("host.txt"), "from host\n").unwrap();
    std::fs::write(share.join("sub/gone.txt"), "x").unwrap();
    std::fs::write(outside.join("secret"), "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, share.join("escape")).unwrap();
    let script = "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt && \
         cat /mnt/host.txt && echo from-guest > /mnt/guest.txt && mkdir /mnt/newdir && \
         mv /mnt/guest.txt /mnt/newdir/moved.txt && ln -s moved.txt /mnt/newdir/link && \
         rm -r /mnt/sub && echo overwrite > /mnt/escape/secret; cat /mnt/escape/secret; \
         sync; umount /mnt && echo unmounted";
    let o = petrel(&["--share", share.to_str().unwrap(), "--run", script]);
    let out = text(&o);
    assert!(
        out.contains("from host") && out.contains("unmounted"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(share.join("newdir/moved.txt")).unwrap(),
        "from-guest\n"
    );
    assert_eq!(
        std::fs::read_link(share.join("newdir/link")).unwrap(),
        std::path::PathBuf::from("moved.txt")
    );
    assert!(
        !share.join("sub").exists(),
        "rm -r in the guest must remove the host directory"
    );
    // The symlink to a directory outside the share is resolved by the guest inside its own
    // tree, never by the server on the host.
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).unwrap(),
        "secret\n"
    );
    assert!(
        !out.contains("secret\n") || !out.contains("overwrite"),
        "{out}"
    );

    // Read-only shares refuse writes with EROFS.
    let spec = format!("{},ro,tag=data", share.display());
    let script = "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L data /mnt && \
                  cat /mnt/host.txt; touch /mnt/new 2>&1; true";
    let o = petrel(&["--share", &spec, "--run", script]);
    let out = text(&o);
    assert!(out.contains("from host"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!share.join("new").exists());
}

#[test]
fn ninep_share_serves_as_a_root_filesystem() {
    let root = std::env::temp_dir().join(format!("petrel-9proot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // The guest copies its own userland onto the share, then runs from it as its root: exec
    // from 9p, busybox's applet symlinks, device nodes, fifos, renames, hard links.
    let script = "mkdir -p /mnt && mount -t 9p -o trans=virtio,version=9p2000.L rootfs /mnt && \
        cp -a /bin /sbin /etc /mnt/ && mkdir -p /mnt/tmp /mnt/dev /mnt/proc && \
        chroot /mnt /bin/sh -c 'mount -t proc proc /proc && cut -d\" \" -f1 /proc/self/comm; \
        mknod /dev/null2 c 1 3 && echo gone > /dev/null2 && mkfifo /tmp/fifo && \
        echo x > /tmp/a && ln /tmp/a /tmp/b && mv /tmp/b /tmp/c && \
        ls -l /bin/sh | grep -c busybox && echo root-ok > /tmp/done'";
    let spec = format!("{},tag=rootfs", root.display());
    let o = petrel(&["--share", &spec, "--run", script]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("tmp/done")).unwrap(),
        "root-ok\n"
    );
    assert!(root.join("bin/busybox").is_file());
    let meta = std::fs::symlink_metadata(root.join("bin/sh")).unwrap();
    assert!(meta.file_type().is_symlink());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(root.join("tmp/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(root.join("dev/null2"))
        .unwrap()
        .file_type()
        .is_char_device());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(root.join("tmp/c")).unwrap().nlink(), 2);
}
