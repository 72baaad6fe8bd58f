//! The bare-metal x86-64 machine (`petrel boot --arch x86_64 --bios none`): RAM, a Multiboot v1
//! loader, COM1 (16550 at 0x3F8), the 0xE9 debug port and QEMU's isa-debug-exit at 0xF4 — the
//! same contract as `qemu-system-x86_64 -kernel PROG.elf -device isa-debug-exit,iobase=0xf4`,
//! so one program runs on both. The PC board with interrupt controllers and virtio follows.

use super::{Limits, RunEnd};
use crate::bus::{Bus, MachineEvent, Ram};
use crate::elf::{Elf, EM_386, EM_X86_64};
use crate::x86::cpu::{
    floating_port, Cpu, PortIo, Seg, CR0_ET, CR0_PE, CS, DS, ES, FS, GS, SEG_DB, SEG_G, SEG_P,
};
use crate::x86::cpu::{SEG_S, SS};
use crossbeam_channel::{Receiver, Sender};
use petrel_devices::uart16550::Uart16550;
use petrel_devices::MmioDevice;
use std::io::Write;
use std::time::{Duration, Instant};

pub const DEFAULT_MEMORY_MIB: u64 = 128;
const MULTIBOOT_MAGIC: u32 = 0x1bad_b002;
const MULTIBOOT_BOOTLOADER_MAGIC: u64 = 0x2bad_b002;
/// Where the loader puts its GDT, the Multiboot information and the strings it points to.
const GDT_ADDR: u64 = 0x500;
const MBI_ADDR: u64 = 0x9000;
const SLICE: u64 = 1 << 16;

/// The ports of the bare-metal machine.
struct Ports {
    com1: Uart16550,
    debug_out: Sender<u8>,
}

impl PortIo for Ports {
    fn io_in(&mut self, _: &mut Bus, port: u16, size: u8) -> u32 {
        match port {
            0x3f8..=0x3ff if size == 1 => self.com1.read(u64::from(port - 0x3f8), 1) as u32,
            // Bochs and QEMU answer reads of the debug port with 0xE9 ("present").
            0xe9 if size == 1 => 0xe9,
            _ => floating_port(size),
        }
    }

    fn io_out(&mut self, bus: &mut Bus, port: u16, size: u8, value: u32) {
        match port {
            0x3f8..=0x3ff if size == 1 => {
                self.com1
                    .write(u64::from(port - 0x3f8), 1, u64::from(value))
            }
            0xe9 => {
                let _ = self.debug_out.send(value as u8);
            }
            0xf4 => {
                let v = value
                    & if size >= 4 {
                        u32::MAX
                    } else {
                        (1 << (8 * size)) - 1
                    };
                bus.event = Some(MachineEvent::Exit((v << 1) | 1));
            }
            _ => {}
        }
    }
}

pub struct PcBare {
    pub cpu: Cpu,
    console_out: Receiver<u8>,
}

impl PcBare {
    /// A machine with `memory_mib` of RAM at 0; guest output arrives on the run loop's sink,
    /// input for COM1 on `console_in`.
    pub fn new(memory_mib: u64, console_in: Receiver<u8>) -> Result<Self, String> {
        if !(2..=4096).contains(&memory_mib) {
            return Err(format!(
                "--memory {memory_mib}: the x86_64 machine takes 2 to 4096 MiB"
            ));
        }
        let (tx, console_out) = crossbeam_channel::unbounded();
        let mut com1 = Uart16550::new(tx.clone(), console_in);
        // As SeaBIOS leaves COM1 before QEMU's Multiboot loader runs: FIFOs on, DTR and RTS.
        com1.write(2, 1, 0x01);
        com1.write(4, 1, 0x03);
        let ports = Ports {
            com1,
            debug_out: tx,
        };
        let bus = Bus::new(Ram::new(0, (memory_mib << 20) as usize));
        Ok(PcBare {
            cpu: Cpu::new(bus, Box::new(ports)),
            console_out,
        })
    }

    /// Loads a Multiboot v1 kernel (an ELF32, or any image with the a.out kludge) and sets the
    /// CPU up as a Multiboot boot loader leaves it.
    pub fn load_multiboot(&mut self, file: &[u8], cmdline: &str) -> Result<(), String> {
        let search = &file[..file.len().min(8192)];
        let hdr = (0..search.len().saturating_sub(11))
            .step_by(4)
            .find(|&o| {
                let w = |i: usize| u32::from_le_bytes(search[o + i..o + i + 4].try_into().unwrap());
                w(0) == MULTIBOOT_MAGIC && w(0).wrapping_add(w(4)).wrapping_add(w(8)) == 0
            })
            .ok_or("no Multiboot header in the first 8 KiB (petrel boots Multiboot v1 kernels)")?;
        let w = |i: usize| -> Result<u32, String> {
            file.get(hdr + i..hdr + i + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| "the Multiboot header is truncated".to_string())
        };
        let flags = w(4)?;
        if flags & 0xfffc != 0 {
            return Err(format!(
                "the Multiboot header asks for unsupported features (flags {flags:#x}: video mode)"
            ));
        }
        let entry;
        let mut top = 0u64;
        if flags & (1 << 16) != 0 {
            // The a.out kludge: addresses come from the header.
            let (header_addr, load_addr, load_end, bss_end, entry_addr) =
                (w(12)?, w(16)?, w(20)?, w(24)?, w(28)?);
            let off = (hdr as u64)
                .checked_sub(u64::from(header_addr.wrapping_sub(load_addr)))
                .ok_or("bad Multiboot load addresses")? as usize;
            let len = if load_end == 0 {
                file.len() - off
            } else {
                load_end
                    .checked_sub(load_addr)
                    .ok_or("bad Multiboot load_end_addr")? as usize
            };
            let data = file
                .get(off..off + len)
                .ok_or("the Multiboot image is truncated")?;
            self.put(u64::from(load_addr), data)?;
            if bss_end > load_addr + len as u32 {
                let z = vec![0u8; (bss_end - load_addr) as usize - len];
                self.put(u64::from(load_addr) + len as u64, &z)?;
            }
            entry = u64::from(entry_addr);
            top = u64::from(bss_end.max(load_addr + len as u32));
        } else {
            let elf = Elf::parse(file).map_err(|e| e.to_string())?;
            if elf.machine == EM_X86_64 || elf.class64 {
                return Err(
                    "a 64-bit ELF cannot be loaded by Multiboot v1: link the program as \
                            ELF32 (it can switch to long mode itself)"
                        .into(),
                );
            }
            if elf.machine != EM_386 {
                return Err("not an x86 ELF file".into());
            }
            for s in &elf.segments {
                self.put(s.paddr, s.data)?;
                let rest = s.mem_size.saturating_sub(s.data.len() as u64);
                if rest > 0 {
                    let z = vec![0u8; rest as usize];
                    self.put(s.paddr + s.data.len() as u64, &z)?;
                }
                top = top.max(s.paddr + s.mem_size);
            }
            entry = elf.entry;
        }
        if top > MBI_ADDR && top <= 0x10_0000 && entry < 0x10_0000 {
            return Err("the kernel overlaps low memory the loader uses (0x500..0xA000)".into());
        }

        // Multiboot information: memory sizes, the command line, the boot loader's name and a
        // memory map, as QEMU's loader provides them.
        let ram = self.cpu.bus.ram.size();
        let cmd_addr = MBI_ADDR + 0x100;
        let name_addr = MBI_ADDR + 0x80;
        let mmap_addr = MBI_ADDR + 0x40;
        let mut mbi = [0u8; 0x58];
        let put32 = |b: &mut [u8], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut mbi, 0, 1 | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
        // What QEMU reports (the BIOS keeps the top KiB below 640 KiB).
        put32(&mut mbi, 4, 639);
        put32(&mut mbi, 8, ((ram >> 10) - 1024) as u32);
        put32(&mut mbi, 16, cmd_addr as u32);
        put32(&mut mbi, 20, 0);
        put32(&mut mbi, 24, 0);
        put32(&mut mbi, 44, 2 * 24);
        put32(&mut mbi, 48, mmap_addr as u32);
        put32(&mut mbi, 64, name_addr as u32);
        let mut mmap = [0u8; 48];
        let entry_at = |b: &mut [u8], o: usize, base: u64, len: u64| {
            b[o..o + 4].copy_from_slice(&20u32.to_le_bytes());
            b[o + 4..o + 12].copy_from_slice(&base.to_le_bytes());
            b[o + 12..o + 20].copy_from_slice(&len.to_le_bytes());
            b[o + 20..o + 24].copy_from_slice(&1u32.to_le_bytes());
        };
        entry_at(&mut mmap, 0, 0, 0x9fc00);
        entry_at(&mut mmap, 24, 0x10_0000, ram - 0x10_0000);
        self.put(MBI_ADDR, &mbi)?;
        self.put(mmap_addr, &mmap)?;
        self.put(name_addr, b"petrel\0")?;
        let mut c = cmdline.as_bytes().to_vec();
        c.truncate(0xeff);
        c.push(0);
        self.put(cmd_addr, &c)?;

        // A flat GDT like QEMU's Multiboot option ROM: code 0x10, data 0x18.
        let code: u64 = 0x00cf_9a00_0000_ffff;
        let data: u64 = 0x00cf_9200_0000_ffff;
        let mut gdt = [0u8; 32];
        gdt[16..24].copy_from_slice(&code.to_le_bytes());
        gdt[24..32].copy_from_slice(&data.to_le_bytes());
        self.put(GDT_ADDR, &gdt)?;

        let cpu = &mut self.cpu;
        cpu.gdtr.base = GDT_ADDR;
        cpu.gdtr.limit = 31;
        cpu.idtr.base = 0;
        cpu.idtr.limit = 0x3ff;
        cpu.cr0 = CR0_PE | CR0_ET;
        let flat = |sel: u16, ty: u16| Seg {
            sel,
            base: 0,
            limit: 0xffff_ffff,
            attr: ty | SEG_S | SEG_P | SEG_DB | SEG_G,
        };
        cpu.seg[CS] = flat(0x10, 0xb);
        for s in [DS, ES, FS, GS, SS] {
            cpu.seg[s] = flat(0x18, 0x3);
        }
        cpu.set_rflags(0x2);
        cpu.gpr = [0; 16];
        cpu.gpr[0] = MULTIBOOT_BOOTLOADER_MAGIC;
        cpu.gpr[3] = MBI_ADDR;
        cpu.rip = entry;
        cpu.update_mode();
        Ok(())
    }

    fn put(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
        let ram = &mut self.cpu.bus.ram;
        let off = ram.offset(addr, data.len() as u64).ok_or_else(|| {
            format!(
                "the kernel does not fit in RAM ({:#x}..{:#x}; RAM is {} MiB: use --memory)",
                addr,
                addr + data.len() as u64,
                ram.size() >> 20
            )
        })?;
        ram.data[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn drain_console(&mut self, out: &mut dyn Write) {
        super::drain_console(&self.console_out, out);
    }

    /// Runs until the guest exits through port 0xF4, a limit is reached, or the CPU shuts
    /// down (a triple fault: reported as a reset, as QEMU resets).
    pub fn run(&mut self, limits: &Limits, out: &mut dyn Write) -> RunEnd {
        let start = Instant::now();
        let mut slices = 0u64;
        loop {
            crate::console::poll_input(false);
            let budget = match limits.max_insns {
                Some(max) if self.cpu.insns >= max => {
                    self.drain_console(out);
                    return RunEnd::InsnLimit;
                }
                Some(max) => SLICE.min(max - self.cpu.insns),
                None => SLICE,
            };
            self.cpu.run(budget);
            self.drain_console(out);
            if let Some(ev) = self.cpu.bus.event.take() {
                return match ev {
                    MachineEvent::Exit(c) => RunEnd::Exit(c),
                    MachineEvent::Reset => RunEnd::Reset,
                };
            }
            if self.cpu.shutdown {
                return RunEnd::Reset;
            }
            slices += 1;
            if limits
                .exit
                .as_ref()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
            {
                return RunEnd::UserExit;
            }
            let halted = self.cpu.halted;
            if let Some(t) = limits.timeout {
                if (halted || slices.is_multiple_of(16)) && start.elapsed() >= t {
                    return RunEnd::Timeout;
                }
            }
            if halted {
                // Nothing on this machine raises interrupts yet: a halted CPU waits for the
                // user or the time limit, as it would on QEMU.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
