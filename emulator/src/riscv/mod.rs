//! The RV64GC hart (with Zba/Zbb/Zbs/Zicond, Sstc, Sv39/48/57) and its bare-metal board.

pub mod csr;
pub mod decode;
pub mod fpu;
pub mod hart;
pub mod icache;
pub mod mmu;

#[cfg(test)]
mod hostile_tests;

pub use hart::{Hart, StopReason};

/// The ISA the hart implements, as the device tree's riscv,isa string reports it.
pub const ISA_STRING: &str = "rv64imafdc_zicsr_zifencei_zba_zbb_zbs_zicond_sstc";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Priv {
    U = 0,
    S = 1,
    M = 3,
}

impl Priv {
    pub fn from_bits(b: u64) -> Priv {
        match b & 3 {
            0 => Priv::U,
            1 => Priv::S,
            _ => Priv::M,
        }
    }
}

/// Exception causes (mcause values without the interrupt bit).
pub mod cause {
    pub const INSN_ACCESS: u64 = 1;
    pub const ILLEGAL: u64 = 2;
    pub const BREAKPOINT: u64 = 3;
    pub const LOAD_MISALIGNED: u64 = 4;
    pub const LOAD_ACCESS: u64 = 5;
    pub const STORE_MISALIGNED: u64 = 6;
    pub const STORE_ACCESS: u64 = 7;
    pub const ECALL_U: u64 = 8;
    pub const INSN_PAGE: u64 = 12;
    pub const LOAD_PAGE: u64 = 13;
    pub const STORE_PAGE: u64 = 15;
    pub const INTERRUPT: u64 = 1 << 63;
}

/// A synchronous exception on its way to a trap handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub cause: u64,
    pub tval: u64,
}

impl Trap {
    pub fn new(cause: u64, tval: u64) -> Trap {
        Trap { cause, tval }
    }
}
