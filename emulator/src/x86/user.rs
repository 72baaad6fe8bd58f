//! A user-mode test machine: 64-bit flat long mode with identity paging, used to run short
//! instruction sequences the same way the host CPU runs them (the differential tests and the
//! benchmarks drive the interpreter through this).

/// The architectural state the differential tests compare. The x87/MMX/SSE part is an FXSAVE
/// image (64-bit layout, as `fxsave64` writes it), so the host side captures it with one
/// instruction and petrel's own FXSAVE/FXRSTOR are exercised on every run.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct UserState {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15 (the encoding order).
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub rip: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub fxsave: [u8; 512],
}

impl Default for UserState {
    fn default() -> Self {
        let mut fx = [0u8; 512];
        // FCW 0x037F (all exceptions masked, extended precision, round to nearest); MXCSR
        // 0x1F80; MXCSR_MASK 0xFFFF.
        fx[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        fx[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        fx[28..32].copy_from_slice(&0xFFFFu32.to_le_bytes());
        UserState {
            gpr: [0; 16],
            rflags: 0x202,
            rip: 0,
            fs_base: 0,
            gs_base: 0,
            fxsave: fx,
        }
    }
}

/// How a user-mode run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserExit {
    /// Execution reached `UserMachine::STOP` (the harness appends a jump there).
    Done,
    /// An exception: vector and error code (for #PF, CR2 is in `fault_addr`).
    Exception {
        vector: u8,
        error: u32,
        fault_addr: u64,
    },
    /// The instruction budget ran out.
    Budget,
}

use super::cpu::{Cpu, Mode, NoPorts, Seg, CR0_ET, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_WP};
use super::cpu::{CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_PAE, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE};
use super::cpu::{CS, DS, ES, FS, GS, SEG_DB, SEG_G, SEG_L, SEG_P, SEG_S, SS};
use crate::bus::{Bus, Ram};

/// 8 MiB of RAM, identity-mapped where CODE and DATA are.
const RAM: usize = 8 << 20;
const PML4: u64 = 0x1000;
const PT: u64 = 0x4000;

pub struct UserMachine {
    pub cpu: Cpu,
}

impl Default for UserMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl UserMachine {
    pub const CODE: u64 = 0x40_0000;
    pub const CODE_SIZE: usize = 0x1_0000;
    pub const DATA: u64 = 0x60_0000;
    pub const DATA_SIZE: usize = 0x1_0000;
    /// Jumping here ends the run (the page is not mapped; the fetch fault is the signal).
    pub const STOP: u64 = 0x7f_f000;

    pub fn new() -> Self {
        let mut bus = Bus::new(Ram::new(0, RAM));
        let w = |bus: &mut Bus, a: u64, v: u64| {
            let off = bus.ram.offset(a, 8).unwrap();
            bus.ram.write::<8>(off, v);
        };
        // PML4[0] → PDPT 0x2000, PDPT[0] → PD 0x3000, PD[2..4] → page tables for 4..8 MiB.
        w(&mut bus, PML4, 0x2000 | 7);
        w(&mut bus, 0x2000, 0x3000 | 7);
        for i in 0..2u64 {
            w(&mut bus, 0x3000 + (2 + i) * 8, (PT + i * 0x1000) | 7);
        }
        let map = |bus: &mut Bus, va: u64, flags: u64| {
            let pte = PT + ((va - 0x40_0000) >> 12) * 8;
            w(bus, pte, va | flags);
        };
        for p in 0..(Self::CODE_SIZE as u64 / 4096) {
            map(&mut bus, Self::CODE + p * 4096, 5);
        }
        for p in 0..(Self::DATA_SIZE as u64 / 4096) {
            map(&mut bus, Self::DATA + p * 4096, (1 << 63) | 7);
        }
        let mut cpu = Cpu::new(bus, Box::new(NoPorts));
        cpu.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        cpu.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        cpu.cr3 = PML4;
        cpu.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        let flat = |sel: u16, ty: u16, extra: u16| Seg {
            sel,
            base: 0,
            limit: 0xffff_ffff,
            attr: ty | SEG_S | SEG_P | (3 << 5) | SEG_G | extra,
        };
        cpu.seg[CS] = flat(0x33, 0xb, SEG_L);
        for s in [DS, ES, SS, FS, GS] {
            cpu.seg[s] = flat(0x2b, 0x3, SEG_DB);
        }
        cpu.update_mode();
        debug_assert_eq!(cpu.mode, Mode::Long64);
        cpu.stop_on_exception = true;
        UserMachine { cpu }
    }

    pub fn load_code(&mut self, code: &[u8]) {
        assert!(
            code.len() <= Self::CODE_SIZE,
            "code larger than the code region"
        );
        let off = Self::CODE as usize;
        self.cpu.bus.ram.data[off..off + Self::CODE_SIZE].fill(0);
        self.cpu.bus.ram.data[off..off + code.len()].copy_from_slice(code);
        self.cpu.blocks.clear();
        self.cpu.tlb.flush(false);
    }

    pub fn data(&self) -> &[u8] {
        let off = Self::DATA as usize;
        &self.cpu.bus.ram.data[off..off + Self::DATA_SIZE]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let off = Self::DATA as usize;
        // Code is never in the data window, so no decoded block can be stale.
        &mut self.cpu.bus.ram.data[off..off + Self::DATA_SIZE]
    }

    /// Runs from `state.rip` until STOP, an exception or `budget` instructions.
    pub fn run(&mut self, state: &mut UserState, budget: u64) -> UserExit {
        let c = &mut self.cpu;
        c.gpr = state.gpr;
        c.rip = state.rip;
        // User code cannot set IOPL, VM, RF, VIF/VIP or clear bit 1; mask as POPF at CPL 3.
        let fl = (state.rflags & 0x24_0dd5) | 0x202;
        c.set_rflags(fl);
        c.seg[FS].base = state.fs_base;
        c.seg[GS].base = state.gs_base;
        let r = c.fxrstor_image(&state.fxsave);
        c.exception = None;
        c.stopped = false;
        let exit = if let Err(e) = r {
            UserExit::Exception {
                vector: e.vector,
                error: e.error.unwrap_or(0),
                fault_addr: 0,
            }
        } else {
            c.run(budget);
            match c.exception.take() {
                Some(e)
                    if e.vector == super::vec::PF && c.cr2 == Self::STOP && c.rip == Self::STOP =>
                {
                    UserExit::Done
                }
                Some(e) => UserExit::Exception {
                    vector: e.vector,
                    error: e.error.unwrap_or(0),
                    fault_addr: if e.vector == super::vec::PF { c.cr2 } else { 0 },
                },
                None => UserExit::Budget,
            }
        };
        state.gpr = c.gpr;
        state.rip = c.rip;
        state.rflags = c.rflags();
        state.fs_base = c.seg[FS].base;
        state.gs_base = c.seg[GS].base;
        state.fxsave = c.fxsave_image();
        exit
    }
}
