//! The x86-64 CPU: real, protected (16/32-bit) and long mode, paging, the integer ISA, x87,
//! MMX and SSE..SSE4.2, interpreted from a cache of decoded blocks. Decoding is iced-x86's; the
//! handlers, the memory path and the system model are petrel's.

pub mod block;
pub mod cpu;
pub mod cpuid;
pub mod flags;
#[cfg(test)]
mod hostile_tests;
pub mod int;
pub mod mmu;
pub mod sse;
pub mod sysinsn;
pub mod system;
pub mod user;
pub mod x87;

pub use cpu::{Cpu, Exc, Mode, PortIo};

/// Exception vectors.
pub mod vec {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
    pub const XM: u8 = 19;
}
