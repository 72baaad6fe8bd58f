//! System instructions: descriptor tables, control/debug registers, MSRs, CPUID, TSC, I/O
//! ports, HLT, CLI/STI, far transfers and IRET, INT n, SYSCALL/SYSRET, SYSENTER/SYSEXIT,
//! SWAPGS, segment register loads, LAR/LSL/VERR/VERW.

use super::block::Handler;
use iced_x86::Code;

pub fn handler(_code: Code) -> Option<Handler> {
    None
}
