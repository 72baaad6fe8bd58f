//! SiFive test finisher (QEMU `virt`'s "sifive,test1"): a 32-bit write ends or resets the
//! machine. The board polls `take_event` after MMIO writes.

use crate::MmioDevice;

pub const SIZE: u64 = 0x1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinisherEvent {
    /// Power off with this exit status.
    Exit(u32),
    Reset,
}

#[derive(Default)]
pub struct TestFinisher {
    event: Option<FinisherEvent>,
}

impl TestFinisher {
    pub fn take_event(&mut self) -> Option<FinisherEvent> {
        self.event.take()
    }
}

impl MmioDevice for TestFinisher {
    fn read(&mut self, _offset: u64, _size: u32) -> u64 {
        0
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        if offset != 0 {
            return;
        }
        let value = value as u32;
        self.event = match value & 0xffff {
            0x5555 => Some(FinisherEvent::Exit(0)),
            0x3333 => Some(FinisherEvent::Exit(value >> 16)),
            0x7777 => Some(FinisherEvent::Reset),
            _ => None,
        };
    }
}
