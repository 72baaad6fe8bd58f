//! Seeded generator of random x86-64 user-mode code sequences for the differential test of
//! petrel's x86-64 interpreter (tests/x86_diff.rs; native runner: tests/common/x86native.rs).
//!
//! Instructions are chosen from iced-x86's `Code` table: legacy-encoded, valid in 64-bit mode,
//! CPL 3, not I/O, not privileged, whose CPUID features are in petrel's set (8086..486, X64,
//! CMOV, CX8, CMPXCHG16B, FPU/287/387, FXSR, MMX, SSE..SSE4.2, POPCNT, LZCNT, MOVBE, PAUSE,
//! multi-byte NOP; BMI1's TZCNT only with `PETREL_X86_BMI1=1`), minus control flow other than
//! short forward branches, non-deterministic instructions (RDTSC, CPUID, ...), segment register
//! reads/writes, ENTER/LEAVE, and undefined-result forms (BSWAP r16). Implementation-specific
//! approximations (RCPPS/RSQRTPS/RCPSS/RSQRTSS, x87 transcendentals) need `PETREL_X86_APPROX=1`;
//! undocumented aliases and obsolete no-ops (SAL /6, TEST /1, FSTPNCE, FCOM DC D0, FENI, FDISI,
//! FSETPM, fence ModRM variants, reserved NOPs, FFREEP) need `PETREL_X86_UNDOC=1`.
//!
//! Operands come from the op-code's operand kinds; iced encodes, and the encoded bytes are
//! decoded again for everything else (flags, registers and memory touched, disassembly).
//!
//! Memory safety of the generated code (every access must be the same natively and in petrel):
//! RSP and a few per-case "reserved" registers (two base registers pointing into the data
//! window, one small index register, and RSI/RDI when string instructions may appear) are never
//! written by generated instructions except implicitly (push/pop, string instructions); every
//! memory access (iced's used-memory info, explicit and implicit) must use them (or RIP-relative
//! / absolute addresses) and land in the window or within 4 KiB of it (the native runner checks
//! the low 8 MiB is otherwise unmapped; those addresses fault in both). A small count is loaded
//! into ECX before REP string instructions, a small bit offset before BT* mem,reg, a controlled
//! value (no TF/AC) is pushed before POPF, RDX is often set up before DIV/IDIV (CWD/CDQ/CQO or
//! a small value). Exceptions are part of the test: some accesses straddle or leave the window
//! (#PF, also part-way through REP string instructions whose RSI/RDI start just above the
//! window), 1/16 of 16-byte accesses are misaligned (#GP for MOVAPS & co.), MXCSR and FCW
//! sometimes unmask exceptions (#XM, #MF), division faults (#DE), UD2 (#UD). Locked accesses
//! are naturally aligned (no split locks). FXRSTOR/FRSTOR/FLDENV/LDMXCSR/FLDCW/FBLD load from
//! images prepared in a reserved part of the window (mostly valid values), where the x87/FXSAVE
//! stores also go.
//!
//! Undefined results: iced's `rflags_undefined()` (RFLAGS and x87 C0-C3) gives the flags an
//! instruction leaves undefined; per instruction the generator tracks the set of currently
//! undefined flags (union over the paths of forward branches; shifts/rotates by CL or by an
//! immediate that masks to 0 and REP CMPS/SCAS with ECX = 0 do not define flags) and rejects
//! an instruction that reads one of them (Jcc, ADC, CMOVcc, SETcc, PUSHF, LAHF, RCL, FNSTSW...).
//! The undefined set before every instruction and at the end is part of the case: the
//! comparison masks them. 16-bit SHLD/SHRD are given counts <= 16. BSF/BSR with a zero source
//! (Intel leaves the destination unchanged) are compared. FXSAVE/FNSTENV/FNSAVE memory images
//! record which bytes to ignore (FOP/FIP/FDP/FCS/FDS unless `fpu_pointers`, reserved bytes,
//! undefined C0-C3).
#![allow(dead_code)]

use iced_x86::*;
use petrel_emulator::x86::user::{UserMachine, UserState};

pub const CODE: u64 = UserMachine::CODE;
pub const DATA: u64 = UserMachine::DATA;
pub const STOP: u64 = UserMachine::STOP;
pub const DATA_SIZE: usize = 0x1_0000;

/// Data-window layout used by the generator (offsets from DATA).
const GENERAL_END: u64 = 0xE000; // general accesses: [0, GENERAL_END) and [PREP_END, 0x10000)
const PREP_START: u64 = 0xE000; // prepared images (FXRSTOR/LDMXCSR/FLDCW/FLDENV/FRSTOR/FBLD, saves)
const PREP_END: u64 = 0xF800;
const RSP_INIT: u64 = 0x8000;

// ---------------------------------------------------------------------------------------------
// RNG (xoshiro256**, seeded with splitmix64).

#[derive(Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for v in s.iter_mut() {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *v = z ^ (z >> 31);
        }
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, n) (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability num/den.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Options.

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// TZCNT (BMI1): petrel implements it only if told so. `PETREL_X86_BMI1=1`.
    pub bmi1: bool,
    /// Implementation-specific approximations (RCP*/RSQRT*, x87 transcendentals). `PETREL_X86_APPROX=1`.
    pub approx: bool,
    /// Undocumented aliases and obsolete no-ops. `PETREL_X86_UNDOC=1`.
    pub undocumented: bool,
    /// Compare x87 FOP/FIP/FDP (FXSAVE image bytes 6..24, FNSTENV/FNSAVE pointer fields).
    /// `PETREL_X86_FPU_POINTERS=1`.
    pub fpu_pointers: bool,
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("yes") | Ok("true")
    )
}

impl Options {
    pub fn from_env() -> Options {
        Options {
            bmi1: env_flag("PETREL_X86_BMI1"),
            approx: env_flag("PETREL_X86_APPROX"),
            undocumented: env_flag("PETREL_X86_UNDOC"),
            fpu_pointers: env_flag("PETREL_X86_FPU_POINTERS"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Instruction groups and the table of accepted codes.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    IntAlu,
    Shift,
    MulDiv,
    BitOps,
    String,
    Cond,
    X87,
    Mmx,
    SseFp,
    SseInt,
    Sse3,
    Sse41,
    Sse42,
    Cvt,
    Fxsave,
    Mixed,
}

impl Group {
    pub const ALL: [Group; 16] = [
        Group::IntAlu,
        Group::Shift,
        Group::MulDiv,
        Group::BitOps,
        Group::String,
        Group::Cond,
        Group::X87,
        Group::Mmx,
        Group::SseFp,
        Group::SseInt,
        Group::Sse3,
        Group::Sse41,
        Group::Sse42,
        Group::Cvt,
        Group::Fxsave,
        Group::Mixed,
    ];

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

#[derive(Clone, Debug)]
pub struct CodeInfo {
    pub code: Code,
    pub groups: u32,
    /// Forward branch (target chosen by the generator).
    pub branch: bool,
}

pub struct Table {
    pub accepted: Vec<CodeInfo>,
    /// Codes rejected and why (for reports).
    pub rejected: Vec<(Code, &'static str)>,
    by_group: Vec<Vec<usize>>,
}

impl Table {
    pub fn codes_in(&self, g: Group) -> impl Iterator<Item = Code> + '_ {
        self.by_group[g as usize]
            .iter()
            .map(move |&i| self.accepted[i].code)
    }

    pub fn info(&self, code: Code) -> Option<&CodeInfo> {
        self.accepted.iter().find(|c| c.code == code)
    }
}

fn mnem(code: Code) -> String {
    format!("{:?}", code.mnemonic())
}

fn cname(code: Code) -> String {
    format!("{code:?}")
}

const APPROX: &[&str] = &[
    "Rcpps", "Rcpss", "Rsqrtps", "Rsqrtss", "F2xm1", "Fyl2x", "Fyl2xp1", "Fptan", "Fpatan", "Fsin",
    "Fcos", "Fsincos",
];

const NONDETERMINISTIC_OR_SYSTEM: &[&str] = &[
    "Cpuid",
    "Rdtsc",
    "Rdtscp",
    "Rdrand",
    "Rdseed",
    "Rdpid",
    "Rdpmc",
    "Xgetbv",
    "Syscall",
    "Sysenter",
    "Hlt",
    "Cli",
    "Sti",
    "Lar",
    "Lsl",
    "Verr",
    "Verw",
    "Sldt",
    "Str",
    "Sgdt",
    "Sidt",
    "Smsw",
    "Lmsw",
    "Lldt",
    "Ltr",
    "Lgdt",
    "Lidt",
    "Clts",
    "Invd",
    "Wbinvd",
    "Invlpg",
    "Swapgs",
    "Enter",
    "Leave",
    "Lfs",
    "Lgs",
    "Lss",
    "Int",
    "Int1",
    "Int3",
    "Into",
    "Ud0",
    "Ud1",
    "Bswap_r16",
];

fn is_undocumented(code: Code) -> bool {
    let n = cname(code);
    let m = mnem(code);
    n.starts_with("Sal_")
        || n.ends_with("_F6r1")
        || n.ends_with("_F7r1")
        || n.starts_with("Fstpnce")
        || n.ends_with("_DCD0")
        || n.ends_with("_DCD8")
        || n.ends_with("_DED0")
        || n.ends_with("_DDC8")
        || n.ends_with("_DFC8")
        || n.ends_with("_DFD0")
        || n.ends_with("_DFD8")
        || n.starts_with("Reservednop")
        || matches!(
            m.as_str(),
            "Feni" | "Fneni" | "Fdisi" | "Fndisi" | "Fsetpm" | "Fnsetpm" | "Ffreep"
        )
        || ((m == "Lfence" || m == "Mfence" || m == "Sfence") && n.contains('_'))
}

fn classify(code: Code) -> u32 {
    let feats = code.cpuid_features();
    let m = mnem(code);
    let kinds = code.op_code().op_kinds();
    let has = |f: CpuidFeature| feats.contains(&f);
    let mm = kinds.iter().any(|k| {
        matches!(
            k,
            OpCodeOperandKind::mm_reg | OpCodeOperandKind::mm_rm | OpCodeOperandKind::mm_or_mem
        )
    });
    let mut g = 0u32;
    let fpu = has(CpuidFeature::FPU)
        || has(CpuidFeature::FPU287)
        || has(CpuidFeature::FPU387)
        || m == "Wait";
    if fpu {
        g |= Group::X87.bit();
    }
    if matches!(
        m.as_str(),
        "Fxsave"
            | "Fxsave64"
            | "Fxrstor"
            | "Fxrstor64"
            | "Fnsave"
            | "Fsave"
            | "Frstor"
            | "Fnstenv"
            | "Fstenv"
            | "Fldenv"
            | "Ldmxcsr"
            | "Stmxcsr"
            | "Fldcw"
            | "Fnstcw"
            | "Fstcw"
            | "Fninit"
            | "Finit"
    ) {
        g |= Group::Fxsave.bit();
    }
    if mm {
        g |= Group::Mmx.bit();
    }
    if m.starts_with("Cvt") {
        g |= Group::Cvt.bit();
    }
    if (has(CpuidFeature::SSE3) || has(CpuidFeature::SSSE3)) && !fpu {
        g |= Group::Sse3.bit();
    }
    if has(CpuidFeature::SSE4_1) {
        g |= Group::Sse41.bit();
    }
    if has(CpuidFeature::SSE4_2) {
        g |= Group::Sse42.bit();
    }
    if (has(CpuidFeature::SSE) || has(CpuidFeature::SSE2)) && !mm {
        let int = m.starts_with('P') && !m.starts_with("Prefetch")
            || matches!(
                m.as_str(),
                "Movd"
                    | "Movq"
                    | "Movdqa"
                    | "Movdqu"
                    | "Movntdq"
                    | "Maskmovdqu"
                    | "Movnti"
                    | "Movq2dq"
                    | "Movdq2q"
            );
        g |= if int {
            Group::SseInt.bit()
        } else {
            Group::SseFp.bit()
        };
    }
    if (has(CpuidFeature::CMOV) && !fpu) || m.starts_with("Set") {
        g |= Group::Cond.bit();
    }
    if matches!(
        m.as_str(),
        "Rol" | "Ror" | "Rcl" | "Rcr" | "Shl" | "Shr" | "Sal" | "Sar" | "Shld" | "Shrd"
    ) {
        g |= Group::Shift.bit();
    }
    if matches!(m.as_str(), "Mul" | "Imul" | "Div" | "Idiv") {
        g |= Group::MulDiv.bit();
    }
    if matches!(
        m.as_str(),
        "Bt" | "Bts"
            | "Btr"
            | "Btc"
            | "Bsf"
            | "Bsr"
            | "Popcnt"
            | "Lzcnt"
            | "Tzcnt"
            | "Movbe"
            | "Bswap"
            | "Crc32"
    ) {
        g |= Group::BitOps.bit();
    }
    if code.is_string_instruction() {
        g |= Group::String.bit();
    }
    if g == 0 {
        g |= Group::IntAlu.bit();
    }
    g | Group::Mixed.bit()
}

fn allowed_feature(f: CpuidFeature, opts: &Options) -> bool {
    use CpuidFeature as F;
    match f {
        F::INTEL8086
        | F::INTEL186
        | F::INTEL286
        | F::INTEL386
        | F::INTEL486
        | F::X64
        | F::CMOV
        | F::CX8
        | F::CMPXCHG16B
        | F::FPU
        | F::FPU287
        | F::FPU387
        | F::FXSR
        | F::MMX
        | F::SSE
        | F::SSE2
        | F::SSE3
        | F::SSSE3
        | F::SSE4_1
        | F::SSE4_2
        | F::POPCNT
        | F::LZCNT
        | F::MOVBE
        | F::PAUSE
        | F::MULTIBYTENOP => true,
        F::BMI1 => opts.bmi1,
        _ => false,
    }
}

fn reject_reason(code: Code, opts: &Options) -> Option<&'static str> {
    let oc = code.op_code();
    if !oc.is_instruction() || !oc.mode64() || oc.encoding() != EncodingKind::Legacy {
        return Some("not a legacy 64-bit instruction");
    }
    if !code
        .cpuid_features()
        .iter()
        .all(|&f| allowed_feature(f, opts))
    {
        return Some("CPUID feature outside petrel's set");
    }
    if !oc.cpl3() || oc.is_privileged() || oc.must_be_cpl0() {
        return Some("privileged");
    }
    if oc.is_input_output() {
        return Some("I/O");
    }
    let n = cname(code);
    let m = mnem(code);
    if NONDETERMINISTIC_OR_SYSTEM.iter().any(|&x| x == m || x == n) {
        return Some("non-deterministic, system or undefined-result instruction");
    }
    if APPROX.contains(&m.as_str()) && !opts.approx {
        return Some("implementation-specific approximation (PETREL_X86_APPROX=1)");
    }
    if is_undocumented(code) && !opts.undocumented {
        return Some("undocumented alias / obsolete no-op (PETREL_X86_UNDOC=1)");
    }
    use OpCodeOperandKind as K;
    for k in oc.op_kinds() {
        match k {
            K::seg_reg | K::es | K::cs | K::ss | K::ds | K::fs | K::gs => {
                return Some("segment register operand")
            }
            K::br16_1 | K::br16_2 | K::br32_1 | K::br32_4 => return Some("16/32-bit branch"),
            K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_rm
            | K::r32_opcode
            | K::r64_reg
            | K::r64_rm
            | K::r64_opcode
            | K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::mm_or_mem
            | K::xmm_or_mem
            | K::mem
            | K::mem_offs
            | K::mm_reg
            | K::mm_rm
            | K::xmm_reg
            | K::xmm_rm
            | K::al
            | K::cl
            | K::ax
            | K::dx
            | K::eax
            | K::rax
            | K::st0
            | K::sti_opcode
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
            | K::seg_rSI
            | K::es_rDI
            | K::seg_rDI
            | K::seg_rBX_al
            | K::br64_1
            | K::br64_4 => {}
            _ => return Some("unsupported operand kind"),
        }
    }
    match code.flow_control() {
        FlowControl::Next => None,
        FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch => {
            let k = oc.op_kinds();
            if k.len() == 1 && matches!(k[0], K::br64_1 | K::br64_4) {
                None
            } else {
                Some("branch form not generated")
            }
        }
        FlowControl::Exception if m == "Ud2" => None,
        _ => Some("control flow"),
    }
}

/// The group a code is generated in when it is under test (its first group besides Mixed).
pub fn primary_group(ci: &CodeInfo) -> Group {
    Group::ALL
        .iter()
        .copied()
        .find(|g| *g != Group::Mixed && ci.groups & g.bit() != 0)
        .unwrap_or(Group::Mixed)
}

pub fn build_table(opts: &Options) -> Table {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for code in Code::values() {
        match reject_reason(code, opts) {
            None => {
                let branch = matches!(
                    code.flow_control(),
                    FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
                );
                let mut groups = if branch {
                    Group::Cond.bit() | Group::Mixed.bit()
                } else {
                    classify(code)
                };
                if mnem(code) == "Ud2" {
                    groups = Group::IntAlu.bit() | Group::Mixed.bit();
                }
                accepted.push(CodeInfo {
                    code,
                    groups,
                    branch,
                });
            }
            Some(why) => {
                if code.op_code().is_instruction() {
                    rejected.push((code, why));
                }
            }
        }
    }
    let mut by_group = vec![Vec::new(); Group::ALL.len()];
    for (i, c) in accepted.iter().enumerate() {
        for g in Group::ALL {
            if c.groups & g.bit() != 0 {
                by_group[g as usize].push(i);
            }
        }
    }
    Table {
        accepted,
        rejected,
        by_group,
    }
}

// ---------------------------------------------------------------------------------------------
// Registers.

const GPR64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
const GPR32: [Register; 16] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
    Register::R8D,
    Register::R9D,
    Register::R10D,
    Register::R11D,
    Register::R12D,
    Register::R13D,
    Register::R14D,
    Register::R15D,
];
const GPR16: [Register; 16] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::SP,
    Register::BP,
    Register::SI,
    Register::DI,
    Register::R8W,
    Register::R9W,
    Register::R10W,
    Register::R11W,
    Register::R12W,
    Register::R13W,
    Register::R14W,
    Register::R15W,
];
const GPR8: [Register; 20] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
    Register::SPL,
    Register::BPL,
    Register::SIL,
    Register::DIL,
    Register::R8L,
    Register::R9L,
    Register::R10L,
    Register::R11L,
    Register::R12L,
    Register::R13L,
    Register::R14L,
    Register::R15L,
];
const XMM: [Register; 16] = [
    Register::XMM0,
    Register::XMM1,
    Register::XMM2,
    Register::XMM3,
    Register::XMM4,
    Register::XMM5,
    Register::XMM6,
    Register::XMM7,
    Register::XMM8,
    Register::XMM9,
    Register::XMM10,
    Register::XMM11,
    Register::XMM12,
    Register::XMM13,
    Register::XMM14,
    Register::XMM15,
];
const MM: [Register; 8] = [
    Register::MM0,
    Register::MM1,
    Register::MM2,
    Register::MM3,
    Register::MM4,
    Register::MM5,
    Register::MM6,
    Register::MM7,
];
const ST: [Register; 8] = [
    Register::ST0,
    Register::ST1,
    Register::ST2,
    Register::ST3,
    Register::ST4,
    Register::ST5,
    Register::ST6,
    Register::ST7,
];

/// GPR number (RAX=0 .. R15=15) of any GPR alias.
pub fn gpr_index(r: Register) -> Option<usize> {
    if !r.is_gpr() {
        return None;
    }
    GPR64.iter().position(|&x| x == r.full_register())
}

pub const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

// ---------------------------------------------------------------------------------------------
// Flags.

/// iced RflagsBits -> RFLAGS bits.
pub fn rflags_of_iced(m: u32) -> u64 {
    let mut r = 0;
    for (b, f) in [
        (RflagsBits::OF, 0x800u64),
        (RflagsBits::SF, 0x80),
        (RflagsBits::ZF, 0x40),
        (RflagsBits::AF, 0x10),
        (RflagsBits::CF, 0x1),
        (RflagsBits::PF, 0x4),
        (RflagsBits::DF, 0x400),
        (RflagsBits::IF, 0x200),
        (RflagsBits::AC, 0x40000),
    ] {
        if m & b != 0 {
            r |= f;
        }
    }
    r
}

/// iced RflagsBits -> x87 FSW bits (C0 C1 C2 C3).
pub fn fsw_of_iced(m: u32) -> u16 {
    let mut r = 0;
    for (b, f) in [
        (RflagsBits::C0, 0x100u16),
        (RflagsBits::C1, 0x200),
        (RflagsBits::C2, 0x400),
        (RflagsBits::C3, 0x4000),
    ] {
        if m & b != 0 {
            r |= f;
        }
    }
    r
}

const C_BITS: u32 = RflagsBits::C0 | RflagsBits::C1 | RflagsBits::C2 | RflagsBits::C3;

// ---------------------------------------------------------------------------------------------
// The generated case.

#[derive(Clone)]
pub struct Case {
    pub group: Group,
    pub seed: u64,
    pub index: usize,
    /// Code bytes (loaded at CODE); ends with `jmp STOP`.
    pub code: Vec<u8>,
    /// Decoded instructions (with their IPs), including the final jump.
    pub insns: Vec<Instruction>,
    /// Undefined flags (iced RflagsBits: RFLAGS and x87 C0-C3) before each instruction of `insns`.
    pub undef_before: Vec<u32>,
    /// Undefined flags at STOP.
    pub undef_end: u32,
    pub state: UserState,
    pub data: Vec<u8>,
    /// Data-window bits not to compare: (offset, mask of ignored bits).
    pub data_ignore: Vec<(usize, u8)>,
    /// Code under test (enumerated mode).
    pub focus: Option<Code>,
}

impl Case {
    /// Undefined flags (iced bits) when execution stopped at `rip`.
    pub fn undef_at(&self, rip: u64, done: bool) -> u32 {
        if done {
            return self.undef_end;
        }
        match self.insns.iter().position(|i| i.ip() == rip) {
            Some(k) => self.undef_before[k],
            None => self.undef_before.iter().fold(self.undef_end, |a, &b| a | b),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Interesting values.

fn interesting_u64(r: &mut Rng) -> u64 {
    const V: &[u64] = &[
        0,
        1,
        2,
        3,
        7,
        8,
        0x1F,
        0x20,
        0x3F,
        0x40,
        0x7F,
        0x80,
        0xFF,
        0x100,
        0x7FFF,
        0x8000,
        0xFFFF,
        0x1_0000,
        0x7FFF_FFFF,
        0x8000_0000,
        0xFFFF_FFFF,
        0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000,
        u64::MAX,
        u64::MAX - 1,
        0x5555_5555_5555_5555,
        0xAAAA_AAAA_AAAA_AAAA,
        0x0123_4567_89AB_CDEF,
    ];
    match r.below(10) {
        0..=2 => r.pick(V),
        3 => {
            let b = r.below(64);
            let v = 1u64 << b;
            match r.below(3) {
                0 => v,
                1 => v.wrapping_sub(1),
                _ => v.wrapping_neg(),
            }
        }
        4 => r.range(-300, 300) as u64,
        5 => r.next_u64() & 0xFF,
        6 => r.next_u64() as u32 as u64,
        7 => (r.next_u64() as i32) as i64 as u64,
        8 => r.pick(V) ^ (1 << r.below(64)),
        _ => r.next_u64(),
    }
}

fn f32_bits(r: &mut Rng) -> u32 {
    const V: &[u32] = &[
        0x0000_0000,
        0x8000_0000,
        0x3F80_0000,
        0xBF80_0000,
        0x3F00_0000,
        0x4000_0000,
        0x4040_0000,
        0x3FC0_0000,
        0x7F80_0000,
        0xFF80_0000,
        0x7FC0_0000,
        0xFFC0_0000,
        0x7F80_0001,
        0x7FA0_0000,
        0x0000_0001,
        0x007F_FFFF,
        0x0080_0000,
        0x7F7F_FFFF,
        0x4B80_0000,
        0x4F00_0000,
        0xCF00_0000,
        0x5F00_0000,
        0xDF00_0000,
        0x4EFF_FFFF,
        0x3EAA_AAAB,
        0x3F7F_FFFF,
        0x4B00_0000,
    ];
    match r.below(8) {
        0..=2 => r.pick(V),
        3..=5 => {
            let s = (r.below(2) as u32) << 31;
            let e = (r.range(110, 150) as u32) << 23;
            s | e | (r.next_u32() & 0x7F_FFFF)
        }
        6 => {
            ((r.range(-100, 100) as f32) + r.pick(&[0.0f32, 0.5, 0.25, 0.75, 0.49999997])).to_bits()
        }
        _ => r.next_u32(),
    }
}

fn f64_bits(r: &mut Rng) -> u64 {
    const V: &[u64] = &[
        0,
        0x8000_0000_0000_0000,
        0x3FF0_0000_0000_0000,
        0xBFF0_0000_0000_0000,
        0x3FE0_0000_0000_0000,
        0x4000_0000_0000_0000,
        0x7FF0_0000_0000_0000,
        0xFFF0_0000_0000_0000,
        0x7FF8_0000_0000_0000,
        0xFFF8_0000_0000_0000,
        0x7FF0_0000_0000_0001,
        0x7FF4_0000_0000_0000,
        0x0000_0000_0000_0001,
        0x000F_FFFF_FFFF_FFFF,
        0x0010_0000_0000_0000,
        0x7FEF_FFFF_FFFF_FFFF,
        0x41E0_0000_0000_0000,
        0xC1E0_0000_0000_0000,
        0x43E0_0000_0000_0000,
        0xC3E0_0000_0000_0000,
        0x41DF_FFFF_FFC0_0000,
        0x3FD5_5555_5555_5555,
        0x4330_0000_0000_0000,
        0x3690_0000_0000_0000,
        0x47EF_FFFF_E000_0000,
        0x47EF_FFFF_F000_0000,
    ];
    match r.below(8) {
        0..=2 => r.pick(V),
        3..=5 => {
            let s = r.below(2) << 63;
            let e = (r.range(1000, 1050) as u64) << 52;
            s | e | (r.next_u64() & 0xF_FFFF_FFFF_FFFF)
        }
        6 => ((r.range(-100000, 100000) as f64)
            + r.pick(&[0.0f64, 0.5, 0.25, 0.75, 0.49999999999999994]))
        .to_bits(),
        _ => r.next_u64(),
    }
}

/// An 80-bit extended value: (mantissa, sign|exponent).
fn f80(r: &mut Rng) -> (u64, u16) {
    const J: u64 = 1 << 63;
    match r.below(16) {
        0 => (0, 0),
        1 => (0, 0x8000),
        2 => (J, 0x3FFF),
        3 => (J, 0xBFFF),
        4 => (J, 0x7FFF),
        5 => (J, 0xFFFF),
        6 => (J | 1 << 62, 0x7FFF | (r.below(2) as u16) << 15),
        7 => (J | (r.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 1, 0x7FFF), // SNaN
        8 => (r.next_u64() & !J, (r.below(2) as u16) << 15),           // denormal
        9 => {
            // integer-valued
            let v = r.range(-1_000_000, 1_000_000) as f64 + r.pick(&[0.0, 0.5, 0.25]);
            f80_of_f64(v)
        }
        10 => {
            // huge / tiny
            let e = r.pick(&[
                1u16,
                2,
                0x7FFE,
                0x7FFD,
                0x3FFF + 63,
                0x3FFF + 64,
                0x3FFF + 31,
                0x3FFF + 15,
            ]);
            (J | r.next_u64() >> 1, e | (r.below(2) as u16) << 15)
        }
        11 if r.chance(1, 4) => (r.next_u64() & !J, 1 + r.below(0x7FFE) as u16), // unnormal (invalid operand)
        12 if r.chance(1, 4) => (J | r.next_u64(), 0),                           // pseudo-denormal
        _ => {
            let e = (0x3FFF + r.range(-70, 70)) as u16;
            (J | r.next_u64(), e | (r.below(2) as u16) << 15)
        }
    }
}

fn f80_of_f64(v: f64) -> (u64, u16) {
    let b = v.to_bits();
    let s = ((b >> 63) as u16) << 15;
    let e = ((b >> 52) & 0x7FF) as i32;
    let m = b & 0xF_FFFF_FFFF_FFFF;
    if e == 0 && m == 0 {
        return (0, s);
    }
    // normal values only (callers pass normal numbers)
    let e80 = (e - 1023 + 16383) as u16;
    ((1 << 63) | (m << 11), s | e80)
}

fn fill_xmm(r: &mut Rng, out: &mut [u8]) {
    match r.below(10) {
        0 | 1 => {
            for c in out.chunks_mut(4) {
                c.copy_from_slice(&f32_bits(r).to_le_bytes());
            }
        }
        2 | 3 => {
            for c in out.chunks_mut(8) {
                c.copy_from_slice(&f64_bits(r).to_le_bytes());
            }
        }
        4 => {
            for c in out.chunks_mut(8) {
                c.copy_from_slice(&interesting_u64(r).to_le_bytes());
            }
        }
        5 => {
            for c in out.chunks_mut(2) {
                c.copy_from_slice(&(interesting_u64(r) as u16).to_le_bytes());
            }
        }
        6 => {
            // short strings for PCMPxSTRx
            for b in out.iter_mut() {
                *b = if r.chance(1, 8) {
                    0
                } else {
                    b'a' + r.below(4) as u8
                };
            }
        }
        7 => {
            let v = r.pick(&[0u8, 0xFF, 0x80, 0x7F]);
            out.fill(v);
        }
        _ => {
            for b in out.iter_mut() {
                *b = r.next_u32() as u8;
            }
        }
    }
}

fn random_mxcsr(r: &mut Rng) -> u32 {
    let mut m = 0x1F80u32;
    m = (m & !0x6000) | ((r.below(4) as u32) << 13);
    if r.chance(1, 8) {
        m &= !((r.next_u32() & 0x3F) << 7); // unmask some exceptions
    }
    if r.chance(1, 8) {
        m |= 0x8000; // FTZ
    }
    if r.chance(1, 8) {
        m |= 0x40; // DAZ
    }
    if r.chance(1, 3) {
        m |= r.next_u32() & 0x3F; // sticky flags
    }
    m
}

fn random_fcw(r: &mut Rng, unmask: bool) -> u16 {
    let pc = r.pick(&[0u16, 2, 3, 3]);
    let rc = r.below(4) as u16;
    let mut cw = 0x0040 | 0x3F | (pc << 8) | (rc << 10);
    if unmask {
        cw &= !(r.next_u32() as u16 & 0x3F);
    }
    cw
}

/// A random x87/SSE state in FXSAVE64 layout (valid for FXRSTOR64).
pub fn random_fxsave(r: &mut Rng, x87_unmask: bool) -> [u8; 512] {
    let mut fx = [0u8; 512];
    let um = x87_unmask && r.chance(1, 16);
    let fcw = random_fcw(r, um);
    let top = r.below(8) as u16;
    let mut fsw = (top << 11) | (r.next_u32() as u16 & 0x4700);
    // exception flags only for masked exceptions (no pending #MF); ES = B = 0
    fsw |= r.next_u32() as u16 & 0x3F & fcw & (r.chance(1, 3) as u16 * 0x3F);
    let ftw = match r.below(4) {
        0 => 0u8,
        1 => 0xFF,
        _ => r.next_u32() as u8 | r.next_u32() as u8,
    };
    fx[0..2].copy_from_slice(&fcw.to_le_bytes());
    fx[2..4].copy_from_slice(&fsw.to_le_bytes());
    fx[4] = ftw;
    let mx = random_mxcsr(r);
    fx[24..28].copy_from_slice(&mx.to_le_bytes());
    fx[28..32].copy_from_slice(&0xFFFFu32.to_le_bytes());
    for i in 0..8 {
        let (m, se) = f80(r);
        fx[32 + 16 * i..40 + 16 * i].copy_from_slice(&m.to_le_bytes());
        fx[40 + 16 * i..42 + 16 * i].copy_from_slice(&se.to_le_bytes());
    }
    for i in 0..16 {
        fill_xmm(r, &mut fx[160 + 16 * i..176 + 16 * i]);
    }
    fx
}

fn fill_rich(r: &mut Rng, data: &mut [u8]) {
    for c in data.chunks_mut(16) {
        match r.below(8) {
            0 => c.fill(0),
            1 | 2 => {
                for q in c.chunks_mut(8) {
                    q.copy_from_slice(&interesting_u64(r).to_le_bytes());
                }
            }
            3 | 4 => fill_xmm(r, c),
            5 => {
                let (m, se) = f80(r);
                c[0..8].copy_from_slice(&m.to_le_bytes());
                c[8..10].copy_from_slice(&se.to_le_bytes());
                c[10..16].copy_from_slice(&(r.next_u64().to_le_bytes()[..6]));
            }
            _ => {
                for q in c.chunks_mut(8) {
                    q.copy_from_slice(&r.next_u64().to_le_bytes());
                }
            }
        }
    }
}

/// Random window contents: 4 KiB of varied values (integers, floats, x87 values, strings),
/// tiled over the window with a different rotation per tile, plus some fully random chunks.
fn fill_data(r: &mut Rng, data: &mut [u8]) {
    let mut rich = [0u8; 4096];
    fill_rich(r, &mut rich);
    for tile in data.chunks_mut(4096) {
        let rot = (r.below(256) * 16) as usize;
        tile[..4096 - rot].copy_from_slice(&rich[rot..]);
        tile[4096 - rot..].copy_from_slice(&rich[..rot]);
        for _ in 0..16 {
            let o = (r.below(256) * 16) as usize;
            tile[o..o + 8].copy_from_slice(&r.next_u64().to_le_bytes());
            tile[o + 8..o + 16].copy_from_slice(&r.next_u64().to_le_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation.

#[derive(Clone, Copy, PartialEq, Eq)]
enum RegRole {
    Free,
    /// Constant pointer into the data window.
    Base,
    /// Constant small signed index.
    Index,
    /// RSI/RDI for string instructions (moves by small amounts).
    StringPtr,
    /// RSP (moved by push/pop).
    Stack,
}

struct Item {
    insns: Vec<Instruction>,
    /// Forward branch: code and target item index (items.len() = end).
    branch: Option<(Code, usize)>,
}

pub struct Generator<'t> {
    table: &'t Table,
    opts: Options,
    rng: Rng,
    roles: [RegRole; 16],
    vals: [u64; 16],
    data: Vec<u8>,
    ignore: Vec<(usize, u8)>,
    prep_cursor: u64,
    saves: Vec<(u64, Code)>,
    factory: InstructionInfoFactory,
    encoder: Encoder,
    undef: u32,
    /// For the item being built: undefined flags before each of its instructions.
    item_undef: Vec<u32>,
    group: Group,
    /// The access being built must be aligned (locked accesses).
    force_align: bool,
}

fn is_shift_rotate(m: &str) -> bool {
    matches!(
        m,
        "Rol" | "Ror" | "Rcl" | "Rcr" | "Shl" | "Shr" | "Sal" | "Sar" | "Shld" | "Shrd"
    )
}

fn access_writes(a: OpAccess) -> bool {
    matches!(
        a,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

impl<'t> Generator<'t> {
    pub fn new(table: &'t Table, opts: Options, seed: u64) -> Generator<'t> {
        Generator {
            table,
            opts,
            rng: Rng::new(seed),
            roles: [RegRole::Free; 16],
            vals: [0; 16],
            data: vec![0; DATA_SIZE],
            ignore: Vec::new(),
            prep_cursor: PREP_START,
            saves: Vec::new(),
            factory: InstructionInfoFactory::new(),
            encoder: Encoder::new(64),
            undef: 0,
            item_undef: Vec::new(),
            group: Group::Mixed,
            force_align: false,
        }
    }

    /// Restarts the random sequence: a case depends only on this seed (and the arguments of
    /// `generate`), not on the cases generated before.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    fn encode_len(&mut self, ins: &Instruction, ip: u64) -> Option<usize> {
        let r = self.encoder.encode(ins, ip).ok();
        let _ = self.encoder.take_buffer();
        r
    }

    // --- state -----------------------------------------------------------------------------

    fn setup_state(&mut self, need_string: bool, need_rbx: bool) -> UserState {
        let r = &mut self.rng;
        let mut st = UserState::default();
        self.roles = [RegRole::Free; 16];
        for v in self.vals.iter_mut() {
            *v = interesting_u64(r);
        }
        self.roles[4] = RegRole::Stack;
        self.vals[4] =
            DATA + RSP_INIT - 8 * r.below(16) - if r.chance(1, 8) { r.below(8) } else { 0 };
        let mut edge = false;
        if need_string || r.chance(1, 3) {
            for (i, v) in [(6usize, 0x2000u64), (7, 0x9000)] {
                self.roles[i] = RegRole::StringPtr;
                self.vals[i] = DATA + v + r.below(0x3000);
            }
            if r.chance(1, 8) {
                // just above the start of the window: REP string instructions running down
                // (DF=1) fault part-way (#PF with partial progress)
                let i = r.pick(&[6usize, 7]);
                self.vals[i] = DATA + r.below(0x40);
                edge = true;
            }
        }
        let mut free: Vec<usize> = (0..16)
            .filter(|&i| self.roles[i] == RegRole::Free)
            .collect();
        let take = |r: &mut Rng, free: &mut Vec<usize>| -> usize {
            let k = r.below(free.len() as u64) as usize;
            free.remove(k)
        };
        let mut bases = Vec::new();
        if need_rbx || r.chance(1, 4) {
            if let Some(p) = free.iter().position(|&x| x == 3) {
                free.remove(p);
                bases.push(3);
            }
        }
        while bases.len() < 2 {
            bases.push(take(r, &mut free));
        }
        for &b in &bases {
            self.roles[b] = RegRole::Base;
            self.vals[b] = DATA + 0x1000 + r.below(0xC000);
            if r.chance(3, 4) {
                self.vals[b] &= !7;
            }
        }
        let x = take(r, &mut free);
        self.roles[x] = RegRole::Index;
        self.vals[x] = r.range(-0x40, 0x40) as u64;
        st.gpr = self.vals;
        let arith = r.next_u64() & (0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800);
        let df = if r.chance(if edge { 3 } else { 1 }, 4) {
            0x400
        } else {
            0
        };
        st.rflags = 0x202 | arith | df;
        st.rip = CODE;
        let x87_unmask = self.group == Group::X87;
        st.fxsave = random_fxsave(r, x87_unmask);
        fill_data(r, &mut self.data);
        st
    }

    // --- operands ----------------------------------------------------------------------------

    fn pick_gpr(&mut self) -> usize {
        self.rng.below(16) as usize
    }

    fn bases(&self) -> Vec<usize> {
        (0..16)
            .filter(|&i| self.roles[i] == RegRole::Base)
            .collect()
    }

    fn index_reg(&self) -> usize {
        (0..16).find(|&i| self.roles[i] == RegRole::Index).unwrap()
    }

    fn imm(&mut self, bits: u32) -> u64 {
        let r = &mut self.rng;
        let v = match r.below(6) {
            0 => r.below(8),
            1 => r.pick(&[
                0u64, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0x7F, 0x80, 0xFF,
            ]),
            2 => r.range(-4, 4) as u64,
            _ => interesting_u64(r),
        };
        if bits >= 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        }
    }

    /// Picks an address (absolute) for an access of `size` bytes.
    fn pick_target(&mut self, size: u64, align: u64, prepared: bool) -> Option<u64> {
        let bases = self.bases();
        let r = &mut self.rng;
        if prepared {
            let a = align.max(16);
            let start = (self.prep_cursor + a - 1) & !(a - 1);
            let mis = if align > 1 && r.chance(1, 16) {
                r.range(1, 15) as u64
            } else {
                0
            };
            if start + size.max(16) + 16 > PREP_END {
                return None;
            }
            self.prep_cursor = start + size.max(16) + 16;
            return Some(DATA + start + mis);
        }
        let off = match r.below(120) {
            0 | 1 => 0x1_0000 - r.range(1, size as i64 + 8) as u64, // straddles / at the end of the window
            2 => (r.range(-(size as i64) - 8, -1)) as u64,          // straddles / before the start
            3 => 0x1_0000 + r.below(0x100),                         // past the end
            4..=6 => r.pick(&[0u64, 0x1_0000 - size]),
            7..=39 => {
                // near a base register (short displacements)
                let b = r.pick(&bases);
                let o = (self.vals[b] - DATA).wrapping_add(r.range(-128, 127) as u64);
                if o.wrapping_add(size) <= GENERAL_END {
                    o
                } else {
                    r.below(GENERAL_END - size)
                }
            }
            40..=48 => PREP_END + r.below(0x1_0000 - PREP_END - size),
            _ => r.below(GENERAL_END - size),
        };
        let mut a = DATA.wrapping_add(off);
        if align > 1 && (self.force_align || r.chance(15, 16)) {
            a &= !(align - 1);
        }
        Some(a)
    }

    /// Builds a memory operand for absolute address `a`.
    fn set_mem(&mut self, ins: &mut Instruction, op: u32, a: u64, allow_rsp: bool) {
        ins.set_op_kind(op, OpKind::Memory);
        let bases = self.bases();
        let x = self.index_reg();
        let form = self.rng.below(100);
        let (base, index, scale, disp, dsize): (Register, Register, u32, u64, u32);
        if allow_rsp && form < 5 {
            // rsp-relative (RSP moves, so only for plain accesses near the stack)
            let d = self.rng.range(-0x80, 0x78) as u64;
            base = Register::RSP;
            index = Register::None;
            scale = 1;
            disp = d;
            dsize = if (d as i64) >= -128 && (d as i64) < 128 && self.rng.chance(3, 4) {
                1
            } else {
                8
            };
        } else if form < 45 {
            let b = self.rng.pick(&bases);
            base = GPR64[b];
            index = Register::None;
            scale = 1;
            disp = a.wrapping_sub(self.vals[b]);
            dsize = if (disp as i64) >= -128 && (disp as i64) < 128 && self.rng.chance(7, 8) {
                if disp == 0 && self.rng.chance(1, 2) {
                    0
                } else {
                    1
                }
            } else {
                8
            };
        } else if form < 68 {
            let b = self.rng.pick(&bases);
            let s = self.rng.pick(&[1u32, 2, 4, 8]);
            base = GPR64[b];
            index = GPR64[x];
            scale = s;
            disp = a
                .wrapping_sub(self.vals[b])
                .wrapping_sub(self.vals[x].wrapping_mul(s as u64));
            dsize = if (disp as i64) >= -128 && (disp as i64) < 128 {
                if disp == 0 && self.rng.chance(1, 2) {
                    0
                } else {
                    1
                }
            } else {
                8
            };
        } else if form < 74 {
            let s = self.rng.pick(&[1u32, 2, 4, 8]);
            base = Register::None;
            index = GPR64[x];
            scale = s;
            disp = a.wrapping_sub(self.vals[x].wrapping_mul(s as u64));
            dsize = 8;
        } else if form < 80 {
            base = Register::None;
            index = Register::None;
            scale = 1;
            disp = a;
            dsize = 8;
        } else if form < 92 {
            base = Register::RIP;
            index = Register::None;
            scale = 1;
            disp = a;
            dsize = 8;
        } else {
            // 32-bit addressing (67h): the window is below 4 GiB
            let b = self.rng.pick(&bases);
            let use_index = self.rng.chance(1, 2);
            let s = if use_index {
                self.rng.pick(&[1u32, 2, 4, 8])
            } else {
                1
            };
            base = GPR32[b];
            index = if use_index { GPR32[x] } else { Register::None };
            scale = s;
            let xv = if use_index {
                (self.vals[x] as u32 as u64).wrapping_mul(s as u64)
            } else {
                0
            };
            disp = (a.wrapping_sub(self.vals[b] as u32 as u64).wrapping_sub(xv)) as u32 as u64;
            dsize = if (disp as u32 as i32) >= -128 && (disp as u32 as i32) < 128 {
                1
            } else {
                4
            };
            let dd = if dsize == 1 {
                disp as u32 as i32 as i64 as u64
            } else {
                disp
            };
            ins.set_memory_base(base);
            ins.set_memory_index(index);
            ins.set_memory_index_scale(scale);
            ins.set_memory_displacement64(dd);
            ins.set_memory_displ_size(dsize);
            return;
        }
        ins.set_memory_base(base);
        ins.set_memory_index(index);
        ins.set_memory_index_scale(scale);
        ins.set_memory_displacement64(disp);
        ins.set_memory_displ_size(dsize);
    }

    fn prepared_kind(m: &str) -> bool {
        matches!(
            m,
            "Fxsave"
                | "Fxsave64"
                | "Fxrstor"
                | "Fxrstor64"
                | "Fnsave"
                | "Fsave"
                | "Frstor"
                | "Fnstenv"
                | "Fstenv"
                | "Fldenv"
                | "Ldmxcsr"
                | "Fldcw"
                | "Fbld"
        )
    }

    /// Fills the prepared image for a load-type instruction at address `a`.
    fn prepare(&mut self, m: &str, code: Code, a: u64) {
        let off = (a - DATA) as usize;
        let r = &mut self.rng;
        match m {
            "Ldmxcsr" => {
                let mut v = random_mxcsr(r);
                if r.chance(1, 16) {
                    v |= 1 << r.range(16, 31);
                }
                self.data[off..off + 4].copy_from_slice(&v.to_le_bytes());
            }
            "Fldcw" => {
                let um = r.chance(1, 8);
                let v = if r.chance(1, 8) {
                    r.next_u32() as u16
                } else {
                    random_fcw(r, um)
                };
                self.data[off..off + 2].copy_from_slice(&v.to_le_bytes());
            }
            "Fxrstor" | "Fxrstor64" => {
                let um = r.chance(1, 8);
                let mut fx = random_fxsave(r, um);
                if r.chance(1, 16) {
                    fx[26] |= 1 << r.below(8); // reserved MXCSR bits -> #GP
                }
                for b in fx[464..512].iter_mut() {
                    *b = r.next_u32() as u8;
                }
                self.data[off..off + 512].copy_from_slice(&fx);
            }
            "Fldenv" | "Frstor" => {
                let small = cname(code).contains("14") || cname(code).contains("94");
                let um = r.chance(1, 8);
                let fx = random_fxsave(r, um);
                let fcw = u16::from_le_bytes([fx[0], fx[1]]);
                let fsw = u16::from_le_bytes([fx[2], fx[3]]);
                let ftw = r.next_u32() as u16 | if r.chance(1, 2) { 0xAAAA } else { 0 };
                let env_len = if small { 14 } else { 28 };
                let mut env = vec![0u8; env_len];
                for b in env.iter_mut() {
                    *b = r.next_u32() as u8;
                }
                if small {
                    env[0..2].copy_from_slice(&fcw.to_le_bytes());
                    env[2..4].copy_from_slice(&fsw.to_le_bytes());
                    env[4..6].copy_from_slice(&ftw.to_le_bytes());
                } else {
                    env[0..2].copy_from_slice(&fcw.to_le_bytes());
                    env[4..6].copy_from_slice(&fsw.to_le_bytes());
                    env[8..10].copy_from_slice(&ftw.to_le_bytes());
                }
                self.data[off..off + env_len].copy_from_slice(&env);
                if m == "Frstor" {
                    for i in 0..8 {
                        let (mm, se) = f80(r);
                        let o = off + env_len + 10 * i;
                        self.data[o..o + 8].copy_from_slice(&mm.to_le_bytes());
                        self.data[o + 8..o + 10].copy_from_slice(&se.to_le_bytes());
                    }
                }
            }
            "Fbld" => {
                for i in 0..9 {
                    let lo = r.below(10) as u8;
                    let hi = r.below(10) as u8;
                    self.data[off + i] = lo | hi << 4;
                }
                self.data[off + 9] = if r.chance(1, 2) { 0x80 } else { 0 };
            }
            _ => {}
        }
    }

    /// Bits of a stored x87 environment / FXSAVE image not to compare.
    fn ignore_image(&mut self, m: &str, code: Code, a: u64, undef: u32) {
        let off = (a.wrapping_sub(DATA)) as usize;
        if off >= DATA_SIZE {
            return;
        }
        let mut ign: Vec<(usize, u8)> = Vec::new();
        let range = |ign: &mut Vec<(usize, u8)>, s: usize, e: usize| {
            for o in s..e {
                ign.push((o, 0xFF));
            }
        };
        let c_undef = fsw_of_iced(undef & C_BITS);
        let fsw_off;
        match m {
            "Fxsave" | "Fxsave64" => {
                range(&mut ign, 5, 6);
                if !self.opts.fpu_pointers {
                    range(&mut ign, 6, 24);
                } else {
                    range(&mut ign, 14, 16);
                    range(&mut ign, 22, 24);
                }
                for i in 0..8 {
                    range(&mut ign, 32 + 16 * i + 10, 32 + 16 * i + 16);
                }
                range(&mut ign, 416, 464);
                fsw_off = 2;
            }
            _ => {
                let small = cname(code).contains("14") || cname(code).contains("94");
                if small {
                    if !self.opts.fpu_pointers {
                        range(&mut ign, 6, 14);
                    }
                    fsw_off = 2;
                } else {
                    range(&mut ign, 2, 4);
                    range(&mut ign, 6, 8);
                    range(&mut ign, 10, 12);
                    if !self.opts.fpu_pointers {
                        range(&mut ign, 12, 28);
                    } else {
                        range(&mut ign, 26, 28);
                    }
                    fsw_off = 4;
                }
            }
        }
        if c_undef != 0 {
            ign.push((fsw_off + 1, (c_undef >> 8) as u8));
        }
        for (o, mask) in ign {
            if off + o < DATA_SIZE {
                self.ignore.push((off + o, mask));
            }
        }
    }

    /// Builds one instruction of `code` with random operands, plus helper instructions before
    /// it. Returns None if this attempt does not satisfy the constraints.
    fn build(&mut self, code: Code) -> Option<Vec<Instruction>> {
        use OpCodeOperandKind as K;
        let oc = code.op_code();
        let m = mnem(code);
        let mut ins = Instruction::default();
        ins.set_code(code);
        let mut pre: Vec<Instruction> = Vec::new();
        let msize = oc.memory_size().size() as u64;
        let msize = if msize == 0 { 16 } else { msize };
        let prepared = Self::prepared_kind(&m);
        // Locked accesses stay within a cache line (split locks may be trapped and throttled
        // by the kernel: split_lock_detect).
        let want_lock = oc.can_use_lock_prefix() && self.rng.chance(1, 4);
        let align = if m.starts_with("Fxsave")
            || m.starts_with("Fxrstor")
            || m == "Cmpxchg16b"
            || msize >= 16 && !prepared
        {
            16
        } else if want_lock || m == "Xchg" || m == "Cmpxchg8b" {
            msize.next_power_of_two().min(16)
        } else {
            1
        };
        let mut mem_addr: Option<u64> = None;
        let mut prev_imm8 = false;
        self.force_align = want_lock || m == "Xchg" || m == "Cmpxchg8b";
        let mut shift_count: Option<Option<u64>> = None; // Some(None) = CL
        for (i, &k) in oc.op_kinds().iter().enumerate() {
            let i = i as u32;
            let mut is_imm8 = false;
            let reg_or_mem = |g: &mut Self| g.rng.chance(1, 2);
            match k {
                K::r8_reg | K::r8_opcode => ins.set_op_register(i, self.rng.pick(&GPR8)),
                K::r16_reg | K::r16_rm | K::r16_opcode => {
                    ins.set_op_register(i, GPR16[self.pick_gpr()])
                }
                K::r32_reg | K::r32_rm | K::r32_opcode => {
                    ins.set_op_register(i, GPR32[self.pick_gpr()])
                }
                K::r64_reg | K::r64_rm | K::r64_opcode => {
                    ins.set_op_register(i, GPR64[self.pick_gpr()])
                }
                K::mm_reg | K::mm_rm => ins.set_op_register(i, self.rng.pick(&MM)),
                K::xmm_reg | K::xmm_rm => ins.set_op_register(i, self.rng.pick(&XMM)),
                K::r8_or_mem
                | K::r16_or_mem
                | K::r32_or_mem
                | K::r64_or_mem
                | K::mm_or_mem
                | K::xmm_or_mem
                    if reg_or_mem(self) =>
                {
                    let r = match k {
                        K::r8_or_mem => self.rng.pick(&GPR8),
                        K::r16_or_mem => GPR16[self.pick_gpr()],
                        K::r32_or_mem => GPR32[self.pick_gpr()],
                        K::r64_or_mem => GPR64[self.pick_gpr()],
                        K::mm_or_mem => self.rng.pick(&MM),
                        _ => self.rng.pick(&XMM),
                    };
                    ins.set_op_register(i, r);
                }
                K::r8_or_mem
                | K::r16_or_mem
                | K::r32_or_mem
                | K::r64_or_mem
                | K::mm_or_mem
                | K::xmm_or_mem
                | K::mem => {
                    let a = if m.starts_with("Fxrstor")
                        && !self.saves.is_empty()
                        && self.rng.chance(1, 2)
                    {
                        let k = self.rng.below(self.saves.len() as u64) as usize;
                        self.saves[k].0
                    } else {
                        let a = self.pick_target(msize, align, prepared)?;
                        if prepared {
                            self.prepare(&m, code, a);
                        }
                        a
                    };
                    mem_addr = Some(a);
                    let allow_rsp = !prepared && !m.starts_with("Bt") && align == 1;
                    self.set_mem(&mut ins, i, a, allow_rsp);
                }
                K::mem_offs => {
                    let a = self.pick_target(msize, 1, false)?;
                    ins.set_op_kind(i, OpKind::Memory);
                    ins.set_memory_base(Register::None);
                    ins.set_memory_index(Register::None);
                    ins.set_memory_index_scale(1);
                    ins.set_memory_displacement64(a);
                    ins.set_memory_displ_size(8);
                    mem_addr = Some(a);
                }
                K::al => ins.set_op_register(i, Register::AL),
                K::cl => {
                    ins.set_op_register(i, Register::CL);
                    if is_shift_rotate(&m) {
                        shift_count = Some(None);
                    }
                }
                K::ax => ins.set_op_register(i, Register::AX),
                K::dx => ins.set_op_register(i, Register::DX),
                K::eax => ins.set_op_register(i, Register::EAX),
                K::rax => ins.set_op_register(i, Register::RAX),
                K::st0 => ins.set_op_register(i, Register::ST0),
                K::sti_opcode => ins.set_op_register(i, self.rng.pick(&ST)),
                K::imm8 => {
                    let mut v = self.imm(8);
                    if m.starts_with("Pcmp") && (m.contains("str")) {
                        v &= 0x7F;
                    }
                    if matches!(m.as_str(), "Cmpps" | "Cmppd" | "Cmpss" | "Cmpsd")
                        && self.rng.chance(7, 8)
                    {
                        v &= 7;
                    }
                    if matches!(m.as_str(), "Roundps" | "Roundpd" | "Roundss" | "Roundsd")
                        && self.rng.chance(7, 8)
                    {
                        v &= 0xF;
                    }
                    if prev_imm8 {
                        ins.set_op_kind(i, OpKind::Immediate8_2nd);
                        ins.set_immediate8_2nd(v as u8);
                    } else {
                        ins.set_op_kind(i, OpKind::Immediate8);
                        ins.set_immediate8(v as u8);
                    }
                    if is_shift_rotate(&m) {
                        shift_count = Some(Some(v));
                    }
                    is_imm8 = true;
                }
                K::imm8_const_1 => {
                    ins.set_op_kind(i, OpKind::Immediate8);
                    ins.set_immediate8(1);
                    shift_count = Some(Some(1));
                }
                K::imm8sex16 => {
                    ins.set_op_kind(i, OpKind::Immediate8to16);
                    ins.set_immediate8to16(self.imm(8) as u8 as i8 as i16);
                }
                K::imm8sex32 => {
                    ins.set_op_kind(i, OpKind::Immediate8to32);
                    ins.set_immediate8to32(self.imm(8) as u8 as i8 as i32);
                }
                K::imm8sex64 => {
                    ins.set_op_kind(i, OpKind::Immediate8to64);
                    ins.set_immediate8to64(self.imm(8) as u8 as i8 as i64);
                }
                K::imm16 => {
                    ins.set_op_kind(i, OpKind::Immediate16);
                    ins.set_immediate16(self.imm(16) as u16);
                }
                K::imm32 => {
                    ins.set_op_kind(i, OpKind::Immediate32);
                    ins.set_immediate32(self.imm(32) as u32);
                }
                K::imm32sex64 => {
                    ins.set_op_kind(i, OpKind::Immediate32to64);
                    ins.set_immediate32to64(self.imm(32) as u32 as i32 as i64);
                }
                K::imm64 => {
                    ins.set_op_kind(i, OpKind::Immediate64);
                    ins.set_immediate64(self.imm(64));
                }
                K::seg_rSI => ins.set_op_kind(i, OpKind::MemorySegRSI),
                K::es_rDI => ins.set_op_kind(i, OpKind::MemoryESRDI),
                K::seg_rDI => ins.set_op_kind(i, OpKind::MemorySegRDI),
                K::seg_rBX_al => {
                    ins.set_op_kind(i, OpKind::Memory);
                    ins.set_memory_base(Register::RBX);
                    ins.set_memory_index(Register::AL);
                    ins.set_memory_index_scale(1);
                    ins.set_memory_displ_size(0);
                }
                _ => return None,
            }
            prev_imm8 = is_imm8;
        }
        // 32-bit addressing for string instructions, sometimes
        if code.is_string_instruction() && self.rng.chance(1, 8) {
            for i in 0..ins.op_count() {
                let k = match ins.op_kind(i) {
                    OpKind::MemorySegRSI => OpKind::MemorySegESI,
                    OpKind::MemoryESRDI => OpKind::MemoryESEDI,
                    OpKind::MemorySegRDI => OpKind::MemorySegEDI,
                    k => k,
                };
                ins.set_op_kind(i, k);
            }
        }
        // Prefixes.
        let mut rep_count: Option<u64> = None;
        if code.is_string_instruction() && self.rng.chance(2, 3) {
            let k = self.rng.pick(&[0u64, 1, 2, 3, 4, 5, 7, 8, 12, 16]);
            if oc.can_use_repne_prefix() && self.rng.chance(1, 2) {
                ins.set_has_repne_prefix(true);
            } else if oc.can_use_rep_prefix() || oc.can_use_repne_prefix() {
                ins.set_has_rep_prefix(true);
            }
            if ins.has_rep_prefix() || ins.has_repne_prefix() {
                if self.roles[1] != RegRole::Free {
                    return None;
                }
                let addr32 = matches!(ins.op_kind(0), OpKind::MemorySegESI | OpKind::MemoryESEDI)
                    || (ins.op_count() > 1
                        && matches!(ins.op_kind(1), OpKind::MemorySegESI | OpKind::MemoryESEDI));
                // ECX (addr32) or RCX: upper bits garbage only matter for 64-bit addressing.
                let v = if addr32 {
                    k | (self.rng.next_u64() & 0xFFFF_FFFF_0000_0000)
                } else {
                    k
                };
                let mut mv = Instruction::with2(Code::Mov_r64_imm64, Register::RCX, v).ok()?;
                if v >> 32 == 0 {
                    mv = Instruction::with2(Code::Mov_r32_imm32, Register::ECX, v as u32).ok()?;
                }
                pre.push(mv);
                rep_count = Some(k);
            }
        }
        if want_lock && mem_addr.is_some() {
            ins.set_has_lock_prefix(true);
        }
        // Helpers.
        if matches!(m.as_str(), "Bt" | "Bts" | "Btr" | "Btc")
            && mem_addr.is_some()
            && ins.op_kind(1) == OpKind::Register
        {
            let r = ins.op_register(1);
            let gi = gpr_index(r)?;
            let off = self.rng.range(-64, 300);
            pre.push(Instruction::with2(Code::Mov_rm64_imm32, GPR64[gi], off as i32).ok()?);
        }
        if (m == "Shld" || m == "Shrd") && ins.op_register(1).size() == 2 {
            match shift_count {
                Some(Some(_)) => {
                    let v = self.rng.range(0, 16) as u8 | ((self.rng.below(8) as u8) << 5);
                    ins.set_immediate8(v);
                    shift_count = Some(Some(v as u64));
                }
                Some(None) => {
                    if self.roles[1] != RegRole::Free {
                        return None;
                    }
                    let v = self.rng.range(0, 16) as u32 | ((self.rng.below(8) as u32) << 5);
                    pre.push(Instruction::with2(Code::Mov_r8_imm8, Register::CL, v).ok()?);
                    shift_count = Some(Some(v as u64));
                }
                None => {}
            }
        }
        if code == Code::Popfq || code == Code::Popfw {
            let v = (self.rng.next_u32() & !(0x100 | 0x4_0000)) as i32;
            pre.push(Instruction::with1(Code::Pushq_imm32, v).ok()?);
        }
        if matches!(m.as_str(), "Div" | "Idiv") && self.rng.chance(2, 3) {
            let r0 = ins.op_kind(0) == OpKind::Register;
            let size = if r0 {
                ins.op_register(0).size()
            } else {
                oc.memory_size().size()
            };
            if size >= 2 && self.roles[2] == RegRole::Free {
                if m == "Idiv" {
                    let c = match size {
                        2 => Code::Cwd,
                        4 => Code::Cdq,
                        _ => Code::Cqo,
                    };
                    pre.push(Instruction::with(c));
                } else {
                    let v = if self.rng.chance(3, 4) {
                        0
                    } else {
                        self.rng.below(4) as u32
                    };
                    pre.push(Instruction::with2(Code::Mov_r32_imm32, Register::EDX, v).ok()?);
                }
            }
        }

        // Encode + decode (the decoded form is what runs).
        let mut all = pre;
        all.push(ins);
        let mut out = Vec::with_capacity(all.len());
        let mut undef = self.undef;
        let mut item_undef = Vec::new();
        for (k, i) in all.iter().enumerate() {
            self.encoder.encode(i, CODE).ok()?;
            let bytes = self.encoder.take_buffer();
            // FWAIT forms (FSTENV = FWAIT + FNSTENV, ...) decode as two instructions.
            let mut decoded = Vec::new();
            let mut dec = Decoder::with_ip(64, &bytes, CODE, DecoderOptions::NONE);
            while dec.can_decode() {
                let d = dec.decode();
                if d.is_invalid() {
                    return None;
                }
                decoded.push(d);
            }
            let is_main = k == all.len() - 1;
            if is_main {
                let ok = if oc.fwait() {
                    decoded.len() == 2 && decoded[0].code() == Code::Wait
                } else {
                    decoded.len() == 1 && decoded[0].code() == code
                };
                if !ok {
                    return None;
                }
            } else if decoded.len() != 1 {
                return None;
            }
            for (j, d) in decoded.into_iter().enumerate() {
                let main = is_main && !(oc.fwait() && j == 0);
                // Checks.
                if !self.check(&d)? {
                    return None;
                }
                // Flags.
                let read = d.rflags_read() | if main { self.extra_reads(&m) } else { 0 };
                if read & undef != 0
                    && !(main
                        && (m.starts_with("Fxsave")
                            || m == "Fnstenv"
                            || m == "Fstenv"
                            || m == "Fnsave"
                            || m == "Fsave"))
                {
                    return None;
                }
                item_undef.push(undef);
                if let Some(a) = mem_addr.filter(|_| main && prepared) {
                    if matches!(
                        m.as_str(),
                        "Fxsave" | "Fxsave64" | "Fnstenv" | "Fstenv" | "Fnsave" | "Fsave"
                    ) {
                        self.ignore_image(&m, code, a, undef);
                        if m.starts_with("Fxsave") {
                            self.saves.push((a, code));
                        }
                    }
                }
                let mut defined = d.rflags_written() | d.rflags_cleared() | d.rflags_set();
                if main && matches!(m.as_str(), "Fxrstor" | "Fxrstor64" | "Frstor") {
                    defined |= C_BITS; // the whole FSW is loaded
                }
                let u = d.rflags_undefined();
                let neutral_count = match (main, shift_count) {
                    (true, Some(None)) => None, // count in CL: may be 0 (flags unchanged)
                    (true, Some(Some(v))) => {
                        let size = if d.op_kind(0) == OpKind::Register {
                            d.op_register(0).size()
                        } else {
                            d.memory_size().size()
                        };
                        let masked = if size == 8 { v & 0x3F } else { v & 0x1F };
                        let rc_mod = if (m == "Rcl" || m == "Rcr") && size <= 2 {
                            masked % (size as u64 * 8 + 1)
                        } else {
                            masked
                        };
                        if masked == 0 {
                            Some(0)
                        } else if rc_mod == 0 {
                            Some(2) // only OF defined-ish: treat as not defining
                        } else {
                            Some(1)
                        }
                    }
                    _ => Some(1),
                };
                let rep_zero = main && rep_count == Some(0) && (ins_has_rep(&d));
                match neutral_count {
                    Some(0) => {}
                    None => undef |= u,
                    // RCL/RCR with a masked count > 1 that rotates by 0 mod 9/17: CF unchanged,
                    // OF undefined (SDM), which iced does not report.
                    Some(2) => undef |= u | RflagsBits::OF,
                    _ if rep_zero => {}
                    _ => undef = (undef & !defined) | u,
                }
                out.push(d);
            }
        }
        self.item_undef = item_undef;
        self.undef = undef;
        Some(out)
    }

    /// Flags an instruction reads that iced does not list (x87 status word stores read C0-C3).
    fn extra_reads(&self, m: &str) -> u32 {
        match m {
            "Fnstsw" | "Fstsw" | "Fnstenv" | "Fstenv" | "Fnsave" | "Fsave" | "Fxsave"
            | "Fxsave64" => C_BITS,
            _ => 0,
        }
    }

    /// Register and memory constraints. Some(false) = reject.
    fn check(&mut self, d: &Instruction) -> Option<bool> {
        let stack = d.is_stack_instruction();
        let string = d.is_string_instruction();
        let mut explicit_regs = Vec::new();
        for i in 0..d.op_count() {
            if d.op_kind(i) == OpKind::Register {
                explicit_regs.push(d.op_register(i));
            }
        }
        let info = self.factory.info(d);
        let used_regs = info.used_registers().to_vec();
        let used_mem = info.used_memory().to_vec();
        for ur in &used_regs {
            let r = ur.register();
            if r.is_segment_register() && access_writes(ur.access()) {
                return Some(false);
            }
            if let Some(gi) = gpr_index(r) {
                if !access_writes(ur.access()) {
                    continue;
                }
                let ok = match self.roles[gi] {
                    RegRole::Free => true,
                    RegRole::Stack => {
                        stack && !explicit_regs.iter().any(|&e| gpr_index(e) == Some(4))
                    }
                    RegRole::StringPtr => string,
                    RegRole::Base | RegRole::Index => false,
                };
                if !ok {
                    return Some(false);
                }
            }
        }
        for um in &used_mem {
            if um.access() == OpAccess::NoMemAccess {
                continue;
            }
            let size = um.memory_size().size().max(1) as u64;
            let (lo, hi, dynamic) = match self.addr_range(um) {
                Some(x) => x,
                None => return Some(false),
            };
            // Safe zone: the window +- 4 KiB (unmapped natively and in petrel).
            if lo < DATA - 0x1000 || hi + size > DATA + 0x1_1000 {
                return Some(false);
            }
            let prepared_area = lo < DATA + PREP_END && hi + size > DATA + PREP_START;
            if prepared_area && (dynamic || !Self::prepared_kind(&mnem(d.code()))) {
                return Some(false);
            }
        }
        Some(true)
    }

    /// Address range [lo, hi] of an access (start addresses), and whether it moves at runtime.
    fn addr_range(&self, um: &UsedMemory) -> Option<(u64, u64, bool)> {
        let a32 = um.address_size() == CodeSize::Code32;
        let mut dynamic = false;
        let mut slack = 0u64;
        let base = um.base();
        // RIP-relative: iced gives the absolute target as the displacement.
        let bv = if base == Register::None || base == Register::RIP || base == Register::EIP {
            0
        } else {
            let gi = gpr_index(base)?;
            match self.roles[gi] {
                RegRole::Base => self.vals[gi],
                RegRole::Stack => {
                    dynamic = true;
                    slack = 0x800;
                    self.vals[gi]
                }
                RegRole::StringPtr => {
                    dynamic = true;
                    slack = 0x800;
                    self.vals[gi]
                }
                _ => return None,
            }
        };
        let index = um.index();
        let (xv, xslack) = if index == Register::None {
            (0u64, 0u64)
        } else if index.size() == 1 {
            (0, 255) // XLAT: AL
        } else {
            let gi = gpr_index(index)?;
            if self.roles[gi] != RegRole::Index {
                return None;
            }
            (self.vals[gi].wrapping_mul(um.scale() as u64), 0)
        };
        let mut a = bv.wrapping_add(xv).wrapping_add(um.displacement());
        if a32 {
            a &= 0xFFFF_FFFF;
        }
        Some((
            a.wrapping_sub(slack),
            a.wrapping_add(slack + xslack),
            dynamic,
        ))
    }

    fn pick_code(&mut self, group: Group) -> Code {
        let v = &self.table.by_group[group as usize];
        if group == Group::Fxsave && self.rng.chance(1, 2) {
            // state to save: x87 and SSE arithmetic in between
            let g = if self.rng.chance(1, 2) {
                Group::X87
            } else {
                Group::SseFp
            };
            let w = &self.table.by_group[g as usize];
            return self.table.accepted[self.rng.pick(w)].code;
        }
        if group == Group::Mixed {
            // pick a group first so that SSE's many codes do not dominate
            let g = self.rng.pick(&Group::ALL[..Group::ALL.len() - 1]);
            let w = &self.table.by_group[g as usize];
            if !w.is_empty() {
                return self.table.accepted[self.rng.pick(w)].code;
            }
        }
        self.table.accepted[self.rng.pick(v)].code
    }

    fn is_branch(&self, code: Code) -> bool {
        matches!(
            code.flow_control(),
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
        )
    }

    /// Generates a case for `group`; `focus` forces that code to appear (1-3 times).
    pub fn generate(
        &mut self,
        group: Group,
        seed: u64,
        index: usize,
        focus: Option<Code>,
    ) -> Result<Case, String> {
        for _ in 0..60 {
            if let Some(c) = self.try_generate(group, seed, index, focus) {
                return Ok(c);
            }
        }
        Err(format!(
            "could not generate a case for {group:?} focus {focus:?} (seed {seed}, case {index})"
        ))
    }

    fn try_generate(
        &mut self,
        group: Group,
        seed: u64,
        index: usize,
        focus: Option<Code>,
    ) -> Option<Case> {
        self.group = group;
        self.ignore.clear();
        self.saves.clear();
        self.prep_cursor = PREP_START;
        self.undef = 0;
        let focus_string = focus.is_some_and(|c| c.is_string_instruction());
        let focus_rbx = focus.is_some_and(|c| {
            c.op_code()
                .op_kinds()
                .contains(&OpCodeOperandKind::seg_rBX_al)
        });
        let focus_rdi =
            focus.is_some_and(|c| c.op_code().op_kinds().contains(&OpCodeOperandKind::seg_rDI));
        let need_string = group == Group::String || focus_string || focus_rdi;
        let need_rbx = focus_rbx || (group == Group::IntAlu && self.rng.chance(1, 3));
        let mut state = self.setup_state(need_string, need_rbx);
        let n = match group {
            Group::X87 | Group::Mixed | Group::Cond => 1 + self.rng.below(14) as usize,
            _ => 1 + self.rng.below(8) as usize,
        };
        let focus_slots: Vec<usize> = match focus {
            Some(_) => {
                let k = 1 + self.rng.below(3) as usize;
                let n2 = n.max(k);
                let mut v: Vec<usize> =
                    (0..k).map(|_| self.rng.below(n2 as u64) as usize).collect();
                v.sort();
                v.dedup();
                v
            }
            None => vec![],
        };
        let n = if focus.is_some() {
            n.max(focus_slots.last().copied().unwrap_or(0) + 1)
        } else {
            n
        };
        let branch_codes: Vec<Code> = self
            .table
            .accepted
            .iter()
            .filter(|c| c.branch)
            .map(|c| c.code)
            .collect();
        let mut items: Vec<Item> = Vec::new();
        let mut items_undef: Vec<Vec<u32>> = Vec::new();
        let mut pending: Vec<(usize, u32)> = Vec::new(); // (target item, undef at branch)
        let use_branches =
            matches!(group, Group::Cond | Group::Mixed) || focus.is_some_and(|c| self.is_branch(c));
        for k in 0..n {
            // Join: flags undefined on any incoming path.
            for &(t, u) in &pending {
                if t == k {
                    self.undef |= u;
                }
            }
            let forced = focus.filter(|_| focus_slots.contains(&k));
            let want_branch = match forced {
                Some(c) => self.is_branch(c),
                None => use_branches && k + 1 < n && self.rng.chance(1, 5),
            };
            if want_branch {
                let mut placed = false;
                for _ in 0..20 {
                    let c = forced.unwrap_or_else(|| self.rng.pick(&branch_codes));
                    // LOOP/JRCXZ use RCX (LOOP writes it)
                    let uses_rcx = matches!(
                        mnem(c).as_str(),
                        "Loop" | "Loope" | "Loopne" | "Jrcxz" | "Jecxz"
                    );
                    if uses_rcx && self.roles[1] != RegRole::Free {
                        if forced.is_some() {
                            return None;
                        }
                        continue;
                    }
                    let d = Instruction::with_branch(c, CODE).ok()?;
                    let mut insns = Vec::new();
                    let mut us = Vec::new();
                    if d.rflags_read() & self.undef != 0 {
                        if forced.is_none() {
                            continue;
                        }
                        // the branch under test must run: define the flags first (add reg, 0)
                        let fix =
                            Instruction::with2(Code::Add_rm64_imm8, GPR64[self.free_gpr()?], 0i32)
                                .ok()?;
                        us.push(self.undef);
                        insns.push(fix);
                        self.undef &= !(RflagsBits::OF
                            | RflagsBits::SF
                            | RflagsBits::ZF
                            | RflagsBits::AF
                            | RflagsBits::CF
                            | RflagsBits::PF);
                    }
                    us.push(self.undef);
                    insns.push(d);
                    let t = (k + 1 + self.rng.below(3) as usize).min(n);
                    pending.push((t, self.undef));
                    items_undef.push(us);
                    items.push(Item {
                        insns,
                        branch: Some((c, t)),
                    });
                    placed = true;
                    break;
                }
                if placed {
                    continue;
                }
            }
            let mut got = None;
            for _ in 0..40 {
                let c = forced.unwrap_or_else(|| self.pick_code(group));
                if self.is_branch(c) {
                    continue;
                }
                let saved_undef = self.undef;
                let saved_ignore = self.ignore.len();
                let saved_saves = self.saves.len();
                let saved_cursor = self.prep_cursor;
                match self.build(c) {
                    Some(v) => {
                        got = Some(v);
                        break;
                    }
                    None => {
                        self.undef = saved_undef;
                        self.ignore.truncate(saved_ignore);
                        self.saves.truncate(saved_saves);
                        self.prep_cursor = saved_cursor;
                    }
                }
            }
            let v = got?;
            items_undef.push(self.item_undef.clone());
            items.push(Item {
                insns: v,
                branch: None,
            });
        }
        let mut undef_end = self.undef;
        for &(t, u) in &pending {
            if t >= n {
                undef_end |= u;
            }
        }

        // Layout: instruction lengths do not depend on the address (RIP-relative uses disp32,
        // branches have fixed-size forms).
        let mut lens: Vec<Vec<usize>> = Vec::new();
        for it in &items {
            let mut l = Vec::new();
            for ins in &it.insns {
                let mut i2 = *ins;
                if is_branch_insn(ins) {
                    i2.set_near_branch64(CODE);
                }
                l.push(self.encode_len(&i2, CODE)?);
            }
            lens.push(l);
        }
        let mut item_ip = Vec::with_capacity(items.len() + 1);
        let mut ip = CODE;
        for l in &lens {
            item_ip.push(ip);
            ip += l.iter().sum::<usize>() as u64;
        }
        item_ip.push(ip); // end: the final jmp STOP
        let mut code_bytes = Vec::new();
        let mut ip = CODE;
        for (it, l) in items.iter().zip(&lens) {
            for (ins, &len) in it.insns.iter().zip(l) {
                let mut i2 = *ins;
                if is_branch_insn(ins) {
                    let (_, t) = it.branch?;
                    i2.set_near_branch64(item_ip[t]);
                }
                let n = self.encoder.encode(&i2, ip).ok()?;
                if n != len {
                    let _ = self.encoder.take_buffer();
                    return None;
                }
                code_bytes.extend_from_slice(&self.encoder.take_buffer());
                ip += n as u64;
            }
        }
        let j = Instruction::with_branch(Code::Jmp_rel32_64, STOP).ok()?;
        self.encoder.encode(&j, ip).ok()?;
        code_bytes.extend_from_slice(&self.encoder.take_buffer());
        if code_bytes.len() > 8192 {
            return None;
        }
        // Decode the final bytes.
        let mut insns = Vec::new();
        let mut dec = Decoder::with_ip(64, &code_bytes, CODE, DecoderOptions::NONE);
        while dec.can_decode() {
            insns.push(dec.decode());
        }
        let mut undef_before: Vec<u32> = items_undef.into_iter().flatten().collect();
        undef_before.push(undef_end);
        if undef_before.len() != insns.len() {
            return None;
        }
        // Rejected items may have been prepared in the data window: harmless (never read).
        state.rip = CODE;
        Some(Case {
            group,
            seed,
            index,
            code: code_bytes,
            insns,
            undef_before,
            undef_end,
            state,
            data: self.data.clone(),
            data_ignore: self.ignore.clone(),
            focus,
        })
    }

    fn free_gpr(&mut self) -> Option<usize> {
        let free: Vec<usize> = (0..16)
            .filter(|&i| self.roles[i] == RegRole::Free)
            .collect();
        if free.is_empty() {
            None
        } else {
            Some(self.rng.pick(&free))
        }
    }
}

fn ins_has_rep(d: &Instruction) -> bool {
    d.has_rep_prefix() || d.has_repne_prefix()
}

fn is_branch_insn(ins: &Instruction) -> bool {
    matches!(
        ins.flow_control(),
        FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
    )
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers.

pub fn disassemble(case: &Case) -> String {
    let mut f = IntelFormatter::new();
    f.options_mut().set_first_operand_char_index(10);
    let mut s = String::new();
    for (k, ins) in case.insns.iter().enumerate() {
        let start = (ins.ip() - CODE) as usize;
        let bytes = &case.code[start..start + ins.len()];
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut t = String::new();
        f.format(ins, &mut t);
        let u = case.undef_before.get(k).copied().unwrap_or(0);
        let note = if u != 0 {
            format!("   ; undefined before: {}", flags_names(u))
        } else {
            String::new()
        };
        s.push_str(&format!("  {:#x}: {:<30} {}{}\n", ins.ip(), hex, t, note));
    }
    s
}

pub fn flags_names(m: u32) -> String {
    let mut v = Vec::new();
    for (b, n) in [
        (RflagsBits::CF, "CF"),
        (RflagsBits::PF, "PF"),
        (RflagsBits::AF, "AF"),
        (RflagsBits::ZF, "ZF"),
        (RflagsBits::SF, "SF"),
        (RflagsBits::OF, "OF"),
        (RflagsBits::DF, "DF"),
        (RflagsBits::C0, "C0"),
        (RflagsBits::C1, "C1"),
        (RflagsBits::C2, "C2"),
        (RflagsBits::C3, "C3"),
    ] {
        if m & b != 0 {
            v.push(n);
        }
    }
    v.join(",")
}
