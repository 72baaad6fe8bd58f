//! The physical address space of a machine: guest RAM, and MMIO regions that dispatch to device
//! models. CPUs reach RAM directly through their TLBs; everything else comes through here.

pub use petrel_devices::mem::Ram;
use petrel_devices::MmioDevice;
use std::cell::RefCell;
use std::rc::Rc;

pub const PAGE_SIZE: u64 = 4096;

/// What the machine was asked to do by a device or the HTIF mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineEvent {
    Exit(u32),
    Reset,
}

struct Region {
    base: u64,
    size: u64,
    dev: Rc<RefCell<dyn MmioDevice>>,
}

/// The Spike host-target interface: a store to `tohost` is a request to the host.
#[derive(Debug, Clone, Copy)]
pub struct Htif {
    pub tohost: u64,
    pub fromhost: Option<u64>,
}

pub struct Bus {
    pub ram: Ram,
    regions: Vec<Region>,
    pub htif: Option<Htif>,
    /// Set by HTIF or by the board's devices; the run loop stops when it is set.
    pub event: Option<MachineEvent>,
    /// Output of the HTIF console (the board connects it to the same place as the UART).
    pub htif_out: Option<crossbeam_channel::Sender<u8>>,
}

impl Bus {
    pub fn new(ram: Ram) -> Self {
        Bus {
            ram,
            regions: Vec::new(),
            htif: None,
            event: None,
            htif_out: None,
        }
    }

    pub fn map(&mut self, base: u64, size: u64, dev: Rc<RefCell<dyn MmioDevice>>) {
        self.regions.push(Region { base, size, dev });
        self.regions.sort_by_key(|r| r.base);
    }

    fn region(&self, paddr: u64) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| paddr >= r.base && paddr - r.base < r.size)
    }

    /// An MMIO read; `None` means no device answers there (an access fault for the CPU).
    pub fn mmio_read(&mut self, paddr: u64, size: u32) -> Option<u64> {
        let r = self.region(paddr)?;
        let off = paddr - r.base;
        if off + u64::from(size) > r.size {
            return None;
        }
        Some(r.dev.borrow_mut().read(off, size))
    }

    pub fn mmio_write(&mut self, paddr: u64, size: u32, value: u64) -> bool {
        let Some(r) = self.region(paddr) else {
            return false;
        };
        let off = paddr - r.base;
        if off + u64::from(size) > r.size {
            return false;
        }
        r.dev.borrow_mut().write(off, size, value);
        true
    }

    /// Whether a RAM store to this physical page must take the CPU's slow path (HTIF mailbox).
    pub fn is_watched_page(&self, paddr: u64) -> bool {
        self.htif
            .is_some_and(|h| h.tohost / PAGE_SIZE == paddr / PAGE_SIZE)
    }

    /// Called after a RAM store that took the slow path.
    pub fn after_ram_store(&mut self, paddr: u64, size: u32) {
        let Some(h) = self.htif else { return };
        if paddr <= h.tohost + 7 && paddr + u64::from(size) > h.tohost {
            self.htif_request(h);
        }
    }

    fn htif_request(&mut self, h: Htif) {
        let Some(cmd) = self.ram.read_u64_at(h.tohost) else {
            return;
        };
        if cmd == 0 {
            return;
        }
        let (device, command, payload) = (cmd >> 56, (cmd >> 48) & 0xff, cmd & 0xffff_ffff_ffff);
        let mut reply = None;
        match (device, command) {
            (0, 0) if payload & 1 == 1 => {
                self.event = Some(MachineEvent::Exit((payload >> 1) as u32));
            }
            (0, 0) => {
                // A proxy-kernel system call: riscv-tests' benchmarks print through
                // sys_write (64) with arguments in an 8-word block at `payload`.
                reply = Some(self.htif_syscall(payload));
            }
            (1, 1) => {
                if let Some(out) = &self.htif_out {
                    let _ = out.send(payload as u8);
                }
                reply = Some((1 << 56) | (1 << 48));
            }
            _ => {}
        }
        if let Some(off) = self.ram.offset(h.tohost, 8) {
            self.ram.write::<8>(off, 0);
        }
        if let (Some(v), Some(from)) = (reply, h.fromhost) {
            if let Some(off) = self.ram.offset(from, 8) {
                self.ram.write::<8>(off, v);
            }
        }
    }

    fn htif_syscall(&mut self, block: u64) -> u64 {
        let arg = |i: u64| self.ram.read_u64_at(block + 8 * i).unwrap_or(0);
        let (num, a0, a1, a2) = (arg(0), arg(1), arg(2), arg(3));
        const SYS_WRITE: u64 = 64;
        if num == SYS_WRITE && (a0 == 1 || a0 == 2) {
            if let (Some(off), Some(out)) = (self.ram.offset(a1, a2), &self.htif_out) {
                for &b in &self.ram.data[off..off + a2 as usize] {
                    let _ = out.send(b);
                }
                if let Some(o) = self.ram.offset(block, 8) {
                    self.ram.write::<8>(o, a2);
                }
                return 1;
            }
        }
        // Anything else fails with -ENOSYS, written where the proxy kernel returns values.
        if let Some(o) = self.ram.offset(block, 8) {
            self.ram.write::<8>(o, (-38i64) as u64);
        }
        1
    }
}
