//! Differential test of petrel's x86-64 interpreter (`petrel_emulator::x86::user::UserMachine`)
//! against the host CPU.
//!
//! Random code sequences (generator: tests/common/x86gen.rs) run natively in a forked child
//! (runner: tests/common/x86native.rs) and in petrel; the exit (reached STOP / exception vector,
//! error code, fault address for #PF), the 16 GPRs, RIP, RFLAGS, the FXSAVE image (FCW, FSW,
//! FTW, MXCSR, MXCSR_MASK, ST0-7, XMM0-15) and the 64 KiB data window must match, except for
//! what is architecturally undefined: flags (RFLAGS and x87 C0-C3) that an instruction left
//! undefined (iced's instr_info) and did not define again, x87 FOP/FIP/FDP (bytes 6..24 of the
//! image, and the pointer fields of FXSAVE/FNSTENV/FNSAVE images in memory), the reserved and
//! software-available bytes of FXSAVE images, RFLAGS.RF/TF. fs_base/gs_base are not loaded
//! natively (nothing generated uses or writes them; petrel must leave them unchanged).
//!
//! Conventions petrel is held to: after `UserExit::Done` RIP is `STOP`; after an exception the
//! state is the one at the exception (RIP of the faulting instruction; for x87 #MF, of the
//! floating-point instruction that reported it; REP string instructions with their partial
//! progress), the data window as modified until then; `error` is the error code the CPU pushes
//! (0 if none; for #PF the U bit is set); `fault_addr` (CR2) is compared for #PF only.
//!
//! Tests:
//! - `native_*`: self-tests of the native runner (hand-checked results; run them alone with
//!   `cargo test --test x86_diff native`).
//! - `gen_*`: generator self-tests (determinism, coverage of the accepted codes).
//! - `x86_diff_<group>`: a few thousand random sequences per instruction group (integer ALU,
//!   shifts, mul/div, bit ops, string ops, cmov/setcc/forward branches, x87, MMX, SSE/SSE2
//!   floating point and integer, SSE3/SSSE3, SSE4.1, SSE4.2, conversions, FXSAVE/FXRSTOR and
//!   friends, everything mixed), fixed seeds.
//! - `x86_diff_enumerated`: every accepted instruction form (iced `Code`) in at least
//!   `PETREL_X86_PER_CODE` (default 4) sequences with random operands.
//!
//! Environment variables:
//!   PETREL_X86_SOAK=N        multiply the number of cases (scripts/x86-diff-soak)
//!   PETREL_X86_SEED=S        base seed (default: fixed per test); a failure report gives the
//!                            seed and case number
//!   PETREL_X86_CASE=I        run only case I (with the seed of a report) and print it
//!   PETREL_X86_PER_CODE=N    cases per code in the enumerated test (default 4)
//!   PETREL_X86_MAX_REPORTS=N mismatches printed in full per test (default 5)
//!   PETREL_X86_AGAINST=native  compare the host CPU with itself (harness/generator check,
//!                            usable before petrel runs)
//!   PETREL_X86_BMI1=1, PETREL_X86_APPROX=1, PETREL_X86_UNDOC=1, PETREL_X86_FPU_POINTERS=1:
//!                            generator options, see tests/common/x86gen.rs
//!   PETREL_X86_VERBOSE=1     print per-test statistics
//!
//! The tests fail (never skip) if the native runner cannot be set up or the host CPU lacks a
//! feature the generator uses. The file is compiled on x86-64 Linux only (the reference is the
//! host CPU; the runner uses x86-64 assembly and Linux signal frames).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

#[path = "common/x86gen.rs"]
mod x86gen;
#[path = "common/x86native.rs"]
mod x86native;

use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};
use petrel_emulator::x86::user::{UserExit, UserMachine, UserState};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;
use x86gen::{Case, Generator, Group, Options, Table};
use x86native::{NativeCase, NativeExit, NativeOutcome, NativeRunner, DATA_SIZE};

const CODE: u64 = x86native::CODE;
const DATA: u64 = x86native::DATA;
const STOP: u64 = x86native::STOP;

/// Instructions petrel may execute per case.
const BUDGET: u64 = 100_000;

/// RFLAGS bits compared: CF, bit 1, PF, AF, ZF, SF, IF, DF, OF, IOPL, NT, VM, AC, VIF, VIP, ID
/// (not TF, RF).
const RFLAGS_CMP: u64 = 0x3E_7ED7;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let r = if let Some(h) = v.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    Some(r.unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

fn soak() -> u64 {
    env_u64("PETREL_X86_SOAK").unwrap_or(1).max(1)
}

fn against_native() -> bool {
    std::env::var("PETREL_X86_AGAINST").as_deref() == Ok("native")
}

fn verbose() -> bool {
    std::env::var("PETREL_X86_VERBOSE").is_ok_and(|v| v == "1")
}

/// The host must implement everything the generator emits (otherwise the native side would
/// raise #UD, or worse, run LZCNT as BSR on CPUs without it).
fn check_host_features() {
    let (_, opts) = table();
    let mut missing = Vec::new();
    macro_rules! need {
        ($($f:tt),*) => {$(
            if !std::arch::is_x86_feature_detected!($f) {
                missing.push($f);
            }
        )*};
    }
    need!(
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "popcnt",
        "lzcnt",
        "cmpxchg16b",
        "fxsr"
    );
    if !std::arch::is_x86_feature_detected!("movbe") {
        missing.push("movbe");
    }
    if opts.bmi1 && !std::arch::is_x86_feature_detected!("bmi1") {
        missing.push("bmi1");
    }
    assert!(
        missing.is_empty(),
        "the host CPU lacks {missing:?}: the native side cannot serve as the reference"
    );
}

fn runner() -> NativeRunner {
    check_host_features();
    NativeRunner::new().unwrap_or_else(|e| {
        panic!("the native x86-64 runner cannot run (the test cannot pass without it): {e}")
    })
}

fn table() -> &'static (Table, Options) {
    static T: std::sync::OnceLock<(Table, Options)> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let o = Options::from_env();
        (x86gen::build_table(&o), o)
    })
}

/// Seed of case `index` of a test with base seed `seed`.
fn case_seed(seed: u64, group: Group, index: usize) -> u64 {
    let mut r = x86gen::Rng::new(
        seed ^ (group as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    r.next_u64()
}

// ---------------------------------------------------------------------------------------------
// Comparison.

struct Result1 {
    exit: String,
    state: UserState,
    data: Vec<u8>,
    /// The comparable exit: None = could not run (native crash/timeout).
    key: Option<(u8, u8, u32, u64)>,
}

fn exit_key_native(e: &NativeExit) -> Option<(u8, u8, u32, u64)> {
    match e {
        NativeExit::Done => Some((0, 0, 0, 0)),
        NativeExit::Exception {
            vector,
            error,
            fault_addr,
            ..
        } => Some((1, *vector, *error, *fault_addr)),
        _ => None,
    }
}

fn vector_name(v: u8) -> &'static str {
    match v {
        0 => "#DE",
        1 => "#DB",
        3 => "#BP",
        6 => "#UD",
        7 => "#NM",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        19 => "#XM",
        _ => "#?",
    }
}

fn native_result(o: &NativeOutcome) -> Result1 {
    let exit =
        match &o.exit {
            NativeExit::Done => "reached STOP".to_string(),
            NativeExit::Exception {
                vector,
                error,
                fault_addr,
                signal,
                si_code,
            } => {
                format!(
            "exception {} (vector {vector}) error {error:#x}{} [signal {} si_code {si_code}]",
            vector_name(*vector),
            if *vector == 14 { format!(" fault address {fault_addr:#x}") } else { String::new() },
            x86native::signal_name(*signal)
        )
            }
            NativeExit::Crashed { status } => format!("NATIVE RUN CRASHED: {status}"),
            NativeExit::Timeout => "NATIVE RUN TIMED OUT".to_string(),
        };
    Result1 {
        exit,
        state: o.state.clone(),
        data: o.data.clone(),
        key: exit_key_native(&o.exit),
    }
}

fn petrel_result(m: &mut UserMachine, case: &Case) -> Result1 {
    m.load_code(&case.code);
    m.data_mut().copy_from_slice(&case.data);
    let mut st = case.state.clone();
    let e = m.run(&mut st, BUDGET);
    let (exit, key) = match e {
        UserExit::Done => ("reached STOP".to_string(), Some((0, 0, 0, 0))),
        UserExit::Exception {
            vector,
            error,
            fault_addr,
        } => {
            let fa = if vector == 14 { fault_addr } else { 0 };
            (
                format!(
                    "exception {} (vector {vector}) error {error:#x}{}",
                    vector_name(vector),
                    if vector == 14 {
                        format!(" fault address {fault_addr:#x}")
                    } else {
                        String::new()
                    }
                ),
                Some((1, vector, error, fa)),
            )
        }
        UserExit::Budget => (
            format!("budget of {BUDGET} instructions exhausted"),
            Some((2, 0, 0, 0)),
        ),
    };
    Result1 {
        exit,
        state: st,
        data: m.data().to_vec(),
        key,
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn st_str(fx: &[u8], i: usize) -> String {
    let o = 32 + 16 * i;
    format!("{:04x}:{:016x}", u16_at(fx, o + 8), u64_at(fx, o))
}

fn xmm_str(fx: &[u8], i: usize) -> String {
    let o = 160 + 16 * i;
    format!("{:016x}_{:016x}", u64_at(fx, o + 8), u64_at(fx, o))
}

/// Differences between the native result `a` and petrel's `b` (empty = match).
fn compare(case: &Case, a: &Result1, b: &Result1, opts: &Options) -> Vec<String> {
    let mut d = Vec::new();
    if a.key.is_none() {
        d.push(format!("native side could not run the case: {}", a.exit));
        return d;
    }
    if a.key != b.key {
        d.push(format!("exit: native {} | petrel {}", a.exit, b.exit));
    }
    let done = a.key.is_some_and(|k| k.0 == 0);
    let undef = case.undef_at(a.state.rip, done);
    for i in 0..16 {
        if a.state.gpr[i] != b.state.gpr[i] {
            d.push(format!(
                "{}: native {:#018x} | petrel {:#018x}",
                x86gen::GPR_NAMES[i],
                a.state.gpr[i],
                b.state.gpr[i]
            ));
        }
    }
    // Nothing generated writes them; natively they are not loaded (the child's FS is its TLS).
    if (b.state.fs_base, b.state.gs_base) != (case.state.fs_base, case.state.gs_base) {
        d.push(format!(
            "fs_base/gs_base changed: initial {:#x}/{:#x} | petrel {:#x}/{:#x}",
            case.state.fs_base, case.state.gs_base, b.state.fs_base, b.state.gs_base
        ));
    }
    if a.state.rip != b.state.rip {
        d.push(format!(
            "rip: native {:#x} | petrel {:#x}",
            a.state.rip, b.state.rip
        ));
    }
    let fmask = RFLAGS_CMP & !x86gen::rflags_of_iced(undef);
    if (a.state.rflags ^ b.state.rflags) & fmask != 0 {
        d.push(format!(
            "rflags: native {:#x} | petrel {:#x} (compared bits {:#x}; differing {:#x}{})",
            a.state.rflags,
            b.state.rflags,
            fmask,
            (a.state.rflags ^ b.state.rflags) & fmask,
            if undef != 0 {
                format!("; undefined: {}", x86gen::flags_names(undef))
            } else {
                String::new()
            }
        ));
    }
    let (fa, fb) = (&a.state.fxsave, &b.state.fxsave);
    if u16_at(fa, 0) != u16_at(fb, 0) {
        d.push(format!(
            "fcw: native {:#06x} | petrel {:#06x}",
            u16_at(fa, 0),
            u16_at(fb, 0)
        ));
    }
    let swmask = !x86gen::fsw_of_iced(undef);
    if (u16_at(fa, 2) ^ u16_at(fb, 2)) & swmask != 0 {
        d.push(format!(
            "fsw: native {:#06x} | petrel {:#06x} (compared bits {swmask:#06x})",
            u16_at(fa, 2),
            u16_at(fb, 2)
        ));
    }
    if fa[4] != fb[4] {
        d.push(format!(
            "ftw (abridged): native {:#04x} | petrel {:#04x}",
            fa[4], fb[4]
        ));
    }
    if opts.fpu_pointers {
        if u16_at(fa, 6) != u16_at(fb, 6) {
            d.push(format!(
                "fop: native {:#06x} | petrel {:#06x}",
                u16_at(fa, 6),
                u16_at(fb, 6)
            ));
        }
        if u64_at(fa, 8) != u64_at(fb, 8) {
            d.push(format!(
                "fip: native {:#x} | petrel {:#x}",
                u64_at(fa, 8),
                u64_at(fb, 8)
            ));
        }
        if u64_at(fa, 16) != u64_at(fb, 16) {
            d.push(format!(
                "fdp: native {:#x} | petrel {:#x}",
                u64_at(fa, 16),
                u64_at(fb, 16)
            ));
        }
    }
    if u32_at(fa, 24) != u32_at(fb, 24) {
        d.push(format!(
            "mxcsr: native {:#x} | petrel {:#x}",
            u32_at(fa, 24),
            u32_at(fb, 24)
        ));
    }
    if u32_at(fa, 28) != u32_at(fb, 28) {
        d.push(format!(
            "mxcsr_mask: native {:#x} | petrel {:#x}",
            u32_at(fa, 28),
            u32_at(fb, 28)
        ));
    }
    for i in 0..8 {
        let o = 32 + 16 * i;
        if fa[o..o + 10] != fb[o..o + 10] {
            d.push(format!(
                "st{i} (st(i) = physical reg (TOP+i)&7): native {} | petrel {}",
                st_str(fa, i),
                st_str(fb, i)
            ));
        }
    }
    for i in 0..16 {
        let o = 160 + 16 * i;
        if fa[o..o + 16] != fb[o..o + 16] {
            d.push(format!(
                "xmm{i}: native {} | petrel {}",
                xmm_str(fa, i),
                xmm_str(fb, i)
            ));
        }
    }
    if a.data != b.data {
        let mut ignore = vec![0u8; DATA_SIZE];
        for &(o, m) in &case.data_ignore {
            ignore[o] |= m;
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (o, ign) in ignore.iter().enumerate() {
            if (a.data[o] ^ b.data[o]) & !ign != 0 {
                match ranges.last_mut() {
                    Some(r) if o <= r.1 + 8 => r.1 = o + 1,
                    _ => ranges.push((o, o + 1)),
                }
            }
        }
        for &(s, e) in ranges.iter().take(8) {
            let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
            let e2 = e.min(s + 64);
            d.push(format!(
                "memory [{:#x}..{:#x}) (data+{:#x}): native {} | petrel {} (initial {})",
                DATA + s as u64,
                DATA + e as u64,
                s,
                hex(&a.data[s..e2]),
                hex(&b.data[s..e2]),
                hex(&case.data[s..e2])
            ));
        }
        if ranges.len() > 8 {
            d.push(format!(
                "... {} more differing memory ranges",
                ranges.len() - 8
            ));
        }
    }
    d
}

fn describe_state(s: &UserState) -> String {
    let mut o = String::new();
    for i in 0..16 {
        let _ = write!(
            o,
            "{:>4}={:#018x}{}",
            x86gen::GPR_NAMES[i],
            s.gpr[i],
            if i % 4 == 3 { "\n" } else { " " }
        );
    }
    let fx = &s.fxsave;
    let _ = writeln!(
        o,
        "rflags={:#x} rip={:#x} fcw={:#06x} fsw={:#06x} (top {}) ftw={:#04x} mxcsr={:#x}",
        s.rflags,
        s.rip,
        u16_at(fx, 0),
        u16_at(fx, 2),
        (u16_at(fx, 2) >> 11) & 7,
        fx[4],
        u32_at(fx, 24)
    );
    for i in 0..8 {
        let _ = write!(
            o,
            "st{i}={}{}",
            st_str(fx, i),
            if i % 4 == 3 { "\n" } else { " " }
        );
    }
    for i in 0..16 {
        let _ = write!(
            o,
            "xmm{i:<2}={}{}",
            xmm_str(fx, i),
            if i % 2 == 1 { "\n" } else { "  " }
        );
    }
    o
}

fn report(
    test: &str,
    seed: u64,
    case: &Case,
    a: &Result1,
    b: &Result1,
    diffs: &[String],
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "=== x86 {}: {test} group {:?}, seed {seed}, case {}{}",
        if diffs.is_empty() {
            "case (no differences)"
        } else {
            "mismatch"
        },
        case.group,
        case.index,
        case.focus
            .map(|c| format!(", code under test {c:?}"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "reproduce: PETREL_X86_SEED={seed} PETREL_X86_CASE={} cargo test --test x86_diff {test} -- --nocapture", case.index);
    let _ = writeln!(o, "code:\n{}", x86gen::disassemble(case));
    let _ = writeln!(o, "initial state:\n{}", describe_state(&case.state));
    let _ = writeln!(
        o,
        "native: {}\n{}: {}",
        a.exit,
        if against_native() {
            "native (2nd run)"
        } else {
            "petrel"
        },
        b.exit
    );
    let _ = writeln!(o, "differences (native | petrel):");
    for l in diffs {
        let _ = writeln!(o, "  {l}");
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Running.

struct Stats {
    cases: usize,
    native_exceptions: BTreeMap<u8, usize>,
    mismatches: usize,
    reports: Vec<String>,
    failing_codes: BTreeMap<String, usize>,
    gen_errors: Vec<String>,
}

/// Runs `cases` through both sides and compares.
/// Returns, per case, whether the native run executed the code under test (`Case::focus`):
/// reached STOP, or faulted at or after its first occurrence.
fn run_cases(
    test: &str,
    seed: u64,
    cases: &[Case],
    native: &mut NativeRunner,
    petrel: &mut Option<UserMachine>,
    st: &mut Stats,
) -> Vec<bool> {
    let (_, opts) = table();
    let ncases: Vec<NativeCase> = cases
        .iter()
        .map(|c| NativeCase {
            code: &c.code,
            state: &c.state,
            data: &c.data,
        })
        .collect();
    let outs = native
        .run(&ncases)
        .unwrap_or_else(|e| panic!("native runner failed: {e}"));
    let outs2 = if against_native() {
        Some(
            native
                .run(&ncases)
                .unwrap_or_else(|e| panic!("native runner failed: {e}")),
        )
    } else {
        None
    };
    let max_reports = env_u64("PETREL_X86_MAX_REPORTS").unwrap_or(5) as usize;
    let mut executed = Vec::with_capacity(cases.len());
    for (k, case) in cases.iter().enumerate() {
        let first_focus = case
            .insns
            .iter()
            .find(|i| {
                Some(i.code()) == case.focus
                    || (case.focus.is_some_and(|f| f.op_code().fwait()) && i.code() == Code::Wait)
            })
            .map(|i| i.ip());
        executed.push(match (&outs[k].exit, first_focus) {
            (NativeExit::Done, Some(_)) => true,
            (NativeExit::Exception { .. }, Some(ip)) => outs[k].state.rip >= ip,
            _ => false,
        });
        st.cases += 1;
        let a = native_result(&outs[k]);
        if let NativeExit::Exception { vector, .. } = outs[k].exit {
            *st.native_exceptions.entry(vector).or_default() += 1;
        }
        let b = match &outs2 {
            Some(o2) => native_result(&o2[k]),
            None => petrel_result(petrel.get_or_insert_with(UserMachine::new), case),
        };
        let diffs = compare(case, &a, &b, opts);
        if env_u64("PETREL_X86_CASE").is_some() {
            println!("{}", report(test, seed, case, &a, &b, &diffs));
        }
        if !diffs.is_empty() {
            st.mismatches += 1;
            if st.reports.len() < max_reports {
                st.reports.push(report(test, seed, case, &a, &b, &diffs));
            }
            let key = match case.focus {
                Some(c) => format!("{c:?}"),
                None => {
                    // the instructions of the sequence (by mnemonic) are suspects
                    let mut v: Vec<String> = case
                        .insns
                        .iter()
                        .map(|i| format!("{:?}", i.mnemonic()))
                        .collect();
                    v.pop();
                    v.sort();
                    v.dedup();
                    v.join("+")
                }
            };
            *st.failing_codes.entry(key).or_default() += 1;
        }
    }
    executed
}

fn finish(test: &str, st: Stats, t0: Instant) {
    if verbose() || st.mismatches > 0 {
        let ex: Vec<String> = st
            .native_exceptions
            .iter()
            .map(|(v, n)| format!("{}:{n}", vector_name(*v)))
            .collect();
        eprintln!(
            "{test}: {} cases in {:.2?}, native exceptions [{}], {} mismatches",
            st.cases,
            t0.elapsed(),
            ex.join(" "),
            st.mismatches
        );
    }
    let mut msg = String::new();
    if !st.gen_errors.is_empty() {
        let _ = writeln!(msg, "{test}: {} generation failures:", st.gen_errors.len());
        for e in st.gen_errors.iter().take(20) {
            let _ = writeln!(msg, "  {e}");
        }
    }
    if st.mismatches > 0 {
        for r in &st.reports {
            eprintln!("{r}");
        }
        let _ = writeln!(
            msg,
            "{test}: {} of {} cases differ (first {} printed above).",
            st.mismatches,
            st.cases,
            st.reports.len()
        );
        let mut v: Vec<(&String, &usize)> = st.failing_codes.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(msg, "failing cases by instruction (code under test, or the set of mnemonics of the sequence):");
        for (k, n) in v.iter().take(40) {
            let _ = writeln!(msg, "  {n:>5}  {k}");
        }
        if v.len() > 40 {
            let _ = writeln!(msg, "  ... {} more", v.len() - 40);
        }
    }
    if !msg.is_empty() {
        panic!("{msg}");
    }
}

fn run_group(test: &str, group: Group, default_seed: u64, cases: usize) {
    let t0 = Instant::now();
    let (t, opts) = table();
    let seed = env_u64("PETREL_X86_SEED").unwrap_or(default_seed);
    let only = env_u64("PETREL_X86_CASE").map(|c| c as usize);
    let total = cases * soak() as usize;
    let mut native = runner();
    let mut petrel = None;
    let mut st = Stats {
        cases: 0,
        native_exceptions: BTreeMap::new(),
        mismatches: 0,
        reports: vec![],
        failing_codes: BTreeMap::new(),
        gen_errors: vec![],
    };
    let mut gen = Generator::new(t, *opts, 0);
    let indices: Vec<usize> = match only {
        Some(i) => vec![i],
        None => (0..total).collect(),
    };
    for chunk in indices.chunks(256) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &i in chunk {
            gen.reseed(case_seed(seed, group, i));
            match gen.generate(group, seed, i, None) {
                Ok(c) => batch.push(c),
                Err(e) => st.gen_errors.push(e),
            }
        }
        run_cases(test, seed, &batch, &mut native, &mut petrel, &mut st);
    }
    finish(test, st, t0);
}

/// Case index in the enumerated test: round, code number, case of that code.
fn enum_index(round: usize, code_no: usize, k: usize) -> usize {
    round * 1_000_000 + code_no * 256 + k
}

macro_rules! group_test {
    ($name:ident, $group:expr, $seed:expr, $cases:expr) => {
        #[test]
        fn $name() {
            run_group(stringify!($name), $group, $seed, $cases);
        }
    };
}

group_test!(x86_diff_int_alu, Group::IntAlu, 0x1001, 3000);
group_test!(x86_diff_shift, Group::Shift, 0x1002, 2000);
group_test!(x86_diff_muldiv, Group::MulDiv, 0x1003, 2000);
group_test!(x86_diff_bitops, Group::BitOps, 0x1004, 2000);
group_test!(x86_diff_string, Group::String, 0x1005, 2000);
group_test!(x86_diff_cond, Group::Cond, 0x1006, 2000);
group_test!(x86_diff_x87, Group::X87, 0x1007, 3000);
group_test!(x86_diff_mmx, Group::Mmx, 0x1008, 2000);
group_test!(x86_diff_sse_fp, Group::SseFp, 0x1009, 3000);
group_test!(x86_diff_sse_int, Group::SseInt, 0x100A, 2000);
group_test!(x86_diff_sse3_ssse3, Group::Sse3, 0x100B, 2000);
group_test!(x86_diff_sse41, Group::Sse41, 0x100C, 2000);
group_test!(x86_diff_sse42, Group::Sse42, 0x100D, 2000);
group_test!(x86_diff_cvt, Group::Cvt, 0x100E, 2000);
group_test!(x86_diff_fxsave, Group::Fxsave, 0x100F, 1500);
group_test!(x86_diff_mixed, Group::Mixed, 0x1010, 3000);

/// Every accepted code, PETREL_X86_PER_CODE (default 4) cases each; codes whose cases all
/// stopped (natively) before reaching them get more cases, up to 3 more rounds of 8; a code
/// that never runs fails the test.
#[test]
fn x86_diff_enumerated() {
    let test = "x86_diff_enumerated";
    let t0 = Instant::now();
    let (t, opts) = table();
    let seed = env_u64("PETREL_X86_SEED").unwrap_or(0x2001);
    let per = ((env_u64("PETREL_X86_PER_CODE").unwrap_or(4) * soak()) as usize).min(256);
    let only = env_u64("PETREL_X86_CASE").map(|c| c as usize);
    let mut native = runner();
    let mut petrel = None;
    let mut st = Stats {
        cases: 0,
        native_exceptions: BTreeMap::new(),
        mismatches: 0,
        reports: vec![],
        failing_codes: BTreeMap::new(),
        gen_errors: vec![],
    };
    let mut gen = Generator::new(t, *opts, 0);
    let mut gen_case = |i: usize, st: &mut Stats| -> Option<Case> {
        let info = &t.accepted[(i % 1_000_000) / 256];
        let group = x86gen::primary_group(info);
        gen.reseed(case_seed(seed, group, i));
        gen.generate(group, seed, i, Some(info.code))
            .map_err(|e| st.gen_errors.push(e))
            .ok()
    };
    if let Some(i) = only {
        if let Some(c) = gen_case(i, &mut st) {
            run_cases(test, seed, &[c], &mut native, &mut petrel, &mut st);
        }
        return finish(test, st, t0);
    }
    let mut todo: Vec<usize> = (0..t.accepted.len()).collect();
    for round in 0..4 {
        let n = if round == 0 { per } else { 8 };
        let mut executed = vec![false; t.accepted.len()];
        let indices: Vec<usize> = todo
            .iter()
            .flat_map(|&ci| (0..n).map(move |k| enum_index(round, ci, k)))
            .collect();
        for chunk in indices.chunks(256) {
            let cases: Vec<Case> = chunk.iter().filter_map(|&i| gen_case(i, &mut st)).collect();
            let ex = run_cases(test, seed, &cases, &mut native, &mut petrel, &mut st);
            for (c, e) in cases.iter().zip(ex) {
                executed[(c.index % 1_000_000) / 256] |= e;
            }
        }
        todo.retain(|&ci| !executed[ci]);
        if todo.is_empty() {
            break;
        }
    }
    for &ci in &todo {
        st.gen_errors.push(format!(
            "{:?}: no generated case executed it natively",
            t.accepted[ci].code
        ));
    }
    if verbose() {
        eprintln!("{test}: {} codes", t.accepted.len());
    }
    finish(test, st, t0);
}

// ---------------------------------------------------------------------------------------------
// Generator self-tests.

#[test]
fn gen_deterministic_and_covering() {
    let (t, opts) = table();
    assert!(
        t.accepted.len() > 900,
        "only {} codes accepted",
        t.accepted.len()
    );
    for g in Group::ALL {
        assert!(t.codes_in(g).count() > 0, "group {g:?} is empty");
    }
    let mut g1 = Generator::new(t, *opts, 0);
    let mut g2 = Generator::new(t, *opts, 0);
    for i in 0..200 {
        let g = Group::ALL[i % Group::ALL.len()];
        g1.reseed(case_seed(7, g, i));
        g2.reseed(case_seed(7, g, i));
        let a = g1.generate(g, 7, i, None).unwrap();
        // interleave some other generation to show cases do not depend on earlier ones
        let _ = g2.generate(Group::Mixed, 1, 0, None);
        g2.reseed(case_seed(7, g, i));
        let b = g2.generate(g, 7, i, None).unwrap();
        assert_eq!(a.code, b.code);
        assert!(a.data == b.data && a.state.gpr == b.state.gpr && a.state.fxsave == b.state.fxsave);
    }
}

#[test]
fn gen_every_code_generates() {
    let (t, opts) = table();
    let mut gen = Generator::new(t, *opts, 0);
    let mut failed = Vec::new();
    for (k, ci) in t.accepted.iter().enumerate() {
        gen.reseed(k as u64);
        if let Err(e) = gen.generate(x86gen::primary_group(ci), 0, k, Some(ci.code)) {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "{} codes cannot be generated:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Native runner self-tests (results computed by hand).

fn asm(ins: &[Instruction]) -> Vec<u8> {
    let mut enc = Encoder::new(64);
    let mut ip = CODE;
    let mut out = Vec::new();
    for i in ins {
        let n = enc.encode(i, ip).unwrap();
        out.extend_from_slice(&enc.take_buffer());
        ip += n as u64;
    }
    let j = Instruction::with_branch(Code::Jmp_rel32_64, STOP).unwrap();
    enc.encode(&j, ip).unwrap();
    out.extend_from_slice(&enc.take_buffer());
    out
}

fn i2(c: Code, a: impl Into<Op>, b: impl Into<Op>) -> Instruction {
    match (a.into(), b.into()) {
        (Op::R(a), Op::R(b)) => Instruction::with2(c, a, b),
        (Op::R(a), Op::M(b)) => Instruction::with2(c, a, b),
        (Op::M(a), Op::R(b)) => Instruction::with2(c, a, b),
        (Op::R(a), Op::I(b)) => Instruction::with2(c, a, b),
        (Op::M(a), Op::I(b)) => Instruction::with2(c, a, b as i32),
        _ => panic!("operand combination"),
    }
    .unwrap()
}

fn i1(c: Code, a: impl Into<Op>) -> Instruction {
    match a.into() {
        Op::R(a) => Instruction::with1(c, a),
        Op::M(a) => Instruction::with1(c, a),
        Op::I(a) => Instruction::with1(c, a as i32),
    }
    .unwrap()
}

enum Op {
    R(Register),
    M(MemoryOperand),
    I(i64),
}
impl From<Register> for Op {
    fn from(r: Register) -> Op {
        Op::R(r)
    }
}
impl From<MemoryOperand> for Op {
    fn from(m: MemoryOperand) -> Op {
        Op::M(m)
    }
}
impl From<i64> for Op {
    fn from(i: i64) -> Op {
        Op::I(i)
    }
}

fn mem(base: Register, disp: i64) -> MemoryOperand {
    MemoryOperand::with_base_displ(base, disp)
}

fn st0() -> UserState {
    let mut s = UserState {
        rip: CODE,
        ..Default::default()
    };
    s.gpr[4] = DATA + 0x8000;
    s
}

fn run1(r: &mut NativeRunner, code: &[u8], s: &UserState, data: &[u8]) -> NativeOutcome {
    r.run_one(code, s, data).unwrap()
}

const CF: u64 = 1;
const PF: u64 = 4;
const AF: u64 = 0x10;
const ZF: u64 = 0x40;
const SF: u64 = 0x80;
const OF: u64 = 0x800;
const ARITH: u64 = CF | PF | AF | ZF | SF | OF;

#[test]
fn native_add_sub_flags() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let code = asm(&[i2(Code::Add_rm64_r64, Register::RAX, Register::RBX)]);
    let mut s = st0();
    s.gpr[0] = 0x7fff_ffff_ffff_ffff;
    s.gpr[3] = 1;
    s.rflags = 0x202 | CF | ZF; // overwritten by ADD
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.exit, NativeExit::Done);
    assert_eq!(o.state.gpr[0], 0x8000_0000_0000_0000);
    assert_eq!(o.state.gpr[3], 1);
    assert_eq!(
        o.state.rflags & ARITH,
        OF | SF | AF | PF,
        "rflags {:#x}",
        o.state.rflags
    );
    assert_eq!(o.state.rflags & 0x202, 0x202);
    assert_eq!(o.state.rip, STOP);
    assert_eq!(o.state.gpr[4], DATA + 0x8000);
    // sub: 5 - 7 = -2: CF (borrow), SF, AF (borrow from bit 4? 5-7 borrows in the low nibble)
    let code = asm(&[i2(Code::Sub_rm32_r32, Register::ECX, Register::EDX)]);
    let mut s = st0();
    s.gpr[1] = 0xdead_beef_0000_0005;
    s.gpr[2] = 7;
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.state.gpr[1], 0xffff_fffe, "32-bit result zero-extends");
    assert_eq!(o.state.rflags & ARITH, CF | SF | AF);
    // Flags loaded from the state survive an empty sequence; TF/AC are never loaded.
    let code = asm(&[]);
    let mut s = st0();
    s.rflags = 0x202 | CF | PF | ZF | OF | 0x400 /* DF */ | 0x100 /* TF */ | 0x4_0000 /* AC */;
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(
        o.state.rflags & 0xFFF_FFFF,
        0x202 | CF | PF | ZF | OF | 0x400
    );
}

#[test]
fn native_sse_addps_and_mxcsr() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let code = asm(&[i2(Code::Addps_xmm_xmmm128, Register::XMM0, Register::XMM1)]);
    let mut s = st0();
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b = [10.0f32, 20.0, 30.0, 0.5];
    for i in 0..4 {
        s.fxsave[160 + 4 * i..164 + 4 * i].copy_from_slice(&a[i].to_le_bytes());
        s.fxsave[176 + 4 * i..180 + 4 * i].copy_from_slice(&b[i].to_le_bytes());
    }
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.exit, NativeExit::Done);
    let got: Vec<f32> = (0..4)
        .map(|i| f32::from_le_bytes(o.state.fxsave[160 + 4 * i..164 + 4 * i].try_into().unwrap()))
        .collect();
    assert_eq!(got, vec![11.0, 22.0, 33.0, 4.5]);
    assert_eq!(
        u32_at(&o.state.fxsave, 24),
        0x1F80,
        "exact results set no MXCSR flags"
    );
    assert_eq!(
        u32_at(&o.state.fxsave, 28),
        0xFFFF,
        "MXCSR_MASK of this CPU"
    );
    // 1/3 rounds: PE (bit 5) set; round toward zero changes the last bit
    let code = asm(&[i2(Code::Divss_xmm_xmmm32, Register::XMM0, Register::XMM1)]);
    let mut s = st0();
    s.fxsave[160..164].copy_from_slice(&1.0f32.to_le_bytes());
    s.fxsave[176..180].copy_from_slice(&3.0f32.to_le_bytes());
    s.fxsave[24..28].copy_from_slice(&(0x1F80u32 | 0x6000).to_le_bytes());
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(u32_at(&o.state.fxsave, 160), 0x3EAA_AAAA);
    assert_eq!(u32_at(&o.state.fxsave, 24), 0x7FA0);
}

#[test]
fn native_x87_fld_fadd_fstp() {
    let mut r = runner();
    let mut data = vec![0u8; DATA_SIZE];
    data[0x100..0x108].copy_from_slice(&1.5f64.to_le_bytes());
    data[0x108..0x110].copy_from_slice(&2.25f64.to_le_bytes());
    let code = asm(&[
        i1(Code::Fld_m64fp, mem(Register::RBX, 0)),
        i1(Code::Fadd_m64fp, mem(Register::RBX, 8)),
        i1(Code::Fstp_m64fp, mem(Register::RBX, 16)),
    ]);
    let mut s = st0();
    s.gpr[3] = DATA + 0x100;
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.exit, NativeExit::Done);
    assert_eq!(
        f64::from_le_bytes(o.data[0x110..0x118].try_into().unwrap()),
        3.75
    );
    let fsw = u16_at(&o.state.fxsave, 2);
    assert_eq!((fsw >> 11) & 7, 0, "TOP back to 0");
    assert_eq!(o.state.fxsave[4], 0, "all registers empty again");
    // the value left in the (now empty) physical register 7 = ST(7)
    assert_eq!(st_str(&o.state.fxsave, 7), "4000:f000000000000000");
    assert_eq!(o.data[..0x110], data[..0x110]);
}

#[test]
fn native_div_by_zero_is_de() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let code = asm(&[
        i2(Code::Mov_r32_imm32, Register::EAX, 5i64),
        i1(Code::Div_rm64, Register::RCX),
    ]);
    let mut s = st0();
    s.gpr[1] = 0;
    s.gpr[2] = 0;
    let o = run1(&mut r, &code, &s, &data);
    match o.exit {
        NativeExit::Exception {
            vector: 0, signal, ..
        } => assert_eq!(signal, libc::SIGFPE),
        ref e => panic!("expected #DE, got {e:?}"),
    }
    assert_eq!(o.state.rip, CODE + 5, "RIP of the faulting DIV");
    assert_eq!(o.state.gpr[0], 5, "state at the fault (after the MOV)");
    // quotient overflow is #DE too
    let mut s = st0();
    s.gpr[0] = 0;
    s.gpr[1] = 1;
    s.gpr[2] = 1;
    let code = asm(&[i1(Code::Div_rm64, Register::RCX)]);
    let o = run1(&mut r, &code, &s, &data);
    assert!(
        matches!(o.exit, NativeExit::Exception { vector: 0, .. }),
        "{:?}",
        o.exit
    );
}

#[test]
fn native_page_faults() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let s = st0();
    // read past the end of the window: not present, user, read
    let o = run1(
        &mut r,
        &asm(&[i2(
            Code::Mov_r64_rm64,
            Register::RAX,
            mem(Register::None, (DATA + 0x1_0000) as i64),
        )]),
        &s,
        &data,
    );
    assert_eq!(
        o.exit,
        NativeExit::Exception {
            vector: 14,
            error: 4,
            fault_addr: DATA + 0x1_0000,
            signal: libc::SIGSEGV,
            si_code: 1
        }
    );
    // write below the window
    let o = run1(
        &mut r,
        &asm(&[i2(
            Code::Mov_rm64_r64,
            mem(Register::None, (DATA - 8) as i64),
            Register::RAX,
        )]),
        &s,
        &data,
    );
    assert!(
        matches!(o.exit, NativeExit::Exception { vector: 14, error: 6, fault_addr, .. } if fault_addr == DATA - 8),
        "{:?}",
        o.exit
    );
    // write to the read-only code region: present, write, user
    let o = run1(
        &mut r,
        &asm(&[i2(
            Code::Mov_rm64_r64,
            mem(Register::None, CODE as i64),
            Register::RAX,
        )]),
        &s,
        &data,
    );
    assert!(
        matches!(o.exit, NativeExit::Exception { vector: 14, error: 7, fault_addr, .. } if fault_addr == CODE),
        "{:?}",
        o.exit
    );
    // an access straddling the end: CR2 is the first byte of the missing page, nothing stored
    let mut s2 = st0();
    s2.gpr[0] = 0x1122_3344_5566_7788;
    let o = run1(
        &mut r,
        &asm(&[i2(
            Code::Mov_rm64_r64,
            mem(Register::None, (DATA + 0xFFFC) as i64),
            Register::RAX,
        )]),
        &s2,
        &data,
    );
    assert!(
        matches!(o.exit, NativeExit::Exception { vector: 14, fault_addr, .. } if fault_addr == DATA + 0x1_0000),
        "{:?}",
        o.exit
    );
    assert_eq!(o.data, data);
}

#[test]
fn native_ud_gp_ss_xm() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let s = st0();
    let o = run1(&mut r, &asm(&[Instruction::with(Code::Ud2)]), &s, &data);
    assert!(
        matches!(
            o.exit,
            NativeExit::Exception {
                vector: 6,
                signal: libc::SIGILL,
                ..
            }
        ),
        "{:?}",
        o.exit
    );
    assert_eq!(o.state.rip, CODE);
    // misaligned MOVAPS: #GP(0)
    let o = run1(
        &mut r,
        &asm(&[i2(
            Code::Movaps_xmm_xmmm128,
            Register::XMM0,
            mem(Register::None, (DATA + 8) as i64),
        )]),
        &s,
        &data,
    );
    assert!(
        matches!(
            o.exit,
            NativeExit::Exception {
                vector: 13,
                error: 0,
                ..
            }
        ),
        "{:?}",
        o.exit
    );
    // non-canonical address: #GP(0); through RBP/RSP: #SS(0)
    let mut s2 = st0();
    s2.gpr[3] = 0x8000_0000_0000_0000;
    s2.gpr[5] = 0x8000_0000_0000_0000;
    let o = run1(
        &mut r,
        &asm(&[i2(Code::Mov_r64_rm64, Register::RAX, mem(Register::RBX, 0))]),
        &s2,
        &data,
    );
    assert!(
        matches!(
            o.exit,
            NativeExit::Exception {
                vector: 13,
                error: 0,
                ..
            }
        ),
        "{:?}",
        o.exit
    );
    let o = run1(
        &mut r,
        &asm(&[i2(Code::Mov_r64_rm64, Register::RAX, mem(Register::RBP, 0))]),
        &s2,
        &data,
    );
    assert!(
        matches!(
            o.exit,
            NativeExit::Exception {
                vector: 12,
                error: 0,
                ..
            }
        ),
        "{:?}",
        o.exit
    );
    // unmasked SSE divide-by-zero: #XM; the destination is unchanged, MXCSR.ZE set
    let mut s3 = st0();
    s3.fxsave[24..28].copy_from_slice(&(0x1F80u32 & !0x200).to_le_bytes());
    s3.fxsave[160..164].copy_from_slice(&1.0f32.to_le_bytes());
    let o = run1(
        &mut r,
        &asm(&[i2(Code::Divss_xmm_xmmm32, Register::XMM0, Register::XMM1)]),
        &s3,
        &data,
    );
    assert!(
        matches!(
            o.exit,
            NativeExit::Exception {
                vector: 19,
                signal: libc::SIGFPE,
                ..
            }
        ),
        "{:?}",
        o.exit
    );
    assert_eq!(u32_at(&o.state.fxsave, 24), (0x1F80 & !0x200) | 0x4);
    assert_eq!(
        f32::from_le_bytes(o.state.fxsave[160..164].try_into().unwrap()),
        1.0
    );
}

#[test]
fn native_fault_state_after_fninit() {
    // The register image at a fault comes from the signal frame; an x87 state in its initial
    // configuration must still be reported correctly.
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let mut s = st0();
    s.fxsave = x86gen::random_fxsave(&mut x86gen::Rng::new(5), false);
    let o = run1(
        &mut r,
        &asm(&[
            Instruction::with(Code::Fninit),
            Instruction::with(Code::Ud2),
        ]),
        &s,
        &data,
    );
    assert!(matches!(o.exit, NativeExit::Exception { vector: 6, .. }));
    assert_eq!(u16_at(&o.state.fxsave, 0), 0x037F);
    assert_eq!(u16_at(&o.state.fxsave, 2), 0);
    assert_eq!(o.state.fxsave[4], 0);
    assert_eq!(
        o.state.fxsave[160..416],
        s.fxsave[160..416],
        "XMM registers unchanged"
    );
    assert_eq!(o.state.fxsave[24..28], s.fxsave[24..28], "MXCSR unchanged");
}

#[test]
fn native_push_pop_in_window() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let code = asm(&[
        i1(Code::Push_r64, Register::RAX),
        i1(Code::Pushq_imm32, -2i64),
        i1(Code::Pop_r64, Register::RCX),
        Instruction::with(Code::Pushfq),
    ]);
    let mut s = st0();
    s.gpr[0] = 0x0102_0304_0506_0708;
    s.rflags = 0x202 | CF;
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.exit, NativeExit::Done);
    assert_eq!(o.state.gpr[1], u64::MAX - 1);
    assert_eq!(o.state.gpr[4], DATA + 0x8000 - 16);
    assert_eq!(u64_at(&o.data, 0x8000 - 8), 0x0102_0304_0506_0708);
    assert_eq!(u64_at(&o.data, 0x8000 - 16), 0x203, "pushfq image");
}

#[test]
fn native_fxsave_image_in_memory() {
    let mut r = runner();
    let data = vec![0u8; DATA_SIZE];
    let mut s = st0();
    s.fxsave = x86gen::random_fxsave(&mut x86gen::Rng::new(9), false);
    s.gpr[3] = DATA + 0x1000;
    let o = run1(
        &mut r,
        &asm(&[i1(Code::Fxsave64_m512byte, mem(Register::RBX, 0))]),
        &s,
        &data,
    );
    assert_eq!(o.exit, NativeExit::Done);
    let img = &o.data[0x1000..0x1200];
    assert_eq!(img[0..5], s.fxsave[0..5]);
    assert_eq!(img[24..28], s.fxsave[24..28]);
    assert_eq!(img[160..416], s.fxsave[160..416]);
    for i in 0..8 {
        assert_eq!(
            img[32 + 16 * i..42 + 16 * i],
            s.fxsave[32 + 16 * i..42 + 16 * i]
        );
    }
    assert!(
        img[464..512].iter().all(|&b| b == 0),
        "bytes 464..512 are not written"
    );
    assert_eq!(o.state.fxsave[0..5], s.fxsave[0..5]);
}

#[test]
fn native_crash_and_timeout_recovery() {
    let mut r = runner();
    r.timeout = std::time::Duration::from_millis(300);
    let data = vec![0u8; DATA_SIZE];
    // exit_group(7) kills the child; jmp $ never finishes; the cases after them still run.
    let exit = asm(&[
        i2(Code::Mov_r32_imm32, Register::EAX, 231i64),
        i2(Code::Mov_r32_imm32, Register::EDI, 7i64),
        Instruction::with(Code::Syscall),
    ]);
    let spin = vec![0xEB, 0xFE];
    let ok = asm(&[i2(Code::Mov_r32_imm32, Register::EAX, 42i64)]);
    let s = st0();
    let cases = [
        NativeCase {
            code: &ok,
            state: &s,
            data: &data,
        },
        NativeCase {
            code: &exit,
            state: &s,
            data: &data,
        },
        NativeCase {
            code: &ok,
            state: &s,
            data: &data,
        },
        NativeCase {
            code: &spin,
            state: &s,
            data: &data,
        },
        NativeCase {
            code: &ok,
            state: &s,
            data: &data,
        },
    ];
    let o = r.run(&cases).unwrap();
    assert_eq!(o[0].exit, NativeExit::Done);
    assert!(
        matches!(&o[1].exit, NativeExit::Crashed { status } if status.contains("exited with status 7")),
        "{:?}",
        o[1].exit
    );
    assert_eq!(o[2].exit, NativeExit::Done);
    assert_eq!(o[2].state.gpr[0], 42);
    assert_eq!(o[3].exit, NativeExit::Timeout);
    assert_eq!(o[4].exit, NativeExit::Done);
    assert_eq!(r.children_started, 3);
}

#[test]
fn native_setup_failure_is_loud() {
    match NativeRunner::new_with(true) {
        Ok(_) => panic!("the runner must fail when the data window cannot be mapped"),
        Err(e) => assert!(
            e.contains("MAP_FIXED_NOREPLACE") && e.contains("DATA"),
            "{e}"
        ),
    }
}

#[test]
fn native_many_cases_fast_and_deterministic() {
    // 2000 generated cases run twice: identical results, well under the time budget.
    let (t, opts) = table();
    let mut gen = Generator::new(t, *opts, 0);
    let cases: Vec<Case> = (0..2000)
        .map(|i| {
            gen.reseed(case_seed(3, Group::Mixed, i));
            gen.generate(Group::Mixed, 3, i, None).unwrap()
        })
        .collect();
    let nc: Vec<NativeCase> = cases
        .iter()
        .map(|c| NativeCase {
            code: &c.code,
            state: &c.state,
            data: &c.data,
        })
        .collect();
    let mut r = runner();
    let t0 = Instant::now();
    let a = r.run(&nc).unwrap();
    let dt = t0.elapsed();
    let b = r.run(&nc).unwrap();
    let mut done = 0;
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            exit_key_native(&x.exit).is_some(),
            "case {k}: {:?}\n{}",
            x.exit,
            x86gen::disassemble(&cases[k])
        );
        assert_eq!(x.exit, y.exit, "case {k}");
        assert!(
            x.state.gpr == y.state.gpr
                && x.state.rflags == y.state.rflags
                && x.state.fxsave[..416] == y.state.fxsave[..416]
                && x.data == y.data,
            "case {k} differs between runs"
        );
        done += (x.exit == NativeExit::Done) as usize;
    }
    assert!(done > 500, "only {done} of 2000 cases reached STOP");
    assert!(dt.as_secs_f64() < 5.0, "2000 native cases took {dt:?}");
    assert_eq!(r.children_started, 1, "no case may kill the child");
}

#[test]
fn gen_compare_masks_only_undefined() {
    // mul leaves PF AF ZF SF undefined; the comparison must ignore exactly those (and the
    // ignored data bytes), and report everything else.
    let code = asm(&[i1(Code::Mul_rm64, Register::RCX)]);
    let mut insns = Vec::new();
    let mut dec = iced_x86::Decoder::with_ip(64, &code, CODE, 0);
    while dec.can_decode() {
        insns.push(dec.decode());
    }
    use iced_x86::RflagsBits as R;
    let u = R::PF | R::AF | R::ZF | R::SF | R::C0;
    let mut s = st0();
    s.gpr[0] = 3;
    s.gpr[1] = 5;
    let data = vec![0u8; DATA_SIZE];
    let case = Case {
        group: Group::MulDiv,
        seed: 0,
        index: 0,
        code: code.clone(),
        insns,
        undef_before: vec![0, u],
        undef_end: u,
        state: s.clone(),
        data: data.clone(),
        data_ignore: vec![(0x10, 0xFF), (0x20, 0x0F)],
        focus: None,
    };
    let mut r = runner();
    let o = run1(&mut r, &code, &s, &data);
    assert_eq!(o.state.gpr[0], 15);
    let a = native_result(&o);
    let (_, opts) = table();
    let same = |f: &dyn Fn(&mut UserState, &mut Vec<u8>)| {
        let mut st = o.state.clone();
        let mut d = o.data.clone();
        f(&mut st, &mut d);
        compare(
            &case,
            &a,
            &Result1 {
                exit: a.exit.clone(),
                state: st,
                data: d,
                key: a.key,
            },
            opts,
        )
    };
    assert!(same(&|_, _| {}).is_empty());
    assert!(same(&|s, _| s.rflags ^= SF | ZF | PF | AF).is_empty());
    assert!(same(&|s, _| s.fxsave[3] ^= 0x01 /* C0 */).is_empty());
    assert!(
        same(&|s, _| s.fxsave[6..24].fill(0x55) /* FOP FIP FDP */).is_empty() || opts.fpu_pointers
    );
    assert!(same(&|s, _| s.fxsave[416..512].fill(0x55)).is_empty());
    assert!(same(&|_, d| d[0x10] ^= 0xFF).is_empty());
    assert!(same(&|_, d| d[0x20] ^= 0x0F).is_empty());
    assert!(same(&|s, _| s.rflags ^= 0x100 | 0x1_0000 /* TF RF */).is_empty());
    let d = same(&|s, _| s.rflags ^= CF);
    assert!(d.len() == 1 && d[0].starts_with("rflags"), "{d:?}");
    let d = same(&|s, _| s.fxsave[3] ^= 0x02 /* C1 */);
    assert!(d.len() == 1 && d[0].starts_with("fsw"), "{d:?}");
    let d = same(&|_, d| d[0x20] ^= 0x10);
    assert!(
        d.len() == 1 && d[0].starts_with("memory [0x600020..0x600021)"),
        "{d:?}"
    );
    let d = same(&|s, _| s.gpr[2] ^= 1);
    assert!(d.len() == 1 && d[0].starts_with("rdx"), "{d:?}");
    let d = same(&|s, _| s.fxsave[32 + 16 * 3 + 9] ^= 1);
    assert!(d.len() == 1 && d[0].starts_with("st3"), "{d:?}");
    let d = same(&|s, _| s.fxsave[160 + 16 * 15] ^= 1);
    assert!(d.len() == 1 && d[0].starts_with("xmm15"), "{d:?}");
    let d = compare(
        &case,
        &a,
        &Result1 {
            exit: "x".into(),
            state: o.state.clone(),
            data: o.data.clone(),
            key: Some((1, 14, 4, 0x1234)),
        },
        opts,
    );
    assert!(d.len() == 1 && d[0].starts_with("exit"), "{d:?}");
}

#[test]
fn gen_no_instruction_reads_undefined_flags() {
    let (t, opts) = table();
    let mut gen = Generator::new(t, *opts, 0);
    let stores = [
        Code::Fxsave_m512byte,
        Code::Fxsave64_m512byte,
        Code::Fnstenv_m14byte,
        Code::Fnstenv_m28byte,
        Code::Fnsave_m94byte,
        Code::Fnsave_m108byte,
    ];
    let mut branches = 0;
    for i in 0..3000 {
        let g = Group::ALL[i % Group::ALL.len()];
        gen.reseed(case_seed(11, g, i));
        let c = gen.generate(g, 11, i, None).unwrap();
        assert_eq!(c.undef_before.len(), c.insns.len());
        for (k, ins) in c.insns.iter().enumerate() {
            // FXSAVE/FNSTENV/FNSAVE images mask undefined C0-C3 in memory instead
            if stores.contains(&ins.code()) {
                continue;
            }
            let mut read = ins.rflags_read();
            if ins.code() == Code::Fnstsw_AX || ins.code() == Code::Fnstsw_m2byte {
                read |= iced_x86::RflagsBits::C0
                    | iced_x86::RflagsBits::C1
                    | iced_x86::RflagsBits::C2
                    | iced_x86::RflagsBits::C3;
            }
            assert_eq!(
                read & c.undef_before[k],
                0,
                "case {i} insn {k} reads undefined flags:\n{}",
                x86gen::disassemble(&c)
            );
            branches += ins.is_jcc_short_or_near() as usize;
        }
    }
    assert!(
        branches > 300,
        "only {branches} conditional branches generated"
    );
}
