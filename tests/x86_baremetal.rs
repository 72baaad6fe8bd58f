//! Bare-metal x86 system test programs (tests/x86-baremetal, see its README.md), run on QEMU
//! and on petrel: the exit status and every byte of stdout must be identical.
//!
//! The programs are nasm sources assembled once per test run by tests/x86-baremetal/build.sh
//! into `<CARGO_TARGET_TMPDIR>/x86-baremetal/NAME.elf`: Multiboot v1 ELF32 images entered in
//! 32-bit protected mode, printing through COM1 (and port 0xE9) and ending with an `out` to the
//! isa-debug-exit port 0xF4 (exit status `(value << 1) | 1`). Each runs
//!
//! - on QEMU: [`QEMU_ARGS`] + `-kernel NAME.elf` (TCG, `-cpu max`, COM1 and the 0xE9 debug
//!   console multiplexed onto stdout), which must end through the exit port with the
//!   program's own status (so a broken program cannot pass by hanging or triple-faulting on
//!   both), and
//! - on petrel: `petrel boot --arch x86_64 --bios none --kernel NAME.elf --timeout 20`.
//!
//! Nothing is normalised: QEMU passes the serial bytes through unchanged (no CR is added).
//!
//! Requirements (the tests FAIL, never skip, when they are missing): `nasm` and
//! `qemu-system-x86_64` (QEMU >= 7.2). Debian/Ubuntu: `apt-get install nasm qemu-system-x86`.
//!
//! Environment variables (all optional):
//!   PETREL_X86_QEMU=PATH     the QEMU binary (default: qemu-system-x86_64 on PATH)
//!   PETREL_X86_AGAINST=qemu  compare QEMU with a second QEMU run instead of petrel (checks
//!                            that the programs are deterministic)
//!
//! On a mismatch both outputs are kept next to the ELF as NAME.qemu.out and NAME.petrel.out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Every program in tests/x86-baremetal with the value it writes to the exit port.
const PROGRAMS: &[(&str, u32)] = &[
    ("hello", 0x21),
    ("prot", 0x22),
    ("paging32", 0x23),
    ("pae", 0x24),
    ("long", 0x25),
    ("real", 0x26),
    ("fpu_sse", 0x27),
    ("alu", 0x28),
    ("strings", 0x29),
];

/// QEMU's command line, without `-kernel FILE`.
const QEMU_ARGS: &[&str] = &[
    "-machine",
    "pc",
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-m",
    "128M",
    "-smp",
    "1",
    "-nodefaults",
    "-no-reboot",
    "-display",
    "none",
    "-monitor",
    "none",
    "-chardev",
    "stdio,id=out,mux=on",
    "-serial",
    "chardev:out",
    "-device",
    "isa-debugcon,iobase=0xe9,chardev=out",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=4",
];

/// A program's run on QEMU may take this long (they take well under a second each).
const QEMU_TIMEOUT: Duration = Duration::from_secs(20);
/// petrel's own --timeout; the harness kills it if it overruns by much more than that.
const PETREL_TIMEOUT_SECS: u64 = 20;
const PETREL_HARD_TIMEOUT: Duration = Duration::from_secs(PETREL_TIMEOUT_SECS + 20);

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("x86-baremetal")
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// The QEMU binary; panics (with what to install) when nasm or QEMU is missing.
fn qemu() -> &'static Path {
    static QEMU: OnceLock<PathBuf> = OnceLock::new();
    QEMU.get_or_init(|| {
        let qemu_name =
            std::env::var("PETREL_X86_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".to_string());
        let qemu = find_in_path(&qemu_name);
        let mut missing = Vec::new();
        if find_in_path("nasm").is_none() {
            missing.push("`nasm` (Debian/Ubuntu package nasm)".to_string());
        }
        if qemu.is_none() {
            missing.push(format!(
                "`{qemu_name}` (Debian/Ubuntu package qemu-system-x86; QEMU >= 7.2)"
            ));
        }
        if !missing.is_empty() {
            panic!(
                "the x86 bare-metal tests need nasm and QEMU, but these are not on PATH:\n  - {}\n\
                 Install them (`sudo apt-get install nasm qemu-system-x86`; CI installs both) \
                 or point PETREL_X86_QEMU at QEMU. These tests never skip silently.",
                missing.join("\n  - ")
            );
        }
        qemu.unwrap()
    })
}

/// Builds all programs once (tests/x86-baremetal/build.sh); returns the output directory.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        qemu();
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("x86-baremetal");
        let script = src_dir().join("build.sh");
        let result = Command::new("sh")
            .arg(&script)
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if !result.status.success() {
            panic!(
                "{} {} failed ({}):\n{}{}",
                script.display(),
                out.display(),
                result.status,
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            );
        }
        out
    })
}

#[path = "common/process.rs"]
mod process;
use process::{run, Outcome};

fn run_qemu(elf: &Path) -> Outcome {
    let mut cmd = Command::new(qemu());
    cmd.args(QEMU_ARGS).arg("-kernel").arg(elf);
    run(cmd, QEMU_TIMEOUT)
}

fn qemu_command_line(elf: &Path) -> String {
    let mut parts: Vec<OsString> = vec![qemu().as_os_str().to_owned()];
    parts.extend(QEMU_ARGS.iter().map(OsString::from));
    parts.push("-kernel".into());
    parts.push(elf.as_os_str().to_owned());
    parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_petrel(elf: &Path) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_petrel"));
    cmd.args(["boot", "--arch", "x86_64", "--bios", "none", "--kernel"])
        .arg(elf)
        .args(["--timeout", &PETREL_TIMEOUT_SECS.to_string()]);
    run(cmd, PETREL_HARD_TIMEOUT)
}

/// The lines around the first difference between two outputs.
fn first_difference(a: &[u8], b: &[u8], a_name: &str, b_name: &str) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    let al: Vec<&str> = a.split_inclusive('\n').collect();
    let bl: Vec<&str> = b.split_inclusive('\n').collect();
    let i = al
        .iter()
        .zip(bl.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(al.len().min(bl.len()));
    let from = i.saturating_sub(5);
    let mut s = format!("first difference at line {}:\n", i + 1);
    for (name, lines) in [(a_name, &al), (b_name, &bl)] {
        s += &format!("--- {name} (lines {}..):\n", from + 1);
        let end = (i + 6).min(lines.len());
        for (n, line) in lines.iter().enumerate().take(end).skip(from) {
            let mark = if n == i { ">" } else { " " };
            s += &format!("{mark}{:4} {}", n + 1, line.escape_debug());
            s.push('\n');
        }
        if i >= lines.len() {
            s += &format!(" (ends after {} lines)\n", lines.len());
        }
    }
    s
}

fn check(name: &str) {
    let exit_value = PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{name} is not in PROGRAMS"));
    let expected_status = ((exit_value << 1) | 1) as i32;
    let dir = built();
    let elf = dir.join(format!("{name}.elf"));

    let q = run_qemu(&elf);
    let q_text = String::from_utf8_lossy(&q.stdout);
    assert!(
        q.status == Some(expected_status) && !q.timed_out && q_text.ends_with("done\n"),
        "{name}.elf did not end through QEMU's exit port with status {expected_status} after \
         printing \"done\": the test program (or QEMU) is broken, not petrel.\n{}\n\
         command: {}\n--- QEMU stdout ---\n{q_text}",
        q.describe("QEMU", QEMU_TIMEOUT),
        qemu_command_line(&elf)
    );

    let against_qemu = matches!(
        std::env::var("PETREL_X86_AGAINST")
            .as_deref()
            .map(str::trim),
        Ok("qemu")
    );
    let (other_name, other, limit) = if against_qemu {
        ("qemu#2", run_qemu(&elf), QEMU_TIMEOUT)
    } else {
        ("petrel", run_petrel(&elf), PETREL_HARD_TIMEOUT)
    };
    if other.stdout != q.stdout || other.status != q.status || other.timed_out {
        let qemu_out = dir.join(format!("{name}.qemu.out"));
        let other_out = dir.join(format!("{name}.{other_name}.out"));
        let _ = std::fs::write(&qemu_out, &q.stdout);
        let _ = std::fs::write(&other_out, &other.stdout);
        let stdout_verdict = if other.stdout == q.stdout {
            "stdout is identical".to_string()
        } else {
            first_difference(&q.stdout, &other.stdout, "QEMU", other_name)
        };
        panic!(
            "{name}: {other_name} differs from QEMU\n{}\n{}\n{stdout_verdict}\n\
             outputs kept in {} and {}\nQEMU: {}\n{other_name}: {}",
            q.describe("QEMU", QEMU_TIMEOUT),
            other.describe(other_name, limit),
            qemu_out.display(),
            other_out.display(),
            qemu_command_line(&elf),
            if against_qemu {
                "(the same)".to_string()
            } else {
                format!(
                    "{} boot --arch x86_64 --bios none --kernel {} --timeout {PETREL_TIMEOUT_SECS}",
                    env!("CARGO_BIN_EXE_petrel"),
                    elf.display()
                )
            }
        );
    }
}

#[test]
fn x86_hello() {
    check("hello");
}

#[test]
fn x86_prot() {
    check("prot");
}

#[test]
fn x86_paging32() {
    check("paging32");
}

#[test]
fn x86_pae() {
    check("pae");
}

#[test]
fn x86_long() {
    check("long");
}

#[test]
fn x86_real() {
    check("real");
}

#[test]
fn x86_fpu_sse() {
    check("fpu_sse");
}

#[test]
fn x86_alu() {
    check("alu");
}

#[test]
fn x86_strings() {
    check("strings");
}

/// build.sh, the sources and [`PROGRAMS`] name the same programs, and their EXIT_CODEs agree.
#[test]
fn x86_program_list_is_complete() {
    let dir = src_dir();
    let script = std::fs::read_to_string(dir.join("build.sh")).expect("reading build.sh");
    let listed: Vec<&str> = script
        .lines()
        .find_map(|l| l.strip_prefix("PROGRAMS=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("build.sh has a PROGRAMS=\"...\" line")
        .split_whitespace()
        .collect();
    let ours: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        listed, ours,
        "build.sh PROGRAMS and this file's PROGRAMS differ"
    );
    let mut sources: Vec<String> = std::fs::read_dir(&dir)
        .expect("reading tests/x86-baremetal")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".asm").map(str::to_string))
        .collect();
    sources.sort();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sources, sorted, "every NAME.asm must be a listed program");
    for (name, value) in PROGRAMS {
        let src = std::fs::read_to_string(dir.join(format!("{name}.asm"))).unwrap();
        let line = format!("%define EXIT_CODE {value:#x}");
        assert!(src.contains(&line), "{name}.asm should contain `{line}`");
    }
}
