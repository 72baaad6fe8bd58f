//! Differential random-instruction test for the RISC-V interpreter.
//!
//! Random bare-metal RV64GC + Zba/Zbb/Zbs programs (generator: tests/common/rvgen.rs) are
//! assembled with the riscv64-unknown-elf toolchain and run on QEMU (`virt`, `-bios none`) and
//! on petrel (`petrel boot --arch riscv64 --bios none --kernel PROG.elf --timeout 20`). Each
//! program prints a line per trap (mcause, mepc relative to `_start`, mtval) and at the end all
//! x and f registers, a result log (the destination registers of ~40% of the instructions,
//! stored as they were written), fcsr, mscratch, the trap count and a hexdump of its 4 KiB data
//! area over the UART; the two outputs must be identical.
//!
//! QEMU 7.2 behaviours the programs rely on (petrel must match them): misaligned LR raises a
//! load-address-misaligned trap (cause 4, mtval = address); mtval of an illegal-instruction
//! trap holds the instruction bits; a failed SC writes 1; fmin/fmax follow the 2019
//! (minimumNumber) rules; an improperly NaN-boxed single reads as the canonical NaN; misaligned
//! scalar loads/stores are emulated (generated only with PETREL_DIFF_MISALIGNED=1). mtval of
//! ebreak/c.ebreak may be 0 (QEMU) or the ebreak's address: outputs are normalised to
//! `mtval=0|mepc` before comparing. QEMU 7.2 bugs the generator avoids (misaligned AMO/SC trap
//! causes, csrrs/csrrc on read-only CSRs with a zero register, ctzw with a zero low word) are
//! listed at the top of tests/common/rvgen.rs.
//!
//! Requirements (the tests FAIL, never skip, when they are missing):
//!   riscv64-unknown-elf-gcc (with binutils >= 2.38) and qemu-system-riscv64 (>= 7.2).
//!   Debian/Ubuntu: `apt-get install gcc-riscv64-unknown-elf qemu-system-misc`
//!
//! Tests:
//! - `riscv_diff_ci`: fixed seeds 1..=24 (profiles cycle through mixed/fp/int/mem/rvc),
//!   1500 items each, run in CI.
//! - `riscv_diff_soak` (ignored by default): long runs, see scripts/riscv-diff-soak, e.g.
//!   `PETREL_DIFF_SEEDS=10000 PETREL_DIFF_START=1000000 cargo test --test riscv_diff -- --ignored riscv_diff_soak --nocapture`
//! - generator self-tests (`common::rvgen::tests::*`): no toolchain needed.
//!
//! Environment variables (all optional):
//!   PETREL_DIFF_SEEDS=N       soak: number of seeds (default 200)
//!   PETREL_DIFF_START=S       soak: first seed (default 1000000); a single failing seed from
//!                             any run is reproduced with PETREL_DIFF_START=seed PETREL_DIFF_SEEDS=1
//!   PETREL_DIFF_ITEMS=N       body items per program (default 1500)
//!   PETREL_DIFF_JOBS=N        parallel seeds (default 2)
//!   PETREL_DIFF_VERBOSE=1     CI test: print a line per seed (with --nocapture)
//!   PETREL_DIFF_MISALIGNED=1  also generate misaligned scalar loads/stores (QEMU emulates them;
//!                             only meaningful if petrel does too)
//!   PETREL_DIFF_AGAINST=qemu  run QEMU twice instead of QEMU vs petrel (validates the
//!                             generator's determinism while petrel cannot run yet)
//!   PETREL_DIFF_BISECT=N      bisect the first N failing seeds down to the first differing
//!                             item (default 3; 0 = off); each bisection stops after 90 s
//!   PETREL_DIFF_MAX_FAILS=N   soak: stop starting new seeds after N failures (default 10)
//!   PETREL_DIFF_KEEP=1        keep the work directories of passing seeds too
//!   PETREL_DIFF_DIR=PATH      work directory (default: <target>/tmp/riscv-diff)
//!   PETREL_DIFF_GCC, PETREL_DIFF_QEMU, PETREL_DIFF_PETREL: override tool paths
//!
//! On a mismatch the failure message gives the seed, the first differing output line, the
//! item that wrote a differing result-log slot, an objdump excerpt for differing trap lines,
//! the first body item whose addition makes the outputs differ (by bisecting over prefixes of
//! the body, for the first few failing seeds) with its source context, the paths of the kept
//! .S/.elf/output files (`<dir>/seed-N/`, also min.S = the bisected prefix), and a command line
//! that reproduces it. If petrel times out on 3 seeds the remaining seeds are not started.

mod common;

use common::rvgen::{self, Config, Program};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CI_SEEDS: std::ops::RangeInclusive<u64> = 1..=24;
const DEFAULT_ITEMS: usize = 1500;
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
const BISECT_TIME: Duration = Duration::from_secs(90);
/// Stop starting new seeds after this many runs of the compared emulator timed out.
const MAX_TIMEOUTS: usize = 3;
/// 0x8000_0000: where the linker script puts `_start`.
const LOAD_ADDR: u64 = 0x8000_0000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("environment variable {name}={v:?} is not a valid value")),
        _ => default,
    }
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref().map(str::trim),
        Ok("1" | "true" | "yes" | "on")
    )
}

// ------------------------------------------------------------------------------------------
// Tools
// ------------------------------------------------------------------------------------------

struct Tools {
    gcc: PathBuf,
    qemu: PathBuf,
    objdump: Option<PathBuf>,
    /// First line of `qemu-system-riscv64 --version`.
    qemu_version: String,
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

fn tools() -> Tools {
    let gcc_name =
        std::env::var("PETREL_DIFF_GCC").unwrap_or_else(|_| "riscv64-unknown-elf-gcc".into());
    let qemu_name =
        std::env::var("PETREL_DIFF_QEMU").unwrap_or_else(|_| "qemu-system-riscv64".into());
    let gcc = find_in_path(&gcc_name);
    let qemu = find_in_path(&qemu_name);
    let mut missing = Vec::new();
    if gcc.is_none() {
        missing.push(format!("`{gcc_name}` (Debian/Ubuntu package gcc-riscv64-unknown-elf, which pulls in binutils-riscv64-unknown-elf)"));
    }
    if qemu.is_none() {
        missing.push(format!(
            "`{qemu_name}` (Debian/Ubuntu package qemu-system-misc; QEMU >= 7.2)"
        ));
    }
    if !missing.is_empty() {
        panic!(
            "riscv_diff needs a RISC-V cross toolchain and QEMU, but these are not on PATH:\n  - {}\n\
             Install them, e.g. `sudo apt-get install gcc-riscv64-unknown-elf qemu-system-misc`,\n\
             or point PETREL_DIFF_GCC / PETREL_DIFF_QEMU at them. This test never skips silently.",
            missing.join("\n  - ")
        );
    }
    let gcc = gcc.unwrap();
    let objdump = gcc
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| gcc.with_file_name(n.replace("gcc", "objdump")))
        .filter(|p| p.is_file());
    let qemu = qemu.unwrap();
    let qemu_version = Command::new(&qemu)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    Tools {
        gcc,
        qemu,
        objdump,
        qemu_version,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Other {
    Petrel,
    /// QEMU again: determinism check of the generator + QEMU, used before petrel can run.
    Qemu,
}

impl Other {
    fn name(self) -> &'static str {
        match self {
            Other::Petrel => "petrel",
            Other::Qemu => "qemu#2",
        }
    }
}

struct Ctx {
    tools: Tools,
    other: Other,
    petrel: PathBuf,
    items: usize,
    misaligned: bool,
    /// Failing seeds that may still be bisected.
    bisects_left: AtomicUsize,
    keep: bool,
    workdir: PathBuf,
    /// Command that reruns one seed with the current settings (for failure messages).
    repro: String,
}

impl Ctx {
    fn from_env(default_items: usize) -> Ctx {
        let tools = tools();
        let other = match std::env::var("PETREL_DIFF_AGAINST")
            .as_deref()
            .map(str::trim)
        {
            Ok("qemu") => Other::Qemu,
            Ok("petrel") | Ok("") | Err(_) => Other::Petrel,
            Ok(v) => panic!("PETREL_DIFF_AGAINST={v:?}: expected `petrel` or `qemu`"),
        };
        let petrel = std::env::var_os("PETREL_DIFF_PETREL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_petrel")));
        let items = env_or("PETREL_DIFF_ITEMS", default_items);
        let misaligned = env_flag("PETREL_DIFF_MISALIGNED");
        let workdir = std::env::var_os("PETREL_DIFF_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("target/tmp"))
                    .join("riscv-diff")
            });
        std::fs::create_dir_all(&workdir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", workdir.display()));
        let mut repro = String::new();
        if items != DEFAULT_ITEMS {
            repro += &format!("PETREL_DIFF_ITEMS={items} ");
        }
        if misaligned {
            repro += "PETREL_DIFF_MISALIGNED=1 ";
        }
        if other == Other::Qemu {
            repro += "PETREL_DIFF_AGAINST=qemu ";
        }
        Ctx {
            tools,
            other,
            petrel,
            items,
            misaligned,
            bisects_left: AtomicUsize::new(env_or("PETREL_DIFF_BISECT", 3usize)),
            keep: env_flag("PETREL_DIFF_KEEP"),
            workdir,
            repro,
        }
    }

    fn config(&self, seed: u64) -> Config {
        let mut c = Config::new(seed, self.items);
        c.misaligned = self.misaligned;
        c
    }
}

// ------------------------------------------------------------------------------------------
// Building and running
// ------------------------------------------------------------------------------------------

struct RunResult {
    stdout: String,
    stderr: String,
    /// None when killed after the timeout.
    code: Option<i32>,
    elapsed: Duration,
}

impl RunResult {
    fn describe(&self) -> String {
        match self.code {
            None => format!("timed out after {:.1?}", self.elapsed),
            Some(c) => format!("exit code {c}"),
        }
    }

    fn complete(&self) -> bool {
        self.code == Some(0) && self.stdout.ends_with("end\n")
    }
}

/// Keep at most this much of a child's stdout/stderr (a runaway guest can print forever).
const OUTPUT_CAP: usize = 16 << 20;

fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return v,
                Ok(n) if v.len() < OUTPUT_CAP => v.extend_from_slice(&buf[..n]),
                Ok(_) => {}
            }
        }
    })
}

/// Runs `cmd` in its own process group (so a wrapper script and its children can be killed
/// together) and kills the group after `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<RunResult, String> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {desc}: {e}"))?;
    let t_out = drain(child.stdout.take().unwrap());
    let t_err = drain(child.stderr.take().unwrap());
    let code = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st.code().unwrap_or(-1)),
            Ok(None) if start.elapsed() > timeout => {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg("--")
                    .arg(format!("-{}", child.id()))
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(3)),
            Err(e) => return Err(format!("waiting for {desc}: {e}")),
        }
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    Ok(RunResult {
        stdout,
        stderr,
        code,
        elapsed,
    })
}

/// Writes `<dir>/<name>.S` and links `<dir>/<name>.elf`.
fn build(ctx: &Ctx, dir: &Path, name: &str, source: &str) -> Result<PathBuf, String> {
    let src = dir.join(format!("{name}.S"));
    let elf = dir.join(format!("{name}.elf"));
    let ld = dir.join("link.ld");
    std::fs::write(&src, source).map_err(|e| format!("writing {}: {e}", src.display()))?;
    std::fs::write(&ld, rvgen::LINKER_SCRIPT)
        .map_err(|e| format!("writing {}: {e}", ld.display()))?;
    let mut cmd = Command::new(&ctx.tools.gcc);
    cmd.arg(format!("-march={}", rvgen::MARCH))
        .arg(format!("-mabi={}", rvgen::MABI))
        .args([
            "-nostdlib",
            "-nostartfiles",
            "-static",
            "-Wl,--no-relax",
            "-T",
        ])
        .arg(&ld)
        .arg("-o")
        .arg(&elf)
        .arg(&src);
    let r = run_with_timeout(cmd, Duration::from_secs(60))?;
    if r.code != Some(0) {
        return Err(format!(
            "assembling {} failed ({}): generator bug or unsupported toolchain\n{}",
            src.display(),
            r.describe(),
            r.stderr.lines().take(30).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(elf)
}

fn qemu_cmd(ctx: &Ctx, elf: &Path) -> Command {
    let mut cmd = Command::new(&ctx.tools.qemu);
    cmd.args([
        "-machine", "virt", "-cpu", "rv64", "-smp", "1", "-m", "128M", "-bios", "none",
    ])
    .args([
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
    ])
    .arg(elf);
    cmd
}

fn petrel_cmd(ctx: &Ctx, elf: &Path) -> Command {
    let mut cmd = Command::new(&ctx.petrel);
    cmd.args(["boot", "--arch", "riscv64", "--bios", "none", "--kernel"])
        .arg(elf)
        .args(["--timeout", "20"]);
    cmd
}

fn run_qemu(ctx: &Ctx, elf: &Path) -> Result<RunResult, String> {
    let mut r = run_with_timeout(qemu_cmd(ctx, elf), RUN_TIMEOUT)?;
    r.stdout = normalize(&r.stdout);
    Ok(r)
}

fn run_other(ctx: &Ctx, elf: &Path) -> Result<RunResult, String> {
    match ctx.other {
        Other::Qemu => run_qemu(ctx, elf),
        Other::Petrel => {
            let mut r = run_with_timeout(petrel_cmd(ctx, elf), RUN_TIMEOUT)?;
            r.stdout = normalize(&r.stdout);
            Ok(r)
        }
    }
}

/// Hides implementation-defined differences the privileged spec allows:
/// - breakpoint (mcause 3) mtval: either 0 (QEMU 7.2) or the address of the ebreak is
///   allowed; both print as `mtval=0|mepc` (any other value is still a difference).
fn normalize(out: &str) -> String {
    let mut r = String::with_capacity(out.len());
    for line in out.split_inclusive('\n') {
        if let (Some(rest), Some(off)) = (
            line.strip_prefix("trap mcause=0000000000000003 "),
            trap_offset(line),
        ) {
            let mepc = format!("{:016x}", LOAD_ADDR + off);
            if let Some(i) = rest.find("mtval=") {
                let val = rest[i + 6..].trim_end();
                if val == "0000000000000000" || val == mepc {
                    r += "trap mcause=0000000000000003 ";
                    r += &rest[..i];
                    r += "mtval=0|mepc";
                    r += if line.ends_with('\n') { "\n" } else { "" };
                    continue;
                }
            }
        }
        r += line;
    }
    r
}

/// Structure check of a reference (QEMU) output: catches generator bugs.
fn check_reference(out: &RunResult) -> Result<(), String> {
    if !out.complete() {
        return Err(format!(
            "QEMU did not complete the program ({}); stderr: {}",
            out.describe(),
            out.stderr.trim()
        ));
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    let ok = count("registers") == 1
        && count("x") == 31
        && count("f") == 33 // f0..f31 + fcsr
        && count("mem ") == 128
        && count("traps ") == 1
        && !out.stdout.contains("trap storm");
    if !ok {
        return Err("QEMU output is malformed (generator bug?)".into());
    }
    Ok(())
}

fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some((
                    n,
                    x.unwrap_or("<end of output>").to_string(),
                    y.unwrap_or("<end of output>").to_string(),
                ))
            }
        }
    }
}

/// Up to 8 differing line pairs when both outputs have the same shape, else the first lines
/// of each side from the first difference on.
fn diff_excerpt(a: &str, b: &str, other: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut r = String::new();
    if la.len() == lb.len() {
        let pairs: Vec<(&&str, &&str)> = la.iter().zip(lb.iter()).filter(|(x, y)| x != y).collect();
        r += &format!("  differing lines ({} in all):\n", pairs.len());
        for (x, y) in pairs.iter().take(8) {
            r += &format!("    qemu:   {x}\n    {other}: {y}\n");
        }
    } else {
        let first = la.iter().zip(lb.iter()).take_while(|(x, y)| x == y).count();
        r += &format!(
            "  outputs have {} vs {} lines; from line {}:\n",
            la.len(),
            lb.len(),
            first + 1
        );
        for (who, v) in [("qemu", &la), (other, &lb)] {
            for l in v.iter().skip(first).take(4) {
                r += &format!("    {who}: {l}\n");
            }
        }
    }
    r
}

fn trap_count(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("trap ")).count()
}

/// For a differing `log NNNN: w w w w` line pair: the first differing slot and the item that
/// writes it.
fn log_culprit(program: &Program, la: &str, lb: &str) -> Option<String> {
    let base = usize::from_str_radix(la.strip_prefix("log ")?.get(..4)?, 16).ok()?;
    let wa = la.split(':').nth(1)?.split_whitespace();
    let wb: Vec<&str> = lb.split(':').nth(1)?.split_whitespace().collect();
    let k = wa.zip(wb.iter()).position(|(x, y)| x != *y)?;
    let slot = base + k;
    let item = *program.log_items.get(slot)?;
    let it = &program.items[item];
    let mut r = format!(
        "  result-log slot {slot} differs; it is written by item [{item}] ({}):
",
        it.group.name()
    );
    for l in &it.lines {
        r += &format!("      {}\n", l.trim());
    }
    Some(r)
}

/// `mepc=+XXXXXXXX` of a trap line.
fn trap_offset(line: &str) -> Option<u64> {
    let i = line.find("mepc=+")?;
    u64::from_str_radix(line.get(i + 6..i + 14)?, 16).ok()
}

fn objdump_around(ctx: &Ctx, elf: &Path, off: u64) -> String {
    let Some(objdump) = &ctx.tools.objdump else {
        return String::new();
    };
    let addr = LOAD_ADDR + off;
    let mut cmd = Command::new(objdump);
    cmd.args(["-d", "-M", "no-aliases"])
        .arg(format!("--start-address={:#x}", addr.saturating_sub(16)))
        .arg(format!("--stop-address={:#x}", addr + 12))
        .arg(elf);
    match run_with_timeout(cmd, Duration::from_secs(20)) {
        Ok(r) => r
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('8') && l.contains(":\t"))
            .map(|l| {
                let here = u64::from_str_radix(l.trim().split(':').next().unwrap_or(""), 16).ok()
                    == Some(addr);
                format!("      {} {l}\n", if here { "=>" } else { "  " })
            })
            .collect(),
        Err(_) => String::new(),
    }
}

/// Build and run one rendering on both sides.
fn run_pair(
    ctx: &Ctx,
    dir: &Path,
    name: &str,
    source: &str,
) -> Result<(PathBuf, RunResult, RunResult), String> {
    let elf = build(ctx, dir, name, source)?;
    let a = run_qemu(ctx, &elf)?;
    let b = run_other(ctx, &elf)?;
    Ok((elf, a, b))
}

fn same(a: &RunResult, b: &RunResult) -> bool {
    a.stdout == b.stdout && a.complete() && b.complete()
}

// ------------------------------------------------------------------------------------------
// One seed
// ------------------------------------------------------------------------------------------

struct Outcome {
    seed: u64,
    failure: Option<String>,
    traps: usize,
    qemu_time: Duration,
    other_time: Duration,
    /// The compared emulator was killed after the timeout.
    other_timed_out: bool,
}

fn run_seed(ctx: &Ctx, seed: u64) -> Outcome {
    let mut o = Outcome {
        seed,
        failure: None,
        traps: 0,
        qemu_time: Duration::ZERO,
        other_time: Duration::ZERO,
        other_timed_out: false,
    };
    let dir = ctx.workdir.join(format!("seed-{seed}"));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        o.failure = Some(format!("seed {seed}: cannot create {}: {e}", dir.display()));
        return o;
    }
    let program = rvgen::generate(seed, &ctx.config(seed));
    let rendered = program.render();
    let res = run_pair(ctx, &dir, "prog", &rendered.source);
    let (elf, a, b) = match res {
        Ok(x) => x,
        Err(e) => {
            o.failure = Some(format!("seed {seed}: {e}"));
            return o;
        }
    };
    o.qemu_time = a.elapsed;
    o.other_time = b.elapsed;
    o.other_timed_out = b.code.is_none() || (ctx.other == Other::Petrel && b.code == Some(124));
    o.traps = trap_count(&a.stdout);
    let _ = std::fs::write(dir.join("qemu.out"), &a.stdout);
    let _ = std::fs::write(dir.join(format!("{}.out", ctx.other.name())), &b.stdout);
    if let Err(e) = check_reference(&a) {
        o.failure = Some(format!(
            "seed {seed}: {e}\n  source: {}\n  output: {}",
            dir.join("prog.S").display(),
            dir.join("qemu.out").display()
        ));
        return o;
    }
    if same(&a, &b) {
        if !ctx.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return o;
    }
    o.failure = Some(mismatch_report(ctx, &program, &dir, &elf, &a, &b));
    o
}

fn mismatch_report(
    ctx: &Ctx,
    program: &Program,
    dir: &Path,
    elf: &Path,
    a: &RunResult,
    b: &RunResult,
) -> String {
    let seed = program.seed;
    let other = ctx.other.name();
    let mut r = format!(
        "seed {seed} (profile {}, {} items): qemu and {other} differ\n",
        program.config.profile.name(),
        program.items.len()
    );
    if !b.complete() {
        r += &format!("  {other} did not complete the program: {}\n", b.describe());
        let err: Vec<&str> = b.stderr.lines().collect();
        if !err.is_empty() {
            r += &format!("  {other} stderr (last lines):\n");
            for l in &err[err.len().saturating_sub(8)..] {
                r += &format!("    {l}\n");
            }
        }
    }
    if let Some((n, la, lb)) = first_difference(&a.stdout, &b.stdout) {
        r += &format!(
            "  first difference at output line {n}:\n    qemu:   {la}\n    {other}: {lb}\n"
        );
        for (who, line) in [("qemu", &la), (other, &lb)] {
            if let Some(off) = trap_offset(line) {
                r += &format!(
                    "  instruction at the {who} trap (_start+{off:#x}):\n{}",
                    objdump_around(ctx, elf, off)
                );
            }
        }
        if let Some(c) = log_culprit(program, &la, &lb) {
            r += &c;
        }
    } else {
        r += "  outputs are identical but a run did not complete\n";
    }
    let may_bisect = ctx
        .bisects_left
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if may_bisect {
        r += &bisect(ctx, program, dir);
    } else {
        r += "  (not bisected: PETREL_DIFF_BISECT limit reached)\n";
    }
    r += &format!(
        "  files: {0}/prog.S  {0}/prog.elf  {0}/qemu.out  {0}/{other}.out\n  reproduce: {1}PETREL_DIFF_START={seed} PETREL_DIFF_SEEDS=1 \
         cargo test --test riscv_diff -- --ignored riscv_diff_soak --nocapture\n",
        dir.display(),
        ctx.repro
    );
    r
}

/// Finds the shortest body prefix whose outputs differ (assuming the empty body matches and
/// the full body does not): the last item of that prefix is where the behaviours diverge.
fn bisect(ctx: &Ctx, program: &Program, dir: &Path) -> String {
    let deadline = Instant::now() + BISECT_TIME;
    let differs = |n: usize| -> Result<bool, String> {
        let src = program.render_prefix(n).source;
        let (_, a, b) = run_pair(ctx, dir, "bisect", &src)?;
        Ok(!same(&a, &b))
    };
    match differs(0) {
        Ok(true) => return "  bisect: even the empty body differs (prologue/epilogue/trap handler/UART/finisher)\n".into(),
        Err(e) => return format!("  bisect failed: {e}\n"),
        Ok(false) => {}
    }
    let (mut lo, mut hi) = (0usize, program.items.len());
    while hi - lo > 1 {
        if Instant::now() > deadline {
            return format!(
                "  bisect stopped after {BISECT_TIME:?}: the first {lo} items match, the first {hi} differ \
                 (items [{lo}]..[{}])\n",
                hi - 1
            );
        }
        let mid = lo + (hi - lo) / 2;
        match differs(mid) {
            Ok(true) => hi = mid,
            Ok(false) => lo = mid,
            Err(e) => return format!("  bisect failed: {e}\n"),
        }
    }
    let min = program.render_prefix(hi);
    let min_path = dir.join("min.S");
    let _ = std::fs::write(&min_path, &min.source);
    let mut r = String::new();
    let culprit = &program.items[hi - 1];
    r += &format!(
        "  bisect: the first {lo} items match, {hi} differ -> item [{}] ({}):\n",
        hi - 1,
        culprit.group.name()
    );
    for l in &culprit.lines {
        r += &format!("      {}\n", l.trim());
    }
    // source context: a few items before the culprit
    let src_lines: Vec<&str> = min.source.lines().collect();
    let start = min.item_lines[(hi - 1).saturating_sub(4)] - 1;
    let end = (min.item_lines[hi - 1] + culprit.lines.len()).min(src_lines.len());
    r += &format!(
        "  context ({} lines {}..{}):\n",
        min_path.display(),
        start + 1,
        end
    );
    for (i, l) in src_lines[start..end].iter().enumerate() {
        r += &format!("    {:5} {l}\n", start + 1 + i);
    }
    // the difference of the minimal program
    if let Ok((elf, a, b)) = run_pair(ctx, dir, "min", &min.source) {
        let _ = std::fs::write(dir.join("min.qemu.out"), &a.stdout);
        let _ = std::fs::write(dir.join(format!("min.{}.out", ctx.other.name())), &b.stdout);
        if let Some((n, la, lb)) = first_difference(&a.stdout, &b.stdout) {
            r += &format!(
                "  minimal program ({}): first difference at output line {n}:\n    qemu:   {la}\n    {}: {lb}\n",
                elf.display(),
                ctx.other.name()
            );
            if let Some(c) = log_culprit(program, &la, &lb) {
                r += &c;
            }
        }
        r += &diff_excerpt(&a.stdout, &b.stdout, ctx.other.name());
    }
    r
}

// ------------------------------------------------------------------------------------------
// Seed sets
// ------------------------------------------------------------------------------------------

fn run_seeds(ctx: &Ctx, seeds: Vec<u64>, max_fails: usize, verbose: bool) -> Vec<Outcome> {
    let jobs = env_or("PETREL_DIFF_JOBS", 2usize).max(1);
    let next = AtomicUsize::new(0);
    let fails = AtomicUsize::new(0);
    let timeouts = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                // a hanging emulator would make every seed wait for the timeout: give up early
                if fails.load(Ordering::Relaxed) >= max_fails || timeouts.load(Ordering::Relaxed) >= MAX_TIMEOUTS {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { return };
                let o = run_seed(ctx, seed);
                if o.failure.is_some() {
                    fails.fetch_add(1, Ordering::Relaxed);
                }
                if o.other_timed_out {
                    timeouts.fetch_add(1, Ordering::Relaxed);
                }
                if verbose || o.failure.is_some() {
                    eprintln!(
                        "riscv_diff: seed {seed:>8} {:<5} {:<4} traps={:<4} qemu={:>5.0?} {}={:>5.0?}  [{}/{} {:.0?}]",
                        rvgen::Profile::for_seed(seed).name(),
                        if o.failure.is_some() { "FAIL" } else { "ok" },
                        o.traps,
                        o.qemu_time,
                        ctx.other.name(),
                        o.other_time,
                        i + 1,
                        seeds.len(),
                        started.elapsed()
                    );
                }
                results.lock().unwrap().push(o);
            });
        }
    });
    let mut v = results.into_inner().unwrap();
    v.sort_by_key(|o| o.seed);
    v
}

fn summarize(ctx: &Ctx, outcomes: &[Outcome], wanted: usize) {
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.failure.as_ref()).collect();
    let traps: usize = outcomes.iter().map(|o| o.traps).sum();
    eprintln!(
        "riscv_diff: {} of {wanted} seeds run ({} items each, qemu vs {}), {} failed, {traps} traps compared [{}]",
        outcomes.len(),
        ctx.items,
        ctx.other.name(),
        failures.len(),
        ctx.tools.qemu_version
    );
    if !failures.is_empty() {
        let seeds: Vec<String> = outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .map(|o| o.seed.to_string())
            .collect();
        let stopped = if outcomes.len() < wanted {
            format!(
                " (stopped after {} of {wanted} seeds: too many failures or timeouts)",
                outcomes.len()
            )
        } else {
            String::new()
        };
        let shown: Vec<String> = failures.iter().take(5).map(|s| s.to_string()).collect();
        panic!(
            "{} of {} seeds failed{stopped}: {}\n(reference: {})\n{}\n{}",
            failures.len(),
            outcomes.len(),
            seeds.join(" "),
            ctx.tools.qemu_version,
            if failures.len() > 5 {
                "first 5 reports:"
            } else {
                ""
            },
            shown.join("\n")
        );
    }
    assert_eq!(outcomes.len(), wanted, "not every seed was run");
}

/// CI: fixed seeds, all profiles.
#[test]
fn riscv_diff_ci() {
    let ctx = Ctx::from_env(DEFAULT_ITEMS);
    let seeds: Vec<u64> = CI_SEEDS.collect();
    let n = seeds.len();
    let outcomes = run_seeds(&ctx, seeds, usize::MAX, env_flag("PETREL_DIFF_VERBOSE"));
    summarize(&ctx, &outcomes, n);
    // the trap path must actually be exercised
    assert!(
        outcomes.iter().map(|o| o.traps).sum::<usize>() > 0,
        "no traps in the CI seed set"
    );
}

/// Long local runs: PETREL_DIFF_SEEDS seeds from PETREL_DIFF_START (see the top of the file).
#[test]
#[ignore = "long-running soak; run with --ignored (see scripts/riscv-diff-soak)"]
fn riscv_diff_soak() {
    let ctx = Ctx::from_env(DEFAULT_ITEMS);
    let start: u64 = env_or("PETREL_DIFF_START", 1_000_000);
    let count: u64 = env_or("PETREL_DIFF_SEEDS", 200);
    let max_fails: usize = env_or("PETREL_DIFF_MAX_FAILS", 10);
    if std::env::var_os("PETREL_DIFF_BISECT").is_none() {
        ctx.bisects_left.store(max_fails, Ordering::Relaxed);
    }
    let seeds: Vec<u64> = (start..start.saturating_add(count)).collect();
    let n = seeds.len();
    let outcomes = run_seeds(&ctx, seeds, max_fails, true);
    summarize(&ctx, &outcomes, n);
}
