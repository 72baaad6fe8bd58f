//! The RISC-V `virt` board, laid out as QEMU's so that the same programs, firmware and device
//! trees work on both: RAM at 0x8000_0000, CLINT, PLIC, NS16550A UART, goldfish RTC, SiFive
//! test finisher (also syscon power-off and reboot), and a device tree generated from the
//! actual configuration. It boots either a bare-metal ELF in M-mode, or firmware (OpenSBI's
//! fw_dynamic or fw_jump) with a kernel, initrd and command line the way QEMU does.

use super::{Companion, Limits, RunEnd, TimeMode};
use crate::bus::{Bus, Htif, MachineEvent, Ram};
use crate::elf::{Elf, EM_RISCV};
use crate::riscv::csr::{MIP_MEIP, MIP_MSIP, MIP_MTIP, MIP_SEIP};
use crate::riscv::{Hart, StopReason, ISA_STRING};
use crossbeam_channel::{Receiver, Sender};
use petrel_devices::clint::{self, Clint};
use petrel_devices::clock::Clock;
use petrel_devices::goldfish_rtc::{self, GoldfishRtc};
use petrel_devices::plic::{self, Plic};
use petrel_devices::sifive_test::{self, FinisherEvent, TestFinisher};
use petrel_devices::uart16550::{self, Uart16550};
use petrel_devices::virtio::{self, mmio::MmioTransport};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub const RAM_BASE: u64 = 0x8000_0000;
pub const CLINT_BASE: u64 = 0x200_0000;
pub const UART_BASE: u64 = 0x1000_0000;
pub const TEST_BASE: u64 = 0x10_0000;
pub const RTC_BASE: u64 = 0x10_1000;
pub const PLIC_BASE: u64 = 0x0c00_0000;
pub const UART_IRQ: u32 = 10;
pub const RTC_IRQ: u32 = 11;
/// PLIC sources 1..=95, as on QEMU's virt board.
pub const PLIC_SOURCES: u32 = 95;
/// Where firmware jumps to the kernel (OpenSBI's FW_JUMP_ADDR on the generic platform).
pub const KERNEL_BASE: u64 = 0x8020_0000;
const FW_DYNAMIC_MAGIC: u64 = 0x4942_534f; // "OSBI"
const FW_DYNAMIC_VERSION: u64 = 2;
const NEXT_MODE_S: u64 = 1;
pub const MIN_MEMORY_MIB: u64 = 2;
pub const MAX_MEMORY_MIB: u64 = if cfg!(target_pointer_width = "32") {
    2048
} else {
    65536
};

/// Instructions per run slice: device state and interrupts are looked at between slices.
const SLICE: u64 = 20_000;

pub const VIRTIO_BASE: u64 = 0x1000_1000;
pub const VIRTIO_STRIDE: u64 = 0x1000;
/// virtio-mmio slots, as on QEMU's virt board (IRQ 1 + slot).
pub const VIRTIO_SLOTS: usize = 8;

/// A virtio device to put in the next free slot.
#[derive(Debug, Clone)]
pub enum VirtioSpec {
    /// A raw disk image; `snapshot` keeps writes in memory and leaves the file untouched.
    Block {
        path: std::path::PathBuf,
        read_only: bool,
        snapshot: bool,
    },
    Rng,
    /// A host directory served over 9P2000.L under a mount tag.
    Share {
        dir: std::path::PathBuf,
        tag: String,
        read_only: bool,
    },
    /// A virtio-console port: the guest's output is appended to `output`; the contents of
    /// `input` (if any) are what the guest reads.
    Console {
        output: std::path::PathBuf,
        input: Option<std::path::PathBuf>,
    },
    /// A virtio-net device on a backend.
    Net(petrel_net::NetSpec),
    /// A named generic virtio-console port whose bytes travel on channels (an agent's link,
    /// such as `petrel run`'s).
    Port {
        name: String,
        to_guest: Receiver<u8>,
        from_guest: Sender<Vec<u8>>,
    },
    /// A read-only virtio-blk disk held in memory.
    MemoryDisk {
        name: String,
        data: std::sync::Arc<Vec<u8>>,
    },
}

/// The host end of a virtio-console port.
struct ConsolePort {
    from_guest: Receiver<Vec<u8>>,
    file: std::fs::File,
    /// Keeps the guest's input channel open after the input file was delivered, so the port
    /// stays connected.
    _to_guest: Sender<u8>,
}

#[derive(Debug, Clone)]
pub struct VirtConfig {
    pub memory_mib: u64,
    pub time: TimeMode,
    pub virtio: Vec<VirtioSpec>,
}

impl Default for VirtConfig {
    fn default() -> Self {
        VirtConfig {
            memory_mib: 256,
            time: TimeMode::Host,
            virtio: Vec::new(),
        }
    }
}

/// What a machine starts with.
pub enum Boot<'a> {
    /// A bare-metal ELF entered in M-mode (`--bios none`).
    BareMetal { elf: &'a [u8] },
    /// Firmware at the start of RAM, entered in M-mode with a0 = hart id, a1 = device tree,
    /// a2 = fw_dynamic information; it starts `kernel` (a RISC-V Image or an ELF) in S-mode.
    Firmware {
        firmware: &'a [u8],
        kernel: &'a [u8],
        initrd: Option<&'a [u8]>,
        cmdline: &'a str,
    },
}

pub struct RiscvVirt {
    pub hart: Hart,
    pub bus: Bus,
    clint: Rc<RefCell<Clint>>,
    plic: Rc<RefCell<Plic>>,
    rtc: Rc<RefCell<GoldfishRtc>>,
    uart: Rc<RefCell<Uart16550>>,
    finisher: Rc<RefCell<TestFinisher>>,
    console_out: Receiver<u8>,
    dtb_addr: u64,
    virtio: Vec<Rc<RefCell<MmioTransport>>>,
    console_ports: Vec<ConsolePort>,
    net_backends: Vec<Box<dyn petrel_net::Backend>>,
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
        let plic = Rc::new(RefCell::new(Plic::new(PLIC_SOURCES, 2)));
        let rtc = Rc::new(RefCell::new(GoldfishRtc::new()));
        let mut bus = Bus::new(Ram::new(RAM_BASE, size as usize));
        bus.map(CLINT_BASE, clint::SIZE, clint.clone());
        bus.map(PLIC_BASE, plic::SIZE, plic.clone());
        bus.map(RTC_BASE, goldfish_rtc::SIZE, rtc.clone());
        bus.map(UART_BASE, uart16550::SIZE, uart.clone());
        bus.map(TEST_BASE, sifive_test::SIZE, finisher.clone());
        bus.htif_out = Some(out_tx);
        if cfg.virtio.len() > VIRTIO_SLOTS {
            return Err(format!(
                "at most {VIRTIO_SLOTS} virtio devices fit on this board"
            ));
        }
        let mut transports = Vec::new();
        let mut console_ports = Vec::new();
        let mut net_backends = Vec::new();
        let mut nics = 0u8;
        for (slot, spec) in cfg.virtio.iter().enumerate() {
            let dev: Box<dyn virtio::VirtioDevice> = match spec {
                VirtioSpec::Console { output, input } => {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(output)
                        .map_err(|e| format!("{}: {e}", output.display()))?;
                    let (to_guest, guest_in) = crossbeam_channel::unbounded();
                    if let Some(path) = input {
                        let data =
                            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                        for b in data {
                            let _ = to_guest.send(b);
                        }
                    }
                    let (guest_out, from_guest) = crossbeam_channel::unbounded();
                    console_ports.push(ConsolePort {
                        from_guest,
                        file,
                        _to_guest: to_guest,
                    });
                    Box::new(virtio::console::Console::new(guest_out, guest_in))
                }
                VirtioSpec::Block {
                    path,
                    read_only,
                    snapshot,
                } => Box::new(virtio::blk::Blk::open(path, *read_only, *snapshot)?),
                VirtioSpec::Rng => Box::new(virtio::rng::Rng),
                VirtioSpec::Port {
                    name,
                    to_guest,
                    from_guest,
                } => Box::new(virtio::console::Console::named(
                    from_guest.clone(),
                    to_guest.clone(),
                    name,
                )),
                VirtioSpec::MemoryDisk { name, data } => {
                    Box::new(virtio::blk::Blk::from_bytes(name, data.clone()))
                }
                VirtioSpec::Net(spec) => {
                    let (dev, link) = petrel_net::link();
                    let backend = petrel_net::open(&spec.kind, link)?;
                    // QEMU's default MAC, counting up for further interfaces.
                    let mac = spec
                        .mac
                        .unwrap_or([0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + nics]);
                    nics += 1;
                    let valid = backend.checksums_valid();
                    net_backends.push(backend);
                    Box::new(virtio::net::Net::new(
                        mac,
                        dev.to_backend,
                        dev.from_backend,
                        valid,
                    ))
                }
                VirtioSpec::Share {
                    dir,
                    tag,
                    read_only,
                } => {
                    let server = petrel_devices::p9::P9Server::new(dir, *read_only)
                        .map_err(|e| format!("{}: {e}", dir.display()))?;
                    Box::new(virtio::p9dev::Virtio9p::new(server, tag)?)
                }
            };
            let t = Rc::new(RefCell::new(MmioTransport::new(dev)));
            bus.map(
                VIRTIO_BASE + slot as u64 * VIRTIO_STRIDE,
                virtio::mmio::SIZE,
                t.clone(),
            );
            transports.push(t);
        }
        let mut hart = Hart::new(0, size);
        hart.clint = Some(clint.clone());
        let m = RiscvVirt {
            hart,
            bus,
            clint,
            plic,
            rtc,
            uart,
            finisher,
            console_out: out_rx,
            dtb_addr: 0,
            virtio: transports,
            console_ports,
            net_backends,
        };
        Ok(m)
    }

    /// Loads a bare-metal ELF and points the hart at it (see `Boot::BareMetal`).
    pub fn load_elf(&mut self, file: &[u8]) -> Result<(), String> {
        self.load(&Boot::BareMetal { elf: file })
    }

    /// Puts the boot images in RAM, writes the device tree and sets the hart up to start.
    pub fn load(&mut self, boot: &Boot) -> Result<(), String> {
        match *boot {
            Boot::BareMetal { elf } => {
                let elf = Elf::parse(elf).map_err(|e| e.to_string())?;
                if elf.machine != EM_RISCV || !elf.class64 {
                    return Err("not a 64-bit RISC-V ELF file".into());
                }
                self.load_segments(&elf)?;
                if let Some(tohost) = elf.symbol("tohost") {
                    self.bus.htif = Some(Htif {
                        tohost,
                        fromhost: elf.symbol("fromhost"),
                    });
                }
                self.place_dtb(None, "")?;
                self.hart.pc = elf.entry;
            }
            Boot::Firmware {
                firmware,
                kernel,
                initrd,
                cmdline,
            } => {
                if firmware.len() as u64 > KERNEL_BASE - RAM_BASE {
                    return Err("firmware is larger than the 2 MiB before the kernel".into());
                }
                self.load_blob(RAM_BASE, firmware, "firmware")?;
                let (entry, kernel_end) = self.load_kernel(kernel)?;
                let initrd_range = match initrd {
                    Some(data) => Some(self.place_initrd(data, kernel_end)?),
                    None => None,
                };
                self.place_dtb(initrd_range, cmdline)?;
                // fw_dynamic's information block, in the page below the device tree.
                let info = self.dtb_addr - 4096;
                let words = [
                    FW_DYNAMIC_MAGIC,
                    FW_DYNAMIC_VERSION,
                    entry,
                    NEXT_MODE_S,
                    0,
                    0,
                ];
                for (i, w) in words.iter().enumerate() {
                    let off = self
                        .bus
                        .ram
                        .offset(info + 8 * i as u64, 8)
                        .ok_or("RAM too small for the firmware information")?;
                    self.bus.ram.write::<8>(off, *w);
                }
                self.hart.x[12] = info;
                self.hart.pc = RAM_BASE;
            }
        }
        self.hart.x[10] = self.hart.hartid;
        self.hart.x[11] = self.dtb_addr;
        Ok(())
    }

    fn load_segments(&mut self, elf: &Elf) -> Result<u64, String> {
        let ram = &mut self.bus.ram;
        let mut end = 0;
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
            end = end.max(s.paddr + s.mem_size);
        }
        Ok(end)
    }

    fn load_blob(&mut self, addr: u64, data: &[u8], what: &str) -> Result<(), String> {
        let off = self
            .bus
            .ram
            .offset(addr, data.len() as u64)
            .ok_or_else(|| {
                format!(
                    "{what} ({} bytes) does not fit in RAM at {addr:#x}",
                    data.len()
                )
            })?;
        self.bus.ram.data[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Loads a kernel: a RISC-V Linux Image (checked by its header) or an ELF. Returns the
    /// entry point and the end of what it occupies.
    fn load_kernel(&mut self, kernel: &[u8]) -> Result<(u64, u64), String> {
        if kernel.starts_with(b"\x7fELF") {
            let elf = Elf::parse(kernel).map_err(|e| format!("kernel: {e}"))?;
            if elf.machine != EM_RISCV || !elf.class64 {
                return Err("kernel: not a 64-bit RISC-V ELF file".into());
            }
            let end = self
                .load_segments(&elf)
                .map_err(|e| format!("kernel: {e}"))?;
            return Ok((elf.entry, end));
        }
        let declared = riscv_image_header(kernel)?;
        let size = declared.max(kernel.len() as u64);
        if self.bus.ram.offset(KERNEL_BASE, size).is_none() {
            return Err(format!(
                "kernel needs {size} bytes at {KERNEL_BASE:#x}: RAM is too small"
            ));
        }
        self.load_blob(KERNEL_BASE, kernel, "kernel")?;
        Ok((KERNEL_BASE, KERNEL_BASE + size))
    }

    /// Places the initrd as QEMU does: halfway into RAM below 256 MiB, at 128 MiB otherwise —
    /// far enough above the kernel that unpacking it does not clobber the initrd.
    fn place_initrd(&mut self, data: &[u8], kernel_end: u64) -> Result<(u64, u64), String> {
        let ram = self.bus.ram.size();
        let start = RAM_BASE + if ram >= 256 << 20 { 128 << 20 } else { ram / 2 };
        let start = start.max((kernel_end + 0xfff) & !0xfff);
        let end = start + data.len() as u64;
        // The device tree and fw_dynamic's block take the top of RAM.
        let limit = RAM_BASE + ram - (4 << 20).min(ram / 4);
        if end > limit {
            return Err(format!(
                "initrd ({} bytes) does not fit in {} MiB of RAM",
                data.len(),
                ram >> 20
            ));
        }
        self.load_blob(start, data, "initrd")?;
        Ok((start, end))
    }

    /// Writes the device tree near the top of RAM, 2 MiB aligned when RAM is large enough (as
    /// QEMU does).
    fn place_dtb(&mut self, initrd: Option<(u64, u64)>, cmdline: &str) -> Result<(), String> {
        let dtb = build_fdt(self.bus.ram.size(), initrd, cmdline, self.virtio.len())
            .map_err(|e| format!("device tree: {e:?}"))?;
        let size = self.bus.ram.size();
        let len = dtb.len() as u64;
        if len + 8192 > size {
            return Err("RAM too small for the device tree".into());
        }
        let top = size - len;
        let off = if top >= 4 << 20 {
            top & !((2 << 20) - 1)
        } else {
            top & !0xfff
        };
        self.bus.ram.data[off as usize..(off + len) as usize].copy_from_slice(&dtb);
        self.dtb_addr = RAM_BASE + off;
        Ok(())
    }

    pub fn dtb_addr(&self) -> u64 {
        self.dtb_addr
    }

    fn sync_interrupts(&mut self) {
        let mut lines = 0;
        {
            let mut plic = self.plic.borrow_mut();
            plic.set_level(UART_IRQ, self.uart.borrow().irq());
            plic.set_level(RTC_IRQ, self.rtc.borrow_mut().irq());
            for (slot, t) in self.virtio.iter().enumerate() {
                plic.set_level(1 + slot as u32, t.borrow().irq());
            }
            if plic.irq(0) {
                lines |= MIP_MEIP;
            }
            if plic.irq(1) {
                lines |= MIP_SEIP;
            }
        }
        let c = self.clint.borrow();
        let time = c.mtime();
        if c.mtip(0) {
            lines |= MIP_MTIP;
        }
        if c.msip(0) {
            lines |= MIP_MSIP;
        }
        self.hart.irq_lines = lines;
        self.hart.time = time;
        if self.hart.waiting && self.hart.effective_mip(time) & self.hart.mie != 0 {
            self.hart.waiting = false;
        }
    }

    /// Lets virtio devices do their work (after a notification, or to pick up outside input).
    fn process_devices(&mut self) {
        self.net_backends.retain_mut(|b| match b.poll() {
            Ok(_) => true,
            Err(e) => {
                eprintln!("petrel: {e}");
                false
            }
        });
        for t in &self.virtio {
            let mut t = t.borrow_mut();
            t.process(&mut self.bus.ram);
            if let Some(why) = t.failure.take() {
                eprintln!(
                    "petrel: virtio device {} needs a reset: {why}",
                    t.device_id()
                );
            }
        }
        for p in &mut self.console_ports {
            while let Ok(data) = p.from_guest.try_recv() {
                if let Err(e) = p.file.write_all(&data) {
                    eprintln!("petrel: console port output: {e}");
                }
            }
        }
    }

    fn drain_console(&mut self, out: &mut dyn Write) {
        super::drain_console(&self.console_out, out);
    }

    /// Runs until the guest powers off or resets, or a limit is reached.
    pub fn run(&mut self, limits: &Limits, out: &mut dyn Write) -> RunEnd {
        self.run_with(limits, out, &mut ())
    }

    /// `run`, with a companion polled between slices that may end the run.
    pub fn run_with(
        &mut self,
        limits: &Limits,
        out: &mut dyn Write,
        companion: &mut dyn Companion,
    ) -> RunEnd {
        let start = Instant::now();
        let mut slices = 0u64;
        loop {
            crate::console::poll_input(false);
            if let Some(end) = companion.poll() {
                self.drain_console(out);
                return end;
            }
            self.uart.borrow_mut().poll();
            self.process_devices();
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
            if self.bus.ram.has_dma_writes() {
                let w = self.bus.ram.take_dma_writes();
                self.hart.note_dma_writes(w);
            }
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
            if limits
                .exit
                .as_ref()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
            {
                return RunEnd::UserExit;
            }
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
            drop(c);
            self.host_wait(Duration::from_nanos(ticks * (1_000_000_000 / clint::FREQ)));
        } else if deadline != u64::MAX {
            let target = deadline.saturating_sub(now).saturating_add(c.clock.now());
            c.clock.skip_to(target);
        } else {
            drop(c);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl RiscvVirt {
    /// Sleeps for `d` at most, waking early when a network backend's descriptor or console
    /// input (where the event loop reads it) becomes readable.
    fn host_wait(&self, mut d: Duration) {
        let mut fds = Vec::new();
        for b in &self.net_backends {
            #[cfg(any(unix, target_os = "wasi"))]
            if !b.wait_fds(&mut fds) {
                return;
            }
            if let Some(max) = b.max_idle() {
                d = d.min(max);
            }
        }
        let input = crate::console::input_fd();
        fds.extend(input);
        let ready = crate::host_wait::wait_readable(&fds, d);
        if input.is_some_and(|fd| ready.contains(&fd)) {
            crate::console::poll_input(true);
        }
    }
}

/// Checks a RISC-V Linux Image header and returns the image size it declares.
fn riscv_image_header(k: &[u8]) -> Result<u64, String> {
    const NOT_IMAGE: &str =
        "kernel: not a RISC-V Linux Image (no 'RSC\\x05' header magic) nor an ELF file";
    if k.len() < 64 || &k[56..60] != b"RSC\x05" {
        if k.starts_with(&[0x1f, 0x8b]) {
            return Err("kernel: a gzip file that is not a RISC-V Image".into());
        }
        return Err(NOT_IMAGE.into());
    }
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&k[o..o + 8]);
        u64::from_le_bytes(b)
    };
    if let Some(end) = pe_file_end(k) {
        if (k.len() as u64) < end {
            return Err(format!(
                "kernel: the Image is truncated ({} bytes; its header describes {end})",
                k.len()
            ));
        }
    }
    let text_offset = u64_at(8);
    if text_offset != KERNEL_BASE - RAM_BASE {
        return Err(format!(
            "kernel: Image wants text offset {text_offset:#x}; petrel loads kernels at {:#x}",
            KERNEL_BASE - RAM_BASE
        ));
    }
    Ok(u64_at(16))
}

/// Images built with the EFI stub carry a PE/COFF header: the end of its last section's raw
/// data is the length the file must have.
fn pe_file_end(k: &[u8]) -> Option<u64> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(k.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(k.get(o..o + 4)?.try_into().ok()?));
    if k.get(..2)? != b"MZ" {
        return None;
    }
    let pe = u32_at(0x3c)? as usize;
    if k.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let sections = u16_at(pe + 6)? as usize;
    let optional = u16_at(pe + 20)? as usize;
    let table = pe + 24 + optional;
    let mut end = 0u64;
    for i in 0..sections.min(96) {
        let s = table + i * 40;
        let size = u64::from(u32_at(s + 16)?);
        let ptr = u64::from(u32_at(s + 20)?);
        end = end.max(ptr + size);
    }
    Some(end)
}

fn build_fdt(
    ram_size: u64,
    initrd: Option<(u64, u64)>,
    cmdline: &str,
    virtio_slots: usize,
) -> Result<Vec<u8>, vm_fdt::Error> {
    const CPU_INTC: u32 = 1;
    const TEST: u32 = 2;
    const PLIC: u32 = 3;
    let mut f = vm_fdt::FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "riscv-virtio")?;
    f.property_string("model", "petrel,riscv-virt")?;

    let chosen = f.begin_node("chosen")?;
    f.property_string("stdout-path", &format!("/soc/serial@{UART_BASE:x}"))?;
    if !cmdline.is_empty() {
        f.property_string("bootargs", cmdline)?;
    }
    if let Some((start, end)) = initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
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
    f.property_u32("phandle", CPU_INTC)?;
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
    f.property_u32("phandle", TEST)?;
    f.end_node(test)?;

    // Linux powers off and reboots through the test device.
    let poweroff = f.begin_node("poweroff")?;
    f.property_string("compatible", "syscon-poweroff")?;
    f.property_u32("regmap", TEST)?;
    f.property_u32("offset", 0)?;
    f.property_u32("value", 0x5555)?;
    f.end_node(poweroff)?;
    let reboot = f.begin_node("reboot")?;
    f.property_string("compatible", "syscon-reboot")?;
    f.property_u32("regmap", TEST)?;
    f.property_u32("offset", 0)?;
    f.property_u32("value", 0x7777)?;
    f.end_node(reboot)?;

    let rtc = f.begin_node(&format!("rtc@{RTC_BASE:x}"))?;
    f.property_string("compatible", "google,goldfish-rtc")?;
    f.property_array_u64("reg", &[RTC_BASE, goldfish_rtc::SIZE])?;
    f.property_u32("interrupt-parent", PLIC)?;
    f.property_u32("interrupts", RTC_IRQ)?;
    f.end_node(rtc)?;

    let uart = f.begin_node(&format!("serial@{UART_BASE:x}"))?;
    f.property_string("compatible", "ns16550a")?;
    f.property_array_u64("reg", &[UART_BASE, uart16550::SIZE])?;
    f.property_u32("clock-frequency", 3_686_400)?;
    f.property_u32("interrupt-parent", PLIC)?;
    f.property_u32("interrupts", UART_IRQ)?;
    f.end_node(uart)?;

    let plic = f.begin_node(&format!("plic@{PLIC_BASE:x}"))?;
    f.property_string_list(
        "compatible",
        vec!["sifive,plic-1.0.0".into(), "riscv,plic0".into()],
    )?;
    f.property_array_u64("reg", &[PLIC_BASE, plic::SIZE])?;
    f.property_u32("#address-cells", 0)?;
    f.property_u32("#interrupt-cells", 1)?;
    f.property_null("interrupt-controller")?;
    // Context 0: hart 0 M-mode external interrupt (11); context 1: S-mode (9).
    f.property_array_u32("interrupts-extended", &[CPU_INTC, 11, CPU_INTC, 9])?;
    f.property_u32("riscv,ndev", PLIC_SOURCES)?;
    f.property_u32("phandle", PLIC)?;
    f.end_node(plic)?;

    for slot in 0..virtio_slots as u64 {
        let base = VIRTIO_BASE + slot * VIRTIO_STRIDE;
        let node = f.begin_node(&format!("virtio_mmio@{base:x}"))?;
        f.property_string("compatible", "virtio,mmio")?;
        f.property_array_u64("reg", &[base, VIRTIO_STRIDE])?;
        f.property_u32("interrupt-parent", PLIC)?;
        f.property_u32("interrupts", 1 + slot as u32)?;
        f.end_node(node)?;
    }

    let cl = f.begin_node(&format!("clint@{CLINT_BASE:x}"))?;
    f.property_string_list(
        "compatible",
        vec!["sifive,clint0".into(), "riscv,clint0".into()],
    )?;
    f.property_array_u64("reg", &[CLINT_BASE, clint::SIZE])?;
    // Machine software (3) and machine timer (7) interrupts of hart 0's controller.
    f.property_array_u32("interrupts-extended", &[CPU_INTC, 3, CPU_INTC, 7])?;
    f.end_node(cl)?;

    f.end_node(soc)?;
    f.end_node(root)?;
    f.finish()
}
