//! petrel's emulator crate: CPU interpreters (one module tree per ISA), boards, the run loop and
//! the `petrel` command line.

pub mod board;
pub mod bus;
pub mod cli;
pub mod console;
pub mod container;
pub mod elf;
pub mod host_wait;
pub mod riscv;
pub mod terminal;
pub mod tinyemu_cfg;
#[cfg(target_os = "wasi")]
mod wasi_preopens;
pub mod x86;
