//! Bare-metal RISC-V ISA test programs (tests/riscv, see its README.md) run on petrel.
//!
//! Each program in tests/riscv/bin/NAME.elf is booted with
//! `petrel boot --arch riscv64 --bios none --kernel NAME.elf --timeout 20`; its exit status must
//! equal tests/riscv/expected/NAME.status and its stdout must equal tests/riscv/expected/NAME.out
//! byte for byte. Both expected files were recorded on QEMU (`make -C tests/riscv expected`).
//! The programs print one "ok N - group" line per check group and, on the first failed check,
//! "FAIL N - group: check K (line L): expected 0x.. got 0x.." before exiting with status N, so a
//! failure message usually pinpoints the instruction under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// petrel's own --timeout; the harness kills it if it overruns by much more than that.
const GUEST_TIMEOUT_SECS: u64 = 20;
const HARD_TIMEOUT: Duration = Duration::from_secs(GUEST_TIMEOUT_SECS + 40);

fn riscv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("riscv")
}

#[path = "common/process.rs"]
mod process;
use process::Outcome;

fn run_petrel(elf: &Path) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_petrel"));
    cmd.args(["boot", "--arch", "riscv64", "--bios", "none", "--kernel"])
        .arg(elf)
        .args(["--timeout", &GUEST_TIMEOUT_SECS.to_string()]);
    process::run(cmd, HARD_TIMEOUT)
}

/// Line diff (longest common subsequence): "-" lines are expected only, "+" lines petrel only.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let show = |prefix: char, line: &str| {
        let mut s = format!("{prefix} {}", line.trim_end_matches('\n'));
        if !line.ends_with('\n') {
            s.push_str("  (no newline at end)");
        }
        s.push('\n');
        s
    };
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out += &show(' ', a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &show('-', a[i]);
            i += 1;
        } else {
            out += &show('+', b[j]);
            j += 1;
        }
    }
    out
}

fn check_program(name: &str) {
    let dir = riscv_dir();
    let elf = dir.join("bin").join(format!("{name}.elf"));
    let exp_out_path = dir.join("expected").join(format!("{name}.out"));
    let exp_status_path = dir.join("expected").join(format!("{name}.status"));
    let expected_out =
        std::fs::read(&exp_out_path).unwrap_or_else(|e| panic!("{}: {e}", exp_out_path.display()));
    let expected_status: i32 = std::fs::read_to_string(&exp_status_path)
        .unwrap_or_else(|e| panic!("{}: {e}", exp_status_path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", exp_status_path.display()));
    assert!(
        elf.exists(),
        "{} is missing (make -C tests/riscv)",
        elf.display()
    );

    let got = run_petrel(&elf);
    let status_ok = got.status == Some(expected_status);
    let out_ok = got.stdout == expected_out;
    if status_ok && out_ok && !got.timed_out {
        return;
    }
    let mut msg = format!("RISC-V test program {name} ({}) failed:\n", elf.display());
    if got.timed_out {
        msg += &format!("  petrel did not exit within {HARD_TIMEOUT:?} and was killed\n");
    }
    if !status_ok {
        let st = got.status.map_or_else(
            || "none (killed by a signal)".to_string(),
            |s| s.to_string(),
        );
        msg += &format!("  exit status {st}, expected {expected_status}\n");
    }
    if !out_ok {
        msg += "  stdout differs from the QEMU reference (- expected, + petrel):\n";
        msg += &line_diff(
            &String::from_utf8_lossy(&expected_out),
            &String::from_utf8_lossy(&got.stdout),
        );
    }
    if !got.stderr.is_empty() {
        msg += "  petrel stderr:\n";
        let stderr = String::from_utf8_lossy(&got.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let skip = lines.len().saturating_sub(40);
        if skip > 0 {
            msg += &format!("    ... ({skip} lines omitted)\n");
        }
        for l in &lines[skip..] {
            msg += &format!("    {l}\n");
        }
    }
    panic!("{msg}");
}

macro_rules! riscv_programs {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_program(stringify!($name));
            }
        )*
        const PROGRAMS: &[&str] = &[$(stringify!($name)),*];
    };
}

// One test per program in tests/riscv/bin (see tests/riscv/README.md for what each covers).
riscv_programs!(
    rv64i,
    rv64m,
    rv64a,
    rv64f,
    rv64d,
    rvc,
    zb,
    zicond,
    zicsr,
    priv_trap,
    priv_irq,
    pmp,
    vm_sv39,
    vm_sv48,
    vm_sv57,
    htif_rv64ui,
    c_sort,
    c_fpmath,
);

/// Every ELF in tests/riscv/bin has a test above and expected output (so none is forgotten).
#[test]
fn every_program_is_listed() {
    let dir = riscv_dir();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("bin"))
        .expect("tests/riscv/bin")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "elf" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_owned())
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = PROGRAMS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/riscv/bin/*.elf vs the riscv_programs! list"
    );
    for name in PROGRAMS {
        for ext in ["out", "status"] {
            let p = dir.join("expected").join(format!("{name}.{ext}"));
            assert!(
                p.exists(),
                "{} is missing (make -C tests/riscv expected)",
                p.display()
            );
        }
    }
}

#[test]
fn line_diff_marks_changes() {
    let d = line_diff("a\nb\nc\n", "a\nx\nc\n");
    assert_eq!(d, "  a\n- b\n+ x\n  c\n");
    let d = line_diff("a\n", "a\nb");
    assert_eq!(d, "  a\n+ b  (no newline at end)\n");
}
