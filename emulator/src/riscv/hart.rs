//! One RV64GC hart: architectural state, trap and interrupt entry, and the interpreter loop.
//! The loop runs instructions from the decode cache page by page; it leaves the inner loop only
//! when control leaves the page, a trap is taken, or state that translation depends on changes.

use super::csr::*;
use super::decode::{decode16, decode32, Insn, Op};
use super::fpu::{self, Rounding};
use super::icache::{ICache, SLOT_INSNS};
use super::mmu::{Access, Tlb};
use super::{cause, Priv, Trap};
use crate::bus::{Bus, PAGE_SIZE};
use petrel_devices::clint::Clint;
use std::cell::RefCell;
use std::rc::Rc;

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The instruction budget is used up.
    Budget,
    /// The hart executed WFI with nothing pending; it resumes when an interrupt is pending.
    Wfi,
    /// A device register was written or an event is waiting on the bus.
    Device,
}

pub struct Hart {
    pub x: [u64; 32],
    pub f: [u64; 32],
    pub pc: u64,
    pub prv: Priv,
    pub hartid: u64,
    pub fflags: u8,
    pub frm: u8,
    pub mstatus: u64,
    pub medeleg: u64,
    pub mideleg: u64,
    pub mie: u64,
    /// The software-writable pending bits (SSIP, STIP without Sstc, SEIP).
    pub mip: u64,
    /// Pending bits driven by devices (MSIP, MTIP, MEIP, SEIP); software sees them OR-ed in.
    pub irq_lines: u64,
    pub mtvec: u64,
    pub mscratch: u64,
    pub mepc: u64,
    pub mcause: u64,
    pub mtval: u64,
    pub stvec: u64,
    pub sscratch: u64,
    pub sepc: u64,
    pub scause: u64,
    pub stval: u64,
    pub satp: u64,
    pub mcounteren: u64,
    pub scounteren: u64,
    pub menvcfg: u64,
    pub senvcfg: u64,
    pub mcountinhibit: u64,
    pub stimecmp: u64,
    pub pmpcfg: [u8; 64],
    pub pmpaddr: [u64; 64],
    /// Whether any PMP entry is switched on, and one past the last that is (recomputed on
    /// pmpcfg writes, so checks scan only the entries in use).
    pub pmp_active: bool,
    pub pmp_end: usize,
    /// Set by `translate`: the last PMP decision holds for the whole page.
    pub(crate) pmp_uniform: bool,
    /// Instructions retired since reset; mcycle/minstret are offsets from it.
    pub instret: u64,
    /// Traps taken since reset (a trapping instruction retires nothing, but it is a step).
    pub traps: u64,
    pub cycle_offset: u64,
    pub instret_offset: u64,
    pub cycle_frozen: u64,
    pub instret_frozen: u64,
    /// LR reservation (virtual address), or u64::MAX, and the value LR read: SC also fails
    /// when memory no longer holds that value (as QEMU does), which catches this hart's own
    /// intervening stores without a check on every store.
    pub reservation: u64,
    pub reservation_value: u64,
    /// The timer whose mtime is the `time` CSR (None on a board without one).
    pub clint: Option<Rc<RefCell<Clint>>>,
    pub waiting: bool,
    pub(crate) tlb: Box<[Tlb; 4]>,
    pub(crate) fetch_ctx: usize,
    pub(crate) data_ctx: usize,
    pub(crate) icache: ICache,
    /// Leave the inner loop: translation, privilege or interrupt state changed.
    pub(crate) brk: bool,
    /// The inner loop runs while instret is below this; setting it to 0 ends the loop after
    /// the current instruction (one compare serves every reason to stop).
    pub(crate) stop_at: u64,
    /// Leave `run`: a device needs attention.
    pub(crate) stop: bool,
    /// mtime as of the start of this run slice, for `time` reads and Sstc.
    pub time: u64,
}

impl Hart {
    pub fn new(hartid: u64, ram_size: u64) -> Self {
        let mut h = Hart {
            x: [0; 32],
            f: [0; 32],
            pc: 0,
            prv: Priv::M,
            hartid,
            fflags: 0,
            frm: 0,
            mstatus: 0,
            medeleg: 0,
            mideleg: 0,
            mie: 0,
            mip: 0,
            irq_lines: 0,
            mtvec: 0,
            mscratch: 0,
            mepc: 0,
            mcause: 0,
            mtval: 0,
            stvec: 0,
            sscratch: 0,
            sepc: 0,
            scause: 0,
            stval: 0,
            satp: 0,
            mcounteren: 0,
            scounteren: 0,
            menvcfg: 0,
            senvcfg: 0,
            mcountinhibit: 0,
            stimecmp: u64::MAX,
            pmpcfg: [0; 64],
            pmpaddr: [0; 64],
            pmp_active: false,
            pmp_end: 0,
            pmp_uniform: true,
            instret: 0,
            traps: 0,
            cycle_offset: 0,
            instret_offset: 0,
            cycle_frozen: 0,
            instret_frozen: 0,
            reservation: u64::MAX,
            reservation_value: 0,
            clint: None,
            waiting: false,
            tlb: Box::new([Tlb::new(), Tlb::new(), Tlb::new(), Tlb::new()]),
            fetch_ctx: Priv::M as usize,
            data_ctx: Priv::M as usize,
            icache: ICache::new(ram_size.div_ceil(PAGE_SIZE)),
            brk: false,
            stop_at: 0,
            stop: false,
            time: 0,
        };
        h.update_tlb_ctx();
        h
    }

    /// Ends the inner loop after this instruction and re-examines interrupts and translation.
    #[inline]
    pub(crate) fn request_break(&mut self) {
        self.brk = true;
        self.stop_at = 0;
    }

    /// Ends `run` after this instruction: a device needs the board's attention.
    #[inline]
    pub(crate) fn request_stop(&mut self) {
        self.stop = true;
        self.stop_at = 0;
    }

    /// The interrupt to take now, if any (priority MEI, MSI, MTI, SEI, SSI, STI).
    pub fn pending_interrupt(&self) -> Option<u64> {
        let pending = self.effective_mip(self.time) & self.mie;
        if pending == 0 {
            return None;
        }
        let m_enabled = self.prv < Priv::M || self.mstatus & MSTATUS_MIE != 0;
        let s_enabled =
            self.prv < Priv::S || (self.prv == Priv::S && self.mstatus & MSTATUS_SIE != 0);
        let m_pending = if m_enabled {
            pending & !self.mideleg
        } else {
            0
        };
        let s_pending = if s_enabled { pending & self.mideleg } else { 0 };
        let set = if m_pending != 0 { m_pending } else { s_pending };
        [IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI]
            .into_iter()
            .find(|&i| set & (1 << i) != 0)
    }

    /// Drops decoded instructions that devices may have overwritten.
    pub fn note_dma_writes(&mut self, writes: petrel_devices::mem::DmaWrites) {
        match writes {
            petrel_devices::mem::DmaWrites::Ranges(r) => {
                for (off, len) in r {
                    self.icache.invalidate(off, len);
                }
            }
            petrel_devices::mem::DmaWrites::Everything => {
                self.icache.flush();
                self.flush_fetch_tlb();
            }
        }
    }

    /// Enters the trap handler for an exception or (with the interrupt bit) an interrupt.
    pub fn take_trap(&mut self, cause: u64, tval: u64) {
        self.traps += 1;
        let interrupt = cause & cause::INTERRUPT != 0;
        let code = cause & !cause::INTERRUPT;
        let deleg = if interrupt {
            self.mideleg
        } else {
            self.medeleg
        };
        let to_s = self.prv <= Priv::S && code < 64 && deleg & (1 << code) != 0;
        if to_s {
            self.scause = cause;
            self.sepc = self.pc;
            self.stval = tval;
            let spie = if self.mstatus & MSTATUS_SIE != 0 {
                MSTATUS_SPIE
            } else {
                0
            };
            let spp = if self.prv == Priv::S { MSTATUS_SPP } else { 0 };
            self.mstatus =
                (self.mstatus & !(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE)) | spie | spp;
            self.pc = vector(self.stvec, interrupt, code);
            self.prv = Priv::S;
        } else {
            self.mcause = cause;
            self.mepc = self.pc;
            self.mtval = tval;
            let mpie = if self.mstatus & MSTATUS_MIE != 0 {
                MSTATUS_MPIE
            } else {
                0
            };
            let mpp = (self.prv as u64) << 11;
            self.mstatus =
                (self.mstatus & !(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE)) | mpie | mpp;
            self.pc = vector(self.mtvec, interrupt, code);
            self.prv = Priv::M;
        }
        self.update_tlb_ctx();
        self.waiting = false;
        self.request_break();
    }

    fn mret(&mut self) -> Result<(), Trap> {
        if self.prv != Priv::M {
            return Err(illegal(0));
        }
        let mpp = Priv::from_bits(self.mstatus >> 11);
        let mie = if self.mstatus & MSTATUS_MPIE != 0 {
            MSTATUS_MIE
        } else {
            0
        };
        let mut s = (self.mstatus & !(MSTATUS_MIE | MSTATUS_MPP)) | mie | MSTATUS_MPIE;
        if mpp != Priv::M {
            s &= !MSTATUS_MPRV;
        }
        self.mstatus = s;
        self.prv = mpp;
        self.pc = self.mepc;
        self.update_tlb_ctx();
        self.request_break();
        Ok(())
    }

    fn sret(&mut self) -> Result<(), Trap> {
        if self.prv == Priv::U || (self.prv == Priv::S && self.mstatus & MSTATUS_TSR != 0) {
            return Err(illegal(0));
        }
        let spp = if self.mstatus & MSTATUS_SPP != 0 {
            Priv::S
        } else {
            Priv::U
        };
        let sie = if self.mstatus & MSTATUS_SPIE != 0 {
            MSTATUS_SIE
        } else {
            0
        };
        self.mstatus =
            (self.mstatus & !(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | sie | MSTATUS_SPIE;
        self.prv = spp;
        self.pc = self.sepc;
        self.update_tlb_ctx();
        self.request_break();
        Ok(())
    }

    /// Runs up to `budget` instructions (interrupts are checked on entry and whenever state
    /// that could unmask one changes). Returns how many retired and why it stopped.
    pub fn run(&mut self, bus: &mut Bus, budget: u64) -> (u64, StopReason) {
        let start = self.instret;
        // Traps retire nothing but still count against the budget, so a guest stuck in a
        // fault loop cannot keep `run` from returning.
        let mut end = start.saturating_add(budget);
        self.stop = false;
        if let Some(irq) = self.pending_interrupt() {
            self.take_trap(cause::INTERRUPT | irq, 0);
        }
        if self.waiting {
            return (0, StopReason::Wfi);
        }
        while self.instret < end && !self.stop {
            self.brk = false;
            self.stop_at = end;
            let (slot, page_off) = match self.fetch_page(bus) {
                Ok(p) => p,
                Err(t) => {
                    self.take_trap(t.cause, t.tval);
                    end = end.saturating_sub(1);
                    continue;
                }
            };
            let vpage = self.pc & !(PAGE_SIZE - 1);
            let base = slot as usize * SLOT_INSNS;
            loop {
                let idx = ((self.pc & (PAGE_SIZE - 1)) >> 1) as usize;
                let mut insn = self.icache.entries[base + idx];
                if insn.op == Op::Undecoded {
                    match self.decode_at(bus, slot, page_off, idx) {
                        Ok(i) => insn = i,
                        Err(t) => {
                            self.take_trap(t.cause, t.tval);
                            end = end.saturating_sub(1);
                            break;
                        }
                    }
                }
                match self.exec(bus, insn) {
                    Ok(()) => self.instret += 1,
                    Err(mut t) => {
                        if t.cause == cause::ILLEGAL {
                            t.tval = self.insn_bits(bus);
                        }
                        self.take_trap(t.cause, t.tval);
                        end = end.saturating_sub(1);
                        break;
                    }
                }
                if self.instret >= self.stop_at || self.pc & !(PAGE_SIZE - 1) != vpage {
                    break;
                }
            }
            if self.brk {
                if let Some(irq) = self.pending_interrupt() {
                    self.take_trap(cause::INTERRUPT | irq, 0);
                }
                if self.waiting {
                    return (self.instret - start, StopReason::Wfi);
                }
            }
        }
        let why = if self.stop {
            StopReason::Device
        } else {
            StopReason::Budget
        };
        (self.instret - start, why)
    }

    /// Decodes the instruction at `pc` (in RAM page `page_off`) into the cache, or returns it
    /// undecoded-in-cache when it straddles a page boundary.
    #[inline(never)]
    fn decode_at(
        &mut self,
        bus: &mut Bus,
        slot: u32,
        page_off: u64,
        idx: usize,
    ) -> Result<Insn, Trap> {
        let off = page_off as usize + idx * 2;
        let lo = bus.ram.read::<2>(off) as u16;
        if lo & 3 != 3 {
            let i = decode16(lo);
            self.icache.entries[slot as usize * SLOT_INSNS + idx] = i;
            return Ok(i);
        }
        if idx + 1 < SLOT_INSNS {
            let i = decode32(bus.ram.read::<4>(off) as u32);
            self.icache.entries[slot as usize * SLOT_INSNS + idx] = i;
            return Ok(i);
        }
        // The upper half lives on the next page, which may be mapped differently or not at all;
        // such instructions are decoded each time and never cached.
        let next = self.pc.wrapping_add(2);
        let pa = self.translate(bus, next, Access::Fetch, 2)?;
        let hi_off = bus
            .ram
            .offset(pa, 2)
            .ok_or(Trap::new(cause::INSN_ACCESS, next))?;
        let hi = bus.ram.read::<2>(hi_off) as u32;
        Ok(decode32(u32::from(lo) | (hi << 16)))
    }

    /// mtime now (the `time` CSR), with an instruction-driven clock brought up to date.
    pub fn read_time(&mut self) -> u64 {
        match &self.clint {
            Some(c) => {
                let mut c = c.borrow_mut();
                c.clock.set_instructions(self.instret);
                c.mtime()
            }
            None => self.time,
        }
    }

    /// The encoding at pc (it was just fetched, so it translates), for mtval on illegal
    /// instructions.
    #[inline(never)]
    fn insn_bits(&mut self, bus: &mut Bus) -> u64 {
        let mut half = |hart: &mut Hart, va: u64| -> u64 {
            hart.translate(bus, va, Access::Fetch, 2)
                .ok()
                .and_then(|pa| bus.ram.offset(pa, 2))
                .map_or(0, |o| bus.ram.read::<2>(o))
        };
        let lo = half(self, self.pc);
        if lo & 3 != 3 {
            return lo;
        }
        lo | (half(self, self.pc.wrapping_add(2)) << 16)
    }

    #[inline(always)]
    fn rm(&self, field: u8) -> Result<Rounding, Trap> {
        let m = if field == 7 { self.frm } else { field };
        Ok(match m {
            0 => Rounding::Rne,
            1 => Rounding::Rtz,
            2 => Rounding::Rdn,
            3 => Rounding::Rup,
            4 => Rounding::Rmm,
            _ => return Err(illegal(0)),
        })
    }

    #[inline(always)]
    fn f32(&self, r: u8) -> u32 {
        let v = self.f[r as usize];
        if v >> 32 == 0xffff_ffff {
            v as u32
        } else {
            fpu::F32_CANON_NAN
        }
    }

    #[inline(always)]
    fn set_f32(&mut self, r: u8, v: u32) {
        self.f[r as usize] = 0xffff_ffff_0000_0000 | u64::from(v);
        self.fs_dirty();
    }

    #[inline(always)]
    fn set_f64(&mut self, r: u8, v: u64) {
        self.f[r as usize] = v;
        self.fs_dirty();
    }

    #[inline(always)]
    fn fp_check(&self) -> Result<(), Trap> {
        if self.mstatus & MSTATUS_FS == 0 {
            Err(illegal(0))
        } else {
            Ok(())
        }
    }

    fn csr_op(&mut self, insn: Insn) -> Result<(), Trap> {
        let csr = (insn.imm as u32 & 0xfff) as u16;
        let src = match insn.op {
            Op::Csrrw | Op::Csrrs | Op::Csrrc => self.x[insn.rs1 as usize],
            _ => u64::from(insn.rs1),
        };
        let writes = matches!(insn.op, Op::Csrrw | Op::Csrrwi) || insn.rs1 != 0;
        if writes {
            self.csr_check_write(csr)?;
        }
        let time = if matches!(csr, 0xc01 | 0x144 | 0x344) {
            self.read_time()
        } else {
            self.time
        };
        let old = self.csr_read(csr, time)?;
        if writes {
            let new = match insn.op {
                Op::Csrrw | Op::Csrrwi => src,
                Op::Csrrs | Op::Csrrsi => old | src,
                _ => old & !src,
            };
            self.csr_write(csr, new)?;
        }
        self.x[insn.rd as usize] = old;
        self.x[0] = 0;
        Ok(())
    }

    fn amo<const N: usize>(&mut self, bus: &mut Bus, insn: Insn) -> Result<(), Trap> {
        let addr = self.x[insn.rs1 as usize];
        let src = self.x[insn.rs2 as usize];
        let off = self.amo_offset::<N>(bus, addr, Access::Store)?;
        let raw = bus.ram.read::<N>(off);
        let old = if N == 4 {
            raw as i32 as i64 as u64
        } else {
            raw
        };
        let (a, b) = if N == 4 {
            (old as i32 as i64, src as i32 as i64)
        } else {
            (old as i64, src as i64)
        };
        let (ua, ub) = if N == 4 {
            (old as u32 as u64, src as u32 as u64)
        } else {
            (old, src)
        };
        use Op::*;
        let new = match insn.op {
            AmoswapW | AmoswapD => src,
            AmoaddW | AmoaddD => old.wrapping_add(src),
            AmoxorW | AmoxorD => old ^ src,
            AmoandW | AmoandD => old & src,
            AmoorW | AmoorD => old | src,
            AmominW | AmominD => a.min(b) as u64,
            AmomaxW | AmomaxD => a.max(b) as u64,
            AmominuW | AmominuD => ua.min(ub),
            _ => ua.max(ub),
        };
        bus.ram.write::<N>(off, new);
        self.x[insn.rd as usize] = old;
        self.x[0] = 0;
        Ok(())
    }

    /// Executes one decoded instruction. On success pc points at the next instruction; on a
    /// trap pc still points at the faulting one and no architectural state has changed.
    #[inline(always)]
    fn exec(&mut self, bus: &mut Bus, insn: Insn) -> Result<(), Trap> {
        let op = insn.op;
        use Op::*;
        // Register fields are 5 bits; the masks let the compiler drop bounds checks.
        let rd = (insn.rd & 31) as usize;
        // Source registers are read only by the arms that use them.
        macro_rules! x1 {
            () => {
                self.x[(insn.rs1 & 31) as usize]
            };
        }
        macro_rules! x2 {
            () => {
                self.x[(insn.rs2 & 31) as usize]
            };
        }
        let imm = insn.imm as i64 as u64;
        let next = self.pc.wrapping_add(u64::from(insn.len));
        let shamt = insn.imm as u32 & 63;
        macro_rules! w {
            ($v:expr) => {{
                self.x[rd] = $v;
            }};
        }
        macro_rules! ww {
            ($v:expr) => {{
                self.x[rd] = ($v) as i32 as i64 as u64;
            }};
        }
        // For writers with side effects (loads, jumps, CSRs): rd may be x0, which must stay 0.
        // (Side-effect-free writers to x0 were decoded as Nop.)
        macro_rules! wz {
            ($v:expr) => {{
                self.x[rd] = $v;
                self.x[0] = 0;
            }};
        }
        macro_rules! branch {
            ($c:expr) => {{
                if $c {
                    self.pc = self.pc.wrapping_add(imm);
                    return Ok(());
                }
            }};
        }
        macro_rules! fpop {
            ($body:expr) => {{
                self.fp_check()?;
                $body
            }};
        }
        match op {
            Nop => {}
            Lui => w!(imm),
            Auipc => w!(self.pc.wrapping_add(imm)),
            Jal => {
                wz!(next);
                self.pc = self.pc.wrapping_add(imm);
                return Ok(());
            }
            Jalr => {
                let t = x1!().wrapping_add(imm) & !1;
                wz!(next);
                self.pc = t;
                return Ok(());
            }
            Beq => branch!(x1!() == x2!()),
            Bne => branch!(x1!() != x2!()),
            Blt => branch!((x1!() as i64) < (x2!() as i64)),
            Bge => branch!((x1!() as i64) >= (x2!() as i64)),
            Bltu => branch!(x1!() < x2!()),
            Bgeu => branch!(x1!() >= x2!()),
            Lb => wz!(self.load::<1>(bus, x1!().wrapping_add(imm))? as i8 as i64 as u64),
            Lh => wz!(self.load::<2>(bus, x1!().wrapping_add(imm))? as i16 as i64 as u64),
            Lw => wz!(self.load::<4>(bus, x1!().wrapping_add(imm))? as i32 as i64 as u64),
            Ld => wz!(self.load::<8>(bus, x1!().wrapping_add(imm))?),
            Lbu => wz!(self.load::<1>(bus, x1!().wrapping_add(imm))?),
            Lhu => wz!(self.load::<2>(bus, x1!().wrapping_add(imm))?),
            Lwu => wz!(self.load::<4>(bus, x1!().wrapping_add(imm))?),
            Sb => self.store::<1>(bus, x1!().wrapping_add(imm), x2!())?,
            Sh => self.store::<2>(bus, x1!().wrapping_add(imm), x2!())?,
            Sw => self.store::<4>(bus, x1!().wrapping_add(imm), x2!())?,
            Sd => self.store::<8>(bus, x1!().wrapping_add(imm), x2!())?,
            Addi => w!(x1!().wrapping_add(imm)),
            Slti => w!(((x1!() as i64) < (imm as i64)) as u64),
            Sltiu => w!((x1!() < imm) as u64),
            Xori => w!(x1!() ^ imm),
            Ori => w!(x1!() | imm),
            Andi => w!(x1!() & imm),
            Slli => w!(x1!() << shamt),
            Srli => w!(x1!() >> shamt),
            Srai => w!(((x1!() as i64) >> shamt) as u64),
            Add => w!(x1!().wrapping_add(x2!())),
            Sub => w!(x1!().wrapping_sub(x2!())),
            Sll => w!(x1!() << (x2!() & 63)),
            Slt => w!(((x1!() as i64) < (x2!() as i64)) as u64),
            Sltu => w!((x1!() < x2!()) as u64),
            Xor => w!(x1!() ^ x2!()),
            Srl => w!(x1!() >> (x2!() & 63)),
            Sra => w!(((x1!() as i64) >> (x2!() & 63)) as u64),
            Or => w!(x1!() | x2!()),
            And => w!(x1!() & x2!()),
            Addiw => ww!(x1!().wrapping_add(imm)),
            Slliw => ww!((x1!() as u32) << shamt),
            Srliw => ww!((x1!() as u32) >> shamt),
            Sraiw => ww!((x1!() as i32) >> shamt),
            Addw => ww!(x1!().wrapping_add(x2!())),
            Subw => ww!(x1!().wrapping_sub(x2!())),
            Sllw => ww!((x1!() as u32) << (x2!() & 31)),
            Srlw => ww!((x1!() as u32) >> (x2!() & 31)),
            Sraw => ww!((x1!() as i32) >> (x2!() & 31)),
            Fence => {}
            FenceI => {} // the decode cache is kept coherent on every store
            Ecall => {
                return Err(Trap::new(cause::ECALL_U + self.prv as u64, 0));
            }
            Ebreak => return Err(Trap::new(cause::BREAKPOINT, self.pc)),
            Mret => return self.mret(),
            Sret => return self.sret(),
            Wfi => {
                // TW makes S-mode WFI trap at once; U-mode WFI always traps (S exists).
                if self.prv == Priv::U || (self.prv == Priv::S && self.mstatus & MSTATUS_TW != 0) {
                    return Err(illegal(0));
                }
                self.pc = next;
                if self.effective_mip(self.time) & self.mie == 0 {
                    self.waiting = true;
                    self.request_break();
                }
                return Ok(());
            }
            SfenceVma => {
                if self.prv == Priv::U || (self.prv == Priv::S && self.mstatus & MSTATUS_TVM != 0) {
                    return Err(illegal(0));
                }
                self.flush_tlb();
                self.request_break();
            }
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => self.csr_op(insn)?,
            Mul => w!(x1!().wrapping_mul(x2!())),
            Mulh => w!(((x1!() as i64 as i128 * x2!() as i64 as i128) >> 64) as u64),
            Mulhsu => w!(((x1!() as i64 as i128).wrapping_mul(x2!() as i128) >> 64) as u64),
            Mulhu => w!(((x1!() as u128 * x2!() as u128) >> 64) as u64),
            Div => w!(match (x1!() as i64, x2!() as i64) {
                (_, 0) => u64::MAX,
                (a, b) => a.wrapping_div(b) as u64,
            }),
            Divu => w!(x1!().checked_div(x2!()).unwrap_or(u64::MAX)),
            Rem => w!(match (x1!() as i64, x2!() as i64) {
                (a, 0) => a as u64,
                (a, b) => a.wrapping_rem(b) as u64,
            }),
            Remu => w!(if x2!() == 0 { x1!() } else { x1!() % x2!() }),
            Mulw => ww!((x1!() as i32).wrapping_mul(x2!() as i32)),
            Divw => ww!(match (x1!() as i32, x2!() as i32) {
                (_, 0) => -1,
                (a, b) => a.wrapping_div(b),
            }),
            Divuw => ww!((x1!() as u32).checked_div(x2!() as u32).unwrap_or(u32::MAX)),
            Remw => ww!(match (x1!() as i32, x2!() as i32) {
                (a, 0) => a,
                (a, b) => a.wrapping_rem(b),
            }),
            Remuw => ww!(if x2!() as u32 == 0 {
                x1!() as u32
            } else {
                x1!() as u32 % x2!() as u32
            }),
            LrW | LrD => {
                let v = if op == LrW {
                    let off = self.amo_offset::<4>(bus, x1!(), Access::Load)?;
                    bus.ram.read::<4>(off) as i32 as i64 as u64
                } else {
                    let off = self.amo_offset::<8>(bus, x1!(), Access::Load)?;
                    bus.ram.read::<8>(off)
                };
                self.reservation = x1!();
                self.reservation_value = v;
                wz!(v);
            }
            ScW | ScD => {
                let mut ok = self.reservation == x1!();
                if ok {
                    if op == ScW {
                        let off = self.amo_offset::<4>(bus, x1!(), Access::Store)?;
                        ok = bus.ram.read::<4>(off) as i32 as i64 as u64 == self.reservation_value;
                        if ok {
                            bus.ram.write::<4>(off, x2!());
                        }
                    } else {
                        let off = self.amo_offset::<8>(bus, x1!(), Access::Store)?;
                        ok = bus.ram.read::<8>(off) == self.reservation_value;
                        if ok {
                            bus.ram.write::<8>(off, x2!());
                        }
                    }
                }
                wz!(u64::from(!ok));
                self.reservation = u64::MAX;
            }
            AmoswapW | AmoaddW | AmoxorW | AmoandW | AmoorW | AmominW | AmomaxW | AmominuW
            | AmomaxuW => self.amo::<4>(bus, insn)?,
            AmoswapD | AmoaddD | AmoxorD | AmoandD | AmoorD | AmominD | AmomaxD | AmominuD
            | AmomaxuD => self.amo::<8>(bus, insn)?,
            Flw => fpop!({
                let v = self.load::<4>(bus, x1!().wrapping_add(imm))?;
                self.set_f32(insn.rd, v as u32);
            }),
            Fld => fpop!({
                let v = self.load::<8>(bus, x1!().wrapping_add(imm))?;
                self.set_f64(insn.rd, v);
            }),
            Fsw => {
                fpop!(self.store::<4>(bus, x1!().wrapping_add(imm), self.f[insn.rs2 as usize])?)
            }
            Fsd => {
                fpop!(self.store::<8>(bus, x1!().wrapping_add(imm), self.f[insn.rs2 as usize])?)
            }
            _ => return self.exec_rare(insn, next),
        }
        self.pc = next;
        Ok(())
    }

    /// FP arithmetic and the bit-manipulation extensions: kept out of the hot function so the
    /// common integer path stays compact.
    #[inline(never)]
    fn exec_rare(&mut self, insn: Insn, next: u64) -> Result<(), Trap> {
        use Op::*;
        let op = insn.op;
        let x1 = self.x[(insn.rs1 & 31) as usize];
        let x2 = self.x[(insn.rs2 & 31) as usize];
        let rd = (insn.rd & 31) as usize;
        let shamt = insn.imm as u32 & 63;
        let (r1, r2, r3) = (insn.rs1, insn.rs2, insn.rs3);
        let mut fl = 0u8;
        macro_rules! w {
            ($v:expr) => {{
                self.x[rd] = $v;
            }};
        }
        macro_rules! ww {
            ($v:expr) => {{
                self.x[rd] = ($v) as i32 as i64 as u64;
            }};
        }
        let is_fp = (op as u8) >= (FmaddS as u8) && (op as u8) <= (FcvtDS as u8);
        if is_fp {
            self.fp_check()?;
        }
        match op {
            Illegal => return Err(illegal(insn.imm as u32 as u64)),
            FmaddS | FmsubS | FnmsubS | FnmaddS => {
                let rm = self.rm(insn.rm)?;
                let (np, na) = fma_signs(op);
                let v = fpu::f32_fma(
                    self.f32(r1),
                    self.f32(r2),
                    self.f32(r3),
                    np,
                    na,
                    rm,
                    &mut fl,
                );
                self.set_f32(insn.rd, v);
            }
            FmaddD | FmsubD | FnmsubD | FnmaddD => {
                let rm = self.rm(insn.rm)?;
                let (np, na) = fma_signs(op);
                let (a, b, c) = (
                    self.f[r1 as usize],
                    self.f[r2 as usize],
                    self.f[r3 as usize],
                );
                let v = fpu::f64_fma(a, b, c, np, na, rm, &mut fl);
                self.set_f64(insn.rd, v);
            }
            FaddS | FsubS | FmulS | FdivS => {
                let rm = self.rm(insn.rm)?;
                let (a, b) = (self.f32(r1), self.f32(r2));
                let v = match op {
                    FaddS => fpu::f32_add(a, b, rm, &mut fl),
                    FsubS => fpu::f32_sub(a, b, rm, &mut fl),
                    FmulS => fpu::f32_mul(a, b, rm, &mut fl),
                    _ => fpu::f32_div(a, b, rm, &mut fl),
                };
                self.set_f32(insn.rd, v);
            }
            FaddD | FsubD | FmulD | FdivD => {
                let rm = self.rm(insn.rm)?;
                let (a, b) = (self.f[r1 as usize], self.f[r2 as usize]);
                let v = match op {
                    FaddD => fpu::f64_add(a, b, rm, &mut fl),
                    FsubD => fpu::f64_sub(a, b, rm, &mut fl),
                    FmulD => fpu::f64_mul(a, b, rm, &mut fl),
                    _ => fpu::f64_div(a, b, rm, &mut fl),
                };
                self.set_f64(insn.rd, v);
            }
            FsqrtS => {
                let rm = self.rm(insn.rm)?;
                let v = fpu::f32_sqrt(self.f32(r1), rm, &mut fl);
                self.set_f32(insn.rd, v);
            }
            FsqrtD => {
                let rm = self.rm(insn.rm)?;
                let v = fpu::f64_sqrt(self.f[r1 as usize], rm, &mut fl);
                self.set_f64(insn.rd, v);
            }
            FsgnjS | FsgnjnS | FsgnjxS => {
                let (a, b) = (self.f32(r1), self.f32(r2));
                let s = match op {
                    FsgnjS => b,
                    FsgnjnS => !b,
                    _ => a ^ b,
                } & 0x8000_0000;
                self.set_f32(insn.rd, (a & 0x7fff_ffff) | s);
            }
            FsgnjD | FsgnjnD | FsgnjxD => {
                let (a, b) = (self.f[r1 as usize], self.f[r2 as usize]);
                let s = match op {
                    FsgnjD => b,
                    FsgnjnD => !b,
                    _ => a ^ b,
                } & (1 << 63);
                self.set_f64(insn.rd, (a & !(1 << 63)) | s);
            }
            FminS | FmaxS => {
                let (a, b) = (self.f32(r1), self.f32(r2));
                let v = if op == FminS {
                    fpu::f32_min(a, b, &mut fl)
                } else {
                    fpu::f32_max(a, b, &mut fl)
                };
                self.set_f32(insn.rd, v);
            }
            FminD | FmaxD => {
                let (a, b) = (self.f[r1 as usize], self.f[r2 as usize]);
                let v = if op == FminD {
                    fpu::f64_min(a, b, &mut fl)
                } else {
                    fpu::f64_max(a, b, &mut fl)
                };
                self.set_f64(insn.rd, v);
            }
            FcvtWS | FcvtWuS | FcvtLS | FcvtLuS => {
                let rm = self.rm(insn.rm)?;
                let a = self.f32(r1);
                w!(match op {
                    FcvtWS => fpu::f32_to_i32(a, rm, &mut fl),
                    FcvtWuS => fpu::f32_to_u32(a, rm, &mut fl),
                    FcvtLS => fpu::f32_to_i64(a, rm, &mut fl),
                    _ => fpu::f32_to_u64(a, rm, &mut fl),
                });
            }
            FcvtWD | FcvtWuD | FcvtLD | FcvtLuD => {
                let rm = self.rm(insn.rm)?;
                let a = self.f[r1 as usize];
                w!(match op {
                    FcvtWD => fpu::f64_to_i32(a, rm, &mut fl),
                    FcvtWuD => fpu::f64_to_u32(a, rm, &mut fl),
                    FcvtLD => fpu::f64_to_i64(a, rm, &mut fl),
                    _ => fpu::f64_to_u64(a, rm, &mut fl),
                });
            }
            FcvtSW | FcvtSWu | FcvtSL | FcvtSLu => {
                let rm = self.rm(insn.rm)?;
                let v = match op {
                    FcvtSW => fpu::f32_from_i32(x1 as i32, rm, &mut fl),
                    FcvtSWu => fpu::f32_from_u32(x1 as u32, rm, &mut fl),
                    FcvtSL => fpu::f32_from_i64(x1 as i64, rm, &mut fl),
                    _ => fpu::f32_from_u64(x1, rm, &mut fl),
                };
                self.set_f32(insn.rd, v);
            }
            FcvtDW | FcvtDWu | FcvtDL | FcvtDLu => {
                let rm = self.rm(insn.rm)?;
                let v = match op {
                    FcvtDW => fpu::f64_from_i32(x1 as i32, rm, &mut fl),
                    FcvtDWu => fpu::f64_from_u32(x1 as u32, rm, &mut fl),
                    FcvtDL => fpu::f64_from_i64(x1 as i64, rm, &mut fl),
                    _ => fpu::f64_from_u64(x1, rm, &mut fl),
                };
                self.set_f64(insn.rd, v);
            }
            FcvtSD => {
                let rm = self.rm(insn.rm)?;
                let v = fpu::f64_to_f32(self.f[r1 as usize], rm, &mut fl);
                self.set_f32(insn.rd, v);
            }
            FcvtDS => {
                self.rm(insn.rm)?;
                let v = fpu::f32_to_f64(self.f32(r1), &mut fl);
                self.set_f64(insn.rd, v);
            }
            FmvXW => w!(self.f[r1 as usize] as u32 as i32 as i64 as u64),
            FmvXD => w!(self.f[r1 as usize]),
            FmvWX => self.set_f32(insn.rd, x1 as u32),
            FmvDX => self.set_f64(insn.rd, x1),
            FclassS => w!(fpu::f32_classify(self.f32(r1))),
            FclassD => w!(fpu::f64_classify(self.f[r1 as usize])),
            FeqS => w!(fpu::f32_eq(self.f32(r1), self.f32(r2), &mut fl) as u64),
            FltS => w!(fpu::f32_lt(self.f32(r1), self.f32(r2), &mut fl) as u64),
            FleS => w!(fpu::f32_le(self.f32(r1), self.f32(r2), &mut fl) as u64),
            FeqD => w!(fpu::f64_eq(self.f[r1 as usize], self.f[r2 as usize], &mut fl) as u64),
            FltD => w!(fpu::f64_lt(self.f[r1 as usize], self.f[r2 as usize], &mut fl) as u64),
            FleD => w!(fpu::f64_le(self.f[r1 as usize], self.f[r2 as usize], &mut fl) as u64),
            Sh1add => w!((x1 << 1).wrapping_add(x2)),
            Sh2add => w!((x1 << 2).wrapping_add(x2)),
            Sh3add => w!((x1 << 3).wrapping_add(x2)),
            AddUw => w!((x1 as u32 as u64).wrapping_add(x2)),
            Sh1addUw => w!(((x1 as u32 as u64) << 1).wrapping_add(x2)),
            Sh2addUw => w!(((x1 as u32 as u64) << 2).wrapping_add(x2)),
            Sh3addUw => w!(((x1 as u32 as u64) << 3).wrapping_add(x2)),
            SlliUw => w!((x1 as u32 as u64) << shamt),
            Andn => w!(x1 & !x2),
            Orn => w!(x1 | !x2),
            Xnor => w!(!(x1 ^ x2)),
            Clz => w!(u64::from(x1.leading_zeros())),
            Clzw => w!(u64::from((x1 as u32).leading_zeros())),
            Ctz => w!(u64::from(x1.trailing_zeros())),
            Ctzw => w!(u64::from((x1 as u32).trailing_zeros())),
            Cpop => w!(u64::from(x1.count_ones())),
            Cpopw => w!(u64::from((x1 as u32).count_ones())),
            Max => w!((x1 as i64).max(x2 as i64) as u64),
            Maxu => w!(x1.max(x2)),
            Min => w!((x1 as i64).min(x2 as i64) as u64),
            Minu => w!(x1.min(x2)),
            SextB => w!(x1 as i8 as i64 as u64),
            SextH => w!(x1 as i16 as i64 as u64),
            ZextH => w!(x1 as u16 as u64),
            Rol => w!(x1.rotate_left((x2 & 63) as u32)),
            Ror => w!(x1.rotate_right((x2 & 63) as u32)),
            Rori => w!(x1.rotate_right(shamt)),
            Rolw => ww!((x1 as u32).rotate_left((x2 & 31) as u32)),
            Rorw => ww!((x1 as u32).rotate_right((x2 & 31) as u32)),
            Roriw => ww!((x1 as u32).rotate_right(shamt & 31)),
            OrcB => {
                let mut v = 0u64;
                for i in 0..8 {
                    if (x1 >> (i * 8)) & 0xff != 0 {
                        v |= 0xff << (i * 8);
                    }
                }
                w!(v)
            }
            Rev8 => w!(x1.swap_bytes()),
            Bclr => w!(x1 & !(1 << (x2 & 63))),
            Bclri => w!(x1 & !(1 << shamt)),
            Bext => w!((x1 >> (x2 & 63)) & 1),
            Bexti => w!((x1 >> shamt) & 1),
            Binv => w!(x1 ^ (1 << (x2 & 63))),
            Binvi => w!(x1 ^ (1 << shamt)),
            Bset => w!(x1 | (1 << (x2 & 63))),
            Bseti => w!(x1 | (1 << shamt)),
            CzeroEqz => w!(if x2 == 0 { 0 } else { x1 }),
            CzeroNez => w!(if x2 != 0 { 0 } else { x1 }),
            _ => return Err(illegal(insn.imm as u32 as u64)),
        }
        // FP compares/conversions/moves may name x0 as rd and still have effects (flags).
        self.x[0] = 0;
        if fl != 0 {
            self.fflags |= fl;
            self.fs_dirty();
        }
        self.pc = next;
        Ok(())
    }
}

fn fma_signs(op: Op) -> (bool, bool) {
    use Op::*;
    match op {
        FmaddS | FmaddD => (false, false),
        FmsubS | FmsubD => (false, true),
        FnmsubS | FnmsubD => (true, false),
        _ => (true, true),
    }
}

fn illegal(bits: u64) -> Trap {
    Trap::new(cause::ILLEGAL, bits)
}

fn vector(tvec: u64, interrupt: bool, code: u64) -> u64 {
    let base = tvec & !3;
    if interrupt && tvec & 3 == 1 {
        base.wrapping_add(4 * code)
    } else {
        base
    }
}
