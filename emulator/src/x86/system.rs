//! Interrupt and exception delivery (real-mode IVT, protected-mode and long-mode IDT with
//! privilege changes, TSS stacks and IST), descriptor-table access and segment register loads
//! with their protection checks; the system instruction handlers live in `sysinsn`.

use super::cpu::*;
use super::flags;
use super::vec;

pub use super::sysinsn::handler;

/// Where an interrupt comes from: it decides the return address, whether the gate's DPL is
/// checked, and whether an error code is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// A fault or trap raised by an instruction.
    Exception,
    /// INT n / INT3 / INTO (gate DPL checked against CPL; returns after the instruction).
    Software,
    /// INT1 (ICEBP): like Software but no DPL check.
    Icebp,
    /// From the interrupt controller.
    External,
}

/// Exceptions that push an error code in protected/long mode.
fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21)
}

/// Contributory exceptions (for the double-fault rules).
fn contributory(v: u8) -> bool {
    matches!(v, 0 | 10 | 11 | 12 | 13)
}

impl Cpu {
    /// Delivers vector `v`. For exceptions the return address is `rip` (faults restart; the
    /// caller has set `next_rip = rip`); for software interrupts it is `next_rip`. Afterwards
    /// `rip` and `next_rip` are the handler's entry. A fault during delivery becomes #DF, and a
    /// fault delivering #DF shuts the CPU down.
    pub fn deliver(&mut self, v: u8, error: Option<u32>, kind: IntKind) {
        if self.stop_on_exception {
            self.exception = Some(Exc { vector: v, error });
            self.stopped = true;
            if kind != IntKind::Exception {
                // Report software interrupts at the INT instruction, as a signal would.
                self.next_rip = self.rip;
            }
            return;
        }
        let prev = self.delivering;
        if kind == IntKind::Exception {
            if let Some(p) = prev {
                if p == vec::DF {
                    self.shutdown = true;
                    return;
                }
                let p_pf = p == vec::PF;
                if (contributory(p) || p_pf) && (contributory(v) || (p_pf && v == vec::PF)) {
                    self.delivering = None;
                    return self.deliver(vec::DF, Some(0), IntKind::Exception);
                }
            }
        }
        self.delivering = Some(if kind == IntKind::Exception { v } else { 0xff });
        self.halted = false;
        let ret = if kind == IntKind::Exception {
            self.rip
        } else {
            self.next_rip
        };
        let r = match self.mode {
            Mode::Real => self.deliver_real(v, ret),
            Mode::Long64 | Mode::Compat => self.deliver_long(v, error, kind, ret),
            _ => self.deliver_prot(v, error, kind, ret),
        };
        self.delivering = None;
        match r {
            Ok(()) => {
                self.next_rip = self.rip;
            }
            Err(e) => {
                // The fault happened while delivering `v`.
                self.delivering = Some(if kind == IntKind::Exception { v } else { 0xff });
                if kind != IntKind::Exception {
                    // A software interrupt's own fault (e.g. #GP for the gate's DPL) is an
                    // ordinary exception of the INT instruction.
                    self.delivering = None;
                }
                self.next_rip = self.rip;
                self.deliver(e.vector, e.error, IntKind::Exception);
            }
        }
        self.block_exit = true;
    }

    fn deliver_real(&mut self, v: u8, ret: u64) -> R<()> {
        let off = u64::from(v) * 4;
        if off + 3 > u64::from(self.idtr.limit) {
            return Err(Exc::gp(u32::from(v) * 8 + 2));
        }
        let ent = self.read_sys::<4>(self.idtr.base.wrapping_add(off))?;
        let fl = self.rflags();
        self.push(fl & 0xffff, 2)?;
        self.push(u64::from(self.seg[CS].sel), 2)?;
        self.push(ret & 0xffff, 2)?;
        self.rflags_sys &= !(flags::IF | flags::TF | flags::AC | flags::RF);
        let sel = (ent >> 16) as u16;
        self.seg[CS] = Seg {
            attr: self.seg[CS].attr,
            ..Seg::real(sel)
        };
        self.seg[CS].base = u64::from(sel) << 4;
        self.rip = ent & 0xffff;
        Ok(())
    }

    /// Reads the IDT gate for `v` (8 or 16 bytes).
    fn idt_gate(&mut self, v: u8, ext: u32, size: u64) -> R<(u64, u64)> {
        let off = u64::from(v) * size;
        let err = u32::from(v) * 8 + 2 + ext;
        if off + size - 1 > u64::from(self.idtr.limit) {
            return Err(Exc::gp(err));
        }
        let lo = self.read_sys::<8>(self.idtr.base.wrapping_add(off))?;
        let hi = if size == 16 {
            self.read_sys::<8>(self.idtr.base.wrapping_add(off + 8))?
        } else {
            0
        };
        Ok((lo, hi))
    }

    fn deliver_prot(&mut self, v: u8, error: Option<u32>, kind: IntKind, ret: u64) -> R<()> {
        let ext = u32::from(kind == IntKind::External || kind == IntKind::Exception);
        let gerr = u32::from(v) * 8 + 2 + ext;
        let (g, _) = self.idt_gate(v, ext, 8)?;
        let ty = (g >> 40) & 0x1f;
        let dpl = ((g >> 45) & 3) as u8;
        let present = g & (1 << 47) != 0;
        // Interrupt (0x6/0xE) or trap (0x7/0xF) gates; task gates are not supported.
        if !matches!(ty, 0x6 | 0x7 | 0xe | 0xf) {
            return Err(Exc::gp(gerr));
        }
        if kind == IntKind::Software && dpl < self.cpl {
            return Err(Exc::gp(gerr));
        }
        if !present {
            return Err(Exc::with(vec::NP, gerr));
        }
        let gate32 = ty & 8 != 0;
        let sel = ((g >> 16) & 0xffff) as u16;
        let offset = (g & 0xffff) | ((g >> 32) & 0xffff_0000);
        let (cs_desc, cs) = self.code_target(sel, ext)?;
        let _ = cs_desc;
        let new_cpl = if cs.attr & 0x4 != 0 {
            self.cpl // conforming: stays
        } else {
            cs.dpl()
        };
        if new_cpl > self.cpl {
            return Err(Exc::gp(u32::from(sel & !3) + ext));
        }
        let old_fl = self.rflags();
        let (old_ss, old_sp, old_cs) = (self.seg[SS], self.gpr[4], self.seg[CS]);
        let vm86 = self.mode == Mode::Virtual8086;
        let sz: u8 = if gate32 { 4 } else { 2 };
        if new_cpl < self.cpl {
            // Stack switch from the TSS.
            let (ss_sel, esp) = self.tss_stack32(new_cpl)?;
            let ss = self.load_ss_for(ss_sel, new_cpl, ext)?;
            self.seg[SS] = ss;
            self.gpr[4] = esp;
            // The frame goes to the inner stack with the inner privilege (supervisor pages).
            self.cpl = new_cpl;
            if vm86 {
                for s in [GS, FS, DS, ES] {
                    self.push(u64::from(self.seg[s].sel), sz)?;
                }
            }
            self.push(u64::from(old_ss.sel), sz)?;
            self.push(old_sp, sz)?;
        }
        self.push(old_fl, sz)?;
        self.push(u64::from(old_cs.sel), sz)?;
        self.push(ret, sz)?;
        if let Some(e) = error {
            if kind == IntKind::Exception && has_error_code(v) {
                self.push(u64::from(e), sz)?;
            }
        }
        if vm86 {
            for s in [GS, FS, DS, ES] {
                self.seg[s] = Seg {
                    attr: SEG_UNUSABLE,
                    ..Seg::default()
                };
            }
        }
        self.seg[CS] = Seg {
            sel: (sel & !3) | u16::from(new_cpl),
            ..cs
        };
        self.rflags_sys &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        if ty & 1 == 0 {
            self.rflags_sys &= !flags::IF;
        }
        self.rip = if gate32 { offset } else { offset & 0xffff };
        self.update_mode();
        Ok(())
    }

    fn deliver_long(&mut self, v: u8, error: Option<u32>, kind: IntKind, ret: u64) -> R<()> {
        let ext = u32::from(kind == IntKind::External || kind == IntKind::Exception);
        let gerr = u32::from(v) * 8 + 2 + ext;
        let (lo, hi) = self.idt_gate(v, ext, 16)?;
        let ty = (lo >> 40) & 0x1f;
        let dpl = ((lo >> 45) & 3) as u8;
        if !matches!(ty, 0xe | 0xf) {
            return Err(Exc::gp(gerr));
        }
        if kind == IntKind::Software && dpl < self.cpl {
            return Err(Exc::gp(gerr));
        }
        if lo & (1 << 47) == 0 {
            return Err(Exc::with(vec::NP, gerr));
        }
        let sel = ((lo >> 16) & 0xffff) as u16;
        let offset = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi << 32);
        let ist = (lo >> 32) & 7;
        let (_, cs) = self.code_target(sel, ext)?;
        if cs.attr & SEG_L == 0 || cs.attr & SEG_DB != 0 {
            return Err(Exc::gp(u32::from(sel & !3) + ext));
        }
        let new_cpl = if cs.attr & 0x4 != 0 {
            self.cpl
        } else {
            cs.dpl()
        };
        if new_cpl > self.cpl {
            return Err(Exc::gp(u32::from(sel & !3) + ext));
        }
        let old_fl = self.rflags();
        let (old_ss, old_sp, old_cs) = (self.seg[SS], self.gpr[4], self.seg[CS]);
        let mut rsp = if ist != 0 {
            self.tss_read64(0x24 + (ist - 1) * 8)?
        } else if new_cpl < self.cpl {
            self.tss_read64(4 + u64::from(new_cpl) * 8)?
        } else {
            old_sp
        };
        if ((rsp as i64) << 16 >> 16) as u64 != rsp {
            return Err(Exc::ss(ext));
        }
        rsp &= !0xf;
        let mut frame = [
            u64::from(old_ss.sel),
            old_sp,
            old_fl,
            u64::from(old_cs.sel),
            ret,
            0,
        ];
        let mut n = 5;
        if let Some(e) = error {
            if kind == IntKind::Exception && has_error_code(v) {
                frame[5] = u64::from(e);
                n = 6;
            }
        }
        // Write the frame through the new privilege's view (supervisor).
        for &val in &frame[..n] {
            rsp = rsp.wrapping_sub(8);
            self.write_sys::<8>(rsp, val)?;
        }
        if new_cpl < self.cpl {
            self.seg[SS] = Seg {
                sel: u16::from(new_cpl),
                base: 0,
                limit: 0xffff_ffff,
                attr: SEG_UNUSABLE | SEG_P | SEG_S | 0x3 | (u16::from(new_cpl) << SEG_DPL_SHIFT),
            };
        }
        self.gpr[4] = rsp;
        self.seg[CS] = Seg {
            sel: (sel & !3) | u16::from(new_cpl),
            ..cs
        };
        self.rflags_sys &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        if ty & 1 == 0 {
            self.rflags_sys &= !flags::IF;
        }
        self.rip = offset;
        self.update_mode();
        Ok(())
    }

    /// The 8-byte descriptor for `sel` from the GDT or LDT. `ext` is the EXT bit for error
    /// codes.
    pub fn descriptor(&mut self, sel: u16, ext: u32) -> R<u64> {
        let (base, limit) = if sel & 4 != 0 {
            if self.ldtr.attr & SEG_UNUSABLE != 0 || self.ldtr.sel & !3 == 0 {
                return Err(Exc::gp(u32::from(sel & !3) + ext));
            }
            (self.ldtr.base, u64::from(self.ldtr.limit))
        } else {
            (self.gdtr.base, u64::from(self.gdtr.limit))
        };
        let off = u64::from(sel & !7);
        if off + 7 > limit {
            return Err(Exc::gp(u32::from(sel & !3) + ext));
        }
        self.read_sys::<8>(base.wrapping_add(off))
    }

    /// Sets the accessed bit of a descriptor in memory.
    pub fn mark_accessed(&mut self, sel: u16, d: u64) -> R<()> {
        if d & (1 << 40) != 0 {
            return Ok(());
        }
        let base = if sel & 4 != 0 {
            self.ldtr.base
        } else {
            self.gdtr.base
        };
        let la = base.wrapping_add(u64::from(sel & !7) + 5);
        let b = self.read_sys::<1>(la)?;
        self.write_sys::<1>(la, b | 1)
    }

    /// Checks a selector as an interrupt/far-transfer code segment target; returns the raw
    /// descriptor and the decoded segment.
    pub fn code_target(&mut self, sel: u16, ext: u32) -> R<(u64, Seg)> {
        if sel & !3 == 0 {
            return Err(Exc::gp(ext));
        }
        let d = self.descriptor(sel, ext)?;
        let s = Seg::from_descriptor(sel, d);
        if s.attr & SEG_S == 0 || s.attr & 8 == 0 {
            return Err(Exc::gp(u32::from(sel & !3) + ext));
        }
        if s.attr & SEG_P == 0 {
            return Err(Exc::with(vec::NP, u32::from(sel & !3) + ext));
        }
        self.mark_accessed(sel, d)?;
        Ok((d, s))
    }

    /// Loads SS for a privilege change to `cpl` (interrupt stack switch, far return).
    pub fn load_ss_for(&mut self, sel: u16, cpl: u8, ext: u32) -> R<Seg> {
        let err = u32::from(sel & !3) + ext;
        if sel & !3 == 0 || (sel & 3) as u8 != cpl {
            return Err(Exc::with(vec::TS, err));
        }
        let d = self.descriptor(sel, ext)?;
        let s = Seg::from_descriptor(sel, d);
        if s.attr & SEG_S == 0 || s.attr & 8 != 0 || s.attr & 2 == 0 || s.dpl() != cpl {
            return Err(Exc::with(vec::TS, err));
        }
        if s.attr & SEG_P == 0 {
            return Err(Exc::ss(err));
        }
        self.mark_accessed(sel, d)?;
        Ok(s)
    }

    /// SS:ESP for privilege level `cpl` from a 32-bit TSS.
    pub(crate) fn tss_stack32(&mut self, cpl: u8) -> R<(u16, u64)> {
        let ty = self.tr.attr & SEG_TYPE;
        if ty & 8 != 0 {
            let off = 4 + u64::from(cpl) * 8;
            if off + 5 > u64::from(self.tr.limit) {
                return Err(Exc::with(vec::TS, u32::from(self.tr.sel & !3)));
            }
            let esp = self.read_sys::<4>(self.tr.base.wrapping_add(off))?;
            let ss = self.read_sys::<2>(self.tr.base.wrapping_add(off + 4))? as u16;
            Ok((ss, esp))
        } else {
            // 16-bit TSS.
            let off = 2 + u64::from(cpl) * 4;
            if off + 3 > u64::from(self.tr.limit) {
                return Err(Exc::with(vec::TS, u32::from(self.tr.sel & !3)));
            }
            let sp = self.read_sys::<2>(self.tr.base.wrapping_add(off))?;
            let ss = self.read_sys::<2>(self.tr.base.wrapping_add(off + 2))? as u16;
            Ok((ss, sp))
        }
    }

    /// A quadword of the 64-bit TSS.
    pub fn tss_read64(&mut self, off: u64) -> R<u64> {
        if off + 7 > u64::from(self.tr.limit) {
            return Err(Exc::with(vec::TS, u32::from(self.tr.sel & !3)));
        }
        self.read_sys::<8>(self.tr.base.wrapping_add(off))
    }

    /// MOV/POP to a data segment register or SS (and LDS & co.) with protected-mode checks.
    pub fn load_seg(&mut self, s: usize, sel: u16) -> R<()> {
        match self.mode {
            Mode::Real | Mode::Virtual8086 => {
                let attr = self.seg[s].attr & !SEG_UNUSABLE;
                self.seg[s] = Seg {
                    attr,
                    ..Seg::real(sel)
                };
                self.seg[s].limit = self.seg[s].limit.max(0xffff);
                if s == CS {
                    self.update_mode();
                }
                return Ok(());
            }
            _ => {}
        }
        if s == CS {
            return Err(Exc::ud());
        }
        let err = u32::from(sel & !3);
        let rpl = (sel & 3) as u8;
        if sel & !3 == 0 {
            if s == SS && !(self.mode == Mode::Long64 && self.cpl != 3 && rpl == self.cpl) {
                return Err(Exc::gp0());
            }
            let base = if self.mode == Mode::Long64 && s >= FS {
                self.seg[s].base
            } else {
                0
            };
            self.seg[s] = Seg {
                sel,
                base,
                limit: 0,
                attr: SEG_UNUSABLE
                    | if s == SS {
                        (u16::from(rpl) << SEG_DPL_SHIFT) | SEG_DB
                    } else {
                        0
                    },
            };
            return Ok(());
        }
        let d = self.descriptor(sel, 0)?;
        let sg = Seg::from_descriptor(sel, d);
        let ty = sg.attr & SEG_TYPE;
        if s == SS {
            if rpl != self.cpl
                || sg.attr & SEG_S == 0
                || ty & 8 != 0
                || ty & 2 == 0
                || sg.dpl() != self.cpl
            {
                return Err(Exc::gp(err));
            }
            if sg.attr & SEG_P == 0 {
                return Err(Exc::ss(err));
            }
        } else {
            // Data, or readable code.
            if sg.attr & SEG_S == 0 || (ty & 8 != 0 && ty & 2 == 0) {
                return Err(Exc::gp(err));
            }
            let conforming_code = ty & 8 != 0 && ty & 4 != 0;
            if !conforming_code && (sg.dpl() < self.cpl || sg.dpl() < rpl) {
                return Err(Exc::gp(err));
            }
            if sg.attr & SEG_P == 0 {
                return Err(Exc::with(vec::NP, err));
            }
        }
        self.mark_accessed(sel, d)?;
        let mut sg = sg;
        sg.attr |= 1;
        self.seg[s] = sg;
        if s == SS {
            self.irq_shadow = true;
            self.block_exit = true;
        }
        Ok(())
    }
}
