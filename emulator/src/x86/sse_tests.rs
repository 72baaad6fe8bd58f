//! Differential tests against the host CPU. Every legacy-encoded MMX/SSE..SSE4.2 instruction
//! (as iced-x86 classifies them) is encoded with register and memory operands, run natively
//! from a JIT page (faults are caught with signal handlers and the instruction skipped) and
//! through petrel's handler, on random and special inputs under random MXCSR settings;
//! registers, memory, RFLAGS, MXCSR and the fault are compared exactly.

use super::sse_fp;
use crate::x86::cpu::Exc;
use crate::x86::user::UserMachine;
use iced_x86::{
    Code, CpuidFeature, Decoder, DecoderOptions, Encoder, EncodingKind, Instruction, MemoryOperand,
    Mnemonic, OpCodeOperandKind as K, Register,
};
use std::cell::Cell;

// ---- host execution ----

#[repr(C, align(64))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Io {
    x: [u128; 3],
    mm: [u64; 2],
    /// RAX, RCX, RDX, RDI.
    gpr: [u64; 4],
    mx_in: u32,
    mx_out: u32,
    scratch: u32,
    pad: u32,
    fl_in: u64,
    fl_out: u64,
    mem: [u8; 64],
}

const MEM_OFF: usize = 128;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static RESUME: Cell<u64> = const { Cell::new(0) };
    static FAULT: Cell<i32> = const { Cell::new(0) };
}

extern "C" fn on_signal(sig: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if !ARMED.with(|a| a.get()) {
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
        return;
    }
    FAULT.with(|f| f.set(sig));
    let uc = ctx as *mut libc::ucontext_t;
    unsafe {
        (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = RESUME.with(|r| r.get()) as i64;
    }
}

fn install_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        for sig in [libc::SIGFPE, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    });
}

struct Jit {
    page: *mut u8,
}

impl Jit {
    fn new() -> Jit {
        install_handlers();
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        Jit {
            page: page as *mut u8,
        }
    }

    /// Runs `bytes` (one instruction) on the host with the state in `io`; returns the signal
    /// that stopped it, if any.
    fn run(&self, bytes: &[u8], io: &mut Io) -> i32 {
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.page, bytes.len());
            *self.page.add(bytes.len()) = 0xc3;
        }
        RESUME.with(|r| r.set(self.page as u64 + bytes.len() as u64));
        FAULT.with(|f| f.set(0));
        ARMED.with(|a| a.set(true));
        unsafe {
            core::arch::asm!(
                "ldmxcsr [r11 + 96]",
                "movdqu xmm0, [r11]",
                "movdqu xmm1, [r11 + 16]",
                "movdqu xmm2, [r11 + 32]",
                "movq mm0, [r11 + 48]",
                "movq mm1, [r11 + 56]",
                "mov rax, [r11 + 64]",
                "mov rcx, [r11 + 72]",
                "mov rdx, [r11 + 80]",
                "mov rdi, [r11 + 88]",
                "push qword ptr [r11 + 112]",
                "popfq",
                "call r10",
                "pushfq",
                "pop qword ptr [r11 + 120]",
                "stmxcsr [r11 + 100]",
                "movdqu [r11], xmm0",
                "movdqu [r11 + 16], xmm1",
                "movdqu [r11 + 32], xmm2",
                "movq [r11 + 48], mm0",
                "movq [r11 + 56], mm1",
                "mov [r11 + 64], rax",
                "mov [r11 + 72], rcx",
                "mov [r11 + 80], rdx",
                "mov [r11 + 88], rdi",
                "mov dword ptr [r11 + 104], 0x1f80",
                "ldmxcsr [r11 + 104]",
                "emms",
                in("r11") io as *mut Io,
                in("r10") self.page,
                clobber_abi("C"),
            );
        }
        ARMED.with(|a| a.set(false));
        FAULT.with(|f| f.get())
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        unsafe {
            libc::munmap(self.page as *mut libc::c_void, 4096);
        }
    }
}

// ---- petrel execution ----

struct Emu {
    m: UserMachine,
}

impl Emu {
    fn new() -> Emu {
        Emu {
            m: UserMachine::new(),
        }
    }

    /// Runs the decoded instruction through petrel's handler with the state of `io` (memory
    /// operands address `io` copied to the start of the data window through R11).
    fn run(&mut self, ins: &Instruction, io: &mut Io, rdi_off: u64) -> Result<(), Exc> {
        let h = super::handler(ins.code()).expect("no handler");
        let bytes: [u8; std::mem::size_of::<Io>()] = unsafe { std::mem::transmute(*io) };
        self.m.data_mut()[..bytes.len()].copy_from_slice(&bytes);
        let c = &mut self.m.cpu;
        c.xmm[..3].copy_from_slice(&io.x);
        c.fpu.mmx_write(0, io.mm[0]);
        c.fpu.mmx_write(1, io.mm[1]);
        c.gpr[0] = io.gpr[0];
        c.gpr[1] = io.gpr[1];
        c.gpr[2] = io.gpr[2];
        c.gpr[7] = UserMachine::DATA + rdi_off;
        c.gpr[11] = UserMachine::DATA;
        c.set_rflags(io.fl_in);
        c.mxcsr = io.mx_in;
        c.rip = UserMachine::CODE;
        c.next_rip = UserMachine::CODE + ins.len() as u64;
        let r = h(c, ins);
        io.x.copy_from_slice(&c.xmm[..3]);
        io.mm = [c.fpu.regs[0].mant, c.fpu.regs[1].mant];
        io.gpr[0] = c.gpr[0];
        io.gpr[1] = c.gpr[1];
        io.gpr[2] = c.gpr[2];
        io.fl_out = c.rflags();
        io.mx_out = c.mxcsr;
        let d = self.m.data();
        io.mem.copy_from_slice(&d[MEM_OFF..MEM_OFF + 64]);
        r
    }
}

// ---- inputs ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Interesting exponent ranges (unbiased) for each format: underflow, products that underflow,
/// around 1, integer conversion limits, products that overflow, overflow.
const E32: [(i32, i32); 7] = [
    (-150, -118),
    (-80, -50),
    (-6, 6),
    (20, 34),
    (58, 66),
    (60, 70),
    (118, 127),
];
const E64: [(i32, i32); 7] = [
    (-1080, -1015),
    (-560, -500),
    (-6, 6),
    (28, 34),
    (60, 66),
    (500, 530),
    (1015, 1023),
];

fn mantissa(r: &mut Rng, bits: u32) -> u64 {
    let m = (1u64 << bits) - 1;
    match r.below(6) {
        0 => r.next() & m,
        1 => m,
        2 => 0,
        3 => (r.next() & m) & !((1u64 << r.below(bits as u64)) - 1),
        4 => 1u64 << r.below(bits as u64),
        _ => (r.next() & m) | (m >> 2),
    }
}

fn f32_value(r: &mut Rng) -> u32 {
    let s = (r.next() as u32) & 0x8000_0000;
    match r.below(12) {
        0 => s,
        1 => s | 0x7f80_0000,
        2 => s | 0x7fc0_0000 | (r.next() as u32 & 0x3f_ffff),
        3 => s | 0x7f80_0000 | (r.next() as u32 & 0x3f_ffff).max(1),
        4 => s | mantissa(r, 23) as u32,
        5 => s | 0x3f80_0000,
        6 => r.next() as u32,
        _ => {
            let (lo, hi) = E32[r.below(E32.len() as u64) as usize];
            let e = (lo + r.below((hi - lo + 1) as u64) as i32 + 127).clamp(0, 254);
            s | ((e as u32) << 23) | mantissa(r, 23) as u32
        }
    }
}

fn f64_value(r: &mut Rng) -> u64 {
    let s = r.next() & (1 << 63);
    match r.below(12) {
        0 => s,
        1 => s | 0x7ff0_0000_0000_0000,
        2 => s | 0x7ff8_0000_0000_0000 | (r.next() & 0x7_ffff_ffff_ffff),
        3 => s | 0x7ff0_0000_0000_0000 | (r.next() & 0x7_ffff_ffff_ffff).max(1),
        4 => s | mantissa(r, 52),
        5 => s | 0x3ff0_0000_0000_0000,
        6 => r.next(),
        _ => {
            let (lo, hi) = E64[r.below(E64.len() as u64) as usize];
            let e = (lo + r.below((hi - lo + 1) as u64) as i32 + 1023).clamp(0, 2046);
            s | ((e as u64) << 52) | mantissa(r, 52)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Lanes {
    S,
    D,
    Int,
}

fn int_value(r: &mut Rng) -> u128 {
    match r.below(5) {
        0 => (r.next() as u128) << 64 | r.next() as u128,
        1 => {
            // Bytes from a small alphabet (string compares, equal elements, zero terminators).
            let alpha = [0u8, 0x61, 0x62, 0x63, 0x7f, 0x80, 0xff, 0x01];
            let mut b = [0u8; 16];
            for x in b.iter_mut() {
                let n = if r.chance(70) { 4 } else { 8 };
                *x = alpha[r.below(n) as usize];
            }
            u128::from_le_bytes(b)
        }
        2 => {
            let w = [0u16, 0x7fff, 0x8000, 0xffff, 1, 0x61, 0x62, 0x100];
            let mut x = 0u128;
            for k in 0..8 {
                x |= (w[r.below(8) as usize] as u128) << (16 * k);
            }
            x
        }
        3 => (r.below(40) as u128).wrapping_sub(8),
        _ => {
            let mut x = 0u128;
            for k in 0..16 {
                if r.chance(60) {
                    x |= ((r.next() as u8 & 0x8f) as u128) << (8 * k);
                }
            }
            x
        }
    }
}

fn vec_value(r: &mut Rng, lanes: Lanes) -> u128 {
    let pick = match lanes {
        Lanes::Int if r.chance(80) => Lanes::Int,
        Lanes::S | Lanes::D if r.chance(80) => lanes,
        _ => [Lanes::S, Lanes::D, Lanes::Int][r.below(3) as usize],
    };
    match pick {
        Lanes::S => (0..4).fold(0u128, |x, k| x | (f32_value(r) as u128) << (32 * k)),
        Lanes::D => f64_value(r) as u128 | (f64_value(r) as u128) << 64,
        Lanes::Int => int_value(r),
    }
}

/// A second operand that puts a*b or a/b within a few ulps of the smallest normal (or a
/// chosen tiny/huge target), for tininess, FTZ and overflow boundaries.
fn boundary(r: &mut Rng, a: u128, lanes: Lanes) -> u128 {
    let mut out = 0u128;
    if lanes == Lanes::D {
        for k in 0..2 {
            let x = f64::from_bits((a >> (64 * k)) as u64);
            let t = match r.below(3) {
                0 => f64::MIN_POSITIVE,
                1 => f64::MAX,
                _ => f64::MIN_POSITIVE * 0.5,
            };
            let t = f64::from_bits(t.to_bits().wrapping_add(r.below(7)).wrapping_sub(3));
            let y = if r.chance(50) { t / x } else { x / t };
            out |= (y.to_bits() as u128) << (64 * k);
        }
    } else {
        for k in 0..4 {
            let x = f64::from(f32::from_bits((a >> (32 * k)) as u32));
            let t = match r.below(3) {
                0 => f64::from(f32::MIN_POSITIVE),
                1 => f64::from(f32::MAX),
                _ => f64::from(f32::MIN_POSITIVE) * 0.5,
            };
            let t = t * (1.0 + (r.below(9) as f64 - 4.0) * 2f64.powi(-25));
            let y = if r.chance(50) { t / x } else { x / t } as f32;
            out |= (y.to_bits() as u128) << (32 * k);
        }
    }
    out
}

/// A second operand close to the first (ties, cancellation, equal compares).
fn related(r: &mut Rng, a: u128, lanes: Lanes) -> u128 {
    if lanes != Lanes::Int && r.chance(30) {
        return boundary(r, a, lanes);
    }
    match lanes {
        Lanes::D => {
            let mut out = 0u128;
            for k in 0..2 {
                let x = (a >> (64 * k)) as u64;
                let e = ((x >> 52) & 0x7ff) as i64 + r.below(121) as i64 - 60;
                let y = match r.below(4) {
                    0 => x,
                    1 => x ^ (1 << 63),
                    2 => (x & !(0x7ff << 52)) | ((e.clamp(0, 2046) as u64) << 52),
                    _ => x.wrapping_add(r.below(5)).wrapping_sub(2),
                };
                out |= (y as u128) << (64 * k);
            }
            out
        }
        _ => {
            let mut out = 0u128;
            for k in 0..4 {
                let x = (a >> (32 * k)) as u32;
                let e = ((x >> 23) & 0xff) as i32 + r.below(61) as i32 - 30;
                let y = match r.below(4) {
                    0 => x,
                    1 => x ^ (1 << 31),
                    2 => (x & !(0xff << 23)) | ((e.clamp(0, 254) as u32) << 23),
                    _ => x.wrapping_add(r.below(5) as u32).wrapping_sub(2),
                };
                out |= (y as u128) << (32 * k);
            }
            out
        }
    }
}

fn lanes_of(code: Code) -> Lanes {
    let s = format!("{:?}", code.mnemonic()).to_lowercase();
    if s.ends_with("ps") || s.ends_with("ss") || s.contains("ps2") || s.contains("ss2") {
        Lanes::S
    } else if s.ends_with("pd") || s.ends_with("sd") || s.contains("pd2") || s.contains("sd2") {
        Lanes::D
    } else {
        Lanes::Int
    }
}

fn mxcsr_value(r: &mut Rng) -> u32 {
    let mut mx = (r.below(4) as u32) << 13;
    if r.chance(25) {
        mx |= sse_fp::DAZ;
    }
    if r.chance(25) {
        mx |= sse_fp::FTZ;
    }
    mx |= if r.chance(60) {
        0x1f80
    } else if r.chance(50) {
        0x1f80 & !(0x80 << r.below(6))
    } else {
        (r.next() as u32) & 0x1f80
    };
    if r.chance(20) {
        mx |= r.next() as u32 & 0x3f;
    }
    mx
}

// ---- instruction forms ----

/// Builds `code` with operands xmm0/xmm1, mm0/mm1, rax/rcx (by operand position), a memory
/// operand [r11 + MEM_OFF + mis] and a random imm8.
fn build(code: Code, r: &mut Rng, use_mem: bool, mis: u32) -> Option<Instruction> {
    let oc = code.op_code();
    let mem = MemoryOperand::with_base_displ(Register::R11, (MEM_OFF as u32 + mis) as i64);
    let gpr = |k: u32, size: usize| -> Register {
        let regs: [[Register; 2]; 4] = [
            [Register::AL, Register::CL],
            [Register::AX, Register::CX],
            [Register::EAX, Register::ECX],
            [Register::RAX, Register::RCX],
        ];
        let row = match size {
            1 => 0,
            2 => 1,
            4 => 2,
            _ => 3,
        };
        regs[row][(k as usize).min(1)]
    };
    if code == Code::Maskmovq_rDI_mm_mm {
        return Instruction::with_maskmovq(64, Register::MM0, Register::MM1, Register::None).ok();
    }
    if code == Code::Maskmovdqu_rDI_xmm_xmm {
        return Instruction::with_maskmovdqu(64, Register::XMM0, Register::XMM1, Register::None)
            .ok();
    }
    enum Op {
        R(Register),
        M,
        I(i32),
    }
    let mut ops = Vec::new();
    for k in 0..oc.op_count() {
        let xmm = [Register::XMM0, Register::XMM1, Register::XMM2][k as usize];
        let mm = [Register::MM0, Register::MM1, Register::MM1][k as usize];
        ops.push(match oc.op_kind(k) {
            K::xmm_reg | K::xmm_rm => Op::R(xmm),
            K::xmm_or_mem => {
                if use_mem {
                    Op::M
                } else {
                    Op::R(xmm)
                }
            }
            K::mm_reg | K::mm_rm => Op::R(mm),
            K::mm_or_mem => {
                if use_mem {
                    Op::M
                } else {
                    Op::R(mm)
                }
            }
            K::r32_reg => Op::R(gpr(k, 4)),
            K::r64_reg => Op::R(gpr(k, 8)),
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem => {
                let size = match oc.op_kind(k) {
                    K::r8_or_mem => 1,
                    K::r16_or_mem => 2,
                    K::r32_or_mem => 4,
                    _ => 8,
                };
                if use_mem {
                    Op::M
                } else {
                    Op::R(gpr(k, size))
                }
            }
            K::mem => Op::M,
            K::imm8 => Op::I(r.below(256) as i32),
            _ => return None,
        });
    }
    // iced's typed constructors: build by arity.
    let ins = match ops.as_slice() {
        [] => Instruction::with(code),
        [Op::R(a)] => Instruction::with1(code, *a).ok()?,
        [Op::M] => Instruction::with1(code, mem).ok()?,
        [Op::R(a), Op::R(b)] => Instruction::with2(code, *a, *b).ok()?,
        [Op::R(a), Op::M] => Instruction::with2(code, *a, mem).ok()?,
        [Op::M, Op::R(b)] => Instruction::with2(code, mem, *b).ok()?,
        [Op::R(a), Op::I(i)] => Instruction::with2(code, *a, *i).ok()?,
        [Op::R(a), Op::R(b), Op::I(i)] => Instruction::with3(code, *a, *b, *i).ok()?,
        [Op::R(a), Op::M, Op::I(i)] => Instruction::with3(code, *a, mem, *i).ok()?,
        [Op::M, Op::R(b), Op::I(i)] => Instruction::with3(code, mem, *b, *i).ok()?,
        _ => return None,
    };
    Some(ins)
}

fn encode(ins: &Instruction) -> Option<(Vec<u8>, Instruction)> {
    let mut e = Encoder::new(64);
    e.encode(ins, UserMachine::CODE).ok()?;
    let bytes = e.take_buffer();
    let d = Decoder::with_ip(64, &bytes, UserMachine::CODE, DecoderOptions::NONE).decode();
    if d.is_invalid() || d.code() != ins.code() {
        return None;
    }
    Some((bytes, d))
}

fn covered(code: Code) -> bool {
    code.op_code().encoding() == EncodingKind::Legacy
        && code.mnemonic() != Mnemonic::Fisttp
        && code.cpuid_features().iter().any(|f| {
            matches!(
                f,
                CpuidFeature::MMX
                    | CpuidFeature::SSE
                    | CpuidFeature::SSE2
                    | CpuidFeature::SSE3
                    | CpuidFeature::SSSE3
                    | CpuidFeature::SSE4_1
                    | CpuidFeature::SSE4_2
            )
        })
}

fn has_mem_form(code: Code) -> (bool, bool) {
    let oc = code.op_code();
    let mut reg = true;
    let mut mem = false;
    for k in 0..oc.op_count() {
        match oc.op_kind(k) {
            K::mem | K::seg_rDI => {
                mem = true;
                reg = false;
            }
            K::xmm_or_mem
            | K::mm_or_mem
            | K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem => mem = true,
            _ => {}
        }
    }
    (reg, mem)
}

fn signal_of(e: &Result<(), Exc>) -> i32 {
    match e {
        Ok(()) => 0,
        Err(x) if x.vector == crate::x86::vec::XM => libc::SIGFPE,
        Err(x) if x.vector == crate::x86::vec::GP => libc::SIGSEGV,
        Err(x) if x.vector == crate::x86::vec::UD => libc::SIGILL,
        Err(x) => 1000 + x.vector as i32,
    }
}

/// Compares petrel with the host on `cases` random inputs for every covered code accepted by
/// `filter`. Returns the failure descriptions.
fn diff_codes(filter: &dyn Fn(Code) -> bool, cases: usize, seed: u64) -> Vec<String> {
    let jit = Jit::new();
    let mut emu = Emu::new();
    let mut r = Rng(seed);
    let mut fails = Vec::new();
    let mut tested = 0;
    for code in Code::values().filter(|c| covered(*c) && filter(*c)) {
        if super::handler(code).is_none() {
            fails.push(format!("{code:?}: not implemented"));
            continue;
        }
        let (reg_ok, mem_ok) = has_mem_form(code);
        let lanes = lanes_of(code);
        let mut bad = 0;
        for _ in 0..cases {
            let use_mem = mem_ok && (!reg_ok || r.chance(40));
            let mis = if r.chance(15) { r.below(16) as u32 } else { 0 };
            let Some(ins) = build(code, &mut r, use_mem, mis) else {
                fails.push(format!("{code:?}: cannot build"));
                break;
            };
            let Some((bytes, dec)) = encode(&ins) else {
                fails.push(format!("{code:?}: cannot encode"));
                break;
            };
            let mut io = Io {
                x: [0; 3],
                mm: [r.next(), r.next()],
                gpr: [0; 4],
                mx_in: mxcsr_value(&mut r),
                mx_out: 0,
                scratch: 0,
                pad: 0,
                fl_in: 0x202 | (r.next() & 0x8d5),
                fl_out: 0,
                mem: [0; 64],
            };
            io.x[0] = vec_value(&mut r, lanes);
            io.x[1] = if r.chance(25) {
                related(&mut r, io.x[0], lanes)
            } else {
                vec_value(&mut r, lanes)
            };
            io.x[2] = vec_value(&mut r, lanes);
            if r.chance(30) {
                io.mm = [io.x[0] as u64, io.x[1] as u64];
            }
            for k in 0..3 {
                io.gpr[k] = match r.below(4) {
                    0 => r.next(),
                    1 => (r.below(41) as i64 - 20) as u64,
                    2 => r.next() as i32 as i64 as u64,
                    _ => f64_value(&mut r),
                };
            }
            let mut m = [0u8; 64];
            for ch in m.chunks_mut(16) {
                let v = if r.chance(50) {
                    related(&mut r, io.x[0], lanes)
                } else {
                    vec_value(&mut r, lanes)
                };
                ch.copy_from_slice(&v.to_le_bytes());
            }
            if code == Code::Ldmxcsr_m32 && r.chance(80) {
                let v = (mxcsr_value(&mut r)).to_le_bytes();
                m[mis as usize..mis as usize + 4].copy_from_slice(&v);
            }
            io.mem = m;
            let mut host = io;
            let io_addr = &host as *const Io as u64;
            host.gpr[3] = io_addr + (MEM_OFF as u64) + mis as u64;
            let sig = jit.run(&bytes, &mut host);
            let mut emu_io = io;
            let res = emu.run(&dec, &mut emu_io, MEM_OFF as u64 + mis as u64);
            let esig = signal_of(&res);
            host.gpr[3] = 0;
            emu_io.gpr[3] = 0;
            host.fl_out &= 0x8d5;
            emu_io.fl_out &= 0x8d5;
            host.scratch = 0;
            if sig != esig || host != emu_io {
                bad += 1;
                if bad <= 1 {
                    fails.push(format!(
                        "{code:?} ({}) mem={use_mem} mis={mis}\n  in   x0={:032x} x1={:032x} x2={:032x} mm={:016x?} gpr={:016x?} mx={:04x} fl={:x}\n  in   mem={:02x?}\n  host sig={sig} {}\n  emu  sig={esig} {}",
                        ins,
                        io.x[0], io.x[1], io.x[2], io.mm, &io.gpr[..3], io.mx_in, io.fl_in,
                        &io.mem[mis as usize..mis as usize + 16],
                        show(&host),
                        show(&emu_io),
                    ));
                }
            }
            tested += 1;
        }
        if bad > 1 {
            fails.push(format!("{code:?}: {bad} of {cases} cases differ"));
        }
    }
    assert!(tested > 0);
    eprintln!("tested {tested} cases");
    fails
}

fn show(io: &Io) -> String {
    format!(
        "x0={:032x} x1={:032x} x2={:032x} mm={:016x?} gpr={:016x?} mx={:04x} fl={:x} mem={:02x?}",
        io.x[0],
        io.x[1],
        io.x[2],
        io.mm,
        &io.gpr[..3],
        io.mx_out,
        io.fl_out,
        &io.mem[..32]
    )
}

fn cases() -> usize {
    std::env::var("PETREL_SSE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn feature_filter(feat: CpuidFeature) -> impl Fn(Code) -> bool {
    move |c: Code| c.cpuid_features().contains(&feat)
}

fn check(fails: Vec<String>) {
    if !fails.is_empty() {
        let n = fails.len();
        let text: Vec<String> = fails.into_iter().take(60).collect();
        panic!("{n} failures:\n{}", text.join("\n"));
    }
}

#[test]
fn host_diff_mmx() {
    check(diff_codes(
        &feature_filter(CpuidFeature::MMX),
        cases(),
        0x1234_5678_9abc_def1,
    ));
}

#[test]
fn host_diff_sse() {
    check(diff_codes(
        &feature_filter(CpuidFeature::SSE),
        cases(),
        0x2234_5678_9abc_def1,
    ));
}

#[test]
fn host_diff_sse2() {
    check(diff_codes(
        &feature_filter(CpuidFeature::SSE2),
        cases(),
        0x3234_5678_9abc_def1,
    ));
}

#[test]
fn host_diff_sse3_ssse3() {
    let f = |c: Code| {
        let f = c.cpuid_features();
        f.contains(&CpuidFeature::SSE3) || f.contains(&CpuidFeature::SSSE3)
    };
    check(diff_codes(&f, cases(), 0x4234_5678_9abc_def1));
}

#[test]
fn host_diff_sse41() {
    check(diff_codes(
        &feature_filter(CpuidFeature::SSE4_1),
        cases(),
        0x5234_5678_9abc_def1,
    ));
}

#[test]
fn host_diff_sse42() {
    check(diff_codes(
        &feature_filter(CpuidFeature::SSE4_2),
        cases(),
        0x6234_5678_9abc_def1,
    ));
}

// ---- whole-machine runs (decode, memory operands, exception delivery) ----

mod machine {
    use crate::x86::cpu::{CR0_EM, CR0_TS, CR4_OSXMMEXCPT};
    use crate::x86::user::{UserExit, UserMachine, UserState};

    /// `mov rax, DATA`, the body, `mov rbx, STOP; jmp rbx`.
    fn program(body: &[u8]) -> Vec<u8> {
        let mut c = vec![0x48, 0xb8];
        c.extend_from_slice(&UserMachine::DATA.to_le_bytes());
        c.extend_from_slice(body);
        c.extend_from_slice(&[0x48, 0xbb]);
        c.extend_from_slice(&UserMachine::STOP.to_le_bytes());
        c.extend_from_slice(&[0xff, 0xe3]);
        c
    }

    fn run(m: &mut UserMachine, body: &[u8], mxcsr: u32) -> (UserExit, UserState) {
        m.load_code(&program(body));
        let mut s = UserState {
            rip: UserMachine::CODE,
            ..UserState::default()
        };
        s.fxsave[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        let e = m.run(&mut s, 1000);
        (e, s)
    }

    fn put_f32(m: &mut UserMachine, off: usize, v: &[f32]) {
        for (k, x) in v.iter().enumerate() {
            m.data_mut()[off + 4 * k..off + 4 * k + 4].copy_from_slice(&x.to_le_bytes());
        }
    }

    fn get_f32(m: &UserMachine, off: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|k| f32::from_le_bytes(m.data()[off + 4 * k..off + 4 * k + 4].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn packed_add_through_memory() {
        let mut m = UserMachine::new();
        let a = [1.5f32, -2.25, 1e30, 3.0e-39];
        let b = [0.25f32, 8.0, 1e30, 1.0];
        put_f32(&mut m, 0, &a);
        put_f32(&mut m, 16, &b);
        // movaps xmm0,[rax]; addps xmm0,[rax+16]; movups [rax+33],xmm0; stmxcsr [rax+64]
        let (e, _) = run(
            &mut m,
            &[
                0x0f, 0x28, 0x00, 0x0f, 0x58, 0x40, 0x10, 0x0f, 0x11, 0x40, 0x21, 0x0f, 0xae, 0x58,
                0x40,
            ],
            0x1f80,
        );
        assert_eq!(e, UserExit::Done);
        let got: Vec<f32> = (0..4)
            .map(|k| f32::from_le_bytes(m.data()[33 + 4 * k..37 + 4 * k].try_into().unwrap()))
            .collect();
        let want: Vec<f32> = a.iter().zip(b.iter()).map(|(x, y)| x + y).collect();
        assert_eq!(got, want);
        let mx = u32::from_le_bytes(m.data()[64..68].try_into().unwrap());
        // 3e-39 is a denormal operand; 1e30 + 1e30 and 3e-39 + 1 are inexact.
        assert_eq!(mx, 0x1f80 | 0x20 | 0x02);
    }

    #[test]
    fn misaligned_movaps_faults() {
        let mut m = UserMachine::new();
        // movaps xmm1,[rax+8]
        let (e, s) = run(&mut m, &[0x0f, 0x28, 0x48, 0x08], 0x1f80);
        assert_eq!(
            e,
            UserExit::Exception {
                vector: 13,
                error: 0,
                fault_addr: 0
            }
        );
        assert_eq!(s.rip, UserMachine::CODE + 10);
        // movups is fine; addps with a misaligned operand is not; addss is.
        let (e, _) = run(&mut m, &[0x0f, 0x10, 0x48, 0x08], 0x1f80);
        assert_eq!(e, UserExit::Done);
        let (e, _) = run(&mut m, &[0x0f, 0x58, 0x48, 0x04], 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 13, .. }));
        let (e, _) = run(&mut m, &[0xf3, 0x0f, 0x58, 0x48, 0x04], 0x1f80);
        assert_eq!(e, UserExit::Done);
    }

    #[test]
    fn unmasked_divide_by_zero_raises_xm() {
        let mut m = UserMachine::new();
        put_f32(&mut m, 0, &[1.0, 0.0, 0.0, 0.0]);
        put_f32(&mut m, 16, &[0.0, 0.0, 0.0, 0.0]);
        // movss xmm0,[rax]; divss xmm0,[rax+16]; movss [rax+32],xmm0
        let body = [
            0xf3, 0x0f, 0x10, 0x00, 0xf3, 0x0f, 0x5e, 0x40, 0x10, 0xf3, 0x0f, 0x11, 0x40, 0x20,
        ];
        let (e, s) = run(&mut m, &body, 0x1f80 & !0x200);
        assert!(matches!(e, UserExit::Exception { vector: 19, .. }));
        assert_eq!(s.rip, UserMachine::CODE + 14);
        let mx = u32::from_le_bytes(s.fxsave[24..28].try_into().unwrap());
        assert_eq!(mx, (0x1f80 & !0x200) | 0x4);
        // The destination was not written.
        assert_eq!(
            u32::from_le_bytes(s.fxsave[160..164].try_into().unwrap()),
            1.0f32.to_bits()
        );
        // Masked: +inf and ZE.
        let (e, s) = run(&mut m, &body, 0x1f80);
        assert_eq!(e, UserExit::Done);
        assert_eq!(get_f32(&m, 32, 1)[0], f32::INFINITY);
        assert_eq!(
            u32::from_le_bytes(s.fxsave[24..28].try_into().unwrap()),
            0x1f84
        );
        // Without CR4.OSXMMEXCPT an unmasked exception is #UD.
        m.cpu.cr4 &= !CR4_OSXMMEXCPT;
        let (e, _) = run(&mut m, &body, 0x1f80 & !0x200);
        assert!(matches!(e, UserExit::Exception { vector: 6, .. }));
    }

    #[test]
    fn ldmxcsr_reserved_bits_fault() {
        let mut m = UserMachine::new();
        m.data_mut()[0..4].copy_from_slice(&0x1_1f80u32.to_le_bytes());
        // ldmxcsr [rax]
        let (e, _) = run(&mut m, &[0x0f, 0xae, 0x10], 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 13, .. }));
        m.data_mut()[0..4].copy_from_slice(&0xff80u32.to_le_bytes());
        let (e, s) = run(&mut m, &[0x0f, 0xae, 0x10], 0x1f80);
        assert_eq!(e, UserExit::Done);
        assert_eq!(
            u32::from_le_bytes(s.fxsave[24..28].try_into().unwrap()),
            0xff80
        );
    }

    #[test]
    fn mmx_makes_the_x87_stack_valid_and_emms_empties_it() {
        let mut m = UserMachine::new();
        m.data_mut()[0..8].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        m.data_mut()[8..16].copy_from_slice(&0xff01_0101_0101_01ffu64.to_le_bytes());
        // movq mm3,[rax]; paddb mm3,[rax+8]; movq [rax+16],mm3
        let body = [
            0x0f, 0x6f, 0x18, 0x0f, 0xfc, 0x58, 0x08, 0x0f, 0x7f, 0x58, 0x10,
        ];
        let (e, s) = run(&mut m, &body, 0x1f80);
        assert_eq!(e, UserExit::Done);
        assert_eq!(
            u64::from_le_bytes(m.data()[16..24].try_into().unwrap()),
            0x0003_0405_0607_0807
        );
        // Abridged tags all valid, TOP = 0, MM3's exponent field all ones.
        assert_eq!(s.fxsave[4], 0xff);
        assert_eq!(u16::from_le_bytes([s.fxsave[2], s.fxsave[3]]) & 0x3800, 0);
        assert_eq!(
            u16::from_le_bytes([s.fxsave[32 + 48 + 8], s.fxsave[32 + 48 + 9]]),
            0xffff
        );
        let mut with_emms = body.to_vec();
        with_emms.extend_from_slice(&[0x0f, 0x77]);
        let (e, s) = run(&mut m, &with_emms, 0x1f80);
        assert_eq!(e, UserExit::Done);
        assert_eq!(s.fxsave[4], 0);
    }

    #[test]
    fn cr0_em_and_ts() {
        let mut m = UserMachine::new();
        let paddb = [0x0f, 0xfc, 0xc1];
        let addps = [0x0f, 0x58, 0xc1];
        m.cpu.cr0 |= CR0_TS;
        let (e, _) = run(&mut m, &paddb, 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 7, .. }));
        let (e, _) = run(&mut m, &addps, 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 7, .. }));
        m.cpu.cr0 = (m.cpu.cr0 & !CR0_TS) | CR0_EM;
        let (e, _) = run(&mut m, &paddb, 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 6, .. }));
        let (e, _) = run(&mut m, &addps, 0x1f80);
        assert!(matches!(e, UserExit::Exception { vector: 6, .. }));
    }

    #[test]
    fn pcmpistri_and_crc32() {
        let mut m = UserMachine::new();
        m.data_mut()[0..16].copy_from_slice(b"hello, world!\0zz");
        m.data_mut()[16..32].copy_from_slice(b"o\0..............");
        // movdqu xmm1,[rax+16]; pcmpistri xmm1,[rax],0 (equal any, unsigned bytes):
        // first 'o' of "hello" is at 4.
        let body = [
            0xf3, 0x0f, 0x6f, 0x48, 0x10, 0x66, 0x0f, 0x3a, 0x63, 0x08, 0x00,
            // crc32 edx, byte [rax]
            0xf2, 0x0f, 0x38, 0xf0, 0x10,
        ];
        let (e, s) = run(&mut m, &body, 0x1f80);
        assert_eq!(e, UserExit::Done);
        assert_eq!(s.gpr[1], 4);
        // CF (a match) and ZF (the operand at [rax] holds a NUL); SF: xmm1 holds one too.
        assert_eq!(s.rflags & 0x8d5, 0x1 | 0x40 | 0x80);
        // CRC-32C of "h" with initial value 0.
        let want = {
            let mut c = u32::from(b'h');
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
            }
            c
        };
        assert_eq!(s.gpr[2], u64::from(want));
    }
}

/// Handler cost on ordinary operands, round-to-nearest (the fast path) against round-down
/// (the exact integer path). `cargo test --release ... sse_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn sse_speed() {
    let mut m = UserMachine::new();
    let mut r = Rng(99);
    let vals: Vec<u128> = (0..64)
        .map(|_| {
            (0..4).fold(0u128, |x, k| {
                let v = (r.next() as u32 & 0x007f_ffff) | (((r.below(40) + 107) as u32) << 23);
                x | (v as u128) << (32 * k)
            })
        })
        .collect();
    let valsd: Vec<u128> = (0..64)
        .map(|_| {
            (0..2).fold(0u128, |x, k| {
                let v = (r.next() & 0x000f_ffff_ffff_ffff) | ((r.below(40) + 1003) << 52);
                x | (v as u128) << (64 * k)
            })
        })
        .collect();
    for code in [
        Code::Paddd_xmm_xmmm128,
        Code::Addps_xmm_xmmm128,
        Code::Mulps_xmm_xmmm128,
        Code::Divps_xmm_xmmm128,
        Code::Sqrtps_xmm_xmmm128,
        Code::Addpd_xmm_xmmm128,
        Code::Mulpd_xmm_xmmm128,
        Code::Divpd_xmm_xmmm128,
        Code::Sqrtpd_xmm_xmmm128,
        Code::Cvtps2dq_xmm_xmmm128,
    ] {
        let ins = Instruction::with2(code, Register::XMM0, Register::XMM1).unwrap();
        let h = super::handler(code).unwrap();
        let v = if format!("{code:?}").contains("pd") {
            &valsd
        } else {
            &vals
        };
        let mut line = format!("{code:?}:");
        for (name, mx) in [("nearest", 0x1f80u32), ("down", 0x3f80)] {
            let c = &mut m.cpu;
            let n = 2_000_000;
            let t = std::time::Instant::now();
            for k in 0..n {
                c.xmm[0] = v[k & 63];
                c.xmm[1] = v[(k >> 6) & 63];
                c.mxcsr = mx;
                h(c, &ins).unwrap();
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            line += &format!(" {name} {ns:.1} ns");
        }
        eprintln!("{line}");
    }
}
/// RCPSS/RSQRTSS against the host for every exponent and table index (plus low bits that
/// must not matter), both signs.
#[test]
fn rcp_rsqrt_all_exponents() {
    use std::arch::x86_64::*;
    let host_rcp = |x: u32| unsafe { _mm_cvtss_f32(_mm_rcp_ss(_mm_set_ss(f32::from_bits(x)))) };
    let host_rsq = |x: u32| unsafe { _mm_cvtss_f32(_mm_rsqrt_ss(_mm_set_ss(f32::from_bits(x)))) };
    let mut r = Rng(77);
    for s in [0u32, 0x8000_0000] {
        for e in 0..256u32 {
            for idx in 0..2048u32 {
                let low = if r.chance(50) {
                    r.next() as u32 & 0xfff
                } else {
                    0
                };
                let x = s | (e << 23) | (idx << 12) | low;
                assert_eq!(sse_fp::rcp32(x), host_rcp(x).to_bits(), "rcp {x:08x}");
                assert_eq!(sse_fp::rsqrt32(x), host_rsq(x).to_bits(), "rsqrt {x:08x}");
            }
        }
    }
}
