//! The x86 CPU's architectural state and the services every instruction handler uses: register
//! and operand access by iced-x86 `Register`/`OpKind`, segmentation, memory access through the
//! software TLB (see `mmu`), the stack, and exception values.

use super::flags::{self, LazyFlags};
use super::vec;
use crate::bus::Bus;
use iced_x86::{Instruction, OpKind, Register};
use std::sync::OnceLock;

/// An exception raised by an instruction: vector and optional error code. A page fault has
/// already set CR2 when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exc {
    pub vector: u8,
    pub error: Option<u32>,
}

pub type R<T> = Result<T, Exc>;

impl Exc {
    pub const fn new(vector: u8) -> Exc {
        Exc {
            vector,
            error: None,
        }
    }
    pub const fn with(vector: u8, error: u32) -> Exc {
        Exc {
            vector,
            error: Some(error),
        }
    }
    pub const fn ud() -> Exc {
        Exc::new(vec::UD)
    }
    pub const fn gp(e: u32) -> Exc {
        Exc::with(vec::GP, e)
    }
    pub const fn gp0() -> Exc {
        Exc::with(vec::GP, 0)
    }
    pub const fn ss(e: u32) -> Exc {
        Exc::with(vec::SS, e)
    }
    pub const fn de() -> Exc {
        Exc::new(vec::DE)
    }
    pub const fn nm() -> Exc {
        Exc::new(vec::NM)
    }
}

/// Port I/O as the CPU sees it. Devices may stop the machine through `bus.event`.
pub trait PortIo {
    fn io_in(&mut self, bus: &mut Bus, port: u16, size: u8) -> u32;
    fn io_out(&mut self, bus: &mut Bus, port: u16, size: u8, value: u32);
}

/// What a port read returns when no device answers: the bus floats high.
pub fn floating_port(size: u8) -> u32 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        _ => u32::MAX,
    }
}

/// No devices on any port: reads float high, writes vanish.
pub struct NoPorts;

impl PortIo for NoPorts {
    fn io_in(&mut self, _: &mut Bus, _: u16, size: u8) -> u32 {
        floating_port(size)
    }
    fn io_out(&mut self, _: &mut Bus, _: u16, _: u8, _: u32) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real,
    /// Protected mode (16- or 32-bit code as CS.D says).
    Protected,
    Virtual8086,
    /// Long mode, 32/16-bit code segment.
    Compat,
    Long64,
}

// Segment attribute bits (our own packing of the descriptor's access byte and flags).
pub const SEG_TYPE: u16 = 0xf;
pub const SEG_S: u16 = 1 << 4;
pub const SEG_DPL_SHIFT: u16 = 5;
pub const SEG_P: u16 = 1 << 7;
pub const SEG_AVL: u16 = 1 << 8;
pub const SEG_L: u16 = 1 << 9;
pub const SEG_DB: u16 = 1 << 10;
pub const SEG_G: u16 = 1 << 11;
/// Not a descriptor bit: the register holds a null selector (protected mode) and may not be
/// used for memory accesses.
pub const SEG_UNUSABLE: u16 = 1 << 15;

/// A segment register's selector and cached descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seg {
    pub sel: u16,
    pub base: u64,
    /// The byte-granular limit.
    pub limit: u32,
    pub attr: u16,
}

impl Seg {
    pub fn dpl(&self) -> u8 {
        ((self.attr >> SEG_DPL_SHIFT) & 3) as u8
    }
    /// A real-mode segment: base = selector * 16, 64 KiB, read/write data.
    pub fn real(sel: u16) -> Seg {
        Seg {
            sel,
            base: u64::from(sel) << 4,
            limit: 0xffff,
            attr: SEG_P | SEG_S | 0x3,
        }
    }
    /// Decodes the access byte and flags of an 8-byte descriptor.
    pub fn from_descriptor(sel: u16, d: u64) -> Seg {
        let base = ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24);
        let mut limit = ((d & 0xffff) | ((d >> 32) & 0xf_0000)) as u32;
        let access = ((d >> 40) & 0xff) as u16;
        let fl = ((d >> 52) & 0xf) as u16;
        if fl & 0x8 != 0 {
            limit = (limit << 12) | 0xfff;
        }
        Seg {
            sel,
            base,
            limit,
            attr: access | (fl << 8),
        }
    }
}

/// GDTR/IDTR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dtr {
    pub base: u64,
    pub limit: u16,
}

pub const ES: usize = 0;
pub const CS: usize = 1;
pub const SS: usize = 2;
pub const DS: usize = 3;
pub const FS: usize = 4;
pub const GS: usize = 5;

pub const CR0_PE: u64 = 1 << 0;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_AM: u64 = 1 << 18;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_VME: u64 = 1 << 0;
pub const CR4_PVI: u64 = 1 << 1;
pub const CR4_TSD: u64 = 1 << 2;
pub const CR4_DE: u64 = 1 << 3;
pub const CR4_PSE: u64 = 1 << 4;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_MCE: u64 = 1 << 6;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_PCE: u64 = 1 << 8;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub const CR4_FSGSBASE: u64 = 1 << 16;
pub const CR4_OSXSAVE: u64 = 1 << 18;
pub const EFER_SCE: u64 = 1 << 0;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
pub const EFER_NXE: u64 = 1 << 11;

/// Model-specific registers that are plain storage.
#[derive(Clone, Debug, Default)]
pub struct Msrs {
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    pub pat: u64,
    pub apic_base: u64,
    pub tsc_aux: u64,
    pub misc_enable: u64,
    pub mtrr_def_type: u64,
    pub mtrr_fixed: [u64; 11],
    pub mtrr_var: [u64; 16],
}

/// Which kind of access a translation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acc {
    Read = 0,
    Write = 1,
    Fetch = 2,
}

/// What a register number means to the handlers (built once from iced's register list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegKind {
    None,
    /// GPR index and size in bytes; `high8` for AH/CH/DH/BH.
    Gpr {
        idx: u8,
        size: u8,
        high8: bool,
    },
    Seg(u8),
    Xmm(u8),
    Mm(u8),
    St(u8),
    Cr(u8),
    Dr(u8),
    Ip,
    Other,
}

fn reg_table() -> &'static [RegKind; 256] {
    static T: OnceLock<[RegKind; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [RegKind::None; 256];
        for r in Register::values() {
            let i = r as usize;
            if i >= 256 {
                continue;
            }
            t[i] = if r == Register::None {
                RegKind::None
            } else if r.is_gpr() {
                let high8 = matches!(r, Register::AH | Register::CH | Register::DH | Register::BH);
                let idx = if high8 {
                    (r as usize - Register::AH as usize) as u8
                } else {
                    r.full_register().number() as u8
                };
                RegKind::Gpr {
                    idx,
                    size: r.size() as u8,
                    high8,
                }
            } else if r.is_segment_register() {
                RegKind::Seg(r.number() as u8)
            } else if r.is_xmm() {
                RegKind::Xmm(r.number() as u8)
            } else if r.is_mm() {
                RegKind::Mm(r.number() as u8)
            } else if r.is_st() {
                RegKind::St(r.number() as u8)
            } else if r.is_cr() {
                RegKind::Cr(r.number() as u8)
            } else if r.is_dr() {
                RegKind::Dr(r.number() as u8)
            } else if r.is_ip() {
                RegKind::Ip
            } else {
                RegKind::Other
            };
        }
        t
    })
}

/// GPR index and size of an address register (iced numbers 16/32/64-bit GPRs in ranges, see
/// `Cpu::reg`); `None` for no register.
#[inline(always)]
fn addr_reg(r: Register) -> Option<(usize, u8)> {
    let n = r as usize;
    match n {
        53..=68 => Some((n - 53, 8)),
        37..=52 => Some((n - 37, 4)),
        21..=36 => Some((n - 21, 2)),
        _ => None,
    }
}

/// Our index (ES, CS, SS, DS, FS, GS: the hardware encoding, which is also iced's order from
/// ES = 71) of a segment register; anything else means DS.
#[inline(always)]
pub fn seg_index(r: Register) -> usize {
    match (r as usize).wrapping_sub(Register::ES as usize) {
        s @ 0..=5 => s,
        _ => DS,
    }
}

#[inline(always)]
pub fn reg_kind(r: Register) -> RegKind {
    reg_table()[r as usize & 255]
}

pub struct Cpu {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15.
    pub gpr: [u64; 16],
    /// The address (offset in CS) of the instruction being executed.
    pub rip: u64,
    /// Where execution continues when the current instruction completes; branch handlers set
    /// it.
    pub next_rip: u64,
    pub lazy: LazyFlags,
    /// RFLAGS with the arithmetic bits kept in `lazy` instead.
    pub rflags_sys: u64,
    pub seg: [Seg; 6],
    pub ldtr: Seg,
    pub tr: Seg,
    pub gdtr: Dtr,
    pub idtr: Dtr,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub dr: [u64; 8],
    pub efer: u64,
    pub xcr0: u64,
    pub msr: Msrs,
    pub cpl: u8,
    pub mode: Mode,
    /// 16, 32 or 64: how code is decoded.
    pub bitness: u32,
    pub fpu: super::x87::Fpu,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    pub tlb: super::mmu::Tlb,
    pub blocks: super::block::BlockCache,
    pub bus: Bus,
    pub io: Box<dyn PortIo>,
    /// HLT executed; waiting for an interrupt.
    pub halted: bool,
    /// Interrupts are held off for one instruction (after STI, MOV SS, POP SS).
    pub irq_shadow: bool,
    /// The instruction changed state that the current block may have assumed (mode, paging,
    /// code bytes): leave the block after it.
    pub block_exit: bool,
    /// Instructions retired.
    pub insns: u64,
    /// TSC = insns * tsc_per_insn + tsc_offset (guest-visible time follows instructions here;
    /// boards scale it).
    pub tsc_offset: u64,
    /// A pending external interrupt vector (from the board's interrupt controller).
    pub irq_vector: Option<u8>,
    /// A triple fault happened: the board resets or stops.
    pub shutdown: bool,
    /// Vector of an exception being delivered (for #DF and triple-fault detection).
    pub(crate) delivering: Option<u8>,
    /// Test harnesses: instead of delivering exceptions and interrupts through the IDT,
    /// record the first one in `exception` and stop.
    pub stop_on_exception: bool,
    pub exception: Option<Exc>,
    /// Set when the run loop must return now (a recorded exception).
    pub stopped: bool,
}

impl Cpu {
    /// A CPU in its reset state (real mode, CS:IP = F000:FFF0) over `bus`.
    pub fn new(bus: Bus, io: Box<dyn PortIo>) -> Cpu {
        let ram_pages = bus.ram.size().div_ceil(4096);
        let mut c = Cpu {
            gpr: [0; 16],
            rip: 0xfff0,
            next_rip: 0xfff0,
            lazy: LazyFlags::default(),
            rflags_sys: 0x2,
            seg: [Seg::real(0); 6],
            ldtr: Seg::default(),
            tr: Seg {
                attr: SEG_P | 0xb,
                limit: 0xffff,
                ..Seg::default()
            },
            gdtr: Dtr {
                base: 0,
                limit: 0xffff,
            },
            idtr: Dtr {
                base: 0,
                limit: 0x3ff,
            },
            cr0: CR0_ET | CR0_NW | CR0_CD,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            dr: [0, 0, 0, 0, 0, 0, 0xffff_0ff0, 0x400],
            efer: 0,
            xcr0: 1,
            msr: Msrs {
                pat: 0x0007_0406_0007_0406,
                apic_base: 0xfee0_0900,
                misc_enable: 1,
                ..Msrs::default()
            },
            cpl: 0,
            mode: Mode::Real,
            bitness: 16,
            fpu: super::x87::Fpu::default(),
            xmm: [0; 16],
            mxcsr: 0x1f80,
            tlb: super::mmu::Tlb::new(),
            blocks: super::block::BlockCache::new(ram_pages),
            bus,
            io,
            halted: false,
            irq_shadow: false,
            block_exit: false,
            insns: 0,
            tsc_offset: 0,
            irq_vector: None,
            shutdown: false,
            delivering: None,
            stop_on_exception: false,
            exception: None,
            stopped: false,
        };
        c.seg[CS] = Seg {
            sel: 0xf000,
            base: 0xffff_0000,
            limit: 0xffff,
            attr: SEG_P | SEG_S | 0xb,
        };
        c
    }

    // ---- flags ----

    /// The full RFLAGS value.
    #[inline]
    pub fn rflags(&self) -> u64 {
        (self.rflags_sys & !flags::ARITH) | self.lazy.bits() | 0x2
    }

    /// Sets RFLAGS without privilege filtering (callers decide which bits may change).
    #[inline]
    pub fn set_rflags(&mut self, v: u64) {
        self.rflags_sys = (v & !flags::ARITH) | 0x2;
        self.lazy.set_eager(v);
    }

    #[inline(always)]
    pub fn df(&self) -> bool {
        self.rflags_sys & flags::DF != 0
    }

    #[inline(always)]
    pub fn iflag(&self) -> bool {
        self.rflags_sys & flags::IF != 0
    }

    pub fn iopl(&self) -> u8 {
        ((self.rflags_sys >> 12) & 3) as u8
    }

    // ---- modes ----

    /// Recomputes `mode`, `bitness` and `cpl` after CR0, EFER, RFLAGS.VM or CS changed.
    pub fn update_mode(&mut self) {
        let cs = self.seg[CS];
        self.mode = if self.cr0 & CR0_PE == 0 {
            Mode::Real
        } else if self.rflags_sys & flags::VM != 0 {
            Mode::Virtual8086
        } else if self.efer & EFER_LMA != 0 {
            if cs.attr & SEG_L != 0 {
                Mode::Long64
            } else {
                Mode::Compat
            }
        } else {
            Mode::Protected
        };
        self.bitness = match self.mode {
            Mode::Long64 => 64,
            Mode::Virtual8086 => 16,
            _ if cs.attr & SEG_DB != 0 => 32,
            _ => 16,
        };
        let was_real = self.cpl == 0 && self.cr0 & CR0_PE != 0 && cs.attr & SEG_S != 0;
        self.cpl = match self.mode {
            Mode::Real => 0,
            Mode::Virtual8086 => 3,
            // Setting CR0.PE keeps CPL 0 until the far jump that loads a protected-mode CS,
            // whatever the low bits of the real-mode selector.
            Mode::Protected if was_real && cs.base == u64::from(cs.sel) << 4 => 0,
            _ => (cs.sel & 3) as u8,
        };
        self.block_exit = true;
    }

    #[inline(always)]
    pub fn long64(&self) -> bool {
        self.mode == Mode::Long64
    }

    /// Stack address size in bytes (SS.B, or 8 in 64-bit mode).
    #[inline]
    pub fn stack_size(&self) -> u8 {
        if self.mode == Mode::Long64 {
            8
        } else if self.seg[SS].attr & SEG_DB != 0 {
            4
        } else {
            2
        }
    }

    // ---- registers ----

    #[inline(always)]
    pub fn gpr_read(&self, idx: usize, size: u8) -> u64 {
        self.gpr[idx] & flags::mask(size)
    }

    /// A GPR write with x86-64's rules: 32-bit writes zero the upper half, 8/16-bit writes
    /// keep the rest.
    #[inline(always)]
    pub fn gpr_write(&mut self, idx: usize, size: u8, v: u64) {
        match size {
            8 => self.gpr[idx] = v,
            4 => self.gpr[idx] = v & 0xffff_ffff,
            _ => {
                let m = flags::mask(size);
                self.gpr[idx] = (self.gpr[idx] & !m) | (v & m);
            }
        }
    }

    /// Reads a general-purpose register (any size, AH..BH included), or a segment selector.
    /// iced-x86 numbers registers in fixed ranges (AL..R15L 1-20 with AH..BH at 5-8, AX..R15W
    /// 21-36, EAX..R15D 37-52, RAX..R15 53-68): decoding them by range keeps this off the table
    /// lookup (`reg_kind`) on the hot path; a unit test checks the ranges against iced.
    #[inline(always)]
    pub fn reg(&self, r: Register) -> u64 {
        let n = r as usize;
        match n {
            53..=68 => self.gpr[n - 53],
            37..=52 => self.gpr[n - 37] & 0xffff_ffff,
            21..=36 => self.gpr[n - 21] & 0xffff,
            1..=4 => self.gpr[n - 1] & 0xff,
            5..=8 => (self.gpr[n - 5] >> 8) & 0xff,
            9..=20 => self.gpr[n - 5] & 0xff,
            _ => self.reg_other(r),
        }
    }

    #[inline(never)]
    fn reg_other(&self, r: Register) -> u64 {
        match reg_kind(r) {
            RegKind::Seg(s) => u64::from(self.seg[s as usize].sel),
            RegKind::Ip => self.next_rip,
            _ => 0,
        }
    }

    #[inline(always)]
    pub fn set_reg(&mut self, r: Register, v: u64) {
        let n = r as usize;
        match n {
            53..=68 => self.gpr[n - 53] = v,
            37..=52 => self.gpr[n - 37] = v & 0xffff_ffff,
            21..=36 => {
                let g = &mut self.gpr[n - 21];
                *g = (*g & !0xffff) | (v & 0xffff);
            }
            1..=4 | 9..=20 => {
                let g = &mut self.gpr[if n <= 4 { n - 1 } else { n - 5 }];
                *g = (*g & !0xff) | (v & 0xff);
            }
            5..=8 => {
                let g = &mut self.gpr[n - 5];
                *g = (*g & !0xff00) | ((v & 0xff) << 8);
            }
            _ => {}
        }
    }

    // ---- addressing ----

    /// The effective address (offset within the segment) of the instruction's memory operand,
    /// wrapped to the address size.
    #[inline]
    pub fn ea(&self, ins: &Instruction) -> u64 {
        let base = ins.memory_base();
        let mut a = ins.memory_displacement64();
        if matches!(base, Register::RIP | Register::EIP) {
            // iced resolved the target against the decode address; the block is keyed by that
            // address, so it is current.
            return if base == Register::EIP {
                a & 0xffff_ffff
            } else {
                a
            };
        }
        let asize = match addr_reg(base) {
            Some((idx, size)) => {
                a = a.wrapping_add(self.gpr[idx]);
                size
            }
            None => match addr_reg(ins.memory_index()) {
                Some((_, size)) => size,
                None => ins.memory_displ_size() as u8,
            },
        };
        if let Some((idx, _)) = addr_reg(ins.memory_index()) {
            a = a.wrapping_add(self.gpr[idx] << ins.memory_index_scale().trailing_zeros());
        }
        match asize {
            2 => a & 0xffff,
            4 => a & 0xffff_ffff,
            _ => a,
        }
    }

    /// The linear address of `off` in segment `s`, checked against the segment's type and
    /// limit outside 64-bit mode.
    #[inline]
    pub fn linear(&self, s: usize, off: u64, size: u32, acc: Acc) -> R<u64> {
        if self.mode == Mode::Long64 {
            let la = if s >= FS {
                self.seg[s].base.wrapping_add(off)
            } else {
                off
            };
            // Non-canonical addresses fault with #GP (#SS for stack references).
            if ((la as i64) << 16 >> 16) as u64 != la {
                return Err(if s == SS { Exc::ss(0) } else { Exc::gp0() });
            }
            return Ok(la);
        }
        self.seg_check(s, off, size, acc)?;
        Ok(self.seg[s].base.wrapping_add(off) & 0xffff_ffff)
    }

    fn seg_check(&self, s: usize, off: u64, size: u32, acc: Acc) -> R<()> {
        let sg = &self.seg[s];
        let fault = if s == SS { Exc::ss(0) } else { Exc::gp0() };
        if self.mode != Mode::Real && self.mode != Mode::Virtual8086 {
            if sg.attr & SEG_UNUSABLE != 0 {
                return Err(fault);
            }
            let ty = sg.attr & SEG_TYPE;
            let code = ty & 8 != 0;
            match acc {
                Acc::Write if code || ty & 2 == 0 => return Err(fault),
                Acc::Read if code && ty & 2 == 0 => return Err(fault),
                _ => {}
            }
            if !code && ty & 4 != 0 {
                // Expand-down: valid offsets are (limit, top].
                let top: u64 = if sg.attr & SEG_DB != 0 {
                    0xffff_ffff
                } else {
                    0xffff
                };
                let last = off.wrapping_add(u64::from(size) - 1);
                if off <= u64::from(sg.limit) || last > top || last < off {
                    return Err(fault);
                }
                return Ok(());
            }
        }
        let last = off.wrapping_add(u64::from(size.max(1)) - 1);
        if last > u64::from(sg.limit) || last < off {
            return Err(fault);
        }
        Ok(())
    }

    /// The segment register index the memory operand uses (after prefixes).
    #[inline(always)]
    pub fn mem_seg(ins: &Instruction) -> usize {
        seg_index(ins.memory_segment())
    }

    /// Linear address of the instruction's memory operand for an access of `size` bytes.
    #[inline]
    pub fn mem_linear(&self, ins: &Instruction, size: u32, acc: Acc) -> R<u64> {
        self.linear(Self::mem_seg(ins), self.ea(ins), size, acc)
    }

    // ---- memory (linear addresses) ----

    #[inline(always)]
    fn user(&self) -> bool {
        self.cpl == 3
    }

    /// Reads N bytes (1, 2, 4, 8) at linear address `la`.
    #[inline(always)]
    pub fn read<const N: usize>(&mut self, la: u64) -> R<u64> {
        if let Some(off) = self.tlb.lookup(la, N, Acc::Read, self.user()) {
            return Ok(self.bus.ram.read::<N>(off));
        }
        self.read_slow(la, N, self.user())
    }

    #[inline(always)]
    pub fn write<const N: usize>(&mut self, la: u64, v: u64) -> R<()> {
        if let Some(off) = self.tlb.lookup(la, N, Acc::Write, self.user()) {
            self.bus.ram.write::<N>(off, v);
            return Ok(());
        }
        self.write_slow(la, &v.to_le_bytes()[..N], self.user())
    }

    /// Reads `size` (1, 2, 4, 8) bytes.
    #[inline]
    pub fn read_sized(&mut self, la: u64, size: u8) -> R<u64> {
        match size {
            1 => self.read::<1>(la),
            2 => self.read::<2>(la),
            4 => self.read::<4>(la),
            _ => self.read::<8>(la),
        }
    }

    #[inline]
    pub fn write_sized(&mut self, la: u64, size: u8, v: u64) -> R<()> {
        match size {
            1 => self.write::<1>(la, v),
            2 => self.write::<2>(la, v),
            4 => self.write::<4>(la, v),
            _ => self.write::<8>(la, v),
        }
    }

    pub fn read_u128(&mut self, la: u64) -> R<u128> {
        let mut b = [0u8; 16];
        self.read_bytes(la, &mut b)?;
        Ok(u128::from_le_bytes(b))
    }

    pub fn write_u128(&mut self, la: u64, v: u128) -> R<()> {
        self.write_bytes(la, &v.to_le_bytes())
    }

    /// Reads any number of bytes (all pages are translated before anything is read).
    pub fn read_bytes(&mut self, la: u64, out: &mut [u8]) -> R<()> {
        let user = self.user();
        self.read_bytes_as(la, out, user)
    }

    /// Writes any number of bytes; nothing is written unless every page is writable.
    pub fn write_bytes(&mut self, la: u64, data: &[u8]) -> R<()> {
        let user = self.user();
        self.write_slow(la, data, user)
    }

    /// Supervisor-privilege reads for descriptor tables and the TSS, whatever the CPL.
    pub fn read_sys<const N: usize>(&mut self, la: u64) -> R<u64> {
        let mut b = [0u8; 8];
        self.read_bytes_as(la, &mut b[..N], false)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_sys<const N: usize>(&mut self, la: u64, v: u64) -> R<()> {
        self.write_slow(la, &v.to_le_bytes()[..N], false)
    }

    // ---- operands ----

    /// Size in bytes of operand `i` (register, memory or immediate).
    #[inline]
    pub fn op_size(ins: &Instruction, i: u32) -> u8 {
        match ins.op_kind(i) {
            OpKind::Register => ins.op_register(i).size() as u8,
            OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
            OpKind::Immediate64 | OpKind::Immediate8to64 | OpKind::Immediate32to64 => 8,
            _ => ins.memory_size().size() as u8,
        }
    }

    /// Reads operand `i` (register, memory or immediate) zero-extended; `size` is its size.
    #[inline(always)]
    pub fn read_op(&mut self, ins: &Instruction, i: u32, size: u8) -> R<u64> {
        match ins.op_kind(i) {
            OpKind::Register => Ok(self.reg(ins.op_register(i))),
            OpKind::Memory => {
                let la = self.mem_linear(ins, u32::from(size), Acc::Read)?;
                self.read_sized(la, size)
            }
            _ => Ok(ins.immediate(i) & flags::mask(size)),
        }
    }

    /// Reads operand `i` that the instruction will write back: a memory operand is translated
    /// for writing, so a read-only page faults with the write bit set in the error code, as
    /// the hardware's read-modify-write access does.
    #[inline(always)]
    pub fn read_op_rmw(&mut self, ins: &Instruction, i: u32, size: u8) -> R<u64> {
        match ins.op_kind(i) {
            OpKind::Memory => {
                let la = self.mem_linear(ins, u32::from(size), Acc::Write)?;
                self.read_sized_rmw(la, size)
            }
            _ => self.read_op(ins, i, size),
        }
    }

    /// A read at `la` checked as a write (the first half of a read-modify-write).
    #[inline]
    pub fn read_sized_rmw(&mut self, la: u64, size: u8) -> R<u64> {
        let n = usize::from(size);
        if let Some(off) = self.tlb.lookup(la, n, Acc::Write, self.user()) {
            return Ok(match size {
                1 => self.bus.ram.read::<1>(off),
                2 => self.bus.ram.read::<2>(off),
                4 => self.bus.ram.read::<4>(off),
                _ => self.bus.ram.read::<8>(off),
            });
        }
        let user = self.user();
        let mut b = [0u8; 8];
        self.read_bytes_checked_as(la, &mut b[..n], user, Acc::Write)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes operand `i` (register or memory).
    #[inline(always)]
    pub fn write_op(&mut self, ins: &Instruction, i: u32, size: u8, v: u64) -> R<()> {
        match ins.op_kind(i) {
            OpKind::Register => {
                self.set_reg(ins.op_register(i), v);
                Ok(())
            }
            _ => {
                let la = self.mem_linear(ins, u32::from(size), Acc::Write)?;
                self.write_sized(la, size, v)
            }
        }
    }

    // ---- stack ----

    /// Pushes `size` bytes.
    pub fn push(&mut self, v: u64, size: u8) -> R<()> {
        let ss = self.stack_size();
        let sp = self.gpr[4].wrapping_sub(u64::from(size)) & flags::mask(ss);
        let la = self.linear(SS, sp, u32::from(size), Acc::Write)?;
        self.write_sized(la, size, v)?;
        self.gpr_write(4, ss, sp);
        Ok(())
    }

    pub fn pop(&mut self, size: u8) -> R<u64> {
        let ss = self.stack_size();
        let sp = self.gpr[4] & flags::mask(ss);
        let la = self.linear(SS, sp, u32::from(size), Acc::Read)?;
        let v = self.read_sized(la, size)?;
        self.gpr_write(4, ss, sp.wrapping_add(u64::from(size)));
        Ok(v)
    }

    /// Reads the value `depth` bytes above the stack pointer without popping.
    pub fn stack_peek(&mut self, depth: u64, size: u8) -> R<u64> {
        let ss = self.stack_size();
        let sp = self.gpr[4].wrapping_add(depth) & flags::mask(ss);
        let la = self.linear(SS, sp, u32::from(size), Acc::Read)?;
        self.read_sized(la, size)
    }

    /// Continues at `target`, truncated to the code size.
    #[inline]
    pub fn jump_to(&mut self, target: u64) {
        self.next_rip = match self.bitness {
            64 => target,
            32 => target & 0xffff_ffff,
            _ => target & 0xffff,
        };
    }

    /// x87/MMX instructions with CR0.EM or CR0.TS set raise #NM (EM) or #NM (TS).
    #[inline]
    pub fn check_fpu(&self) -> R<()> {
        if self.cr0 & (CR0_EM | CR0_TS) != 0 {
            return Err(Exc::nm());
        }
        Ok(())
    }

    /// SSE instructions: #UD unless CR4.OSFXSR and not CR0.EM; #NM with CR0.TS.
    #[inline]
    pub fn check_sse(&self) -> R<()> {
        if self.cr0 & CR0_EM != 0 || self.cr4 & CR4_OSFXSR == 0 {
            return Err(Exc::ud());
        }
        if self.cr0 & CR0_TS != 0 {
            return Err(Exc::nm());
        }
        Ok(())
    }

    /// Guest time stamp counter.
    pub fn tsc(&self) -> u64 {
        self.insns.wrapping_add(self.tsc_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_and_address_ranges_match_iced() {
        for (r, s) in [
            (Register::ES, ES),
            (Register::CS, CS),
            (Register::SS, SS),
            (Register::DS, DS),
            (Register::FS, FS),
            (Register::GS, GS),
            (Register::None, DS),
        ] {
            assert_eq!(seg_index(r), s, "{r:?}");
        }
        for r in Register::values().filter(|r| r.is_gpr16() || r.is_gpr32() || r.is_gpr64()) {
            assert_eq!(
                addr_reg(r),
                Some((r.full_register().number(), r.size() as u8)),
                "{r:?}"
            );
        }
        assert_eq!(addr_reg(Register::None), None);
        assert_eq!(addr_reg(Register::RIP), None);
    }

    /// `reg`/`set_reg` decode iced's register numbers by range: check every GPR against iced.
    #[test]
    fn register_ranges_match_iced() {
        let bus = Bus::new(crate::bus::Ram::new(0, 4096));
        let mut c = Cpu::new(bus, Box::new(NoPorts));
        for r in Register::values().filter(|r| r.is_gpr()) {
            for (i, g) in c.gpr.iter_mut().enumerate() {
                *g = 0x1111_1111_1111_1111u64.wrapping_mul(i as u64 + 1) ^ 0x8070_6050_4030_2010;
            }
            let full = if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) {
                r as usize - Register::AH as usize
            } else {
                r.full_register().number()
            };
            let shift = if full != r.full_register().number()
                || r.is_gpr8() && (5..=8).contains(&(r as usize))
            {
                8
            } else {
                0
            };
            let m = flags::mask(r.size() as u8);
            let g = c.gpr[full];
            assert_eq!(c.reg(r), (g >> shift) & m, "{r:?}");
            c.set_reg(r, 0xa5a5_a5a5_a5a5_a5a5);
            let expect = match r.size() {
                8 => 0xa5a5_a5a5_a5a5_a5a5,
                4 => 0xa5a5_a5a5,
                _ => (g & !(m << shift)) | ((0xa5a5_a5a5_a5a5_a5a5 & m) << shift),
            };
            assert_eq!(c.gpr[full], expect, "{r:?}");
        }
    }
}
