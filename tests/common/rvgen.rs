//! Seeded, reproducible random-program generator for the RISC-V differential test
//! (tests/riscv_diff.rs).
//!
//! A program is a bare-metal RV64GC(+Zba/Zbb/Zbs) assembly file for the QEMU `virt` machine
//! with `-bios none` (linked at 0x8000_0000, entered in M-mode):
//!
//! - **prologue**: installs a direct-mode M-mode trap handler, enables the FPU
//!   (mstatus.FS = Dirty), sets fcsr/mscratch/mepc/mcause/mtval, then loads f0..f31 and
//!   x1..x31 from seeded tables (biased to interesting values).
//! - **body**: a sequence of *items* (one instruction, or a short fixed sequence such as
//!   `addi tmp, base, off` + `amoadd.w`) drawn from weighted [`Group`]s.
//! - **epilogue**: prints x1..x31, f0..f31 (raw 64-bit), the result log, fcsr, mscratch, the
//!   trap count and a hexdump of the 4 KiB data area over the NS16550A UART, prints `end` and
//!   stops the machine with the SiFive test finisher (0x5555 -> exit 0).
//!
//! The trap handler prints `trap mcause=.. mepc=+.. mtval=..` (mepc relative to `_start`, so
//! the text does not depend on the load address), skips the faulting instruction (2 or 4 bytes
//! according to the low two bits of its first halfword) and returns, so faults are compared too.
//!
//! Register conventions (fixed for the whole program):
//! - `sp` (x2) = start of the 4 KiB data area, `s0` (x8) = data area + 2048. Both are only ever
//!   read by the body (the single exception is a balanced `c.addi16sp sp, +n` ... `c.addi16sp
//!   sp, -n` pair with one non-trapping sp-relative access in between). All random memory
//!   accesses are `sp`/`s0` + offset (or a scratch register computed from them) and stay
//!   inside the data area. The trap handler and the epilogue keep their save areas at
//!   negative offsets from `sp` (below the data area), so they need no other register.
//! - `gp` (x3) = base of the result log: after ~40% of the items (not jumps) the destination
//!   register is also stored to the next log slot (`sd`/`fsd rd, k*8(gp)`), so intermediate
//!   results are compared, not only the final state, and a differing slot names the item that
//!   wrote it ([`Program::log_items`]). Every 255 slots a [`Group::LogAdvance`] item
//!   (`addi gp, gp, 2040`) moves the window; pending branch labels are placed before it so it
//!   is never skipped.
//! - every other x register and all f registers are random state. f0..f15 mostly hold singles
//!   and f16..f31 doubles (single-precision ops mostly use the low bank, double ops the high
//!   one), otherwise mixing precisions would quickly turn every value into a NaN.
//!
//! The body never touches timing CSRs (cycle/time/instret), misa, mvendorid/marchid/mimpid,
//! mstatus, or interrupts. Before the first trap mepc/mcause/mtval are written to 0 by the
//! prologue so that reading mepc/mcause is deterministic.
//!
//! QEMU 7.2 (the reference) departs from the specification in a few places; the generator
//! steers around them rather than teaching petrel QEMU's bugs:
//! - misaligned AMOs trap with cause 4 instead of 6, and an SC without a reservation fails
//!   without an alignment check: only misaligned LRs are generated ([`Group::MisalignedLr`]);
//! - `csrrs`/`csrrc` with rs1 != x0 on a read-only CSR only trap when the register is non-zero:
//!   the register is set to a non-zero value first;
//! - `ctzw` returns the 64-bit trailing-zero count when the low word is zero: its operand is
//!   sign-extended first (`sext.w`).
//!
//! Implementation-defined choices QEMU makes that petrel must share: mtval = instruction bits
//! on illegal-instruction traps, a failed SC writes 1. (mtval on breakpoints, 0 on QEMU, may also
//! be the ebreak's address: the harness normalises it.)
//!
//! Reproducibility: everything derives from one `u64` seed through [`Rng`] (xoshiro256**
//! seeded with splitmix64); the body of `items` items is generated once and a *prefix* of it
//! can be rendered ([`Program::render_prefix`]), which the harness uses to bisect a mismatch
//! down to the first item that makes the outputs differ.

use std::collections::BTreeMap;

/// `-march` for the assembler.
pub const MARCH: &str = "rv64imafdc_zicsr_zifencei_zba_zbb_zbs";
pub const MABI: &str = "lp64d";
/// Bump when the generated text for a given seed changes (printed in the .S header), so a
/// seed quoted in a bug report can be tied to a generator version.
pub const GENERATOR_VERSION: u32 = 1;
pub const DATA_SIZE: i64 = 4096;

/// Linker script: everything at 0x8000_0000 (QEMU virt RAM), text first, then data.
pub const LINKER_SCRIPT: &str = "\
OUTPUT_ARCH(riscv)
ENTRY(_start)
SECTIONS
{
  . = 0x80000000;
  .text : { *(.text.start) *(.text .text.*) }
  . = ALIGN(4096);
  .data : { *(.data .data.* .rodata .rodata.* .sdata .sdata.* .srodata .srodata.*) }
  .bss : { *(.bss .bss.* .sbss .sbss.*) }
}
";

// ------------------------------------------------------------------------------------------
// PRNG
// ------------------------------------------------------------------------------------------

/// xoshiro256** seeded through splitmix64. Small, fast and fully specified, so the generated
/// programs never change because of a dependency update.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for w in &mut s {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = z ^ (z >> 31);
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

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi);
        lo.wrapping_add(self.below((hi - lo) as u64 + 1) as i64)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    pub fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u64 = xs.iter().map(|&(_, w)| w as u64).sum();
        let mut k = self.below(total);
        for &(x, w) in xs {
            if k < w as u64 {
                return x;
            }
            k -= w as u64;
        }
        unreachable!()
    }
}

// ------------------------------------------------------------------------------------------
// Groups, profiles, configuration
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// RV64I register-register ALU incl. W ops and shifts.
    IntReg,
    /// RV64I immediate ALU incl. W ops, shifts, lui, auipc.
    IntImm,
    /// M extension, with div-by-zero / overflow operand set-ups.
    MulDiv,
    /// Aligned integer loads of all widths.
    Load,
    /// Aligned integer stores of all widths.
    Store,
    /// Aligned flw/fld/fsw/fsd.
    FpLoadStore,
    /// Aligned AMOs (.w/.d, all orderings).
    Amo,
    /// LR/SC pairs (succeed) and lone SCs (must fail).
    LrSc,
    /// fadd/fsub/fmul/fdiv/fsqrt/fmin/fmax .s/.d with static or dynamic rounding.
    FpArith,
    /// fmadd/fmsub/fnmsub/fnmadd .s/.d.
    FpFma,
    /// fcvt in all directions (int<->s/d, s<->d).
    FpCvt,
    /// fsgnj*, fmv.*, fclass, feq/flt/fle.
    FpMisc,
    /// frm/fflags/fcsr reads and writes (incl. occasional invalid frm values).
    FpCsr,
    /// Explicit c.* instructions (everything else is assembled with `.option norvc`).
    Compressed,
    Zba,
    Zbb,
    Zbs,
    /// Short forward branches and jumps (b*, jal, jalr).
    Branch,
    /// mscratch read/write, mhartid/mepc/mcause reads.
    Csr,
    /// Illegal instructions, ecall, ebreak, nonexistent CSRs, writes to read-only CSRs,
    /// reserved static rounding modes.
    Trap,
    /// Re-injects interesting values: `li xN, v` or `li tmp, v; fmv.d.x fN, tmp`.
    ValueSet,
    /// fence, fence.i, nop.
    Fence,
    /// Misaligned LR (load-address-misaligned trap, cause 4). Misaligned AMOs and SCs are never
    /// generated: QEMU 7.2 reports misaligned AMOs as cause 4 instead of 6, and an SC without a
    /// matching reservation fails without checking alignment (no trap).
    MisalignedLr,
    /// Misaligned scalar loads/stores (emulated by QEMU 7.2, opt-in).
    Misaligned,
    /// Not drawn from the mix: `addi gp, gp, 2040` when a result-log window is full.
    LogAdvance,
}

pub const ALL_GROUPS: [Group; 25] = [
    Group::IntReg,
    Group::IntImm,
    Group::MulDiv,
    Group::Load,
    Group::Store,
    Group::FpLoadStore,
    Group::Amo,
    Group::LrSc,
    Group::FpArith,
    Group::FpFma,
    Group::FpCvt,
    Group::FpMisc,
    Group::FpCsr,
    Group::Compressed,
    Group::Zba,
    Group::Zbb,
    Group::Zbs,
    Group::Branch,
    Group::Csr,
    Group::Trap,
    Group::ValueSet,
    Group::Fence,
    Group::MisalignedLr,
    Group::Misaligned,
    Group::LogAdvance,
];

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::IntReg => "int-reg",
            Group::IntImm => "int-imm",
            Group::MulDiv => "muldiv",
            Group::Load => "load",
            Group::Store => "store",
            Group::FpLoadStore => "fp-ldst",
            Group::Amo => "amo",
            Group::LrSc => "lr-sc",
            Group::FpArith => "fp-arith",
            Group::FpFma => "fp-fma",
            Group::FpCvt => "fp-cvt",
            Group::FpMisc => "fp-misc",
            Group::FpCsr => "fp-csr",
            Group::Compressed => "rvc",
            Group::Zba => "zba",
            Group::Zbb => "zbb",
            Group::Zbs => "zbs",
            Group::Branch => "branch",
            Group::Csr => "csr",
            Group::Trap => "trap",
            Group::ValueSet => "value-set",
            Group::Fence => "fence",
            Group::MisalignedLr => "misaligned-lr",
            Group::Misaligned => "misaligned",
            Group::LogAdvance => "log-advance",
        }
    }
}

/// The mix of groups. Chosen from the seed by [`Profile::for_seed`] so a seed alone
/// reproduces a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Everything.
    Mixed,
    /// Integer, M and bit-manipulation heavy.
    Int,
    /// F/D heavy.
    Fp,
    /// Loads, stores, AMOs, LR/SC heavy.
    Mem,
    /// Compressed instructions and control flow heavy.
    Rvc,
}

impl Profile {
    /// seed % 8: 0..=3 mixed, 4 fp, 5 int, 6 mem, 7 rvc.
    pub fn for_seed(seed: u64) -> Profile {
        match seed % 8 {
            4 => Profile::Fp,
            5 => Profile::Int,
            6 => Profile::Mem,
            7 => Profile::Rvc,
            _ => Profile::Mixed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Mixed => "mixed",
            Profile::Int => "int",
            Profile::Fp => "fp",
            Profile::Mem => "mem",
            Profile::Rvc => "rvc",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Number of body items (an item is one instruction or a short fixed sequence).
    pub items: usize,
    pub profile: Profile,
    /// Generate misaligned scalar loads/stores ([`Group::Misaligned`]).
    pub misaligned: bool,
    /// Generate misaligned LRs, which trap ([`Group::MisalignedLr`]).
    pub misaligned_lr: bool,
}

impl Config {
    pub fn new(seed: u64, items: usize) -> Config {
        Config {
            items,
            profile: Profile::for_seed(seed),
            misaligned: false,
            misaligned_lr: true,
        }
    }

    /// Relative weights of the groups for this configuration.
    pub fn weights(&self) -> Vec<(Group, u32)> {
        use Group::*;
        let base: [(Group, u32); 24] = [
            (IntReg, 9),
            (IntImm, 9),
            (MulDiv, 7),
            (Load, 6),
            (Store, 5),
            (FpLoadStore, 3),
            (Amo, 4),
            (LrSc, 2),
            (FpArith, 8),
            (FpFma, 4),
            (FpCvt, 6),
            (FpMisc, 6),
            (FpCsr, 3),
            (Compressed, 8),
            (Zba, 3),
            (Zbb, 4),
            (Zbs, 3),
            (Branch, 4),
            (Csr, 1),
            (Trap, 1),
            (ValueSet, 3),
            (Fence, 1),
            (MisalignedLr, 1),
            (Misaligned, 4),
        ];
        let boost: &[Group] = match self.profile {
            Profile::Mixed => &[],
            Profile::Int => &[IntReg, IntImm, MulDiv, Zba, Zbb, Zbs],
            Profile::Fp => &[FpArith, FpFma, FpCvt, FpMisc, FpCsr, FpLoadStore],
            Profile::Mem => &[Load, Store, FpLoadStore, Amo, LrSc, Misaligned],
            Profile::Rvc => &[Compressed, Branch],
        };
        base.iter()
            .filter(|&&(g, _)| match g {
                Misaligned => self.misaligned,
                MisalignedLr => self.misaligned_lr,
                _ => true,
            })
            .map(|&(g, w)| (g, if boost.contains(&g) { w * 4 } else { w }))
            .collect()
    }
}

// ------------------------------------------------------------------------------------------
// Registers and values
// ------------------------------------------------------------------------------------------

pub const XREG: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];
pub const FREG: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2",
    "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
    "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

/// x2: base of the data area.
pub const BASE_SP: usize = 2;
/// x8: data area + 2048 (also the only reserved register usable as a c.lw/c.sw base).
pub const BASE_S0: usize = 8;
/// x3: result-log pointer (only advanced by [`Group::LogAdvance`] items).
pub const LOG_GP: usize = 3;
/// Probability that an item's result register is stored to the result log.
pub const LOG_PERCENT: u64 = 40;

pub fn is_reserved(r: usize) -> bool {
    r == 0 || r == BASE_SP || r == LOG_GP || r == BASE_S0
}

fn x(r: usize) -> &'static str {
    XREG[r]
}
fn f(r: usize) -> &'static str {
    FREG[r]
}

/// Interesting 64-bit integers.
fn int_value(r: &mut Rng) -> u64 {
    match r.below(16) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => i64::MIN as u64,
        4 => i64::MAX as u64,
        5 => i32::MIN as i64 as u64,
        6 => i32::MAX as u64,
        7 => r.pick(&[
            0x8000_0000u64,
            0xffff_ffff,
            0xffff_ffff_0000_0000,
            0x7fff_ffff_ffff_fffe,
            0x1_0000_0000,
            0xffff_ffff_8000_0000 - 1,
        ]),
        8 => 1u64 << r.below(64),
        9 => (1u64 << r.below(64)).wrapping_sub(1),
        10 => (1u64 << r.below(64)).wrapping_neg(),
        11 => r.range(-16, 16) as u64,
        12 => r.next_u64() as u32 as i32 as i64 as u64,
        13 => r.next_u64() as u32 as u64,
        14 => r.next_u64() >> r.below(64),
        _ => r.next_u64(),
    }
}

const F64_SPECIAL: &[u64] = &[
    0x0000_0000_0000_0000, // +0
    0x8000_0000_0000_0000, // -0
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // canonical qNaN
    0xfff8_0000_0000_0000, // -qNaN
    0x7ff8_0000_dead_beef, // qNaN with payload
    0x7ff0_0000_0000_0001, // sNaN
    0xfff4_0000_0000_0000, // -sNaN
    0x0000_0000_0000_0001, // min subnormal
    0x8000_0000_0000_0001,
    0x000f_ffff_ffff_ffff, // max subnormal
    0x0010_0000_0000_0000, // min normal
    0x8010_0000_0000_0000,
    0x7fef_ffff_ffff_ffff, // max finite
    0xffef_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000, // 1.0
    0xbff0_0000_0000_0000, // -1.0
    0x3ff0_0000_0000_0001, // 1 + ulp
    0x3fe0_0000_0000_0000, // 0.5
    0x4004_0000_0000_0000, // 2.5
    0xc004_0000_0000_0000, // -2.5
    0x41e0_0000_0000_0000, // 2^31
    0x41df_ffff_ffc0_0000, // 2^31 - 1
    0xc1e0_0000_0000_0000, // -2^31
    0xc1e0_0000_0020_0000, // -2^31 - 1
    0x41f0_0000_0000_0000, // 2^32
    0x43e0_0000_0000_0000, // 2^63
    0xc3e0_0000_0000_0000, // -2^63
    0x43f0_0000_0000_0000, // 2^64
    0x4340_0000_0000_0000, // 2^53
    0x3fb9_9999_9999_999a, // 0.1
    0x7fe0_0000_0000_0000, // 2^1023
    0x0360_0000_0000_0000, // tiny normal (products underflow)
];

const F32_SPECIAL: &[u32] = &[
    0x0000_0000,
    0x8000_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0xffc0_0000,
    0x7fc0_1234,
    0x7f80_0001,
    0xffa0_0000,
    0x0000_0001,
    0x8000_0001,
    0x007f_ffff,
    0x0080_0000,
    0x8080_0000,
    0x7f7f_ffff,
    0xff7f_ffff,
    0x3f80_0000,
    0xbf80_0000,
    0x3f80_0001,
    0x3f00_0000,
    0x4020_0000,
    0xc020_0000,
    0x4f00_0000, // 2^31
    0xcf00_0000, // -2^31
    0x4f80_0000, // 2^32
    0x5f00_0000, // 2^63
    0xdf00_0000, // -2^63
    0x5f80_0000, // 2^64
    0x4b80_0000, // 2^24
    0x3dcc_cccd, // 0.1
    0x7f00_0000, // 2^127
    0x0d80_0000, // tiny normal
];

fn f64_value(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=3 => r.pick(F64_SPECIAL),
        4 | 5 => {
            let scale = r.pick(&[1.0f64, 0.5, 0.25, 0.125, 1.0 / 3.0, 1e-3, 1e10]);
            (r.range(-64, 64) as f64 * scale).to_bits()
        }
        6 => {
            // moderate exponent: arithmetic stays mostly finite
            let sign = r.below(2) << 63;
            let exp = r.range(1023 - 70, 1023 + 70) as u64;
            sign | (exp << 52) | (r.next_u64() & 0x000f_ffff_ffff_ffff)
        }
        7 => {
            // extreme exponents: subnormal, near overflow, NaN/inf with random payload
            let sign = r.below(2) << 63;
            let exp = r.pick(&[0u64, 1, 2, 2045, 2046, 2047]);
            sign | (exp << 52) | (r.next_u64() & 0x000f_ffff_ffff_ffff)
        }
        8 => {
            // near integer-conversion boundaries
            let base = r.pick(&[
                0x41e0_0000_0000_0000u64,
                0x41f0_0000_0000_0000,
                0x43e0_0000_0000_0000,
                0x43f0_0000_0000_0000,
                0x4340_0000_0000_0000,
                0x3ff0_0000_0000_0000,
                0x3fe0_0000_0000_0000,
            ]);
            let sign = r.below(2) << 63;
            sign | base.wrapping_add(r.range(-3, 3) as u64)
        }
        _ => r.next_u64(),
    }
}

fn f32_value(r: &mut Rng) -> u32 {
    match r.below(10) {
        0..=3 => r.pick(F32_SPECIAL),
        4 | 5 => {
            let scale = r.pick(&[1.0f32, 0.5, 0.25, 0.125, 1.0 / 3.0, 1e-3, 1e10]);
            (r.range(-64, 64) as f32 * scale).to_bits()
        }
        6 => {
            let sign = (r.below(2) as u32) << 31;
            let exp = r.range(127 - 30, 127 + 30) as u32;
            sign | (exp << 23) | (r.next_u64() as u32 & 0x007f_ffff)
        }
        7 => {
            let sign = (r.below(2) as u32) << 31;
            let exp = r.pick(&[0u32, 1, 2, 253, 254, 255]);
            sign | (exp << 23) | (r.next_u64() as u32 & 0x007f_ffff)
        }
        8 => {
            let base = r.pick(&[
                0x4f00_0000u32,
                0x4f80_0000,
                0x5f00_0000,
                0x5f80_0000,
                0x4b80_0000,
                0x3f80_0000,
                0x3f00_0000,
            ]);
            let sign = (r.below(2) as u32) << 31;
            sign | base.wrapping_add(r.range(-3, 3) as u32)
        }
        _ => r.next_u64() as u32,
    }
}

/// A 64-bit f-register pattern: a double, a NaN-boxed single, or (rarely) an improperly boxed
/// single (which single-precision instructions must read as the canonical NaN).
fn fp_reg_value(r: &mut Rng) -> u64 {
    match r.below(20) {
        0..=8 => f64_value(r),
        9..=17 => 0xffff_ffff_0000_0000 | f32_value(r) as u64,
        18 => {
            let rnd = (r.next_u64() as u32 as u64) % 0xffff_ffff; // never all ones (= boxed)
            let hi = r.pick(&[0u64, 0xffff_fffe, 0x7fff_ffff, rnd]);
            (hi << 32) | f32_value(r) as u64
        }
        _ => f32_value(r) as u64,
    }
}

fn data_value(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=5 => r.next_u64(),
        6 => int_value(r),
        7 => f64_value(r),
        _ => ((f32_value(r) as u64) << 32) | f32_value(r) as u64,
    }
}

// ------------------------------------------------------------------------------------------
// Programs
// ------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Item {
    pub group: Group,
    pub lines: Vec<String>,
    /// A forward branch target: the label is placed after this many further items.
    pub label: Option<(String, usize)>,
    /// Pending branch labels are placed before this item (it must never be skipped).
    pub barrier: bool,
}

#[derive(Clone, Debug)]
pub struct Program {
    pub seed: u64,
    pub config: Config,
    pub int_init: [u64; 32],
    pub fp_init: [u64; 32],
    pub data: Vec<u64>,
    pub fcsr_init: u64,
    pub mscratch_init: u64,
    pub items: Vec<Item>,
    /// Item index that writes each result-log slot.
    pub log_items: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Rendered {
    pub source: String,
    /// 1-based line number in `source` of the comment line that starts each rendered item.
    pub item_lines: Vec<usize>,
}

pub fn generate(seed: u64, config: &Config) -> Program {
    let mut r = Rng::new(seed);
    let mut int_init = [0u64; 32];
    for (i, v) in int_init.iter_mut().enumerate() {
        *v = if is_reserved(i) { 0 } else { int_value(&mut r) };
    }
    let mut fp_init = [0u64; 32];
    for (i, v) in fp_init.iter_mut().enumerate() {
        // f0..f15 mostly singles, f16..f31 mostly doubles (see Gen::fp)
        *v = if r.chance(80) {
            if i < 16 {
                0xffff_ffff_0000_0000 | f32_value(&mut r) as u64
            } else {
                f64_value(&mut r)
            }
        } else {
            fp_reg_value(&mut r)
        };
    }
    let data = (0..DATA_SIZE / 8).map(|_| data_value(&mut r)).collect();
    let fcsr_init = (r.below(5) << 5) | r.below(32);
    let mscratch_init = int_value(&mut r);
    // The body uses its own stream so that the prologue tables can change without
    // reshuffling every body (and vice versa).
    let body_rng = Rng::new(r.next_u64());
    let mut g = Gen {
        r: body_rng,
        items: Vec::new(),
        labels: 0,
        window: 0,
        force_log: false,
        log_items: Vec::new(),
    };
    let weights = config.weights();
    while g.items.len() < config.items {
        let group = g.r.weighted(&weights);
        g.item(group);
    }
    Program {
        seed,
        config: config.clone(),
        int_init,
        fp_init,
        data,
        fcsr_init,
        mscratch_init,
        items: g.items,
        log_items: g.log_items,
    }
}

impl Program {
    pub fn group_counts(&self) -> BTreeMap<Group, usize> {
        let mut m = BTreeMap::new();
        for it in &self.items {
            *m.entry(it.group).or_insert(0) += 1;
        }
        m
    }

    pub fn render(&self) -> Rendered {
        self.render_prefix(self.items.len())
    }

    /// Render the program with only the first `n` body items (used for bisecting).
    pub fn render_prefix(&self, n: usize) -> Rendered {
        let n = n.min(self.items.len());
        let mut out: Vec<String> = Vec::new();
        let mut item_lines = Vec::with_capacity(n);
        macro_rules! l { ($($a:tt)*) => { out.push(format!($($a)*)) } }

        l!("# petrel riscv_diff program: generator v{GENERATOR_VERSION} seed={} profile={} items={}/{} misaligned={} misaligned_lr={}",
            self.seed, self.config.profile.name(), n, self.items.len(), self.config.misaligned, self.config.misaligned_lr);
        l!("# build: riscv64-unknown-elf-gcc -march={MARCH} -mabi={MABI} -nostdlib -nostartfiles -static -Wl,--no-relax -T link.ld prog.S -o prog.elf");
        l!("# run:   qemu-system-riscv64 -machine virt -cpu rv64 -bios none -display none -monitor none -serial stdio -kernel prog.elf");
        let counts: Vec<String> = {
            let mut m = BTreeMap::new();
            for it in &self.items[..n] {
                *m.entry(it.group.name()).or_insert(0usize) += 1;
            }
            m.iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        l!("# groups: {}", counts.join(" "));
        l!("    .option norvc");
        l!("    .option norelax");
        l!("    .section .text.start, \"ax\"");
        l!("    .globl _start");
        l!("_start:");
        l!("    la t0, trap_handler");
        l!("    csrw mtvec, t0");
        l!("    csrr t1, mtvec");
        l!("    bne t0, t1, mtvec_broken");
        l!("    li t0, 0x6000              # mstatus.FS = Dirty");
        l!("    csrs mstatus, t0");
        l!("    csrw mepc, zero");
        l!("    csrw mcause, zero");
        l!("    csrw mtval, zero");
        l!("    li t0, {:#x}", self.fcsr_init);
        l!("    csrw fcsr, t0");
        l!("    li t0, {:#x}", self.mscratch_init);
        l!("    csrw mscratch, t0");
        l!("    la t0, fp_init");
        for i in 0..32 {
            l!("    fld {}, {}(t0)", f(i), 8 * i);
        }
        l!("    la t6, int_init");
        for i in 1..32 {
            l!("    ld {}, {}(t6)", x(i), 8 * i);
        }
        l!("# ---- body ----");
        let mut pending: Vec<(String, usize)> = Vec::new();
        for (idx, it) in self.items[..n].iter().enumerate() {
            if it.barrier {
                for (name, _) in pending.drain(..) {
                    out.push(format!("{name}:"));
                }
            }
            item_lines.push(out.len() + 1);
            l!("# [{idx}] {}", it.group.name());
            for s in &it.lines {
                out.push(s.clone());
            }
            for p in pending.iter_mut() {
                p.1 -= 1;
            }
            if let Some(lbl) = &it.label {
                pending.push(lbl.clone());
            }
            pending.retain(|(name, left)| {
                if *left == 0 {
                    out.push(format!("{name}:"));
                    false
                } else {
                    true
                }
            });
        }
        for (name, _) in pending {
            l!("{name}:");
        }
        l!("# ---- epilogue ----");
        out.push(EPILOGUE_HEAD.to_string());
        for i in 1..32 {
            l!("    la a1, .Ls_x{i}");
            l!("    jal ra, puts");
            l!("    ld a0, {}(sp)", XDUMP + 8 * i as i64);
            l!("    jal ra, puthex16nl");
        }
        for i in 0..32 {
            l!("    la a1, .Ls_f{i}");
            l!("    jal ra, puts");
            l!("    fmv.x.d a0, {}", f(i));
            l!("    jal ra, puthex16nl");
        }
        // result log: the slots written by the rendered items, 4 per line
        let slots = self.log_items.iter().take_while(|&&i| i < n).count();
        l!("    la s1, log_area");
        l!("    li s2, 0");
        l!("    li s4, {}", slots.div_ceil(4) * 32);
        out.push(LOG_DUMP.to_string());
        out.push(EPILOGUE_TAIL.to_string());
        out.push(ROUTINES.to_string());
        l!("    .section .data");
        l!("    .balign 4096");
        l!("scratch_area:                  # sp-relative save areas of the handler/epilogue");
        l!("    .space 4096");
        l!("data_area:");
        for chunk in self.data.chunks(4) {
            let v: Vec<String> = chunk.iter().map(|d| format!("{d:#018x}")).collect();
            l!("    .dword {}", v.join(", "));
        }
        l!("int_init:");
        for (i, v) in self.int_init.iter().enumerate() {
            match i {
                0 => l!("    .dword 0"),
                BASE_SP => l!("    .dword data_area"),
                BASE_S0 => l!("    .dword data_area + 2048"),
                LOG_GP => l!("    .dword log_area"),
                _ => l!("    .dword {v:#018x}    # {}", x(i)),
            }
        }
        l!("    .balign 8");
        l!("fp_init:");
        for (i, v) in self.fp_init.iter().enumerate() {
            l!("    .dword {v:#018x}    # {}", f(i));
        }
        l!("    .balign 8");
        l!(
            "log_area:                      # result log: {} slots",
            slots
        );
        l!("    .space {}", slots.div_ceil(4).max(1) * 32);
        for i in 1..32 {
            l!(".Ls_x{i}: .asciz \"x{i} {} \"", x(i));
        }
        for i in 0..32 {
            l!(".Ls_f{i}: .asciz \"f{i} {} \"", f(i));
        }
        let mut source = out.join("\n");
        source.push('\n');
        Rendered { source, item_lines }
    }
}

/// sp-relative offsets of the save areas (below the data area, in `scratch_area`): the trap
/// handler saves its registers at -1024..-968 and counts traps at -960; the epilogue dumps
/// x0..x31 at XDUMP, fcsr at -248 and mscratch at -240.
const XDUMP: i64 = -512;

const EPILOGUE_HEAD: &str = "\
body_end:
epilogue:
    sd x1, -504(sp)
    sd x2, -496(sp)
    sd x3, -488(sp)
    sd x4, -480(sp)
    sd x5, -472(sp)
    sd x6, -464(sp)
    sd x7, -456(sp)
    sd x8, -448(sp)
    sd x9, -440(sp)
    sd x10, -432(sp)
    sd x11, -424(sp)
    sd x12, -416(sp)
    sd x13, -408(sp)
    sd x14, -400(sp)
    sd x15, -392(sp)
    sd x16, -384(sp)
    sd x17, -376(sp)
    sd x18, -368(sp)
    sd x19, -360(sp)
    sd x20, -352(sp)
    sd x21, -344(sp)
    sd x22, -336(sp)
    sd x23, -328(sp)
    sd x24, -320(sp)
    sd x25, -312(sp)
    sd x26, -304(sp)
    sd x27, -296(sp)
    sd x28, -288(sp)
    sd x29, -280(sp)
    sd x30, -272(sp)
    sd x31, -264(sp)
    frcsr t0
    sd t0, -248(sp)
    csrr t0, mscratch
    sd t0, -240(sp)
    la a1, .Ls_regs
    jal ra, puts";

/// Hexdump of the result log: s1 = log_area, s2 = 0, s4 = bytes to print.
const LOG_DUMP: &str = "\
    j 3f
1:  la a1, .Ls_log
    jal ra, puts
    srli a0, s2, 3
    li a2, 4
    jal ra, puthex
    li a0, ':'
    jal ra, putc
    li s3, 4
2:  li a0, ' '
    jal ra, putc
    ld a0, 0(s1)
    li a2, 16
    jal ra, puthex
    addi s1, s1, 8
    addi s2, s2, 8
    addi s3, s3, -1
    bnez s3, 2b
    li a0, 10
    jal ra, putc
3:  blt s2, s4, 1b";

const EPILOGUE_TAIL: &str = "\
    la a1, .Ls_fcsr
    jal ra, puts
    ld a0, -248(sp)
    jal ra, puthex16nl
    la a1, .Ls_mscratch
    jal ra, puts
    ld a0, -240(sp)
    jal ra, puthex16nl
    la a1, .Ls_traps
    jal ra, puts
    ld a0, -960(sp)
    jal ra, puthex16nl
    mv s1, sp                      # hexdump of the data area, 4 dwords per line
    li s2, 0
1:  la a1, .Ls_mem
    jal ra, puts
    mv a0, s2
    li a2, 4
    jal ra, puthex
    li a0, ':'
    jal ra, putc
    li s3, 4
2:  li a0, ' '
    jal ra, putc
    ld a0, 0(s1)
    li a2, 16
    jal ra, puthex
    addi s1, s1, 8
    addi s2, s2, 8
    addi s3, s3, -1
    bnez s3, 2b
    li a0, 10
    jal ra, putc
    li t2, 4096
    blt s2, t2, 1b
finish:
    la a1, .Ls_end
    jal ra, puts
    li t0, 0x100000                # SiFive test finisher: 0x5555 = pass, exit 0
    li t1, 0x5555
    sw t1, 0(t0)
3:  j 3b";

const ROUTINES: &str = "\
# ---- M-mode trap handler: print mcause, mepc - _start, mtval; skip the instruction ----
    .section .text.routines, \"ax\"
    .balign 4                      # mtvec (direct mode) needs a 4-byte aligned handler
trap_handler:
    sd ra, -1024(sp)
    sd t0, -1016(sp)
    sd t1, -1008(sp)
    sd a0, -1000(sp)
    sd a1, -992(sp)
    sd a2, -984(sp)
    sd a3, -976(sp)
    ld t0, -960(sp)
    addi t0, t0, 1
    sd t0, -960(sp)
    li t1, 100000                  # trap storm (handler bug or runaway): stop
    bge t0, t1, trap_storm
    la a1, .Ls_trap
    jal ra, puts
    csrr a0, mcause
    li a2, 16
    jal ra, puthex
    la a1, .Ls_mepc
    jal ra, puts
    csrr a0, mepc
    la t0, _start
    sub a0, a0, t0
    li a2, 8
    jal ra, puthex
    la a1, .Ls_mtval
    jal ra, puts
    csrr a0, mtval
    jal ra, puthex16nl
    csrr t0, mepc
    lhu t1, 0(t0)
    andi t1, t1, 3
    addi t0, t0, 2
    addi t1, t1, -3
    bnez t1, 1f
    addi t0, t0, 2
1:  csrw mepc, t0
    ld ra, -1024(sp)
    ld t0, -1016(sp)
    ld t1, -1008(sp)
    ld a0, -1000(sp)
    ld a1, -992(sp)
    ld a2, -984(sp)
    ld a3, -976(sp)
    mret
trap_storm:
    la a1, .Ls_storm
    jal ra, puts
    j finish
mtvec_broken:
    la a1, .Ls_mtvec
    jal ra, puts
    j finish

# putc(a0 = char); clobbers t0, t1
putc:
    li t0, 0x10000000
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret

# puts(a1 = NUL-terminated string); clobbers a0, a1, a3, t0, t1
puts:
    mv a3, ra
1:  lbu a0, 0(a1)
    beqz a0, 2f
    jal ra, putc
    addi a1, a1, 1
    j 1b
2:  jr a3

# puthex(a0 = value, a2 = number of hex digits); clobbers a0-a3, t0, t1
puthex:
    mv a3, ra
    mv a1, a0
    slli a2, a2, 2
1:  addi a2, a2, -4
    srl a0, a1, a2
    andi a0, a0, 15
    addi a0, a0, 48
    li t0, 58
    blt a0, t0, 2f
    addi a0, a0, 39
2:  jal ra, putc
    bnez a2, 1b
    jr a3

# puthex16nl(a0 = value): 16 hex digits and a newline; clobbers a0-a3, t0, t1, t2
puthex16nl:
    mv t2, ra
    li a2, 16
    jal ra, puthex
    li a0, 10
    jal ra, putc
    jr t2

    .section .rodata
.Ls_trap: .asciz \"trap mcause=\"
.Ls_mepc: .asciz \" mepc=+\"
.Ls_mtval: .asciz \" mtval=\"
.Ls_storm: .asciz \"trap storm\\n\"
.Ls_mtvec: .asciz \"mtvec write failed\\n\"
.Ls_regs: .asciz \"registers\\n\"
.Ls_fcsr: .asciz \"fcsr \"
.Ls_mscratch: .asciz \"mscratch \"
.Ls_traps: .asciz \"traps \"
.Ls_mem: .asciz \"mem \"
.Ls_log: .asciz \"log \"
.Ls_end: .asciz \"end\\n\"
";

// ------------------------------------------------------------------------------------------
// Body generation
// ------------------------------------------------------------------------------------------

const RMS: [&str; 6] = ["rne", "rtz", "rdn", "rup", "rmm", "dyn"];

/// Standard CSR numbers that no rv64imafdc (+S/U) implementation has (checked to trap on
/// QEMU 7.2): reads raise an illegal-instruction exception.
pub const NONEXISTENT_CSRS: [u32; 3] = [0x0ff, 0x4ff, 0x0c0];

#[derive(Clone, Copy)]
enum Res {
    X(usize),
    F(usize),
}

struct Gen {
    r: Rng,
    items: Vec<Item>,
    labels: usize,
    /// Log slots used in the current 255-slot window of `gp`.
    window: usize,
    /// Always log the result of the item being generated.
    force_log: bool,
    /// Item index of each log slot.
    log_items: Vec<usize>,
}

/// Log slots per `gp` window: offsets 0..=2032, then `addi gp, gp, 2040`.
const LOG_WINDOW: usize = 255;

/// Mnemonics whose first operand is not a destination register.
fn first_operand_is_source(m: &str) -> bool {
    matches!(
        m,
        "sb" | "sh"
            | "sw"
            | "sd"
            | "fsw"
            | "fsd"
            | "c.sw"
            | "c.sd"
            | "c.fsd"
            | "c.swsp"
            | "c.sdsp"
            | "c.fsdsp"
            | "beq"
            | "bne"
            | "blt"
            | "bge"
            | "bltu"
            | "bgeu"
            | "c.beqz"
            | "c.bnez"
            | "c.jr"
            | "c.jalr"
            | "csrw"
            | "csrwi"
            | "fence"
            | "c.j"
    )
}

/// (mnemonic, operands) of an instruction line; None for directives, labels, comments.
fn split_insn(line: &str) -> Option<(&str, Vec<&str>)> {
    let t = line.split('#').next().unwrap().trim();
    if t.is_empty() || t.ends_with(':') {
        return None;
    }
    let (m, ops) = t.split_once(' ').unwrap_or((t, ""));
    let ops: Vec<&str> = ops
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if m == ".insn" {
        // .insn r opcode, funct3, funct7, rd, rs1, rs2
        let m2 = ops.first()?.split_whitespace().next()?;
        return (m2 == "r").then(|| ("insn", ops[3..].to_vec()));
    }
    if m.starts_with('.') {
        return None;
    }
    Some((m, ops))
}

/// The register written by the last instruction of an item, if any.
fn result_of(lines: &[String]) -> Option<Res> {
    let (m, ops) = lines.iter().rev().find_map(|l| split_insn(l))?;
    if first_operand_is_source(m) {
        return None;
    }
    let first = *ops.first()?;
    if let Some(i) = XREG.iter().position(|&r| r == first) {
        return (!is_reserved(i)).then_some(Res::X(i));
    }
    FREG.iter().position(|&r| r == first).map(Res::F)
}

impl Gen {
    /// Appends the item; with probability LOG_PERCENT its result register is also stored to
    /// the next result-log slot, so that intermediate values are compared too.
    fn push_item(&mut self, mut item: Item) {
        let force = std::mem::take(&mut self.force_log);
        let log = match result_of(&item.lines) {
            // a store after a jump would be skipped by it
            _ if item.label.is_some() => None,
            Some(Res::X(0)) | None => None,
            Some(r) => (force || self.r.chance(LOG_PERCENT)).then_some(r),
        };
        if let Some(r) = log {
            if self.window == LOG_WINDOW {
                // advance the log base; never skipped by a branch (render flushes labels)
                self.items.push(Item {
                    group: Group::LogAdvance,
                    lines: vec![format!("    addi gp, gp, {}", LOG_WINDOW * 8)],
                    label: None,
                    barrier: true,
                });
                self.window = 0;
            }
            let off = self.window * 8;
            item.lines.push(match r {
                Res::X(rd) => format!(
                    "    sd {}, {off}(gp)             # log {}",
                    x(rd),
                    self.log_items.len()
                ),
                Res::F(fd) => format!(
                    "    fsd {}, {off}(gp)            # log {}",
                    f(fd),
                    self.log_items.len()
                ),
            });
            self.window += 1;
            self.log_items.push(self.items.len());
        }
        self.items.push(item);
    }

    fn push(&mut self, group: Group, lines: Vec<String>) {
        self.push_item(Item {
            group,
            lines,
            label: None,
            barrier: false,
        });
    }

    fn push_branch(&mut self, group: Group, lines: Vec<String>, label: String, skip: usize) {
        self.push_item(Item {
            group,
            lines,
            label: Some((label, skip)),
            barrier: false,
        });
    }

    fn new_label(&mut self) -> String {
        self.labels += 1;
        format!(".Lt{}", self.labels)
    }

    /// Destination register: any non-reserved register, x0 occasionally.
    fn rd(&mut self) -> usize {
        if self.r.chance(4) {
            0
        } else {
            self.wr()
        }
    }

    /// Writable register, never x0.
    fn wr(&mut self) -> usize {
        loop {
            let v = self.r.below(32) as usize;
            if !is_reserved(v) {
                return v;
            }
        }
    }

    fn wr_except(&mut self, not: usize) -> usize {
        loop {
            let v = self.wr();
            if v != not {
                return v;
            }
        }
    }

    /// Source register: any register (x0, sp and s0 included).
    fn rs(&mut self) -> usize {
        if self.r.chance(5) {
            0
        } else {
            self.r.below(32) as usize
        }
    }

    /// Compressed-form destination (x9..x15; x8 = s0 is reserved).
    fn crd(&mut self) -> usize {
        self.r.range(9, 15) as usize
    }

    /// Compressed-form source (x8..x15).
    fn crs(&mut self) -> usize {
        self.r.range(8, 15) as usize
    }

    fn fr(&mut self) -> usize {
        self.r.below(32) as usize
    }

    /// f register for precision `p`: mostly from its bank (f0..f15 hold singles, f16..f31
    /// doubles, so that values are not all NaN after mixing precisions), sometimes any.
    fn fp(&mut self, p: &str) -> usize {
        if self.r.chance(5) {
            self.fr()
        } else if p == "s" {
            self.r.below(16) as usize
        } else {
            16 + self.r.below(16) as usize
        }
    }

    fn rm(&mut self) -> &'static str {
        if self.r.chance(40) {
            "dyn"
        } else {
            self.r.pick(&RMS[..5])
        }
    }

    fn rm_num(&mut self) -> u32 {
        if self.r.chance(40) {
            7
        } else {
            self.r.below(5) as u32
        }
    }

    fn imm12(&mut self) -> i64 {
        match self.r.below(8) {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => 2047,
            4 => -2048,
            5 => self.r.range(-16, 16),
            _ => self.r.range(-2048, 2047),
        }
    }

    fn shamt(&mut self, bits: i64) -> i64 {
        match self.r.below(6) {
            0 => 0,
            1 => 1,
            2 => bits - 1,
            3 => bits / 2,
            _ => self.r.range(0, bits - 1),
        }
    }

    /// Offset into the data area for an access of `width` bytes (aligned unless `misalign`),
    /// biased towards a few hot spots so that stores, loads and AMOs alias.
    fn data_offset(&mut self, width: i64, misalign: bool) -> i64 {
        let a = match self.r.below(10) {
            0..=1 => self.r.range(0, 63),
            2..=3 => self.r.range(2048 - 32, 2048 + 31),
            4 => self.r.range(DATA_SIZE - 64, DATA_SIZE - 1),
            _ => self.r.range(0, DATA_SIZE - 1),
        };
        let mut a = a & !(width - 1);
        if misalign && width > 1 {
            a += self.r.range(1, width - 1);
        }
        a.min(DATA_SIZE - width - if misalign { 1 } else { 0 })
            .max(0)
    }

    /// (base register, immediate offset) for a data-area byte offset `a`.
    fn base_off(&mut self, a: i64) -> (usize, i64) {
        if a < 2048 && self.r.chance(50) {
            (BASE_SP, a)
        } else {
            (BASE_S0, a - 2048)
        }
    }

    /// A register holding the address of data-area offset `a`: the base itself when it
    /// matches, else `addi tmp, base, off` is appended to `lines`.
    fn addr_reg(&mut self, a: i64, lines: &mut Vec<String>) -> usize {
        let (base, off) = self.base_off(a);
        if off == 0 {
            return base;
        }
        let tmp = self.wr();
        lines.push(format!("    addi {}, {}, {}", x(tmp), x(base), off));
        tmp
    }

    fn item(&mut self, g: Group) {
        match g {
            Group::IntReg => self.g_int_reg(),
            Group::IntImm => self.g_int_imm(),
            Group::MulDiv => self.g_muldiv(),
            Group::Load => self.g_load(false),
            Group::Store => self.g_store(false),
            Group::FpLoadStore => self.g_fp_ldst(false),
            Group::Amo => self.g_amo(),
            Group::LrSc => self.g_lrsc(false),
            Group::FpArith => self.g_fp_arith(),
            Group::FpFma => self.g_fp_fma(),
            Group::FpCvt => self.g_fp_cvt(),
            Group::FpMisc => self.g_fp_misc(),
            Group::FpCsr => self.g_fp_csr(),
            Group::Compressed => self.g_rvc(),
            Group::Zba => self.g_zba(),
            Group::Zbb => self.g_zbb(),
            Group::Zbs => self.g_zbs(),
            Group::Branch => self.g_branch(),
            Group::Csr => self.g_csr(),
            Group::Trap => self.g_trap(),
            Group::ValueSet => self.g_value_set(),
            Group::Fence => self.g_fence(),
            Group::MisalignedLr => self.g_lrsc(true),
            Group::LogAdvance => unreachable!("not in the mix"),
            Group::Misaligned => match self.r.below(3) {
                0 => self.g_load(true),
                1 => self.g_store(true),
                _ => self.g_fp_ldst(true),
            },
        }
    }

    /// rd for an ALU op: sometimes equal to a source to exercise rd == rs.
    fn alu_regs(&mut self) -> (usize, usize, usize) {
        let rs1 = self.rs();
        let rs2 = if self.r.chance(8) { rs1 } else { self.rs() };
        let rd = if self.r.chance(20) && !is_reserved(rs1) {
            rs1
        } else {
            self.rd()
        };
        (rd, rs1, rs2)
    }

    fn g_int_reg(&mut self) {
        const OPS: [&str; 15] = [
            "add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and", "addw", "subw",
            "sllw", "srlw", "sraw",
        ];
        let op = self.r.pick(&OPS);
        let (rd, rs1, rs2) = self.alu_regs();
        self.push(
            Group::IntReg,
            vec![format!("    {op} {}, {}, {}", x(rd), x(rs1), x(rs2))],
        );
    }

    fn g_int_imm(&mut self) {
        let (rd, rs1, _) = self.alu_regs();
        let line = match self.r.below(14) {
            0..=5 => {
                let op = self
                    .r
                    .pick(&["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"]);
                format!("    {op} {}, {}, {}", x(rd), x(rs1), self.imm12())
            }
            6..=8 => {
                let op = self.r.pick(&["slli", "srli", "srai"]);
                format!("    {op} {}, {}, {}", x(rd), x(rs1), self.shamt(64))
            }
            9..=10 => {
                let op = self.r.pick(&["slliw", "srliw", "sraiw"]);
                format!("    {op} {}, {}, {}", x(rd), x(rs1), self.shamt(32))
            }
            11..=12 => {
                let imm = match self.r.below(4) {
                    0 => 0x80000,
                    1 => 0xfffff,
                    2 => 0x7ffff,
                    _ => self.r.below(0x100000) as i64,
                };
                format!("    lui {}, {imm:#x}", x(rd))
            }
            _ => format!("    auipc {}, {:#x}", x(rd), self.r.below(0x100000)),
        };
        self.push(Group::IntImm, vec![line]);
    }

    fn g_muldiv(&mut self) {
        const OPS: [&str; 13] = [
            "mul", "mulh", "mulhsu", "mulhu", "mulw", "div", "divu", "rem", "remu", "divw",
            "divuw", "remw", "remuw",
        ];
        let op = self.r.pick(&OPS);
        let mut lines = Vec::new();
        let (rd, mut rs1, mut rs2) = self.alu_regs();
        if self.r.chance(30) {
            // explicit corner cases: x / 0, INT_MIN / -1 (64- and 32-bit)
            rs1 = self.wr();
            rs2 = self.wr_except(rs1);
            let a: i64 = self
                .r
                .pick(&[i64::MIN, i32::MIN as i64, 0x8000_0000, -1, 1, 0, 7, -7]);
            let b: i64 = self
                .r
                .pick(&[0, -1, 0xffff_ffff, 0xffff_ffff_0000_0000u64 as i64, 1, -2]);
            lines.push(format!("    li {}, {a}", x(rs1)));
            lines.push(format!("    li {}, {b}", x(rs2)));
        }
        lines.push(format!("    {op} {}, {}, {}", x(rd), x(rs1), x(rs2)));
        self.push(Group::MulDiv, lines);
    }

    fn g_load(&mut self, misalign: bool) {
        let (op, w) = if misalign {
            self.r
                .pick(&[("lh", 2), ("lhu", 2), ("lw", 4), ("lwu", 4), ("ld", 8)])
        } else {
            self.r.pick(&[
                ("lb", 1),
                ("lbu", 1),
                ("lh", 2),
                ("lhu", 2),
                ("lw", 4),
                ("lwu", 4),
                ("ld", 8),
            ])
        };
        let a = self.data_offset(w, misalign);
        let (base, off) = self.base_off(a);
        let rd = self.rd();
        let g = if misalign {
            Group::Misaligned
        } else {
            Group::Load
        };
        self.push(g, vec![format!("    {op} {}, {off}({})", x(rd), x(base))]);
    }

    fn g_store(&mut self, misalign: bool) {
        let (op, w) = if misalign {
            self.r.pick(&[("sh", 2), ("sw", 4), ("sd", 8)])
        } else {
            self.r.pick(&[("sb", 1), ("sh", 2), ("sw", 4), ("sd", 8)])
        };
        let a = self.data_offset(w, misalign);
        let (base, off) = self.base_off(a);
        let rs2 = self.rs();
        let g = if misalign {
            Group::Misaligned
        } else {
            Group::Store
        };
        self.push(g, vec![format!("    {op} {}, {off}({})", x(rs2), x(base))]);
    }

    fn g_fp_ldst(&mut self, misalign: bool) {
        let fr = self.fr();
        let single = if fr < 16 {
            self.r.chance(80)
        } else {
            self.r.chance(20)
        };
        let (op, w) = match (single, self.r.chance(50)) {
            (true, true) => ("flw", 4),
            (true, false) => ("fsw", 4),
            (false, true) => ("fld", 8),
            (false, false) => ("fsd", 8),
        };
        let a = self.data_offset(w, misalign);
        let (base, off) = self.base_off(a);
        let g = if misalign {
            Group::Misaligned
        } else {
            Group::FpLoadStore
        };
        self.push(g, vec![format!("    {op} {}, {off}({})", f(fr), x(base))]);
    }

    fn ordering(&mut self) -> &'static str {
        self.r.pick(&["", "", ".aq", ".rl", ".aqrl"])
    }

    fn g_amo(&mut self) {
        const OPS: [&str; 9] = [
            "amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu",
            "amomaxu",
        ];
        let op = self.r.pick(&OPS);
        let (sfx, w) = self.r.pick(&[(".w", 4), (".d", 8)]);
        let ord = self.ordering();
        let mut lines = Vec::new();
        let a = self.data_offset(w, false);
        let addr = self.addr_reg(a, &mut lines);
        let rd = self.rd();
        let rs2 = self.rs();
        lines.push(format!(
            "    {op}{sfx}{ord} {}, {}, ({})",
            x(rd),
            x(rs2),
            x(addr)
        ));
        self.push(Group::Amo, lines);
    }

    /// LR/SC pair on one address with 0..2 register-only instructions in between (must
    /// succeed), or a lone SC (no reservation is ever left pending, so it must fail).
    /// `misalign`: a lone misaligned LR, which traps (and so leaves no reservation).
    fn g_lrsc(&mut self, misalign: bool) {
        let (sfx, w) = self.r.pick(&[(".w", 4), (".d", 8)]);
        let mut lines = Vec::new();
        let a = self.data_offset(w, misalign);
        let addr = self.addr_reg(a, &mut lines);
        let lone_sc = self.r.chance(20);
        if misalign {
            let ord = self.ordering();
            let rd = self.rd();
            lines.push(format!("    lr{sfx}{ord} {}, ({})", x(rd), x(addr)));
            self.push(Group::MisalignedLr, lines);
            return;
        }
        if !lone_sc {
            let ord = self.ordering();
            let rd = if self.r.chance(4) {
                0
            } else {
                self.wr_except(addr)
            };
            lines.push(format!("    lr{sfx}{ord} {}, ({})", x(rd), x(addr)));
            for _ in 0..self.r.below(3) {
                let op = self.r.pick(&["add", "xor", "sub", "or", "addw", "sltu"]);
                let d = self.wr_except(addr);
                let s1 = self.rs();
                let s2 = self.rs();
                lines.push(format!("    {op} {}, {}, {}", x(d), x(s1), x(s2)));
            }
        }
        let ord = self.ordering();
        let rd = self.rd();
        let rs2 = self.rs();
        lines.push(format!(
            "    sc{sfx}{ord} {}, {}, ({})",
            x(rd),
            x(rs2),
            x(addr)
        ));
        self.push(Group::LrSc, lines);
    }

    fn prec(&mut self) -> &'static str {
        if self.r.chance(50) {
            "s"
        } else {
            "d"
        }
    }

    /// Sometimes reload an FP source operand with a fresh value first, so that the register
    /// file does not drift to all-NaN (NaNs propagate through every arithmetic op): raw bits
    /// from the data area, an integer conversion, or an interesting constant.
    fn refresh(&mut self, p: &str, fs: usize, lines: &mut Vec<String>) {
        if !self.r.chance(30) {
            return;
        }
        let single = p == "s";
        match self.r.below(3) {
            0 => {
                let (op, w) = if single { ("flw", 4) } else { ("fld", 8) };
                let a = self.data_offset(w, false);
                let (base, off) = self.base_off(a);
                lines.push(format!("    {op} {}, {off}({})", f(fs), x(base)));
            }
            1 => {
                let it = self.r.pick(&["w", "l"]);
                let rs = self.rs();
                let rm = if p == "d" && it == "w" { "" } else { ", rne" };
                lines.push(format!("    fcvt.{p}.{it} {}, {}{rm}", f(fs), x(rs)));
            }
            _ => self.set_fp(fs, single, false, lines),
        }
    }

    /// Sometimes check the flags of just the last instruction of `lines`: clear fflags right
    /// before it and log `frflags` right after.
    fn flags_check(&mut self, lines: &mut Vec<String>) {
        if self.r.chance(20) {
            let rd = self.wr();
            lines.insert(lines.len() - 1, "    csrwi fflags, 0".into());
            lines.push(format!("    frflags {}", x(rd)));
            self.force_log = true;
        }
    }

    fn g_fp_arith(&mut self) {
        let p = self.prec();
        let (fd, f1, f2) = (self.fp(p), self.fp(p), self.fp(p));
        let f2 = if self.r.chance(8) { f1 } else { f2 };
        let mut lines = Vec::new();
        self.refresh(p, f1, &mut lines);
        match self.r.below(12) {
            0..=7 => {
                let op = self.r.pick(&["fadd", "fsub", "fmul", "fdiv"]);
                self.refresh(p, f2, &mut lines);
                let rm = self.rm();
                lines.push(format!(
                    "    {op}.{p} {}, {}, {}, {rm}",
                    f(fd),
                    f(f1),
                    f(f2)
                ));
                self.flags_check(&mut lines);
            }
            8..=9 => {
                // the square root of a negative number is NaN: mostly take |x| first
                if self.r.chance(70) {
                    lines.push(format!("    fabs.{p} {}, {}", f(f1), f(f1)));
                }
                let rm = self.rm();
                lines.push(format!("    fsqrt.{p} {}, {}, {rm}", f(fd), f(f1)));
                self.flags_check(&mut lines);
            }
            _ => {
                let op = self.r.pick(&["fmin", "fmax"]);
                lines.push(format!("    {op}.{p} {}, {}, {}", f(fd), f(f1), f(f2)));
            }
        }
        self.push(Group::FpArith, lines);
    }

    fn g_fp_fma(&mut self) {
        let p = self.prec();
        let op = self.r.pick(&["fmadd", "fmsub", "fnmsub", "fnmadd"]);
        let (fd, f1, f2, f3) = (self.fp(p), self.fp(p), self.fp(p), self.fp(p));
        let mut lines = Vec::new();
        self.refresh(p, f1, &mut lines);
        self.refresh(p, f3, &mut lines);
        let rm = self.rm();
        lines.push(format!(
            "    {op}.{p} {}, {}, {}, {}, {rm}",
            f(fd),
            f(f1),
            f(f2),
            f(f3)
        ));
        self.flags_check(&mut lines);
        self.push(Group::FpFma, lines);
    }

    fn g_fp_cvt(&mut self) {
        let mut lines = Vec::new();
        match self.r.below(9) {
            0..=3 => {
                // float -> int
                let p = self.prec();
                let it = self.r.pick(&["w", "wu", "l", "lu"]);
                let fs = self.fp(p);
                if self.r.chance(30) {
                    self.set_fp(fs, p == "s", true, &mut lines);
                }
                let rd = self.rd();
                let rm = self.rm();
                lines.push(format!("    fcvt.{it}.{p} {}, {}, {rm}", x(rd), f(fs)));
            }
            4..=6 => {
                // int -> float
                let p = self.prec();
                let it = self.r.pick(&["w", "wu", "l", "lu"]);
                let rs = self.rs();
                let fd = self.fp(p);
                if p == "d" && (it == "w" || it == "wu") {
                    // exact conversions: the assembler only takes the default rm (rne);
                    // other rm values (incl. dyn with a possibly invalid frm) via .insn
                    let rm = self.rm_num();
                    if rm == 0 {
                        lines.push(format!("    fcvt.d.{it} {}, {}", f(fd), x(rs)));
                    } else {
                        let rs2 = if it == "w" { "x0" } else { "x1" };
                        lines.push(format!(
                            "    .insn r 0x53, {rm}, 0x69, {}, {}, {rs2}    # fcvt.d.{it} rm={rm}",
                            f(fd),
                            x(rs)
                        ));
                    }
                } else {
                    let rm = self.rm();
                    lines.push(format!("    fcvt.{p}.{it} {}, {}, {rm}", f(fd), x(rs)));
                }
            }
            7 => {
                let (fd, fs) = (self.fp("s"), self.fp("d"));
                let rm = self.rm();
                lines.push(format!("    fcvt.s.d {}, {}, {rm}", f(fd), f(fs)));
            }
            _ => {
                let (fd, fs) = (self.fp("d"), self.fp("s"));
                let rm = self.rm_num();
                if rm == 0 {
                    lines.push(format!("    fcvt.d.s {}, {}", f(fd), f(fs)));
                } else {
                    lines.push(format!(
                        "    .insn r 0x53, {rm}, 0x21, {}, {}, x0    # fcvt.d.s rm={rm}",
                        f(fd),
                        f(fs)
                    ));
                }
            }
        }
        self.flags_check(&mut lines);
        self.push(Group::FpCvt, lines);
    }

    /// `li tmp, bits; fmv.{d,w}.x fd, tmp` with an interesting value.
    fn set_fp(&mut self, fd: usize, single: bool, convertible: bool, lines: &mut Vec<String>) {
        let tmp = self.wr();
        if single {
            let v = if convertible && self.r.chance(50) {
                self.r.pick(F32_SPECIAL)
            } else {
                f32_value(&mut self.r)
            };
            lines.push(format!("    li {}, {v:#x}", x(tmp)));
            lines.push(format!("    fmv.w.x {}, {}", f(fd), x(tmp)));
        } else {
            let v = if convertible && self.r.chance(50) {
                self.r.pick(F64_SPECIAL)
            } else {
                f64_value(&mut self.r)
            };
            lines.push(format!("    li {}, {v:#x}", x(tmp)));
            lines.push(format!("    fmv.d.x {}, {}", f(fd), x(tmp)));
        }
    }

    fn g_fp_misc(&mut self) {
        let p = self.prec();
        let line = match self.r.below(10) {
            0..=2 => {
                let op = self.r.pick(&["fsgnj", "fsgnjn", "fsgnjx"]);
                let (fd, f1) = (self.fp(p), self.fp(p));
                let f2 = if self.r.chance(25) { f1 } else { self.fp(p) };
                format!("    {op}.{p} {}, {}, {}", f(fd), f(f1), f(f2))
            }
            3..=5 => {
                let op = self.r.pick(&["feq", "flt", "fle"]);
                let rd = self.rd();
                let (f1, f2) = (self.fp(p), self.fp(p));
                format!("    {op}.{p} {}, {}, {}", x(rd), f(f1), f(f2))
            }
            6 => {
                let rd = self.rd();
                let fs = self.fp(p);
                format!("    fclass.{p} {}, {}", x(rd), f(fs))
            }
            7 => {
                let rd = self.rd();
                let w = if p == "s" { "w" } else { "d" };
                let fs = self.fp(p);
                format!("    fmv.x.{w} {}, {}", x(rd), f(fs))
            }
            _ => {
                let w = if p == "s" { "w" } else { "d" };
                let fd = self.fp(p);
                format!("    fmv.{w}.x {}, {}", f(fd), x(self.rs()))
            }
        };
        self.push(Group::FpMisc, vec![line]);
    }

    fn frm_value(&mut self) -> u64 {
        if self.r.chance(6) {
            self.r.range(5, 7) as u64
        } else {
            self.r.below(5)
        }
    }

    fn g_fp_csr(&mut self) {
        let mut lines = Vec::new();
        match self.r.below(12) {
            0 | 1 => {
                let rd = self.rd();
                let v = self.frm_value();
                lines.push(format!("    fsrmi {}, {v}", x(rd)));
            }
            2 => {
                let v = self.frm_value();
                lines.push(format!("    csrwi frm, {v}"));
            }
            3 => {
                // write frm from a register holding a valid value plus junk in the upper bits
                let tmp = self.wr();
                let v = self.frm_value() | (self.r.next_u64() & !7);
                lines.push(format!("    li {}, {v:#x}", x(tmp)));
                let rd = self.rd();
                lines.push(format!("    csrrw {}, frm, {}", x(rd), x(tmp)));
            }
            4 => {
                let rd = self.rd();
                lines.push(format!("    frrm {}", x(rd)));
            }
            5 => {
                let rd = self.rd();
                lines.push(format!("    frflags {}", x(rd)));
            }
            6 => {
                let rd = self.rd();
                let rs = self.rs();
                lines.push(format!("    fsflags {}, {}", x(rd), x(rs)));
            }
            7 => {
                let rd = self.rd();
                lines.push(format!("    fsflagsi {}, {}", x(rd), self.r.below(32)));
            }
            8 => {
                let op = self.r.pick(&["csrrs", "csrrc"]);
                let rd = self.rd();
                let rs = self.rs();
                lines.push(format!("    {op} {}, fflags, {}", x(rd), x(rs)));
            }
            9 => {
                let op = self.r.pick(&["csrrsi", "csrrci"]);
                let rd = self.rd();
                lines.push(format!(
                    "    {op} {}, {}, {}",
                    x(rd),
                    self.r.pick(&["fflags", "frm", "fcsr"]),
                    self.r.below(32)
                ));
            }
            10 => {
                let rd = self.rd();
                lines.push(format!("    frcsr {}", x(rd)));
            }
            _ => {
                let tmp = self.wr();
                let v = (self.frm_value() << 5) | self.r.below(32) | (self.r.next_u64() & !0xff);
                lines.push(format!("    li {}, {v:#x}", x(tmp)));
                let rd = self.rd();
                lines.push(format!("    fscsr {}, {}", x(rd), x(tmp)));
            }
        }
        self.push(Group::FpCsr, lines);
    }

    fn rvc(line: String) -> Vec<String> {
        vec![
            "    .option push".into(),
            "    .option rvc".into(),
            line,
            "    .option pop".into(),
        ]
    }

    fn nz6(&mut self) -> i64 {
        loop {
            let v = self.r.range(-32, 31);
            if v != 0 {
                return v;
            }
        }
    }

    fn g_rvc(&mut self) {
        let g = Group::Compressed;
        match self.r.below(30) {
            0 => {
                let (rd, rs) = (self.wr(), self.wr_nz_src());
                self.push(g, Self::rvc(format!("    c.add {}, {}", x(rd), x(rs))));
            }
            1 => {
                let (rd, rs) = (self.wr(), self.wr_nz_src());
                self.push(g, Self::rvc(format!("    c.mv {}, {}", x(rd), x(rs))));
            }
            2 => {
                let rd = self.wr();
                let imm = self.nz6();
                self.push(g, Self::rvc(format!("    c.addi {}, {imm}", x(rd))));
            }
            3 => {
                let rd = self.wr();
                let imm = self.r.range(-32, 31);
                self.push(g, Self::rvc(format!("    c.addiw {}, {imm}", x(rd))));
            }
            4 => {
                let rd = self.wr();
                let imm = self.r.range(-32, 31);
                self.push(g, Self::rvc(format!("    c.li {}, {imm}", x(rd))));
            }
            5 => {
                let rd = self.wr();
                let v = self.nz6();
                let imm = if v < 0 {
                    (v + 0x100000) as u64
                } else {
                    v as u64
                };
                self.push(g, Self::rvc(format!("    c.lui {}, {imm:#x}", x(rd))));
            }
            6 => {
                let rd = self.wr();
                let sh = self.r.range(1, 63);
                self.push(g, Self::rvc(format!("    c.slli {}, {sh}", x(rd))));
            }
            7 | 8 => {
                let op = self.r.pick(&["c.srli", "c.srai"]);
                let rd = self.crd();
                let sh = self.r.range(1, 63);
                self.push(g, Self::rvc(format!("    {op} {}, {sh}", x(rd))));
            }
            9 => {
                let rd = self.crd();
                let imm = self.r.range(-32, 31);
                self.push(g, Self::rvc(format!("    c.andi {}, {imm}", x(rd))));
            }
            10..=12 => {
                let op = self
                    .r
                    .pick(&["c.sub", "c.xor", "c.or", "c.and", "c.subw", "c.addw"]);
                let rd = self.crd();
                let rs = self.crs();
                self.push(g, Self::rvc(format!("    {op} {}, {}", x(rd), x(rs))));
            }
            13 => {
                let rd = self.crd();
                let imm = self.r.range(1, 255) * 4;
                self.push(g, Self::rvc(format!("    c.addi4spn {}, sp, {imm}", x(rd))));
            }
            14..=16 => {
                // s0-based (data + 2048): c.lw/c.ld/c.fld (offsets scaled, unsigned)
                let (op, w, max, fp) = self.r.pick(&[
                    ("c.lw", 4, 124, false),
                    ("c.ld", 8, 248, false),
                    ("c.fld", 8, 248, true),
                    ("c.sw", 4, 124, false),
                    ("c.sd", 8, 248, false),
                    ("c.fsd", 8, 248, true),
                ]);
                let off = self.r.range(0, max / w) * w;
                let is_store = op.starts_with("c.s") || op == "c.fsd";
                let reg = if fp {
                    f(self.r.range(8, 15) as usize)
                } else if is_store {
                    x(self.crs())
                } else {
                    x(self.crd())
                };
                self.push(g, Self::rvc(format!("    {op} {reg}, {off}(s0)")));
            }
            17..=19 => {
                // sp-based (data + 0)
                let (op, w, max) = self.r.pick(&[
                    ("c.lwsp", 4, 252),
                    ("c.ldsp", 8, 504),
                    ("c.fldsp", 8, 504),
                    ("c.swsp", 4, 252),
                    ("c.sdsp", 8, 504),
                    ("c.fsdsp", 8, 504),
                ]);
                let off = self.r.range(0, max / w) * w;
                let reg = match op {
                    "c.fldsp" | "c.fsdsp" => f(self.fr()),
                    "c.swsp" | "c.sdsp" => x(self.r.below(32) as usize),
                    _ => x(self.wr()),
                };
                self.push(g, Self::rvc(format!("    {op} {reg}, {off}(sp)")));
            }
            20 => {
                // balanced c.addi16sp pair around one sp-relative access
                let n = self.r.range(1, 31) * 16;
                let (op, w) =
                    self.r
                        .pick(&[("c.ldsp", 8), ("c.sdsp", 8), ("c.lwsp", 4), ("c.swsp", 4)]);
                let off = self.r.range(0, 31) * w;
                let reg = if op.starts_with("c.s") {
                    x(self.r.below(32) as usize)
                } else {
                    x(self.wr())
                };
                self.push(
                    g,
                    vec![
                        "    .option push".into(),
                        "    .option rvc".into(),
                        format!("    c.addi16sp sp, {n}"),
                        format!("    {op} {reg}, {off}(sp)"),
                        format!("    c.addi16sp sp, {}", -n),
                        "    .option pop".into(),
                    ],
                );
            }
            21 => self.push(g, Self::rvc("    c.nop".into())),
            22..=24 => {
                // c.beqz/c.bnez reach only +-256 bytes: skip at most 3 items
                let lbl = self.new_label();
                let skip = self.r.range(0, 3) as usize;
                let line = match self.r.below(3) {
                    0 => format!("    c.beqz {}, {lbl}", x(self.crs())),
                    1 => format!("    c.bnez {}, {lbl}", x(self.crs())),
                    _ => format!("    c.j {lbl}"),
                };
                self.push_branch(g, Self::rvc(line), lbl, skip);
            }
            25 | 26 => {
                let lbl = self.new_label();
                let skip = self.r.range(0, 4) as usize;
                let tmp = self.wr();
                let op = self.r.pick(&["c.jr", "c.jalr"]);
                let mut lines = vec![format!("    la {}, {lbl}", x(tmp))];
                lines.extend(Self::rvc(format!("    {op} {}", x(tmp))));
                self.push_branch(g, lines, lbl, skip);
            }
            _ => {
                // more of the common ALU forms
                let op = self.r.pick(&["c.addi", "c.addw", "c.and"]);
                if op == "c.addi" {
                    let rd = self.wr();
                    let imm = self.nz6();
                    self.push(g, Self::rvc(format!("    c.addi {}, {imm}", x(rd))));
                } else {
                    let rd = self.crd();
                    let rs = self.crs();
                    self.push(g, Self::rvc(format!("    {op} {}, {}", x(rd), x(rs))));
                }
            }
        }
    }

    /// Non-zero source register for c.add/c.mv (any of x1..x31).
    fn wr_nz_src(&mut self) -> usize {
        self.r.range(1, 31) as usize
    }

    fn g_zba(&mut self) {
        let (rd, rs1, rs2) = self.alu_regs();
        let line = if self.r.chance(15) {
            format!("    slli.uw {}, {}, {}", x(rd), x(rs1), self.shamt(64))
        } else {
            let op = self.r.pick(&[
                "add.uw",
                "sh1add",
                "sh2add",
                "sh3add",
                "sh1add.uw",
                "sh2add.uw",
                "sh3add.uw",
            ]);
            format!("    {op} {}, {}, {}", x(rd), x(rs1), x(rs2))
        };
        self.push(Group::Zba, vec![line]);
    }

    fn g_zbb(&mut self) {
        let (rd, rs1, rs2) = self.alu_regs();
        let mut lines = Vec::new();
        let line = match self.r.below(4) {
            0 | 1 => {
                let op = self.r.pick(&[
                    "andn", "orn", "xnor", "max", "maxu", "min", "minu", "rol", "rolw", "ror",
                    "rorw",
                ]);
                format!("    {op} {}, {}, {}", x(rd), x(rs1), x(rs2))
            }
            2 => {
                let op = self.r.pick(&[
                    "clz", "clzw", "ctz", "ctzw", "cpop", "cpopw", "sext.b", "sext.h", "zext.h",
                    "orc.b", "rev8",
                ]);
                if op == "ctzw" {
                    // QEMU 7.2 bug: ctzw returns ctz of all 64 bits when the low word is zero
                    // (e.g. 53 for 1 << 53, not 32). Sign-extend the operand first so that the
                    // upper half is zero whenever the low word is.
                    let rd = self.wr();
                    lines.push(format!("    sext.w {}, {}", x(rd), x(rs1)));
                    format!("    ctzw {}, {}", x(rd), x(rd))
                } else {
                    format!("    {op} {}, {}", x(rd), x(rs1))
                }
            }
            _ => {
                if self.r.chance(50) {
                    format!("    rori {}, {}, {}", x(rd), x(rs1), self.shamt(64))
                } else {
                    format!("    roriw {}, {}, {}", x(rd), x(rs1), self.shamt(32))
                }
            }
        };
        lines.push(line);
        self.push(Group::Zbb, lines);
    }

    fn g_zbs(&mut self) {
        let (rd, rs1, rs2) = self.alu_regs();
        let op = self.r.pick(&["bclr", "bext", "binv", "bset"]);
        let line = if self.r.chance(50) {
            format!("    {op} {}, {}, {}", x(rd), x(rs1), x(rs2))
        } else {
            format!("    {op}i {}, {}, {}", x(rd), x(rs1), self.shamt(64))
        };
        self.push(Group::Zbs, vec![line]);
    }

    fn g_branch(&mut self) {
        let lbl = self.new_label();
        let skip = self.r.range(0, 4) as usize;
        let lines = match self.r.below(10) {
            0..=6 => {
                let op = self.r.pick(&["beq", "bne", "blt", "bge", "bltu", "bgeu"]);
                let rs1 = self.rs();
                let rs2 = if self.r.chance(10) { rs1 } else { self.rs() };
                vec![format!("    {op} {}, {}, {lbl}", x(rs1), x(rs2))]
            }
            7 => {
                let rd = if self.r.chance(50) { 0 } else { self.wr() };
                vec![format!("    jal {}, {lbl}", x(rd))]
            }
            _ => {
                // jalr: the target's bit 0 is cleared, so an odd offset lands on the label
                let tmp = self.wr();
                let rd = self.rd();
                let off = self.r.pick(&[0, 1]);
                vec![
                    format!("    la {}, {lbl}", x(tmp)),
                    format!("    jalr {}, {off}({})", x(rd), x(tmp)),
                ]
            }
        };
        self.push_branch(Group::Branch, lines, lbl, skip);
    }

    fn g_csr(&mut self) {
        let rd = self.rd();
        let line = match self.r.below(8) {
            0 | 1 => {
                let op = self.r.pick(&["csrrw", "csrrs", "csrrc"]);
                format!("    {op} {}, mscratch, {}", x(rd), x(self.rs()))
            }
            2 => {
                let op = self.r.pick(&["csrrwi", "csrrsi", "csrrci"]);
                format!("    {op} {}, mscratch, {}", x(rd), self.r.below(32))
            }
            3 => format!("    csrr {}, mscratch", x(rd)),
            4 => format!("    csrr {}, mhartid", x(rd)),
            5 => format!("    csrr {}, mepc", x(rd)),
            6 => format!("    csrr {}, mcause", x(rd)),
            _ => format!("    csrrs {}, fcsr, zero", x(rd)),
        };
        self.push(Group::Csr, vec![line]);
    }

    fn g_trap(&mut self) {
        let g = Group::Trap;
        match self.r.below(10) {
            0 => self.push(
                g,
                vec!["    .2byte 0x0000                # illegal (all-zero parcel)".into()],
            ),
            1 => self.push(g, vec!["    ecall".into()]),
            2 => self.push(g, vec!["    ebreak".into()]),
            3 => self.push(g, Self::rvc("    c.ebreak".into())),
            4 | 5 => {
                let rd = self.wr();
                let csr = self.r.pick(&NONEXISTENT_CSRS);
                self.push(
                    g,
                    vec![format!(
                        "    csrr {}, {csr:#x}              # nonexistent CSR",
                        x(rd)
                    )],
                );
            }
            6 => {
                // write to a read-only CSR. csrrs/csrrc with rs1 != x0 must trap whatever the
                // register holds, but QEMU 7.2 only traps when the value is non-zero: make it so.
                let rd = self.wr();
                let rs = self.wr();
                let op = self.r.pick(&["csrrw", "csrrs", "csrrc"]);
                let mut lines = Vec::new();
                if op != "csrrw" {
                    let v = self.r.range(1, 2047);
                    lines.push(format!("    li {}, {v}", x(rs)));
                }
                lines.push(format!(
                    "    {op} {}, mhartid, {}     # write to read-only CSR",
                    x(rd),
                    x(rs)
                ));
                self.push(g, lines);
            }
            7 => {
                // reserved static rounding mode (5 or 6) on an FP op
                let rm = self.r.pick(&[5, 6]);
                let (fd, f1, f2) = (self.fr(), self.fr(), self.fr());
                let (funct7, name) = self.r.pick(&[
                    (0x00, "fadd.s"),
                    (0x01, "fadd.d"),
                    (0x09, "fmul.d"),
                    (0x0d, "fdiv.d"),
                ]);
                self.push(
                    g,
                    vec![format!("    .insn r 0x53, {rm}, {funct7:#x}, {}, {}, {}    # {name} rm={rm} (reserved)", f(fd), f(f1), f(f2))],
                );
            }
            8 => {
                // custom-0 / custom-1 major opcodes: not implemented
                let opc = self.r.pick(&[0x0bu32, 0x2b]);
                let w = (self.r.next_u64() as u32 & !0x7f) | opc;
                self.push(
                    g,
                    vec![format!(
                        "    .4byte {w:#010x}            # custom opcode (illegal)"
                    )],
                );
            }
            _ => {
                // reserved OP-FP encoding: fmv.x.w's funct7 with funct3 = 2
                let rd = self.wr() as u32;
                let v = 0xe000_0053u32 | (2 << 12) | (rd << 7) | ((self.r.below(32) as u32) << 15);
                self.push(
                    g,
                    vec![format!(
                        "    .4byte {v:#010x}            # reserved OP-FP funct3"
                    )],
                );
            }
        }
    }

    fn g_value_set(&mut self) {
        let mut lines = Vec::new();
        if self.r.chance(50) {
            let rd = self.wr();
            let v = int_value(&mut self.r);
            lines.push(format!("    li {}, {v:#x}", x(rd)));
        } else {
            let fd = self.fr();
            let tmp = self.wr();
            let v = match (fd < 16, self.r.chance(80)) {
                (true, true) => 0xffff_ffff_0000_0000 | f32_value(&mut self.r) as u64,
                (false, true) => f64_value(&mut self.r),
                _ => fp_reg_value(&mut self.r),
            };
            lines.push(format!("    li {}, {v:#x}", x(tmp)));
            lines.push(format!("    fmv.d.x {}, {}", f(fd), x(tmp)));
        }
        self.push(Group::ValueSet, lines);
    }

    fn g_fence(&mut self) {
        let line = self.r.pick(&[
            "    fence",
            "    fence rw, rw",
            "    fence r, w",
            "    fence iorw, iorw",
            "    fence.tso",
            "    fence.i",
            "    nop",
        ]);
        self.push(Group::Fence, vec![line.to_string()]);
    }
}

// ------------------------------------------------------------------------------------------
// Generator self-tests (run as part of tests/riscv_diff.rs; no toolchain needed)
// ------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_stable() {
        // Pin the PRNG so that seeds quoted in bug reports keep meaning the same program.
        let mut r = Rng::new(0);
        let v: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            v,
            [
                0x99ec_5f36_cb75_f2b4,
                0xbf6e_1f78_4956_452a,
                0x1a5f_849d_4933_e6e0
            ]
        );
        assert_eq!(Rng::new(12345).below(1000), 743);
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn same_seed_same_text() {
        for seed in [0u64, 1, 7, 12345, u64::MAX] {
            let cfg = Config::new(seed, 500);
            let a = generate(seed, &cfg).render().source;
            let b = generate(seed, &cfg).render().source;
            assert_eq!(a, b, "seed {seed} is not reproducible");
        }
        let a = generate(1, &Config::new(1, 300)).render().source;
        let b = generate(2, &Config::new(2, 300)).render().source;
        assert_ne!(a, b);
    }

    #[test]
    fn prefix_is_prefix() {
        // A shorter item count yields the same leading items (bisecting relies on it).
        let long = generate(99, &Config::new(99, 400));
        let short = generate(99, &Config::new(99, 150));
        for (a, b) in long.items.iter().zip(short.items.iter()) {
            assert_eq!(a.lines, b.lines);
        }
        assert_eq!(long.render_prefix(150).item_lines.len(), 150);
    }

    #[test]
    fn all_groups_generated() {
        let mut cfg = Config::new(0, 20000);
        cfg.misaligned = true;
        let p = generate(0, &cfg);
        let counts = p.group_counts();
        for g in ALL_GROUPS {
            assert!(
                counts.get(&g).copied().unwrap_or(0) > 0,
                "group {} never generated",
                g.name()
            );
        }
        let cfg = Config::new(0, 20000);
        let p = generate(0, &cfg);
        assert!(!p.group_counts().contains_key(&Group::Misaligned));
    }

    #[test]
    fn reserved_registers_never_written() {
        for seed in 0..16u64 {
            let p = generate(seed, &Config::new(seed, 3000));
            for it in &p.items {
                let mut addi16sp = 0i64;
                for line in &it.lines {
                    let Some((m, ops)) = split_insn(line) else {
                        continue;
                    };
                    if m == "c.addi16sp" {
                        addi16sp += ops[1].parse::<i64>().unwrap();
                        continue;
                    }
                    if it.group == Group::LogAdvance || first_operand_is_source(m) {
                        continue;
                    }
                    if let Some(&first) = ops.first() {
                        assert!(
                            !["sp", "s0", "gp", "x2", "x3", "x8"].contains(&first),
                            "seed {seed}: writes a reserved register: {line}"
                        );
                    }
                }
                assert_eq!(addi16sp, 0, "unbalanced c.addi16sp in {:?}", it.lines);
            }
        }
    }

    #[test]
    fn result_log_slots() {
        let p = generate(3, &Config::new(3, 3000));
        assert!(
            p.log_items.len() > 600,
            "too few logged results: {}",
            p.log_items.len()
        );
        for (slot, &i) in p.log_items.iter().enumerate() {
            let tag = format!("# log {slot}");
            assert!(
                p.items[i].lines.iter().any(|l| l.ends_with(&tag)),
                "slot {slot} not in item {i}"
            );
        }
        assert!(p
            .items
            .iter()
            .any(|it| it.group == Group::LogAdvance && it.barrier));
        assert_eq!(
            result_of(&["    fadd.s fa0, fa1, fa2, rne".to_string()]).map(|_| ()),
            Some(())
        );
        assert!(result_of(&["    sd a0, 8(sp)".to_string()]).is_none());
        assert!(result_of(&["    csrwi frm, 3".to_string()]).is_none());
        assert!(matches!(
            result_of(&["    .insn r 0x53, 7, 0x69, fa0, a1, x0    # fcvt.d.w".to_string()]),
            Some(Res::F(10))
        ));
    }
}
