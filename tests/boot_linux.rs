//! Linux boots of the bundled riscv64 guest (OpenSBI + Linux 6.1 + busybox initramfs, compiled
//! into petrel): the guest's init runs the `--run` command, its exit status becomes petrel's,
//! power-off and reboot work, the guest sees the machine petrel describes, TinyEMU
//! configuration files boot, and bad boot images fail with one clear line.
//!
//! Every boot passes `--timeout`, and a watchdog here kills petrel if it outlives that limit by
//! more than [`GRACE`], so a hang fails the test instead of blocking CI.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Serial console only, and no kernel chatter.
const QUIET: &str = "console=ttyS0 quiet";
/// What the guest's init prints once user space runs: `petrel-guest: ready (N s)`.
const READY: &str = "petrel-guest: ready (";
/// What init prints after the command: `petrel-guest: exit N`.
const GUEST_EXIT: &str = "petrel-guest: exit";
/// petrel's exit status when `--timeout` ends a run.
const EXIT_TIMEOUT: i32 = 124;
/// How long past its own `--timeout` petrel may take to stop before the watchdog kills it.
const GRACE: Duration = Duration::from_secs(10);

/// The outcome of one petrel process.
struct Run {
    /// `None` when the watchdog had to kill petrel.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn lines(&self) -> impl Iterator<Item = &str> {
        self.stdout.lines().map(str::trim_end)
    }

    fn count(&self, needle: &str) -> usize {
        self.stdout.matches(needle).count()
    }

    /// Everything known about the run, for assertion messages (the end of a long stdout).
    fn report(&self) -> String {
        const KEEP: usize = 3000;
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => "killed by the test's watchdog (petrel did not stop)".to_string(),
        };
        let mut cut = self.stdout.len().saturating_sub(KEEP);
        while !self.stdout.is_char_boundary(cut) {
            cut += 1;
        }
        let omitted = if cut > 0 {
            format!("[... {cut} bytes omitted ...]\n")
        } else {
            String::new()
        };
        format!(
            "{status} after {:.1?}\n--- stdout ---\n{omitted}{}\n--- stderr ---\n{}",
            self.elapsed,
            &self.stdout[cut..],
            self.stderr
        )
    }
}

/// Runs petrel with `args` (which must include `--timeout SECS`). With `input`, stdin is a pipe
/// and `input` is written to it once the guest's ready marker has appeared (bytes typed earlier
/// could be dropped by the guest's tty layer, as on a real serial console); stdin is closed
/// afterwards. Without it, stdin is null.
fn petrel_with(args: &[&str], input: Option<&str>) -> Run {
    let timeout: f64 = args
        .windows(2)
        .find(|w| w[0] == "--timeout")
        .map(|w| w[1].parse().expect("a numeric --timeout"))
        .expect("every boot in this file passes --timeout");
    let limit = Duration::from_secs_f64(timeout) + GRACE;

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("petrel starts");
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out_reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx
                        .send(String::from_utf8_lossy(&line).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });

    let mut out = String::new();
    let mut killed = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if line.contains(READY) {
                    if let (Some(mut pipe), Some(text)) = (stdin.take(), input) {
                        pipe.write_all(text.as_bytes())
                            .expect("write petrel's stdin");
                        // Dropping the pipe closes it: EOF must not end the guest.
                    }
                }
                out.push_str(&line);
            }
            Err(RecvTimeoutError::Timeout) => {}
            // petrel closed its stdout: it has exited (or was killed).
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if !killed && start.elapsed() > limit {
            // Only the child this test started, by its own handle.
            let _ = child.kill();
            killed = true;
        }
    }
    drop(stdin);
    let status = child.wait().expect("wait for petrel");
    let elapsed = start.elapsed();
    out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    Run {
        status: if killed { None } else { Some(status) },
        stdout: out,
        stderr,
        elapsed,
    }
}

fn petrel(args: &[&str]) -> Run {
    petrel_with(args, None)
}

/// Boots the bundled guest quietly and runs `cmd` in it; `extra` options are appended.
fn run_in_guest(cmd: &str, extra: &[&str]) -> Run {
    let mut args = vec!["boot", "--append", QUIET, "--timeout", "60", "--run", cmd];
    args.extend_from_slice(extra);
    petrel(&args)
}

/// Asserts that the guest reached user space and petrel exited with `code`.
fn assert_booted_and_exited(run: &Run, code: i32) {
    assert!(
        run.stdout.contains(READY),
        "no ready marker: {}",
        run.report()
    );
    assert_eq!(run.code(), Some(code), "{}", run.report());
}

/// Asserts a failed run that printed exactly one line, `petrel: ...`, mentioning `needle` —
/// and that it failed by itself, neither by panicking nor by running into `--timeout`.
fn assert_one_line_error(run: &Run, needle: &str) {
    let err = &run.stderr;
    assert!(run.status.is_some(), "{}", run.report());
    assert!(
        !run.status.unwrap().success(),
        "expected failure: {}",
        run.report()
    );
    assert_ne!(run.code(), Some(101), "petrel panicked: {}", run.report());
    assert_ne!(
        run.code(),
        Some(EXIT_TIMEOUT),
        "petrel ran the guest until --timeout instead of rejecting the input: {}",
        run.report()
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "expected one line: {}",
        run.report()
    );
    assert!(err.starts_with("petrel: "), "{}", run.report());
    assert!(
        err.contains(needle),
        "expected {needle:?} in the message: {}",
        run.report()
    );
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn guest_image(name: &str) -> PathBuf {
    manifest_dir().join("guest-images/riscv64").join(name)
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("petrel-boot-linux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

// 1.
#[test]
fn runs_a_command_and_exits_zero() {
    let run = run_in_guest("echo hello; uname -m", &[]);
    assert_booted_and_exited(&run, 0);
    let lines: Vec<&str> = run.lines().collect();
    assert!(lines.contains(&"hello"), "{}", run.report());
    assert!(lines.contains(&"riscv64"), "{}", run.report());
    assert!(lines.contains(&"petrel-guest: exit 0"), "{}", run.report());
    // The marker comes before the command's output.
    let ready = lines.iter().position(|l| l.contains(READY));
    let hello = lines.iter().position(|l| *l == "hello");
    assert!(ready < hello, "{}", run.report());
}

// 2.
#[test]
fn exit_status_reaches_petrel() {
    for (cmd, code) in [("exit 42", 42), ("false", 1), ("kill -9 $$", 137)] {
        let run = run_in_guest(cmd, &[]);
        assert_booted_and_exited(&run, code);
        assert!(
            run.lines().any(|l| l == format!("{GUEST_EXIT} {code}")),
            "{cmd:?}: {}",
            run.report()
        );
    }
}

// 3.
#[test]
fn poweroff_ends_the_run_with_status_zero() {
    let run = run_in_guest("poweroff -f", &[]);
    assert_booted_and_exited(&run, 0);
    assert!(!run.stdout.contains(GUEST_EXIT), "{}", run.report());
}

// 4.
#[test]
fn reboot_restarts_the_guest_until_the_timeout() {
    // Every boot runs `reboot -f` again, so only --timeout ends the run; it limits the whole
    // run, not each boot.
    let run = petrel(&[
        "boot",
        "--append",
        QUIET,
        "--timeout",
        "12",
        "--run",
        "reboot -f",
    ]);
    let boots = run.count(READY);
    assert!(
        run.status.is_some(),
        "--timeout 12 did not end a guest that reboots ({boots} boots in {:.1?}): {}",
        run.elapsed,
        run.report()
    );
    assert_eq!(run.code(), Some(EXIT_TIMEOUT), "{}", run.report());
    assert!(
        boots >= 2,
        "expected the guest to boot again after reboot: {}",
        run.report()
    );
    assert!(!run.stdout.contains(GUEST_EXIT), "{}", run.report());
    assert!(run.stderr.contains("timeout"), "{}", run.report());
}

// 5.
#[test]
fn quoted_command_on_the_kernel_command_line() {
    let append = format!(r#"{QUIET} petrel.cmd="echo one   two""#);
    let run = petrel(&["boot", "--append", &append, "--timeout", "60"]);
    assert_booted_and_exited(&run, 0);
    // The shell word-splits the unquoted words: one space between them.
    assert!(
        run.lines()
            .any(|l| l.split_whitespace().eq(["one", "two"].into_iter())),
        "{}",
        run.report()
    );
}

// 5.
#[test]
fn run_survives_characters_that_are_hard_to_quote() {
    let run = run_in_guest(r#"echo "a'b" $HOME $((6*7)) | tr a-z A-Z"#, &[]);
    assert_booted_and_exited(&run, 0);
    assert!(run.lines().any(|l| l == "A'B /ROOT 42"), "{}", run.report());
}

/// The value of `key` in `key : value` lines (as /proc/cpuinfo and /proc/meminfo write them).
fn field<'a>(run: &'a Run, key: &str) -> &'a str {
    run.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("no {key:?} line: {}", run.report()))
}

// 6.
#[test]
fn guest_sees_the_machine_petrel_describes() {
    let run = run_in_guest(
        "cat /proc/cpuinfo; cat /proc/meminfo | head -1; date +year=%Y",
        &["--memory", "128"],
    );
    assert_booted_and_exited(&run, 0);

    let isa = field(&run, "isa");
    assert!(
        isa.starts_with("rv64imafdc"),
        "isa {isa:?}: {}",
        run.report()
    );
    // Linux probes the widest translation mode the MMU takes.
    let mmu = field(&run, "mmu");
    assert!(
        ["sv39", "sv48", "sv57"].contains(&mmu),
        "mmu {mmu:?}: {}",
        run.report()
    );

    let mem = field(&run, "MemTotal");
    let kib: u64 = mem
        .strip_suffix("kB")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("MemTotal {mem:?}: {}", run.report()));
    assert!(
        kib < 128 << 10 && kib > 100 << 10,
        "MemTotal {kib} kB with --memory 128: {}",
        run.report()
    );

    // The goldfish RTC gives the host's wall-clock time.
    let year: u32 = run
        .lines()
        .find_map(|l| l.strip_prefix("year="))
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| panic!("no year: {}", run.report()));
    assert!(year >= 2025, "guest year {year}: {}", run.report());
}

// 7.
#[test]
fn tinyemu_config_file_boots() {
    let cfg = format!(
        "/* petrel boot_linux test */\n{{\n  version: 1,\n  machine: \"riscv64\",\n  \
         memory_size: 128,\n  kernel: {:?},\n  initrd: {:?},\n  \
         cmdline: \"console=ttyS0 quiet petrel.cmd=true\",\n}}\n",
        s(&guest_image("Image.gz")),
        s(&guest_image("initramfs.cpio.gz")),
    );
    let path = scratch("machine.cfg", cfg.as_bytes());
    let run = petrel(&["boot", s(&path), "--timeout", "60"]);
    assert_booted_and_exited(&run, 0);
    assert!(
        run.lines().any(|l| l == "petrel-guest: exit 0"),
        "the cfg's cmdline did not reach the guest: {}",
        run.report()
    );
}

// 7.
#[test]
fn tinyemu_config_with_a_display_is_refused() {
    let cfg = format!(
        "{{ version: 1, machine: \"riscv64\", memory_size: 128, kernel: {:?}, display0: {{}}, }}\n",
        s(&guest_image("Image.gz")),
    );
    let path = scratch("display.cfg", cfg.as_bytes());
    let run = petrel(&["boot", s(&path), "--timeout", "60"]);
    assert_one_line_error(&run, "display0");
}

// 8. Hostile inputs.

/// `petrel boot --append QUIET --timeout 10` plus `extra`: a bad input must be refused before
/// the guest starts, so the short timeout is only reached when it is not.
fn boot_bad(extra: &[&str]) -> Run {
    let mut args = vec!["boot", "--append", QUIET, "--timeout", "10"];
    args.extend_from_slice(extra);
    petrel(&args)
}

#[test]
fn kernel_that_is_a_text_file() {
    let p = scratch("kernel.txt", b"#!/bin/sh\necho I am not a kernel\n");
    let run = boot_bad(&["--kernel", s(&p)]);
    assert_one_line_error(&run, "not a RISC-V Linux Image");
}

/// The bundled kernel, uncompressed with gzip(1).
fn raw_image() -> Vec<u8> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(guest_image("Image.gz"))
        .stderr(Stdio::inherit())
        .output()
        .expect("gzip runs");
    assert!(out.status.success(), "gzip -dc failed");
    assert_eq!(
        &out.stdout[56..60],
        b"RSC\x05",
        "the bundled Image has no header"
    );
    out.stdout
}

#[test]
fn kernel_that_is_a_truncated_image() {
    // A valid Image header (it declares a ~4 MiB image) followed by almost nothing.
    let image = raw_image();
    let p = scratch("truncated-Image", &image[..1000]);
    let run = boot_bad(&["--kernel", s(&p)]);
    assert_one_line_error(&run, "kernel");
}

#[test]
fn kernel_that_is_a_truncated_gzip_file() {
    let gz = std::fs::read(guest_image("Image.gz")).unwrap();
    let p = scratch("truncated-Image.gz", &gz[..gz.len() / 2]);
    let run = boot_bad(&["--kernel", s(&p)]);
    assert_one_line_error(&run, "truncated-Image.gz");
}

#[test]
fn initrd_larger_than_ram() {
    let p = scratch("big-initrd", &vec![0u8; 20 << 20]);
    let run = boot_bad(&["--memory", "16", "--initrd", s(&p)]);
    let _ = std::fs::remove_file(&p);
    assert_one_line_error(&run, "initrd");
}

#[test]
fn missing_firmware() {
    let run = boot_bad(&["--bios", "/nonexistent/fw.bin"]);
    assert_one_line_error(&run, "/nonexistent/fw.bin");
}

#[test]
fn run_command_longer_than_the_kernel_command_line() {
    let cmd = format!("echo {}", "x".repeat(2000));
    let run = boot_bad(&["--run", &cmd]);
    assert_one_line_error(&run, "command line");
}

#[test]
fn append_without_firmware() {
    let demo = manifest_dir().join("guest-images/demo/demo.elf");
    let run = petrel(&[
        "boot",
        "--bios",
        "none",
        "--append",
        "x",
        "--kernel",
        s(&demo),
        "--timeout",
        "10",
    ]);
    assert_one_line_error(&run, "--append");
}

// 9.
#[test]
fn stdin_reaches_the_guest_shell_through_a_pipe() {
    let run = petrel_with(
        &["boot", "--append", QUIET, "--timeout", "60"],
        Some("echo piped-$((1+2))\npoweroff -f\n"),
    );
    assert_booted_and_exited(&run, 0);
    // The tty echoes the typed line unexpanded; only the shell's output reads `piped-3`.
    assert!(
        run.lines().any(|l| l.ends_with("piped-3")),
        "{}",
        run.report()
    );
}
