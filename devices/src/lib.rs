//! petrel's device models. Boards only wire these together: a device knows its registers and
//! its interrupt line, never the CPU or the address map it is placed in.

pub mod clint;
pub mod clock;
pub mod goldfish_rtc;
pub mod mem;
pub mod p9;
pub mod plic;
pub mod sifive_test;
pub mod uart16550;
pub mod virtio;

/// A device reached through memory-mapped registers. `offset` is relative to the device's base;
/// `size` is 1, 2, 4 or 8 bytes. Reads of unimplemented registers return 0 and writes to them
/// are ignored, as on real buses, so a guest probing registers never stops the machine.
pub trait MmioDevice {
    fn read(&mut self, offset: u64, size: u32) -> u64;
    fn write(&mut self, offset: u64, size: u32, value: u64);
}
