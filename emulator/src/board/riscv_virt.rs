//! The RISC-V `virt` board, laid out as QEMU's so that the same programs, firmware and device
//! trees work on both: RAM at 0x8000_0000, CLINT, NS16550A UART, SiFive test finisher, and a
//! device tree generated from the actual configuration.

use super::{Limits, RunEnd, TimeMode};
use crate::bus::{Bus, Htif, MachineEvent, Ram};
use crate::elf::{Elf, EM_RISCV};
use crate::riscv::csr::{MIP_MSIP, MIP_MTIP};
use crate::riscv::{Hart, StopReason, ISA_STRING};
use crossbeam_channel::{Receiver, Sender};
use petrel_devices::clint::{self, Clint};
use petrel_devices::clock::Clock;
use petrel_devices::sifive_test::{self, FinisherEvent, TestFinisher};
use petrel_devices::uart16550::{self, Uart16550};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub const RAM_BASE: u64 = 0x8000_0000;
pub const CLINT_BASE: u64 = 0x200_0000;
pub const UART_BASE: u64 = 0x1000_0000;
pub const TEST_BASE: u64 = 0x10_0000;
pub const MIN_MEMORY_MIB: u64 = 2;
pub const MAX_MEMORY_MIB: u64 = if cfg!(target_pointer_width = "32") {
    2048
} else {
    65536
};

/// Instructions per run slice: device state and interrupts are looked at between slices.
const SLICE: u64 = 20_000;

#[derive(Debug, Clone)]
pub struct VirtConfig {
    pub memory_mib: u64,
    pub time: TimeMode,
}

impl Default for VirtConfig {
    fn default() -> Self {
        VirtConfig {
            memory_mib: 256,
            time: TimeMode::Host,
        }
    }
}

pub struct RiscvVirt {
    pub hart: Hart,
    pub bus: Bus,
    clint: Rc<RefCell<Clint>>,
    uart: Rc<RefCell<Uart16550>>,
    finisher: Rc<RefCell<TestFinisher>>,
    console_out: Receiver<u8>,
    dtb_addr: u64,
}

impl RiscvVirt {
    /// Builds the board. Console bytes from the guest are written to the run loop's sink; bytes
    /// for the guest arrive on `console_in`.
    pub fn new(cfg: &VirtConfig, console_in: Receiver<u8>) -> Result<Self, String> {
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&cfg.memory_mib) {
            return Err(format!(
                "memory size {} MiB is out of range ({MIN_MEMORY_MIB}..={MAX_MEMORY_MIB})",
                cfg.memory_mib
            ));
        }
        let size = cfg.memory_mib << 20;
        let clock = match cfg.time {
            TimeMode::Host => Clock::host(clint::FREQ),
            TimeMode::Instructions(n) => Clock::instructions(n),
        };
        let (out_tx, out_rx): (Sender<u8>, Receiver<u8>) = crossbeam_channel::unbounded();
        let clint = Rc::new(RefCell::new(Clint::new(1, clock)));
        let uart = Rc::new(RefCell::new(Uart16550::new(out_tx.clone(), console_in)));
        let finisher = Rc::new(RefCell::new(TestFinisher::default()));
        let mut bus = Bus::new(Ram::new(RAM_BASE, size as usize));
        bus.map(CLINT_BASE, clint::SIZE, clint.clone());
        bus.map(UART_BASE, uart16550::SIZE, uart.clone());
        bus.map(TEST_BASE, sifive_test::SIZE, finisher.clone());
        bus.htif_out = Some(out_tx);
        let mut hart = Hart::new(0, size);
        hart.clint = Some(clint.clone());
        let mut m = RiscvVirt {
            hart,
            bus,
            clint,
            uart,
            finisher,
            console_out: out_rx,
            dtb_addr: 0,
        };
        m.place_dtb(&m.device_tree()?)?;
        Ok(m)
    }

    /// Loads a bare-metal ELF and points the hart at it, in M-mode with a0 = hart id and
    /// a1 = the device tree.
    pub fn load_elf(&mut self, file: &[u8]) -> Result<(), String> {
        let elf = Elf::parse(file).map_err(|e| e.to_string())?;
        if elf.machine != EM_RISCV || !elf.class64 {
            return Err("not a 64-bit RISC-V ELF file".into());
        }
        let ram = &mut self.bus.ram;
        for s in &elf.segments {
            let Some(off) = ram.offset(s.paddr, s.mem_size) else {
                return Err(format!(
                    "segment at {:#x}..{:#x} lies outside RAM ({:#x}..{:#x})",
                    s.paddr,
                    s.paddr.saturating_add(s.mem_size),
                    ram.base,
                    ram.base + ram.size()
                ));
            };
            ram.data[off..off + s.data.len()].copy_from_slice(s.data);
            ram.data[off + s.data.len()..off + s.mem_size as usize].fill(0);
        }
        if let Some(tohost) = elf.symbol("tohost") {
            self.bus.htif = Some(Htif {
                tohost,
                fromhost: elf.symbol("fromhost"),
            });
        }
        self.hart.pc = elf.entry;
        self.hart.x[10] = self.hart.hartid;
        self.hart.x[11] = self.dtb_addr;
        Ok(())
    }

    fn device_tree(&self) -> Result<Vec<u8>, String> {
        build_fdt(self.bus.ram.size()).map_err(|e| format!("device tree: {e:?}"))
    }

    /// Puts the DTB near the top of RAM, 2 MiB aligned when RAM is large enough (as QEMU does).
    fn place_dtb(&mut self, dtb: &[u8]) -> Result<(), String> {
        let size = self.bus.ram.size();
        let len = dtb.len() as u64;
        if len + 4096 > size {
            return Err("RAM too small for the device tree".into());
        }
        let top = size - len;
        let off = if top >= 4 << 20 {
            top & !((2 << 20) - 1)
        } else {
            top & !7
        };
        self.bus.ram.data[off as usize..(off + len) as usize].copy_from_slice(dtb);
        self.dtb_addr = RAM_BASE + off;
        Ok(())
    }

    pub fn dtb_addr(&self) -> u64 {
        self.dtb_addr
    }

    fn sync_interrupts(&mut self) {
        let c = self.clint.borrow();
        let time = c.mtime();
        let mut mip = self.hart.mip & !(MIP_MTIP | MIP_MSIP);
        if c.mtip(0) {
            mip |= MIP_MTIP;
        }
        if c.msip(0) {
            mip |= MIP_MSIP;
        }
        self.hart.mip = mip;
        self.hart.time = time;
        if self.hart.waiting && self.hart.effective_mip(time) & self.hart.mie != 0 {
            self.hart.waiting = false;
        }
    }

    fn drain_console(&mut self, out: &mut dyn Write) {
        let mut any = false;
        while let Ok(b) = self.console_out.try_recv() {
            let _ = out.write_all(&[b]);
            any = true;
        }
        if any {
            let _ = out.flush();
        }
    }

    /// Runs until the guest powers off or resets, or a limit is reached.
    pub fn run(&mut self, limits: &Limits, out: &mut dyn Write) -> RunEnd {
        let start = Instant::now();
        let mut slices = 0u64;
        loop {
            self.uart.borrow_mut().poll();
            self.sync_interrupts();
            let steps = self.hart.instret + self.hart.traps;
            let budget = match limits.max_insns {
                Some(max) if steps >= max => {
                    self.drain_console(out);
                    return RunEnd::InsnLimit;
                }
                Some(max) => SLICE.min(max - steps),
                None => SLICE,
            };
            let (_, why) = self.hart.run(&mut self.bus, budget);
            self.clint
                .borrow_mut()
                .clock
                .set_instructions(self.hart.instret);
            self.drain_console(out);
            if let Some(ev) = self.bus.event.take() {
                return match ev {
                    MachineEvent::Exit(c) => RunEnd::Exit(c),
                    MachineEvent::Reset => RunEnd::Reset,
                };
            }
            if let Some(ev) = self.finisher.borrow_mut().take_event() {
                return match ev {
                    FinisherEvent::Exit(c) => RunEnd::Exit(c),
                    FinisherEvent::Reset => RunEnd::Reset,
                };
            }
            slices += 1;
            if let Some(t) = limits.timeout {
                let check = slices.is_multiple_of(16) || why == StopReason::Wfi;
                if check && start.elapsed() >= t {
                    return RunEnd::Timeout;
                }
            }
            if why == StopReason::Wfi {
                self.wait_for_interrupt();
            }
        }
    }

    /// The hart sleeps in WFI: let time pass until the next timer deadline (or a little, so
    /// that console input is noticed).
    fn wait_for_interrupt(&mut self) {
        self.sync_interrupts();
        if !self.hart.waiting {
            return;
        }
        let mut c = self.clint.borrow_mut();
        let now = c.mtime();
        let mut deadline = c.next_deadline();
        if self.hart.menvcfg & crate::riscv::csr::MENVCFG_STCE != 0 {
            deadline = deadline.min(self.hart.stimecmp);
        }
        if c.clock.is_host() {
            let ticks = deadline.saturating_sub(now).min(clint::FREQ / 100);
            std::thread::sleep(Duration::from_nanos(ticks * (1_000_000_000 / clint::FREQ)));
        } else if deadline != u64::MAX {
            let target = deadline.saturating_sub(now).saturating_add(c.clock.now());
            c.clock.skip_to(target);
        } else {
            drop(c);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn build_fdt(ram_size: u64) -> Result<Vec<u8>, vm_fdt::Error> {
    let mut f = vm_fdt::FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "riscv-virtio")?;
    f.property_string("model", "petrel,riscv-virt")?;

    let chosen = f.begin_node("chosen")?;
    f.property_string("stdout-path", &format!("/soc/serial@{UART_BASE:x}"))?;
    f.end_node(chosen)?;

    let mem = f.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[RAM_BASE, ram_size])?;
    f.end_node(mem)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    f.property_u32("timebase-frequency", clint::FREQ as u32)?;
    let cpu = f.begin_node("cpu@0")?;
    f.property_string("device_type", "cpu")?;
    f.property_u32("reg", 0)?;
    f.property_string("status", "okay")?;
    f.property_string("compatible", "riscv")?;
    f.property_string("riscv,isa", ISA_STRING)?;
    f.property_string("mmu-type", "riscv,sv57")?;
    let intc = f.begin_node("interrupt-controller")?;
    f.property_u32("#interrupt-cells", 1)?;
    f.property_null("interrupt-controller")?;
    f.property_string("compatible", "riscv,cpu-intc")?;
    f.property_u32("phandle", 1)?;
    f.end_node(intc)?;
    f.end_node(cpu)?;
    f.end_node(cpus)?;

    let soc = f.begin_node("soc")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "simple-bus")?;
    f.property_null("ranges")?;

    let test = f.begin_node(&format!("test@{TEST_BASE:x}"))?;
    f.property_string_list(
        "compatible",
        vec![
            "sifive,test1".into(),
            "sifive,test0".into(),
            "syscon".into(),
        ],
    )?;
    f.property_array_u64("reg", &[TEST_BASE, sifive_test::SIZE])?;
    f.property_u32("phandle", 2)?;
    f.end_node(test)?;

    let uart = f.begin_node(&format!("serial@{UART_BASE:x}"))?;
    f.property_string("compatible", "ns16550a")?;
    f.property_array_u64("reg", &[UART_BASE, uart16550::SIZE])?;
    f.property_u32("clock-frequency", 3_686_400)?;
    f.end_node(uart)?;

    let cl = f.begin_node(&format!("clint@{CLINT_BASE:x}"))?;
    f.property_string_list(
        "compatible",
        vec!["sifive,clint0".into(), "riscv,clint0".into()],
    )?;
    f.property_array_u64("reg", &[CLINT_BASE, clint::SIZE])?;
    // Machine software (3) and machine timer (7) interrupts of hart 0's controller.
    f.property_array_u32("interrupts-extended", &[1, 3, 1, 7])?;
    f.end_node(cl)?;

    f.end_node(soc)?;
    f.end_node(root)?;
    f.finish()
}
