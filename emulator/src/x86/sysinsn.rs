//! System instructions: descriptor tables, control/debug registers, MSRs, CPUID, TSC, I/O
//! ports, HLT, CLI/STI, far transfers and IRET, INT n, SYSCALL/SYSRET, SYSENTER/SYSEXIT,
//! SWAPGS, segment register loads, LAR/LSL/VERR/VERW.
//!
//! Task switches (task gates, far JMP/CALL to a TSS, IRET with NT=1 outside long mode) are not
//! supported: they raise #GP with the selector. Debug registers are storage (DR7.GD is
//! honoured, breakpoints are not).

use super::block::Handler;
use super::cpu::*;
use super::cpuid;
use super::flags::{self, mask};
use super::mmu::MAX_PHYS_BITS;
use super::system::IntKind;
use super::vec;
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

/// The handler for `code`, if it is a system instruction.
pub fn handler(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Jmp_ptr1616 | C::Jmp_ptr1632 | C::Jmp_m1616 | C::Jmp_m1632 | C::Jmp_m1664 => jmp_far,
        C::Call_ptr1616 | C::Call_ptr1632 | C::Call_m1616 | C::Call_m1632 | C::Call_m1664 => {
            call_far
        }
        C::Retfw | C::Retfd | C::Retfq | C::Retfw_imm16 | C::Retfd_imm16 | C::Retfq_imm16 => retf,
        C::Iretw | C::Iretd | C::Iretq => iret,
        C::Int_imm8 => int_n,
        C::Int3 => int3,
        C::Into => into,
        C::Int1 => int1,
        C::Mov_Sreg_rm16 | C::Mov_Sreg_r32m16 | C::Mov_Sreg_r64m16 => mov_to_sreg,
        C::Mov_rm16_Sreg | C::Mov_r32m16_Sreg | C::Mov_r64m16_Sreg => mov_from_sreg,
        C::Pushw_ES | C::Pushd_ES | C::Pushw_CS | C::Pushd_CS | C::Pushw_SS | C::Pushd_SS => {
            push_sreg
        }
        C::Pushw_DS | C::Pushd_DS | C::Pushw_FS | C::Pushd_FS | C::Pushq_FS => push_sreg,
        C::Pushw_GS | C::Pushd_GS | C::Pushq_GS => push_sreg,
        C::Popw_ES | C::Popd_ES | C::Popw_SS | C::Popd_SS | C::Popw_DS | C::Popd_DS => pop_sreg,
        C::Popw_FS | C::Popd_FS | C::Popq_FS | C::Popw_GS | C::Popd_GS | C::Popq_GS => pop_sreg,
        C::Mov_r32_cr | C::Mov_r64_cr => mov_from_cr,
        C::Mov_cr_r32 | C::Mov_cr_r64 => mov_to_cr,
        C::Mov_r32_dr | C::Mov_r64_dr => mov_from_dr,
        C::Mov_dr_r32 | C::Mov_dr_r64 => mov_to_dr,
        C::Clflush_m8 => clflush,
        _ => match code.mnemonic() {
            Mnemonic::Lds | Mnemonic::Les | Mnemonic::Lss | Mnemonic::Lfs | Mnemonic::Lgs => {
                load_far_ptr
            }
            Mnemonic::Lgdt | Mnemonic::Lidt => lgdt_lidt,
            Mnemonic::Sgdt | Mnemonic::Sidt => sgdt_sidt,
            Mnemonic::Lldt => lldt,
            Mnemonic::Ltr => ltr,
            Mnemonic::Sldt | Mnemonic::Str => sldt_str,
            Mnemonic::Lar | Mnemonic::Lsl => lar_lsl,
            Mnemonic::Verr | Mnemonic::Verw => verr_verw,
            Mnemonic::Arpl => arpl,
            Mnemonic::Lmsw => lmsw,
            Mnemonic::Smsw => smsw,
            Mnemonic::Clts => clts,
            Mnemonic::Invlpg => invlpg,
            Mnemonic::Invd | Mnemonic::Wbinvd => privileged_nop,
            Mnemonic::Rdmsr if code == C::Rdmsr => rdmsr,
            Mnemonic::Wrmsr if code == C::Wrmsr => wrmsr,
            Mnemonic::Rdtsc => rdtsc,
            Mnemonic::Rdtscp => rdtscp,
            Mnemonic::Rdpmc => rdpmc,
            Mnemonic::Cpuid => cpuid_insn,
            Mnemonic::Hlt => hlt,
            Mnemonic::Cli => cli,
            Mnemonic::Sti => sti,
            Mnemonic::In => in_port,
            Mnemonic::Out => out_port,
            Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd => ins,
            Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd => outs,
            Mnemonic::Syscall => syscall,
            Mnemonic::Sysret | Mnemonic::Sysretq => sysret,
            Mnemonic::Sysenter => sysenter,
            Mnemonic::Sysexit | Mnemonic::Sysexitq => sysexit,
            Mnemonic::Swapgs => swapgs,
            Mnemonic::Xgetbv => xgetbv,
            Mnemonic::Xsetbv => xsetbv,
            _ => return None,
        },
    })
}

// ---- helpers ----

fn canonical(v: u64) -> bool {
    ((v as i64) << 16 >> 16) as u64 == v
}

fn set_zf(c: &mut Cpu, z: bool) {
    let b = c.lazy.bits() & !flags::ZF;
    c.lazy.set_eager(if z { b | flags::ZF } else { b });
}

fn protected(c: &Cpu) -> bool {
    matches!(c.mode, Mode::Protected | Mode::Compat | Mode::Long64)
}

fn lma(c: &Cpu) -> bool {
    c.efer & EFER_LMA != 0
}

/// #GP(0) unless CPL is 0 (V86 mode is CPL 3).
fn need_cpl0(c: &Cpu) -> R<()> {
    if c.cpl != 0 {
        return Err(Exc::gp0());
    }
    Ok(())
}

fn sel_err(sel: u16) -> u32 {
    u32::from(sel & !3)
}

/// A null selector as a data segment register holds it (FS/GS keep their base in long mode,
/// where the MSRs own it).
fn null_seg(c: &Cpu, s: usize, sel: u16) -> Seg {
    Seg {
        sel,
        base: if lma(c) && s >= FS { c.seg[s].base } else { 0 },
        limit: 0,
        attr: SEG_UNUSABLE,
    }
}

fn flat_code(sel: u16, dpl: u16, long: bool) -> Seg {
    Seg {
        sel,
        base: 0,
        limit: 0xffff_ffff,
        attr: SEG_P
            | SEG_S
            | 0xb
            | (dpl << SEG_DPL_SHIFT)
            | SEG_G
            | if long { SEG_L } else { SEG_DB },
    }
}

fn flat_data(sel: u16, dpl: u16) -> Seg {
    Seg {
        sel,
        base: 0,
        limit: 0xffff_ffff,
        attr: SEG_P | SEG_S | 0x3 | (dpl << SEG_DPL_SHIFT) | SEG_G | SEG_DB,
    }
}

impl Cpu {
    /// The descriptor for `sel`, or None when the selector is null or past its table's limit
    /// (LAR, LSL, VERR and VERW report that in ZF instead of faulting).
    fn descriptor_probe(&mut self, sel: u16) -> R<Option<u64>> {
        if sel & !3 == 0 {
            return Ok(None);
        }
        let (base, limit) = if sel & 4 != 0 {
            if self.ldtr.attr & SEG_UNUSABLE != 0 || self.ldtr.sel & !3 == 0 {
                return Ok(None);
            }
            (self.ldtr.base, u64::from(self.ldtr.limit))
        } else {
            (self.gdtr.base, u64::from(self.gdtr.limit))
        };
        let off = u64::from(sel & !7);
        if off + 7 > limit {
            return Ok(None);
        }
        self.read_sys::<8>(base.wrapping_add(off)).map(Some)
    }

    /// The upper quadword of a 16-byte long-mode system descriptor (GDT or LDT).
    fn descriptor_hi(&mut self, sel: u16) -> R<u64> {
        let (base, limit) = if sel & 4 != 0 {
            (self.ldtr.base, u64::from(self.ldtr.limit))
        } else {
            (self.gdtr.base, u64::from(self.gdtr.limit))
        };
        let off = u64::from(sel & !7) + 8;
        if off + 7 > limit {
            return Err(Exc::gp(sel_err(sel)));
        }
        self.read_sys::<8>(base.wrapping_add(off))
    }

    /// Writes `vals` (in push order) below the current stack pointer without moving it;
    /// returns the new stack pointer for the caller to commit once nothing else can fault.
    fn push_frame(&mut self, vals: &[u64], size: u8) -> R<u64> {
        let ss = self.stack_size();
        let m = mask(ss);
        let mut sp = self.gpr[4];
        for &v in vals {
            sp = sp.wrapping_sub(u64::from(size)) & m;
            let la = self.linear(SS, sp, u32::from(size), Acc::Write)?;
            self.write_sized(la, size, v)?;
        }
        Ok(sp)
    }

    /// Adds `n` to the stack pointer at the current stack size.
    fn sp_add(&mut self, n: u64) {
        let ss = self.stack_size();
        let sp = self.gpr[4].wrapping_add(n) & mask(ss);
        self.gpr_write(4, ss, sp);
    }

    /// Loads a data segment register or SS (MOV, POP, LDS & co.) in any mode.
    fn load_data_seg(&mut self, s: usize, sel: u16) -> R<()> {
        self.load_seg(s, sel)?;
        if s == SS {
            self.irq_shadow = true;
            self.block_exit = true;
        }
        Ok(())
    }

    /// On a return to an outer privilege level, data segment registers the new level may not
    /// use become null (SDM Vol. 2 RET/IRET, "RETURN-TO-OUTER-PRIVILEGE-LEVEL").
    fn null_inaccessible_segs(&mut self, cpl: u8) {
        for s in [ES, DS, FS, GS] {
            let sg = self.seg[s];
            if sg.sel & !3 == 0 || sg.attr & SEG_UNUSABLE != 0 {
                continue;
            }
            let conforming_code = sg.attr & 0xc == 0xc;
            if (sg.attr & SEG_S == 0 || !conforming_code) && sg.dpl() < cpl {
                self.seg[s] = null_seg(self, s, 0);
            }
        }
    }

    /// The return code segment of RETF/IRET: checks per SDM Vol. 2 RET (far) and IRET.
    fn return_cs(&mut self, sel: u16) -> R<(u64, Seg)> {
        if sel & !3 == 0 {
            return Err(Exc::gp0());
        }
        let rpl = (sel & 3) as u8;
        let err = sel_err(sel);
        if rpl < self.cpl {
            return Err(Exc::gp(err));
        }
        let d = self.descriptor(sel, 0)?;
        let s = Seg::from_descriptor(sel, d);
        if s.attr & SEG_S == 0 || s.attr & 8 == 0 {
            return Err(Exc::gp(err));
        }
        let conforming = s.attr & 4 != 0;
        if (conforming && s.dpl() > rpl) || (!conforming && s.dpl() != rpl) {
            return Err(Exc::gp(err));
        }
        if s.attr & SEG_P == 0 {
            return Err(Exc::with(vec::NP, err));
        }
        if lma(self) && s.attr & SEG_L != 0 && s.attr & SEG_DB != 0 {
            return Err(Exc::gp(err));
        }
        Ok((d, s))
    }

    /// SS for a return to outer privilege `rpl`; RETF and IRET report bad selectors with #GP
    /// where an interrupt's stack switch uses #TS. 64-bit targets may return with a null SS
    /// when RPL is not 3.
    fn return_ss(&mut self, sel: u16, rpl: u8, target64: bool) -> R<Seg> {
        if sel & !3 == 0 && target64 && rpl != 3 {
            return Ok(Seg {
                sel,
                base: 0,
                limit: 0,
                attr: SEG_UNUSABLE | SEG_DB | (u16::from(rpl) << SEG_DPL_SHIFT),
            });
        }
        if sel & !3 == 0 {
            return Err(Exc::gp0());
        }
        match self.load_ss_for(sel, rpl, 0) {
            Ok(mut s) => {
                s.attr |= 1;
                Ok(s)
            }
            Err(e) if e.vector == vec::TS => Err(Exc::gp(sel_err(sel))),
            Err(e) => Err(e),
        }
    }

    /// The return offset checked against the target code segment.
    fn return_ip(ip: u64, size: u8, cs: &Seg, target64: bool) -> R<u64> {
        if target64 {
            if !canonical(ip) {
                return Err(Exc::gp0());
            }
            return Ok(ip);
        }
        let ip = ip & mask(size);
        if ip > u64::from(cs.limit) {
            return Err(Exc::gp0());
        }
        Ok(ip)
    }

    /// The I/O permission check (SDM Vol. 1 19.5): CPL <= IOPL outside V86 mode, else the
    /// TSS I/O bitmap must clear every bit of the access.
    fn io_check(&mut self, port: u16, size: u8) -> R<()> {
        match self.mode {
            Mode::Real => return Ok(()),
            Mode::Virtual8086 => {}
            _ if self.cpl <= self.iopl() => return Ok(()),
            _ => {}
        }
        let ty = self.tr.attr & SEG_TYPE;
        if self.tr.attr & SEG_UNUSABLE != 0 || (ty != 9 && ty != 0xb) || self.tr.limit < 0x67 {
            return Err(Exc::gp0());
        }
        let base = self.read_sys::<2>(self.tr.base.wrapping_add(0x66))?;
        let byte = base + u64::from(port >> 3);
        // Two bytes are always read, so the bitmap needs one byte past the last port.
        if byte + 1 > u64::from(self.tr.limit) {
            return Err(Exc::gp0());
        }
        let w = self.read_sys::<2>(self.tr.base.wrapping_add(byte))?;
        let m = ((1u64 << size) - 1) << (port & 7);
        if w & m != 0 {
            return Err(Exc::gp0());
        }
        Ok(())
    }
}

// ---- far transfers ----

/// Selector, offset and operand size of a far JMP/CALL operand.
fn far_operand(c: &mut Cpu, i: &Instruction) -> R<(u16, u64, u8)> {
    use Code as C;
    let size: u8 = match i.code() {
        C::Jmp_ptr1616 | C::Call_ptr1616 => {
            return Ok((i.far_branch_selector(), u64::from(i.far_branch16()), 2))
        }
        C::Jmp_ptr1632 | C::Call_ptr1632 => {
            return Ok((i.far_branch_selector(), u64::from(i.far_branch32()), 4))
        }
        C::Jmp_m1616 | C::Call_m1616 => 2,
        C::Jmp_m1632 | C::Call_m1632 => 4,
        _ => 8,
    };
    let s = Cpu::mem_seg(i);
    let ea = c.ea(i);
    let la = c.linear(s, ea, u32::from(size) + 2, Acc::Read)?;
    let off = c.read_sized(la, size)?;
    let la2 = c.linear(s, ea.wrapping_add(u64::from(size)), 2, Acc::Read)?;
    let sel = c.read::<2>(la2)? as u16;
    Ok((sel, off, size))
}

fn jmp_far(c: &mut Cpu, i: &Instruction) -> R<()> {
    let (sel, off, size) = far_operand(c, i)?;
    far_transfer(c, sel, off, size, false)
}

fn call_far(c: &mut Cpu, i: &Instruction) -> R<()> {
    let (sel, off, size) = far_operand(c, i)?;
    far_transfer(c, sel, off, size, true)
}

fn far_transfer(c: &mut Cpu, sel: u16, off: u64, size: u8, call: bool) -> R<()> {
    if !protected(c) {
        let ip = off & mask(size);
        if ip > 0xffff {
            return Err(Exc::gp0());
        }
        if call {
            let cs = u64::from(c.seg[CS].sel);
            let sp = c.push_frame(&[cs, c.next_rip], size)?;
            let ss = c.stack_size();
            c.gpr_write(4, ss, sp);
        }
        c.load_seg(CS, sel)?;
        c.next_rip = ip;
        c.block_exit = true;
        return Ok(());
    }
    if sel & !3 == 0 {
        return Err(Exc::gp0());
    }
    let err = sel_err(sel);
    let rpl = (sel & 3) as u8;
    let cpl = c.cpl;
    let d = c.descriptor(sel, 0)?;
    let s = Seg::from_descriptor(sel, d);
    if s.attr & SEG_S != 0 {
        // A code segment directly (SDM Vol. 3 5.8.1, 5.8.2).
        if s.attr & 8 == 0 {
            return Err(Exc::gp(err));
        }
        let conforming = s.attr & 4 != 0;
        if (conforming && s.dpl() > cpl) || (!conforming && (rpl > cpl || s.dpl() != cpl)) {
            return Err(Exc::gp(err));
        }
        if s.attr & SEG_P == 0 {
            return Err(Exc::with(vec::NP, err));
        }
        if lma(c) && s.attr & SEG_L != 0 && s.attr & SEG_DB != 0 {
            return Err(Exc::gp(err));
        }
        let target64 = lma(c) && s.attr & SEG_L != 0;
        let ip = Cpu::return_ip(off, size, &s, target64)?;
        let sp = if call {
            let cs = u64::from(c.seg[CS].sel);
            Some(c.push_frame(&[cs, c.next_rip], size)?)
        } else {
            None
        };
        c.mark_accessed(sel, d)?;
        if let Some(sp) = sp {
            let ss = c.stack_size();
            c.gpr_write(4, ss, sp);
        }
        c.seg[CS] = Seg {
            sel: (sel & !3) | u16::from(cpl),
            attr: s.attr | 1,
            ..s
        };
        c.next_rip = ip;
        c.update_mode();
        return Ok(());
    }
    let ty = s.attr & SEG_TYPE;
    let long = lma(c);
    match ty {
        0xc => {}
        0x4 if !long => {}
        // A TSS too small to hold a task state fails as a task switch would (#TS); other task
        // switches are not supported (#GP).
        0x9 if s.limit < 0x67 => return Err(Exc::with(vec::TS, err)),
        0x1 if s.limit < 0x2b => return Err(Exc::with(vec::TS, err)),
        // Task gates and TSS descriptors would switch tasks: not supported.
        _ => return Err(Exc::gp(err)),
    }
    // Through a call gate (SDM Vol. 3 5.8.4-5.8.6).
    if s.dpl() < cpl || s.dpl() < rpl {
        return Err(Exc::gp(err));
    }
    if s.attr & SEG_P == 0 {
        return Err(Exc::with(vec::NP, err));
    }
    let tsel = ((d >> 16) & 0xffff) as u16;
    let mut offset = (d & 0xffff) | ((d >> 32) & 0xffff_0000);
    let params = ((d >> 32) & 0x1f) as usize;
    let gsize: u8 = if long {
        let hi = c.descriptor_hi(sel)?;
        if (hi >> 8) & 0x1f != 0 {
            return Err(Exc::gp(err));
        }
        offset |= (hi & 0xffff_ffff) << 32;
        8
    } else if ty == 0xc {
        4
    } else {
        offset &= 0xffff;
        2
    };
    if tsel & !3 == 0 {
        return Err(Exc::gp0());
    }
    let terr = sel_err(tsel);
    let td = c.descriptor(tsel, 0)?;
    let ts = Seg::from_descriptor(tsel, td);
    if ts.attr & SEG_S == 0 || ts.attr & 8 == 0 {
        return Err(Exc::gp(terr));
    }
    let conforming = ts.attr & 4 != 0;
    if ts.dpl() > cpl || (!call && !conforming && ts.dpl() != cpl) {
        return Err(Exc::gp(terr));
    }
    if ts.attr & SEG_P == 0 {
        return Err(Exc::with(vec::NP, terr));
    }
    if long && (ts.attr & SEG_L == 0 || ts.attr & SEG_DB != 0) {
        return Err(Exc::gp(terr));
    }
    let ip = Cpu::return_ip(offset, gsize, &ts, long)?;
    let new_cpl = if conforming { cpl } else { ts.dpl() };
    let (old_cs, old_ss, old_sp, ret) = (c.seg[CS], c.seg[SS], c.gpr[4], c.next_rip);
    if call && new_cpl < cpl {
        // Inner privilege: switch to the TSS stack, copy parameters (32/16-bit gates).
        let (new_ss, new_sp) = if long {
            let rsp = c.tss_read64(4 + u64::from(new_cpl) * 8)?;
            if !canonical(rsp) {
                return Err(Exc::ss(0));
            }
            let ss = Seg {
                sel: u16::from(new_cpl),
                base: 0,
                limit: 0,
                attr: SEG_UNUSABLE | SEG_DB | (u16::from(new_cpl) << SEG_DPL_SHIFT),
            };
            (ss, rsp)
        } else {
            let (ss_sel, esp) = c.tss_stack32(new_cpl)?;
            let mut ss = c.load_ss_for(ss_sel, new_cpl, 0)?;
            ss.attr |= 1;
            (ss, esp)
        };
        let mut frame = [0u64; 36];
        let mut n = 0;
        frame[n] = u64::from(old_ss.sel);
        frame[n + 1] = old_sp;
        n += 2;
        if !long {
            // Parameters in their stack order: the deepest one is pushed first.
            for k in (0..params).rev() {
                frame[n] = c.stack_peek(k as u64 * u64::from(gsize), gsize)?;
                n += 1;
            }
        }
        frame[n] = u64::from(old_cs.sel);
        frame[n + 1] = ret;
        n += 2;
        let saved_cpl = c.cpl;
        c.seg[SS] = new_ss;
        c.gpr[4] = new_sp;
        c.cpl = new_cpl;
        let r = c.push_frame(&frame[..n], gsize);
        let r = r.and_then(|sp| c.mark_accessed(tsel, td).map(|_| sp));
        match r {
            Ok(sp) => {
                let ss = c.stack_size();
                c.gpr_write(4, ss, sp);
            }
            Err(e) => {
                c.seg[SS] = old_ss;
                c.gpr[4] = old_sp;
                c.cpl = saved_cpl;
                return Err(e);
            }
        }
    } else {
        let sp = if call {
            Some(c.push_frame(&[u64::from(old_cs.sel), ret], gsize)?)
        } else {
            None
        };
        c.mark_accessed(tsel, td)?;
        if let Some(sp) = sp {
            let ss = c.stack_size();
            c.gpr_write(4, ss, sp);
        }
    }
    c.seg[CS] = Seg {
        sel: (tsel & !3) | u16::from(new_cpl),
        attr: ts.attr | 1,
        ..ts
    };
    c.next_rip = ip;
    c.update_mode();
    Ok(())
}

fn retf(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size: u8 = match i.code() {
        Code::Retfw | Code::Retfw_imm16 => 2,
        Code::Retfd | Code::Retfd_imm16 => 4,
        _ => 8,
    };
    let imm = if i.op_count() > 0 {
        u64::from(i.immediate16())
    } else {
        0
    };
    let sz = u64::from(size);
    let ip = c.stack_peek(0, size)?;
    let sel = c.stack_peek(sz, size)? as u16;
    if !protected(c) {
        let ip = ip & mask(size);
        if ip > 0xffff {
            return Err(Exc::gp0());
        }
        c.load_seg(CS, sel)?;
        c.sp_add(2 * sz + imm);
        c.next_rip = ip;
        return Ok(());
    }
    let (d, s) = c.return_cs(sel)?;
    let rpl = (sel & 3) as u8;
    let target64 = lma(c) && s.attr & SEG_L != 0;
    let ip = Cpu::return_ip(ip, size, &s, target64)?;
    if rpl == c.cpl {
        c.mark_accessed(sel, d)?;
        c.sp_add(2 * sz + imm);
    } else {
        // Outer privilege: SS:SP follow the parameters (SDM Vol. 2 RET).
        let new_sp = c.stack_peek(2 * sz + imm, size)?;
        let ss_sel = c.stack_peek(3 * sz + imm, size)? as u16;
        let ss = c.return_ss(ss_sel, rpl, target64)?;
        c.mark_accessed(sel, d)?;
        c.seg[SS] = ss;
        let ssz = if target64 {
            8
        } else if ss.attr & SEG_DB != 0 {
            4
        } else {
            2
        };
        c.gpr_write(4, ssz, new_sp.wrapping_add(imm) & mask(ssz));
        c.null_inaccessible_segs(rpl);
    }
    c.seg[CS] = Seg {
        attr: s.attr | 1,
        ..s
    };
    c.next_rip = ip;
    c.update_mode();
    Ok(())
}

/// RFLAGS bits IRET may change at CPL `cpl` with IOPL `iopl` (VM excluded: V86 returns are
/// handled separately).
fn iret_mask(cpl: u8, iopl: u8, size: u8) -> u64 {
    let mut m = flags::ARITH | flags::TF | flags::DF | flags::NT;
    if size >= 4 {
        m |= flags::RF | flags::AC | flags::ID;
    }
    if cpl <= iopl {
        m |= flags::IF;
    }
    if cpl == 0 {
        m |= flags::IOPL;
        if size >= 4 {
            m |= flags::VIF | flags::VIP;
        }
    }
    m
}

fn iret(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size: u8 = match i.code() {
        Code::Iretw => 2,
        Code::Iretd => 4,
        _ => 8,
    };
    let sz = u64::from(size);
    match c.mode {
        Mode::Real | Mode::Virtual8086 => {
            let v86 = c.mode == Mode::Virtual8086;
            if v86 && c.iopl() < 3 {
                return Err(Exc::gp0());
            }
            let ip = c.stack_peek(0, size)?;
            let sel = c.stack_peek(sz, size)? as u16;
            let fl = c.stack_peek(2 * sz, size)?;
            let ip = ip & mask(size);
            if ip > 0xffff {
                return Err(Exc::gp0());
            }
            let old = c.rflags();
            // VM, VIF and VIP survive; in V86 mode IOPL does too.
            let mut keep = flags::VM | flags::VIF | flags::VIP;
            if size == 2 {
                keep = !0xffff;
            }
            if v86 {
                keep |= flags::IOPL;
            }
            let new = (old & keep) | (fl & !keep & 0x257fd5);
            c.load_seg(CS, sel)?;
            c.sp_add(3 * sz);
            c.set_rflags(new);
            c.next_rip = ip;
            c.block_exit = true;
            return Ok(());
        }
        _ => {}
    }
    let long = lma(c);
    if c.rflags_sys & flags::NT != 0 {
        if long {
            return Err(Exc::gp0());
        }
        // A return to the previous task: task switches are not supported.
        let link = c.read_sys::<2>(c.tr.base)? as u16;
        return Err(Exc::gp(sel_err(link)));
    }
    let ip = c.stack_peek(0, size)?;
    let sel = c.stack_peek(sz, size)? as u16;
    let fl = c.stack_peek(2 * sz, size)?;
    if fl & flags::VM != 0 && size == 4 && c.cpl == 0 && !long {
        return iret_to_v86(c, ip, sel, fl);
    }
    let (d, s) = c.return_cs(sel)?;
    let rpl = (sel & 3) as u8;
    let target64 = long && s.attr & SEG_L != 0;
    let ip = Cpu::return_ip(ip, size, &s, target64)?;
    // 64-bit mode always pops SS:RSP (SDM Vol. 2 IRET, IA-32e mode).
    let outer = rpl > c.cpl || c.mode == Mode::Long64;
    let ss_sp = if outer {
        let sp = c.stack_peek(3 * sz, size)?;
        let ss_sel = c.stack_peek(4 * sz, size)? as u16;
        Some((c.return_ss(ss_sel, rpl, target64)?, sp))
    } else {
        None
    };
    c.mark_accessed(sel, d)?;
    let m = iret_mask(c.cpl, c.iopl(), size);
    let new = (c.rflags() & !m) | (fl & m);
    match ss_sp {
        Some((ss, sp)) => {
            c.seg[SS] = ss;
            let ssz = if target64 {
                8
            } else if ss.attr & SEG_DB != 0 {
                4
            } else {
                2
            };
            c.gpr_write(4, ssz, sp & mask(ssz));
        }
        None => c.sp_add(3 * sz),
    }
    c.set_rflags(new);
    if rpl > c.cpl {
        c.null_inaccessible_segs(rpl);
    }
    c.seg[CS] = Seg {
        attr: s.attr | 1,
        ..s
    };
    c.next_rip = ip;
    c.update_mode();
    Ok(())
}

/// IRETD at CPL 0 with VM set in the popped EFLAGS (SDM Vol. 2 IRET, RETURN-TO-VIRTUAL-8086-
/// MODE): the frame also holds ESP, SS, ES, DS, FS, GS.
fn iret_to_v86(c: &mut Cpu, ip: u64, cs: u16, fl: u64) -> R<()> {
    let mut v = [0u64; 6];
    for (k, slot) in v.iter_mut().enumerate() {
        *slot = c.stack_peek(12 + 4 * k as u64, 4)?;
    }
    c.set_rflags(fl & 0x3f7fd7 | flags::VM);
    let v86 = |sel: u64| {
        let mut s = Seg::real(sel as u16);
        s.attr |= 3 << SEG_DPL_SHIFT;
        s
    };
    let mut code = v86(u64::from(cs));
    code.attr |= 0x8 | 0x2;
    c.seg[CS] = code;
    c.seg[SS] = v86(v[1]);
    c.seg[ES] = v86(v[2]);
    c.seg[DS] = v86(v[3]);
    c.seg[FS] = v86(v[4]);
    c.seg[GS] = v86(v[5]);
    c.gpr[4] = v[0] & 0xffff_ffff;
    c.next_rip = ip & 0xffff;
    c.update_mode();
    Ok(())
}

fn int_n(c: &mut Cpu, i: &Instruction) -> R<()> {
    // Without VME, INT n is IOPL-sensitive in V86 mode (SDM Vol. 3 20.3); INT3/INTO are not.
    if c.mode == Mode::Virtual8086 && c.iopl() < 3 {
        return Err(Exc::gp0());
    }
    c.deliver(i.immediate8(), None, IntKind::Software);
    Ok(())
}

fn int3(c: &mut Cpu, _: &Instruction) -> R<()> {
    c.deliver(vec::BP, None, IntKind::Software);
    Ok(())
}

fn into(c: &mut Cpu, _: &Instruction) -> R<()> {
    if c.lazy.of() {
        c.deliver(vec::OF, None, IntKind::Software);
    }
    Ok(())
}

fn int1(c: &mut Cpu, _: &Instruction) -> R<()> {
    c.deliver(vec::DB, None, IntKind::Icebp);
    Ok(())
}

// ---- segment registers ----

fn mov_to_sreg(c: &mut Cpu, i: &Instruction) -> R<()> {
    let s = seg_index(i.op0_register());
    if s == CS {
        return Err(Exc::ud());
    }
    let size = Cpu::op_size(i, 1);
    let sel = c.read_op(i, 1, size)? as u16;
    c.load_data_seg(s, sel)
}

fn mov_from_sreg(c: &mut Cpu, i: &Instruction) -> R<()> {
    let sel = u64::from(c.seg[seg_index(i.op1_register())].sel);
    // A 32/64-bit register receives the zero-extended selector, memory always 16 bits.
    let size = if i.op0_kind() == OpKind::Register {
        Cpu::op_size(i, 0)
    } else {
        2
    };
    c.write_op(i, 0, size, sel)
}

fn push_sreg(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = match i.code() {
        Code::Pushw_ES | Code::Pushw_CS | Code::Pushw_SS | Code::Pushw_DS => 2,
        Code::Pushw_FS | Code::Pushw_GS => 2,
        Code::Pushq_FS | Code::Pushq_GS => 8,
        _ => 4,
    };
    // The host (Intel) writes the whole slot, zero-extended.
    let sel = u64::from(c.seg[seg_index(i.op0_register())].sel);
    c.push(sel, size)
}

fn pop_sreg(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = match i.code() {
        Code::Popw_ES | Code::Popw_SS | Code::Popw_DS | Code::Popw_FS | Code::Popw_GS => 2,
        Code::Popq_FS | Code::Popq_GS => 8,
        _ => 4,
    };
    let s = seg_index(i.op0_register());
    let sel = c.stack_peek(0, size)? as u16;
    // The increment uses the stack size from before a POP SS.
    let ss = c.stack_size();
    c.load_data_seg(s, sel)?;
    let sp = c.gpr[4].wrapping_add(u64::from(size)) & mask(ss);
    c.gpr_write(4, ss, sp);
    Ok(())
}

fn load_far_ptr(c: &mut Cpu, i: &Instruction) -> R<()> {
    let s = match i.mnemonic() {
        Mnemonic::Lds => DS,
        Mnemonic::Les => ES,
        Mnemonic::Lss => SS,
        Mnemonic::Lfs => FS,
        _ => GS,
    };
    if i.op1_kind() != OpKind::Memory {
        return Err(Exc::ud());
    }
    let size = Cpu::op_size(i, 0);
    let ms = Cpu::mem_seg(i);
    let ea = c.ea(i);
    let la = c.linear(ms, ea, u32::from(size) + 2, Acc::Read)?;
    let off = c.read_sized(la, size)?;
    let la2 = c.linear(ms, ea.wrapping_add(u64::from(size)), 2, Acc::Read)?;
    let sel = c.read::<2>(la2)? as u16;
    // Only MOV SS and POP SS hold off interrupts.
    let shadow = c.irq_shadow;
    c.load_seg(s, sel)?;
    c.irq_shadow = shadow;
    c.block_exit = true;
    c.set_reg(i.op0_register(), off);
    Ok(())
}

// ---- descriptor tables ----

/// Bytes of the base in a GDTR/IDTR image, and whether a 16-bit operand truncates it to 24.
fn dtr_base_size(code: Code) -> (u8, bool) {
    match code {
        Code::Lgdt_m1632_16 | Code::Lidt_m1632_16 | Code::Sgdt_m1632_16 | Code::Sidt_m1632_16 => {
            (4, true)
        }
        Code::Lgdt_m1664 | Code::Lidt_m1664 | Code::Sgdt_m1664 | Code::Sidt_m1664 => (8, false),
        _ => (4, false),
    }
}

fn lgdt_lidt(c: &mut Cpu, i: &Instruction) -> R<()> {
    need_cpl0(c)?;
    let (bsize, trunc24) = dtr_base_size(i.code());
    let la = c.mem_linear(i, 2 + u32::from(bsize), Acc::Read)?;
    let mut b = [0u8; 10];
    c.read_bytes(la, &mut b[..2 + bsize as usize])?;
    let limit = u16::from_le_bytes([b[0], b[1]]);
    let mut base = u64::from_le_bytes(b[2..10].try_into().unwrap());
    if trunc24 {
        base &= 0xff_ffff;
    }
    let d = Dtr { base, limit };
    if i.mnemonic() == Mnemonic::Lgdt {
        c.gdtr = d;
    } else {
        c.idtr = d;
    }
    Ok(())
}

fn sgdt_sidt(c: &mut Cpu, i: &Instruction) -> R<()> {
    let d = if i.mnemonic() == Mnemonic::Sgdt {
        c.gdtr
    } else {
        c.idtr
    };
    // Current SDM: the full 32-bit base is stored whatever the operand size.
    let (bsize, _) = dtr_base_size(i.code());
    let mut b = [0u8; 10];
    b[..2].copy_from_slice(&d.limit.to_le_bytes());
    b[2..10].copy_from_slice(&d.base.to_le_bytes());
    let n = 2 + bsize as usize;
    let la = c.mem_linear(i, n as u32, Acc::Write)?;
    c.write_bytes(la, &b[..n])
}

fn selector_operand(c: &mut Cpu, i: &Instruction) -> R<u16> {
    let size = if i.op0_kind() == OpKind::Register {
        Cpu::op_size(i, 0)
    } else {
        2
    };
    Ok(c.read_op(i, 0, size)? as u16)
}

/// Reads a system descriptor for LLDT/LTR: the segment (with the long-mode base extension).
fn system_segment(c: &mut Cpu, sel: u16, d: u64) -> R<Seg> {
    let mut s = Seg::from_descriptor(sel, d);
    if lma(c) {
        let hi = c.descriptor_hi(sel)?;
        if (hi >> 8) & 0x1f != 0 {
            return Err(Exc::gp(sel_err(sel)));
        }
        s.base |= (hi & 0xffff_ffff) << 32;
        if !canonical(s.base) {
            return Err(Exc::gp(sel_err(sel)));
        }
    }
    Ok(s)
}

fn lldt(c: &mut Cpu, i: &Instruction) -> R<()> {
    if !protected(c) {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let sel = selector_operand(c, i)?;
    if sel & !3 == 0 {
        c.ldtr = Seg {
            sel,
            attr: SEG_UNUSABLE,
            ..Seg::default()
        };
        return Ok(());
    }
    let err = sel_err(sel);
    if sel & 4 != 0 {
        return Err(Exc::gp(err));
    }
    let d = c.descriptor(sel, 0)?;
    if (d >> 40) & 0x1f != 0x02 {
        return Err(Exc::gp(err));
    }
    if d & (1 << 47) == 0 {
        return Err(Exc::with(vec::NP, err));
    }
    c.ldtr = system_segment(c, sel, d)?;
    Ok(())
}

fn ltr(c: &mut Cpu, i: &Instruction) -> R<()> {
    if !protected(c) {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let sel = selector_operand(c, i)?;
    if sel & !3 == 0 {
        return Err(Exc::gp0());
    }
    let err = sel_err(sel);
    if sel & 4 != 0 {
        return Err(Exc::gp(err));
    }
    let d = c.descriptor(sel, 0)?;
    let ty = (d >> 40) & 0x1f;
    // An available TSS: 32/64-bit, or 16-bit outside long mode.
    if ty != 0x09 && (ty != 0x01 || lma(c)) {
        return Err(Exc::gp(err));
    }
    if d & (1 << 47) == 0 {
        return Err(Exc::with(vec::NP, err));
    }
    let mut s = system_segment(c, sel, d)?;
    let la = c.gdtr.base.wrapping_add(u64::from(sel & !7) + 5);
    let access = c.read_sys::<1>(la)?;
    c.write_sys::<1>(la, access | 2)?;
    s.attr |= 2;
    c.tr = s;
    Ok(())
}

fn sldt_str(c: &mut Cpu, i: &Instruction) -> R<()> {
    if !protected(c) {
        return Err(Exc::ud());
    }
    let sel = if i.mnemonic() == Mnemonic::Sldt {
        c.ldtr.sel
    } else {
        c.tr.sel
    };
    let size = if i.op0_kind() == OpKind::Register {
        Cpu::op_size(i, 0)
    } else {
        2
    };
    c.write_op(i, 0, size, u64::from(sel))
}

/// The common privilege test of LAR/LSL/VERR/VERW: conforming code is visible from anywhere,
/// everything else needs DPL >= CPL and DPL >= RPL.
fn visible(c: &Cpu, sel: u16, d: u64) -> bool {
    let s = Seg::from_descriptor(sel, d);
    let conforming_code = s.attr & SEG_S != 0 && s.attr & 0xc == 0xc;
    conforming_code || (s.dpl() >= c.cpl && s.dpl() >= (sel & 3) as u8)
}

fn lar_lsl(c: &mut Cpu, i: &Instruction) -> R<()> {
    if !protected(c) {
        return Err(Exc::ud());
    }
    let ssize = if i.op1_kind() == OpKind::Register {
        Cpu::op_size(i, 1)
    } else {
        2
    };
    let sel = c.read_op(i, 1, ssize)? as u16;
    let lar = i.mnemonic() == Mnemonic::Lar;
    let d = match c.descriptor_probe(sel)? {
        Some(d) => d,
        None => {
            set_zf(c, false);
            return Ok(());
        }
    };
    let s = Seg::from_descriptor(sel, d);
    let ok_type = if s.attr & SEG_S != 0 {
        true
    } else {
        let ty = s.attr & SEG_TYPE;
        match (lma(c), lar) {
            (false, true) => matches!(ty, 1 | 2 | 3 | 4 | 5 | 9 | 0xb | 0xc),
            (false, false) => matches!(ty, 1 | 2 | 3 | 9 | 0xb),
            (true, true) => matches!(ty, 2 | 9 | 0xb | 0xc),
            (true, false) => matches!(ty, 2 | 9 | 0xb),
        }
    };
    if !ok_type || !visible(c, sel, d) {
        set_zf(c, false);
        return Ok(());
    }
    let dsize = Cpu::op_size(i, 0);
    // The host's LAR keeps limit bits 19:16 (mask 0x00FFFF00).
    let v = if lar {
        (d >> 32) & if dsize == 2 { 0xff00 } else { 0x00ff_ff00 }
    } else {
        u64::from(s.limit)
    };
    c.set_reg(i.op0_register(), v);
    set_zf(c, true);
    Ok(())
}

fn verr_verw(c: &mut Cpu, i: &Instruction) -> R<()> {
    if !protected(c) {
        return Err(Exc::ud());
    }
    let sel = selector_operand(c, i)?;
    let z = match c.descriptor_probe(sel)? {
        None => false,
        Some(d) => {
            let s = Seg::from_descriptor(sel, d);
            let ty = s.attr & SEG_TYPE;
            let code = ty & 8 != 0;
            let ok = if i.mnemonic() == Mnemonic::Verr {
                !code || ty & 2 != 0
            } else {
                !code && ty & 2 != 0
            };
            s.attr & SEG_S != 0 && ok && visible(c, sel, d)
        }
    };
    set_zf(c, z);
    Ok(())
}

fn arpl(c: &mut Cpu, i: &Instruction) -> R<()> {
    if c.mode != Mode::Protected {
        return Err(Exc::ud());
    }
    let dsize = Cpu::op_size(i, 0);
    let dst = c.read_op(i, 0, dsize)? & 0xffff;
    let src = c.reg(i.op1_register()) & 0xffff;
    if dst & 3 < src & 3 {
        let v = (dst & !3) | (src & 3);
        c.write_op(i, 0, 2, v)?;
        set_zf(c, true);
    } else {
        set_zf(c, false);
    }
    Ok(())
}

// ---- control and debug registers ----

fn cr_number(r: Register) -> u8 {
    match reg_kind(r) {
        RegKind::Cr(n) => n,
        _ => 0xff,
    }
}

fn mov_from_cr(c: &mut Cpu, i: &Instruction) -> R<()> {
    let n = cr_number(i.op1_register());
    if !(matches!(n, 0 | 2 | 3 | 4) || n == 8 && c.long64()) {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let v = match n {
        0 => c.cr0,
        2 => c.cr2,
        3 => c.cr3,
        4 => c.cr4,
        _ => c.cr8,
    };
    c.set_reg(i.op0_register(), v);
    Ok(())
}

fn mov_to_cr(c: &mut Cpu, i: &Instruction) -> R<()> {
    let n = cr_number(i.op0_register());
    if !(matches!(n, 0 | 2 | 3 | 4) || n == 8 && c.long64()) {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let v = c.reg(i.op1_register());
    match n {
        0 => c.write_cr0(v),
        2 => {
            c.cr2 = v;
            Ok(())
        }
        3 => c.write_cr3(v),
        4 => c.write_cr4(v),
        _ => {
            if v & !0xf != 0 {
                return Err(Exc::gp0());
            }
            c.cr8 = v;
            Ok(())
        }
    }
}

/// CR0 bits that exist; the rest are ignored on writes (ET reads as 1).
const CR0_BITS: u64 = CR0_PE
    | CR0_MP
    | CR0_EM
    | CR0_TS
    | CR0_ET
    | CR0_NE
    | CR0_WP
    | CR0_AM
    | CR0_NW
    | CR0_CD
    | CR0_PG;

/// CR4 bits for the advertised features.
fn cr4_bits() -> u64 {
    let mut b =
        CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    if cpuid::XSAVE {
        b |= CR4_OSXSAVE;
    }
    b
}

impl Cpu {
    /// MOV to CR0 and LMSW's rules (SDM Vol. 2 MOV CR, Vol. 3 2.5 and 9.8.5).
    pub fn write_cr0(&mut self, v: u64) -> R<()> {
        if v >> 32 != 0 {
            return Err(Exc::gp0());
        }
        let new = (v & CR0_BITS) | CR0_ET;
        let old = self.cr0;
        if new & CR0_PG != 0 && new & CR0_PE == 0 {
            return Err(Exc::gp0());
        }
        if new & CR0_NW != 0 && new & CR0_CD == 0 {
            return Err(Exc::gp0());
        }
        let pg_on = new & CR0_PG != 0 && old & CR0_PG == 0;
        let pg_off = new & CR0_PG == 0 && old & CR0_PG != 0;
        if pg_on
            && self.efer & EFER_LME != 0
            && (self.cr4 & CR4_PAE == 0 || self.seg[CS].attr & SEG_L != 0)
        {
            return Err(Exc::gp0());
        }
        if pg_off && self.mode == Mode::Long64 {
            return Err(Exc::gp0());
        }
        self.cr0 = new;
        if pg_on && self.efer & EFER_LME != 0 {
            self.efer |= EFER_LMA;
        }
        if pg_off {
            self.efer &= !EFER_LMA;
        }
        if (old ^ new) & (CR0_PG | CR0_WP | CR0_PE) != 0 {
            self.flush_tlb_all();
        }
        self.update_mode();
        Ok(())
    }

    pub fn write_cr3(&mut self, v: u64) -> R<()> {
        let v = if self.efer & EFER_LMA != 0 {
            if v >> MAX_PHYS_BITS != 0 {
                return Err(Exc::gp0());
            }
            v
        } else {
            v & 0xffff_ffff
        };
        self.cr3 = v;
        self.flush_tlb_cr3();
        Ok(())
    }

    pub fn write_cr4(&mut self, v: u64) -> R<()> {
        if v & !cr4_bits() != 0 {
            return Err(Exc::gp0());
        }
        if self.efer & EFER_LMA != 0 && v & CR4_PAE == 0 {
            return Err(Exc::gp0());
        }
        let old = self.cr4;
        self.cr4 = v;
        if (old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE) != 0 {
            self.flush_tlb_all();
        }
        self.block_exit = true;
        Ok(())
    }
}

fn dr_number(c: &mut Cpu, r: Register) -> R<usize> {
    let n = match reg_kind(r) {
        RegKind::Dr(n) => n as usize,
        _ => 0xff,
    };
    let n = match n {
        0..=3 | 6 | 7 => n,
        4 | 5 if c.cr4 & CR4_DE == 0 => n + 2,
        _ => return Err(Exc::ud()),
    };
    need_cpl0(c)?;
    // DR7.GD: the next debug register access raises #DB with DR6.BD (SDM Vol. 3 18.2.4).
    if c.dr[7] & (1 << 13) != 0 {
        c.dr[7] &= !(1 << 13);
        c.dr[6] |= 1 << 13;
        return Err(Exc::new(vec::DB));
    }
    Ok(n)
}

fn mov_from_dr(c: &mut Cpu, i: &Instruction) -> R<()> {
    let n = dr_number(c, i.op1_register())?;
    let v = c.dr[n];
    c.set_reg(i.op0_register(), v);
    Ok(())
}

fn mov_to_dr(c: &mut Cpu, i: &Instruction) -> R<()> {
    let n = dr_number(c, i.op0_register())?;
    let v = c.reg(i.op1_register());
    match n {
        6 | 7 if v >> 32 != 0 => return Err(Exc::gp0()),
        6 => c.dr[6] = (v & 0xe00f) | 0xffff_0ff0,
        7 => c.dr[7] = (v & 0xffff_23ff) | 0x400,
        _ => c.dr[n] = v,
    }
    Ok(())
}

fn lmsw(c: &mut Cpu, i: &Instruction) -> R<()> {
    need_cpl0(c)?;
    let size = Cpu::op_size(i, 0);
    let v = c.read_op(i, 0, size.min(2))? & 0xf;
    // PE can be set but not cleared.
    let new = (c.cr0 & !0xe) | v | (c.cr0 & CR0_PE);
    if new != c.cr0 {
        c.write_cr0(new)?;
    }
    Ok(())
}

fn smsw(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = if i.op0_kind() == OpKind::Register {
        Cpu::op_size(i, 0)
    } else {
        2
    };
    let v = c.cr0;
    c.write_op(i, 0, size, v & mask(size))
}

fn clts(c: &mut Cpu, _: &Instruction) -> R<()> {
    need_cpl0(c)?;
    c.cr0 &= !CR0_TS;
    Ok(())
}

fn invlpg(c: &mut Cpu, i: &Instruction) -> R<()> {
    need_cpl0(c)?;
    let s = Cpu::mem_seg(i);
    let ea = c.ea(i);
    let la = if c.long64() {
        if s >= FS {
            c.seg[s].base.wrapping_add(ea)
        } else {
            ea
        }
    } else {
        c.seg[s].base.wrapping_add(ea) & 0xffff_ffff
    };
    c.tlb.flush_page(la);
    c.block_exit = true;
    Ok(())
}

fn privileged_nop(c: &mut Cpu, _: &Instruction) -> R<()> {
    need_cpl0(c)
}

fn clflush(c: &mut Cpu, i: &Instruction) -> R<()> {
    // No caches to flush; the access checks and page faults of a byte read remain.
    let la = c.mem_linear(i, 1, Acc::Read)?;
    let user = c.cpl == 3;
    c.translate(la, Acc::Read, user)?;
    Ok(())
}

// ---- MSRs ----

pub mod msr {
    pub const TSC: u32 = 0x10;
    pub const APIC_BASE: u32 = 0x1b;
    pub const BIOS_SIGN_ID: u32 = 0x8b;
    pub const MTRRCAP: u32 = 0xfe;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const MISC_ENABLE: u32 = 0x1a0;
    pub const MTRR_PHYSBASE0: u32 = 0x200;
    pub const MTRR_FIX64K: u32 = 0x250;
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    pub const MTRR_FIX4K_C0000: u32 = 0x268;
    pub const PAT: u32 = 0x277;
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    pub const EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const FMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;
}

/// Variable MTRR pairs (MTRRcap.VCNT).
const MTRR_VCNT: u64 = 8;

fn fixed_mtrr_index(idx: u32) -> Option<usize> {
    match idx {
        msr::MTRR_FIX64K => Some(0),
        msr::MTRR_FIX16K_80000 => Some(1),
        msr::MTRR_FIX16K_A0000 => Some(2),
        0x268..=0x26f => Some(3 + (idx - msr::MTRR_FIX4K_C0000) as usize),
        _ => None,
    }
}

/// UC, WC, WT, WP, WB.
fn mem_type_ok(t: u64) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6)
}

fn phys_reserved() -> u64 {
    !((1u64 << MAX_PHYS_BITS) - 1)
}

impl Cpu {
    /// RDMSR's value for `idx`; unknown MSRs raise #GP(0).
    pub fn rdmsr(&self, idx: u32) -> R<u64> {
        use msr::*;
        Ok(match idx {
            TSC => self.tsc(),
            APIC_BASE => self.msr.apic_base,
            BIOS_SIGN_ID => 0,
            // VCNT = 8, fixed-range MTRRs, write-combining.
            MTRRCAP => MTRR_VCNT | (1 << 8) | (1 << 10),
            SYSENTER_CS => self.msr.sysenter_cs,
            SYSENTER_ESP => self.msr.sysenter_esp,
            SYSENTER_EIP => self.msr.sysenter_eip,
            MISC_ENABLE => self.msr.misc_enable,
            0x200..=0x20f => self.msr.mtrr_var[(idx - MTRR_PHYSBASE0) as usize],
            PAT => self.msr.pat,
            MTRR_DEF_TYPE => self.msr.mtrr_def_type,
            EFER => self.efer,
            STAR => self.msr.star,
            LSTAR => self.msr.lstar,
            CSTAR => self.msr.cstar,
            FMASK => self.msr.sfmask,
            FS_BASE => self.seg[FS].base,
            GS_BASE => self.seg[GS].base,
            KERNEL_GS_BASE => self.msr.kernel_gs_base,
            TSC_AUX => self.msr.tsc_aux,
            _ => match fixed_mtrr_index(idx) {
                Some(k) => self.msr.mtrr_fixed[k],
                None => return Err(Exc::gp0()),
            },
        })
    }

    /// WRMSR with each register's reserved-bit and canonical checks.
    pub fn wrmsr(&mut self, idx: u32, v: u64) -> R<()> {
        use msr::*;
        let gp = Err(Exc::gp0());
        match idx {
            TSC => self.tsc_offset = v.wrapping_sub(self.insns),
            APIC_BASE => {
                // BSP (8), enable (11), base; x2APIC (10) is not supported.
                if v & (0xff | (1 << 9) | (1 << 10) | phys_reserved()) != 0 {
                    return gp;
                }
                self.msr.apic_base = v;
            }
            BIOS_SIGN_ID => {}
            SYSENTER_CS => self.msr.sysenter_cs = v & 0xffff_ffff,
            SYSENTER_ESP | SYSENTER_EIP | LSTAR | CSTAR | FS_BASE | GS_BASE | KERNEL_GS_BASE
                if !canonical(v) =>
            {
                return gp
            }
            SYSENTER_ESP => self.msr.sysenter_esp = v,
            SYSENTER_EIP => self.msr.sysenter_eip = v,
            MISC_ENABLE => self.msr.misc_enable = v,
            0x200..=0x20f => {
                let k = (idx - MTRR_PHYSBASE0) as usize;
                let bad = if k.is_multiple_of(2) {
                    v & (0xf00 | phys_reserved()) != 0 || !mem_type_ok(v & 0xff)
                } else {
                    v & (0x7ff | phys_reserved()) != 0
                };
                if bad {
                    return gp;
                }
                self.msr.mtrr_var[k] = v;
            }
            PAT => {
                if (0..8).any(|k| !matches!((v >> (k * 8)) & 0xff, 0 | 1 | 4 | 5 | 6 | 7)) {
                    return gp;
                }
                self.msr.pat = v;
            }
            MTRR_DEF_TYPE => {
                if v & !0xcff != 0 || !mem_type_ok(v & 0xff) {
                    return gp;
                }
                self.msr.mtrr_def_type = v;
            }
            EFER => {
                if v & !(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE) != 0 {
                    return gp;
                }
                // LME may not change while paging is on; LMA is read-only.
                if (v ^ self.efer) & EFER_LME != 0 && self.cr0 & CR0_PG != 0 {
                    return gp;
                }
                let new = (v & (EFER_SCE | EFER_LME | EFER_NXE)) | (self.efer & EFER_LMA);
                let old = self.efer;
                self.efer = new;
                if (old ^ new) & EFER_NXE != 0 {
                    self.flush_tlb_all();
                }
                self.block_exit = true;
            }
            STAR => self.msr.star = v,
            LSTAR => self.msr.lstar = v,
            CSTAR => self.msr.cstar = v,
            FMASK => {
                if v >> 32 != 0 {
                    return gp;
                }
                self.msr.sfmask = v;
            }
            FS_BASE => self.seg[FS].base = v,
            GS_BASE => self.seg[GS].base = v,
            KERNEL_GS_BASE => self.msr.kernel_gs_base = v,
            TSC_AUX => {
                if v >> 32 != 0 {
                    return gp;
                }
                self.msr.tsc_aux = v;
            }
            _ => match fixed_mtrr_index(idx) {
                Some(k) => {
                    if (0..8).any(|b| !mem_type_ok((v >> (b * 8)) & 0xff)) {
                        return gp;
                    }
                    self.msr.mtrr_fixed[k] = v;
                }
                None => return gp,
            },
        }
        Ok(())
    }
}

fn set_edx_eax(c: &mut Cpu, v: u64) {
    c.gpr[0] = v & 0xffff_ffff;
    c.gpr[2] = v >> 32;
}

fn rdmsr(c: &mut Cpu, _: &Instruction) -> R<()> {
    need_cpl0(c)?;
    let v = c.rdmsr(c.gpr[1] as u32)?;
    set_edx_eax(c, v);
    Ok(())
}

fn wrmsr(c: &mut Cpu, _: &Instruction) -> R<()> {
    need_cpl0(c)?;
    let v = (c.gpr[2] << 32) | (c.gpr[0] & 0xffff_ffff);
    c.wrmsr(c.gpr[1] as u32, v)
}

fn rdtsc_allowed(c: &Cpu) -> R<()> {
    if c.cr4 & CR4_TSD != 0 && c.cpl != 0 {
        return Err(Exc::gp0());
    }
    Ok(())
}

fn rdtsc(c: &mut Cpu, _: &Instruction) -> R<()> {
    rdtsc_allowed(c)?;
    let t = c.tsc();
    set_edx_eax(c, t);
    Ok(())
}

fn rdtscp(c: &mut Cpu, _: &Instruction) -> R<()> {
    rdtsc_allowed(c)?;
    let t = c.tsc();
    set_edx_eax(c, t);
    c.gpr[1] = c.msr.tsc_aux & 0xffff_ffff;
    Ok(())
}

fn rdpmc(c: &mut Cpu, _: &Instruction) -> R<()> {
    if c.cr4 & CR4_PCE == 0 && c.cpl != 0 {
        return Err(Exc::gp0());
    }
    // No performance counters exist (CPUID leaf 0xA is empty): every ECX is invalid.
    Err(Exc::gp0())
}

fn cpuid_insn(c: &mut Cpu, _: &Instruction) -> R<()> {
    let r = cpuid::cpuid(c, c.gpr[0] as u32, c.gpr[1] as u32);
    c.gpr[0] = u64::from(r[0]);
    c.gpr[3] = u64::from(r[1]);
    c.gpr[1] = u64::from(r[2]);
    c.gpr[2] = u64::from(r[3]);
    Ok(())
}

fn xgetbv(c: &mut Cpu, _: &Instruction) -> R<()> {
    if c.cr4 & CR4_OSXSAVE == 0 {
        return Err(Exc::ud());
    }
    if c.gpr[1] as u32 != 0 {
        return Err(Exc::gp0());
    }
    let v = c.xcr0;
    set_edx_eax(c, v);
    Ok(())
}

fn xsetbv(c: &mut Cpu, _: &Instruction) -> R<()> {
    if c.cr4 & CR4_OSXSAVE == 0 {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let v = (c.gpr[2] << 32) | (c.gpr[0] & 0xffff_ffff);
    // Only x87 (must be set) and SSE state exist.
    if c.gpr[1] as u32 != 0 || v & !3 != 0 || v & 1 == 0 {
        return Err(Exc::gp0());
    }
    c.xcr0 = v;
    Ok(())
}

// ---- HLT, CLI/STI, I/O ----

fn hlt(c: &mut Cpu, _: &Instruction) -> R<()> {
    need_cpl0(c)?;
    c.halted = true;
    c.block_exit = true;
    Ok(())
}

/// CLI/STI: IOPL-sensitive in protected and V86 mode (no PVI/VME).
fn if_allowed(c: &Cpu) -> R<()> {
    let ok = match c.mode {
        Mode::Real => true,
        Mode::Virtual8086 => c.iopl() == 3,
        _ => c.cpl <= c.iopl(),
    };
    if ok {
        Ok(())
    } else {
        Err(Exc::gp0())
    }
}

fn cli(c: &mut Cpu, _: &Instruction) -> R<()> {
    if_allowed(c)?;
    c.rflags_sys &= !flags::IF;
    Ok(())
}

fn sti(c: &mut Cpu, _: &Instruction) -> R<()> {
    if_allowed(c)?;
    if c.rflags_sys & flags::IF == 0 {
        c.rflags_sys |= flags::IF;
        // The instruction after STI runs before any interrupt.
        c.irq_shadow = true;
        c.block_exit = true;
    }
    Ok(())
}

fn in_port(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = i.op0_register().size() as u8;
    let port = if i.op1_kind() == OpKind::Register {
        c.gpr[2] as u16
    } else {
        u16::from(i.immediate8())
    };
    c.io_check(port, size)?;
    let v = c.io.io_in(&mut c.bus, port, size);
    c.set_reg(i.op0_register(), u64::from(v));
    c.block_exit = true;
    Ok(())
}

fn out_port(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = i.op1_register().size() as u8;
    let port = if i.op0_kind() == OpKind::Register {
        c.gpr[2] as u16
    } else {
        u16::from(i.immediate8())
    };
    c.io_check(port, size)?;
    let v = c.reg(i.op1_register()) as u32;
    c.io.io_out(&mut c.bus, port, size, v);
    c.block_exit = true;
    Ok(())
}

fn string_addr_size(k: OpKind) -> u8 {
    match k {
        OpKind::MemoryESDI | OpKind::MemorySegSI => 2,
        OpKind::MemoryESEDI | OpKind::MemorySegESI => 4,
        _ => 8,
    }
}

/// Iterations a REP INS/OUTS runs before giving interrupts and devices a look in.
const REP_CHUNK: u64 = 4096;

fn ins(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = i.memory_size().size() as u8;
    let asize = string_addr_size(i.op0_kind());
    let port = c.gpr[2] as u16;
    c.io_check(port, size)?;
    let rep = i.has_rep_prefix() || i.has_repne_prefix();
    let mut count = if rep { c.gpr_read(1, asize) } else { 1 };
    let step = if c.df() {
        u64::from(size).wrapping_neg()
    } else {
        u64::from(size)
    };
    let user = c.cpl == 3;
    let mut n = 0;
    while count != 0 && n < REP_CHUNK {
        let di = c.gpr_read(7, asize);
        let la = c.linear(ES, di, u32::from(size), Acc::Write)?;
        // The port is read only once the store cannot fault.
        c.translate(la, Acc::Write, user)?;
        c.translate(la.wrapping_add(u64::from(size) - 1), Acc::Write, user)?;
        let v = c.io.io_in(&mut c.bus, port, size);
        c.write_sized(la, size, u64::from(v))?;
        c.gpr_write(7, asize, di.wrapping_add(step));
        count -= 1;
        if rep {
            c.gpr_write(1, asize, count);
        }
        n += 1;
        if c.bus.event.is_some() {
            break;
        }
    }
    if rep && count != 0 {
        c.next_rip = c.rip;
    }
    c.block_exit = true;
    Ok(())
}

fn outs(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = i.memory_size().size() as u8;
    let asize = string_addr_size(i.op1_kind());
    let s = Cpu::mem_seg(i);
    let port = c.gpr[2] as u16;
    c.io_check(port, size)?;
    let rep = i.has_rep_prefix() || i.has_repne_prefix();
    let mut count = if rep { c.gpr_read(1, asize) } else { 1 };
    let step = if c.df() {
        u64::from(size).wrapping_neg()
    } else {
        u64::from(size)
    };
    let mut n = 0;
    while count != 0 && n < REP_CHUNK {
        let si = c.gpr_read(6, asize);
        let la = c.linear(s, si, u32::from(size), Acc::Read)?;
        let v = c.read_sized(la, size)?;
        c.io.io_out(&mut c.bus, port, size, v as u32);
        c.gpr_write(6, asize, si.wrapping_add(step));
        count -= 1;
        if rep {
            c.gpr_write(1, asize, count);
        }
        n += 1;
        if c.bus.event.is_some() {
            break;
        }
    }
    if rep && count != 0 {
        c.next_rip = c.rip;
    }
    c.block_exit = true;
    Ok(())
}

// ---- fast system calls ----

fn syscall(c: &mut Cpu, _: &Instruction) -> R<()> {
    // Intel: SYSCALL exists only in 64-bit mode (AMD's legacy/compat forms are not modelled;
    // CSTAR is storage).
    if c.efer & EFER_SCE == 0 || !c.long64() {
        return Err(Exc::ud());
    }
    let sel = ((c.msr.star >> 32) & 0xffff) as u16;
    c.gpr[1] = c.next_rip;
    c.gpr[11] = c.rflags();
    let fl = c.rflags() & !c.msr.sfmask & !flags::RF;
    c.set_rflags(fl);
    c.seg[CS] = flat_code(sel & 0xfffc, 0, true);
    c.seg[SS] = flat_data(sel.wrapping_add(8), 0);
    c.next_rip = c.msr.lstar;
    c.update_mode();
    Ok(())
}

fn sysret(c: &mut Cpu, i: &Instruction) -> R<()> {
    if c.efer & EFER_SCE == 0 || !c.long64() {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    let q = i.code() == Code::Sysretq;
    if q && !canonical(c.gpr[1]) {
        return Err(Exc::gp0());
    }
    let base = ((c.msr.star >> 48) & 0xffff) as u16;
    let (cs_sel, rip) = if q {
        (base.wrapping_add(16) | 3, c.gpr[1])
    } else {
        (base | 3, c.gpr[1] & 0xffff_ffff)
    };
    c.set_rflags((c.gpr[11] & 0x3c_7fd7) | 2);
    c.seg[CS] = flat_code(cs_sel, 3, q);
    c.seg[SS] = flat_data(base.wrapping_add(8) | 3, 3);
    c.next_rip = rip;
    c.update_mode();
    Ok(())
}

fn sysenter(c: &mut Cpu, _: &Instruction) -> R<()> {
    let sel = (c.msr.sysenter_cs & 0xfffc) as u16;
    if c.mode == Mode::Real || sel == 0 {
        return Err(Exc::gp0());
    }
    let long = lma(c);
    c.rflags_sys &= !(flags::VM | flags::IF | flags::RF);
    c.seg[CS] = flat_code(sel, 0, long);
    c.seg[SS] = flat_data(sel.wrapping_add(8), 0);
    if long {
        c.gpr[4] = c.msr.sysenter_esp;
        c.next_rip = c.msr.sysenter_eip;
    } else {
        c.gpr[4] = c.msr.sysenter_esp & 0xffff_ffff;
        c.next_rip = c.msr.sysenter_eip & 0xffff_ffff;
    }
    c.update_mode();
    Ok(())
}

fn sysexit(c: &mut Cpu, i: &Instruction) -> R<()> {
    let base = (c.msr.sysenter_cs & 0xffff) as u16;
    if !protected(c) || c.cpl != 0 || base & 0xfffc == 0 {
        return Err(Exc::gp0());
    }
    let q = i.code() == Code::Sysexitq;
    let (cs, ss, rip, rsp) = if q {
        if !canonical(c.gpr[2]) || !canonical(c.gpr[1]) {
            return Err(Exc::gp0());
        }
        (
            base.wrapping_add(32),
            base.wrapping_add(40),
            c.gpr[2],
            c.gpr[1],
        )
    } else {
        (
            base.wrapping_add(16),
            base.wrapping_add(24),
            c.gpr[2] & 0xffff_ffff,
            c.gpr[1] & 0xffff_ffff,
        )
    };
    c.seg[CS] = flat_code(cs | 3, 3, q);
    c.seg[SS] = flat_data(ss | 3, 3);
    c.gpr[4] = rsp;
    c.next_rip = rip;
    c.update_mode();
    Ok(())
}

fn swapgs(c: &mut Cpu, _: &Instruction) -> R<()> {
    if !c.long64() {
        return Err(Exc::ud());
    }
    need_cpl0(c)?;
    std::mem::swap(&mut c.seg[GS].base, &mut c.msr.kernel_gs_base);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Bus, Ram};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Test programs, assembled with NASM from the listed source.
    mod progs {
        pub const PRIV_AT_CPL3: &[(&str, &[u8])] = &[
            ("cli", &[0xfa]),
            ("sti", &[0xfb]),
            ("hlt", &[0xf4]),
            ("mov cr0, rax", &[0x0f, 0x22, 0xc0]),
            ("mov rax, cr3", &[0x0f, 0x20, 0xd8]),
            ("mov cr4, rax", &[0x0f, 0x22, 0xe0]),
            ("mov dr7, rax", &[0x0f, 0x23, 0xf8]),
            ("mov rax, dr6", &[0x0f, 0x21, 0xf0]),
            ("lgdt [rax]", &[0x0f, 0x01, 0x10]),
            ("lidt [rax]", &[0x0f, 0x01, 0x18]),
            ("lldt ax", &[0x0f, 0x00, 0xd0]),
            ("ltr ax", &[0x0f, 0x00, 0xd8]),
            ("lmsw ax", &[0x0f, 0x01, 0xf0]),
            ("clts", &[0x0f, 0x06]),
            ("invlpg [rax]", &[0x0f, 0x01, 0x38]),
            ("invd", &[0x0f, 0x08]),
            ("wbinvd", &[0x0f, 0x09]),
            ("rdmsr", &[0x0f, 0x32]),
            ("wrmsr", &[0x0f, 0x30]),
            ("swapgs", &[0x0f, 0x01, 0xf8]),
            ("o64 sysret", &[0x48, 0x0f, 0x07]),
            ("o64 sysexit", &[0x48, 0x0f, 0x35]),
            ("rdpmc", &[0x0f, 0x33]),
            ("in al, 0x60", &[0xe4, 0x60]),
            ("out dx, al", &[0xee]),
            ("insb", &[0x6c]),
            ("outsb", &[0x6e]),
        ];
        pub const OK_AT_CPL3: &[(&str, &[u8])] = &[
            ("smsw eax", &[0x0f, 0x01, 0xe0]),
            (
                "sgdt [abs 0x90000]",
                &[0x0f, 0x01, 0x04, 0x25, 0x00, 0x00, 0x09, 0x00],
            ),
            (
                "sidt [abs 0x90000]",
                &[0x0f, 0x01, 0x0c, 0x25, 0x00, 0x00, 0x09, 0x00],
            ),
            ("str eax", &[0x0f, 0x00, 0xc8]),
            ("sldt eax", &[0x0f, 0x00, 0xc0]),
            ("rdtsc", &[0x0f, 0x31]),
            ("rdtscp", &[0x0f, 0x01, 0xf9]),
            ("cpuid", &[0x0f, 0xa2]),
            ("mov eax, ss", &[0x8c, 0xd0]),
            ("lar eax, ecx", &[0x0f, 0x02, 0xc1]),
            ("verr cx", &[0x0f, 0x00, 0xe1]),
        ];
        /// ```text
        /// bits 16, at 0x1000
        ///   cli
        ///   lgdt [gdtr]           ; 16-bit operand size: 24-bit base
        ///   mov eax, 0x11         ; PE | ET
        ///   mov cr0, eax
        ///   jmp dword 0x08:pm32
        /// gdtr: dw 0x3f
        ///   dd 0xff005000         ; the high byte is dropped
        /// bits 32
        /// pm32:
        ///   mov eax, 0x18
        ///   mov ds, eax
        ///   mov ss, ax
        ///   mov esp, 0x9000
        ///   mov eax, 0x20         ; CR4.PAE
        ///   mov cr4, eax
        ///   mov eax, 0x30000
        ///   mov cr3, eax
        ///   mov ecx, 0xc0000080
        ///   rdmsr
        ///   mov eax, 0x100        ; EFER.LME
        ///   wrmsr
        ///   mov eax, 0x80000011   ; PG | PE | ET: long mode becomes active
        ///   mov cr0, eax
        ///   jmp 0x10:lm64
        /// bits 64
        /// lm64:
        ///   mov rax, 0x123456789
        ///   hlt
        /// ```
        pub const RM_TO_LONG: &[u8] = &[
            0xfa, 0x0f, 0x01, 0x16, 0x17, 0x10, 0x66, 0xb8, 0x11, 0x00, 0x00, 0x00, 0x0f, 0x22,
            0xc0, 0x66, 0xea, 0x1d, 0x10, 0x00, 0x00, 0x08, 0x00, 0x3f, 0x00, 0x00, 0x50, 0x00,
            0xff, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x90, 0x00,
            0x00, 0xb8, 0x20, 0x00, 0x00, 0x00, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x00, 0x03, 0x00,
            0x0f, 0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0xb8, 0x00, 0x01, 0x00,
            0x00, 0x0f, 0x30, 0xb8, 0x11, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0x58, 0x10,
            0x00, 0x00, 0x10, 0x00, 0x48, 0xb8, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00,
            0xf4,
        ];
        /// ```text
        /// bits 64, at 0x10000
        ///   iretq
        /// ```
        pub const IRETQ_KERNEL: &[u8] = &[0x48, 0xcf];
        /// ```text
        /// bits 64, at 0x20000
        ///   mov eax, 7
        ///   int 0x80
        ///   hlt
        /// ```
        pub const INT80_USER: &[u8] = &[0xb8, 0x07, 0x00, 0x00, 0x00, 0xcd, 0x80, 0xf4];
        /// ```text
        /// bits 64, at 0x11000
        ///   hlt
        /// ```
        pub const HLT: &[u8] = &[0xf4];
        /// ```text
        /// bits 64, at 0x20000
        ///   mov eax, 1
        ///   syscall
        ///   mov ebx, 2
        ///   hlt                   ; #GP(0) at CPL 3
        /// ```
        pub const SYSCALL_USER: &[u8] = &[
            0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbb, 0x02, 0x00, 0x00, 0x00, 0xf4,
        ];
        /// ```text
        /// bits 64, at 0x12000
        ///   mov edx, 5
        ///   o64 sysret
        /// ```
        pub const SYSCALL_KERNEL: &[u8] = &[0xba, 0x05, 0x00, 0x00, 0x00, 0x48, 0x0f, 0x07];
        /// ```text
        /// bits 64, at 0x20000
        ///   call far qword [rel fptr]
        ///   mov ebx, 9
        ///   hlt
        /// fptr: dq 0
        ///   dw 0x53               ; 64-bit call gate, RPL 3
        /// ```
        pub const CALLGATE64_USER: &[u8] = &[
            0x48, 0xff, 0x1d, 0x06, 0x00, 0x00, 0x00, 0xbb, 0x09, 0x00, 0x00, 0x00, 0xf4, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x00,
        ];
        /// ```text
        /// bits 64, at 0x13000
        ///   mov ecx, 3
        ///   o64 retf
        /// ```
        pub const RETFQ_KERNEL: &[u8] = &[0xb9, 0x03, 0x00, 0x00, 0x00, 0x48, 0xcb];
        /// ```text
        /// bits 64, at 0x20000
        ///   mov edx, back
        ///   mov ecx, 0x90000
        ///   sysenter
        /// back:
        ///   hlt
        /// ```
        pub const SYSENTER_USER: &[u8] = &[
            0xba, 0x0c, 0x00, 0x02, 0x00, 0xb9, 0x00, 0x00, 0x09, 0x00, 0x0f, 0x34, 0xf4,
        ];
        /// ```text
        /// bits 64, at 0x14000
        ///   mov esi, 4
        ///   o64 sysexit
        /// ```
        pub const SYSEXIT_KERNEL: &[u8] = &[0xbe, 0x04, 0x00, 0x00, 0x00, 0x48, 0x0f, 0x35];
        /// ```text
        /// bits 32, at 0x20000
        ///   call 0x33:0           ; 32-bit call gate, 2 parameters
        ///   hlt
        /// ```
        pub const CALLGATE32_USER: &[u8] = &[0x9a, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00, 0xf4];
        /// ```text
        /// bits 32, at 0x10000
        ///   mov eax, 0x10
        ///   mov ds, eax           ; ring-0 data: nulled on the return to ring 3
        ///   retf 8
        /// ```
        pub const RETF8_KERNEL: &[u8] =
            &[0xb8, 0x10, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0xca, 0x08, 0x00];
        /// ```text
        /// bits 32, at 0x10000
        ///   iretd
        /// ```
        pub const IRETD: &[u8] = &[0xcf];
        /// ```text
        /// bits 16, at 0x0
        ///   int 0x21
        /// ```
        pub const V86_INT: &[u8] = &[0xcd, 0x21];
        /// ```text
        /// bits 32, at 0x20000
        ///   in al, 0x60
        ///   mov edx, 0x62
        ///   in ax, dx
        ///   out 0x64, al
        ///   in al, 0x61
        /// ```
        pub const IO_USER: &[u8] = &[
            0xe4, 0x60, 0xba, 0x62, 0x00, 0x00, 0x00, 0x66, 0xed, 0xe6, 0x64, 0xe4, 0x61,
        ];
        /// ```text
        /// bits 32, at 0x10000
        ///   mov eax, 0x28
        ///   ltr ax
        ///   str ebx
        ///   mov eax, 0x38
        ///   lldt ax
        ///   sldt ecx
        ///   hlt
        /// ```
        pub const LTR: &[u8] = &[
            0xb8, 0x28, 0x00, 0x00, 0x00, 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xcb, 0xb8, 0x38, 0x00,
            0x00, 0x00, 0x0f, 0x00, 0xd0, 0x0f, 0x00, 0xc1, 0xf4,
        ];
        /// ```text
        /// bits 16, at 0x1000
        ///   mov ax, 5
        ///   int 0x10
        ///   mov bx, 6
        ///   hlt
        /// ```
        pub const REAL_INT: &[u8] = &[0xb8, 0x05, 0x00, 0xcd, 0x10, 0xbb, 0x06, 0x00, 0xf4];
        /// ```text
        /// bits 16, at 0x2000
        ///   mov cx, 7
        ///   iret
        /// ```
        pub const REAL_HANDLER: &[u8] = &[0xb9, 0x07, 0x00, 0xcf];
        /// ```text
        /// bits 16, at 0x1000
        ///   call 0x0300:0x0010    ; linear 0x3010
        ///   mov bx, 1
        ///   hlt
        /// ```
        pub const REAL_FAR: &[u8] = &[0x9a, 0x10, 0x00, 0x00, 0x03, 0xbb, 0x01, 0x00, 0xf4];
        /// ```text
        /// bits 16, at 0x3010
        ///   mov cx, 2
        ///   retf
        /// ```
        pub const REAL_RETF: &[u8] = &[0xb9, 0x02, 0x00, 0xcb];
        /// ```text
        /// bits 32, at 0x10000
        ///   mov eax, 0x23
        ///   mov es, eax
        ///   push es
        ///   pop fs
        ///   mov ebx, fs
        ///   lgs esi, [0x8000]
        ///   mov ax, gs
        ///   arpl bx, ax           ; RPL 3 over 0: unchanged
        ///   mov cx, 0x20
        ///   arpl cx, bx           ; RPL 0 raised to 3, ZF=1
        ///   hlt
        /// ```
        pub const SEGS32: &[u8] = &[
            0xb8, 0x23, 0x00, 0x00, 0x00, 0x8e, 0xc0, 0x06, 0x0f, 0xa1, 0x8c, 0xe3, 0x0f, 0xb5,
            0x35, 0x00, 0x80, 0x00, 0x00, 0x66, 0x8c, 0xe8, 0x63, 0xc3, 0x66, 0xb9, 0x20, 0x00,
            0x63, 0xd9, 0xf4,
        ];
    }
    use progs::*;

    const GDT: u64 = 0x5000;
    const IDT: u64 = 0x6000;
    const TSS: u64 = 0x7000;

    fn bare() -> Cpu {
        Cpu::new(Bus::new(Ram::new(0, 4 << 20)), Box::new(NoPorts))
    }

    fn put(c: &mut Cpu, a: u64, b: &[u8]) {
        let a = a as usize;
        c.bus.ram.data[a..a + b.len()].copy_from_slice(b);
    }

    fn put64(c: &mut Cpu, a: u64, v: u64) {
        put(c, a, &v.to_le_bytes());
    }

    fn get(c: &Cpu, a: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&c.bus.ram.data[a as usize..a as usize + n]);
        u64::from_le_bytes(b)
    }

    fn desc(base: u32, limit: u32, access: u8, fl: u8) -> u64 {
        u64::from(limit & 0xffff)
            | (u64::from(base & 0xff_ffff) << 16)
            | (u64::from(access) << 40)
            | (u64::from((limit >> 16) & 0xf) << 48)
            | (u64::from(fl & 0xf) << 52)
            | (u64::from(base >> 24) << 56)
    }

    /// A gate: selector, offset, type, DPL, parameter count / IST.
    fn gate(sel: u16, off: u64, ty: u8, dpl: u8, low5: u8) -> (u64, u64) {
        let lo = (off & 0xffff)
            | (u64::from(sel) << 16)
            | (u64::from(low5) << 32)
            | (u64::from(0x80 | (dpl << 5) | ty) << 40)
            | (((off >> 16) & 0xffff) << 48);
        (lo, off >> 32)
    }

    fn seg_of(c: &Cpu, sel: u16) -> Seg {
        let d = get(c, GDT + u64::from(sel & !7), 8);
        Seg::from_descriptor(sel, d)
    }

    /// Flat 64-bit long mode at CPL 0 with a Linux-like GDT, an IDT and a 64-bit TSS; the low
    /// 4 MiB identity-mapped with user access.
    fn long_cpu() -> Cpu {
        let mut c = bare();
        put64(&mut c, 0x1000, 0x2000 | 7);
        put64(&mut c, 0x2000, 0x3000 | 7);
        put64(&mut c, 0x3000, 0x87);
        put64(&mut c, 0x3008, 0x20_0000 | 0x87);
        let g = [
            0,
            desc(0, 0xfffff, 0x9b, 0xc), // 0x08 kernel 32-bit code
            desc(0, 0xfffff, 0x9b, 0xa), // 0x10 kernel 64-bit code
            desc(0, 0xfffff, 0x93, 0xc), // 0x18 kernel data
            desc(0, 0xfffff, 0xfb, 0xc), // 0x20 user 32-bit code
            desc(0, 0xfffff, 0xf3, 0xc), // 0x28 user data
            desc(0, 0xfffff, 0xfb, 0xa), // 0x30 user 64-bit code
            desc(0, 0xfffff, 0xf3, 0xc), // 0x38 user data (SYSEXIT's SS)
            desc(TSS as u32, 0x67, 0x89, 0),
            0,
        ];
        for (k, d) in g.iter().enumerate() {
            put64(&mut c, GDT + 8 * k as u64, *d);
        }
        // 0x50: a 64-bit call gate for ring 3 to 0x10:0x13000.
        let (lo, hi) = gate(0x10, 0x13000, 0xc, 3, 0);
        put64(&mut c, GDT + 0x50, lo);
        put64(&mut c, GDT + 0x58, hi);
        c.gdtr = Dtr {
            base: GDT,
            limit: 0x5f,
        };
        // INT 0x80 (DPL 3) and #GP to 0x10:0x11000.
        for (v, dpl) in [(0x80u64, 3), (13, 0)] {
            let (lo, hi) = gate(0x10, 0x11000, 0xe, dpl, 0);
            put64(&mut c, IDT + v * 16, lo);
            put64(&mut c, IDT + v * 16 + 8, hi);
        }
        c.idtr = Dtr {
            base: IDT,
            limit: 0xfff,
        };
        put64(&mut c, TSS + 4, 0x80000);
        // No I/O bitmap: its base is past the limit.
        put(&mut c, TSS + 0x66, &0x68u16.to_le_bytes());
        c.tr = Seg {
            sel: 0x40,
            base: TSS,
            limit: 0x67,
            attr: SEG_P | 0xb,
        };
        c.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        c.cr4 = CR4_PAE | CR4_OSFXSR;
        c.cr3 = 0x1000;
        c.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        c.seg[CS] = seg_of(&c, 0x10);
        for s in [SS, DS, ES, FS, GS] {
            c.seg[s] = seg_of(&c, 0x18);
        }
        c.gpr[4] = 0x80000;
        c.update_mode();
        assert_eq!(c.mode, Mode::Long64);
        c
    }

    fn to_user64(c: &mut Cpu, rip: u64) {
        c.seg[CS] = seg_of(c, 0x33);
        c.seg[SS] = seg_of(c, 0x2b);
        c.gpr[4] = 0x90000;
        c.rip = rip;
        c.update_mode();
        assert_eq!(c.cpl, 3);
    }

    /// 32-bit protected mode without paging at CPL 0: GDT with ring-0/3 code and data, a
    /// 32-bit TSS with an I/O bitmap, a call gate and an LDT.
    fn prot32_cpu() -> Cpu {
        let mut c = bare();
        let g = [
            0,
            desc(0, 0xfffff, 0x9b, 0xc),      // 0x08 ring-0 code
            desc(0, 0xfffff, 0x93, 0xc),      // 0x10 ring-0 data
            desc(0, 0xfffff, 0xfb, 0xc),      // 0x18 ring-3 code
            desc(0, 0xfffff, 0xf3, 0xc),      // 0x20 ring-3 data
            desc(TSS as u32, 0x78, 0x89, 0),  // 0x28 32-bit TSS
            gate(0x08, 0x10000, 0xc, 3, 2).0, // 0x30 call gate, 2 dwords
            desc(0x7800, 0xf, 0x82, 0),       // 0x38 LDT
        ];
        for (k, d) in g.iter().enumerate() {
            put64(&mut c, GDT + 8 * k as u64, *d);
        }
        c.gdtr = Dtr {
            base: GDT,
            limit: 0x3f,
        };
        put64(&mut c, TSS + 4, 0x80000);
        put64(&mut c, TSS + 8, 0x10);
        // I/O bitmap at 0x68: ports 0x61 and 0x64 denied.
        put(&mut c, TSS + 0x66, &0x68u16.to_le_bytes());
        put(&mut c, TSS + 0x68 + 0xc, &[0x12]);
        c.tr = Seg {
            sel: 0x28,
            base: TSS,
            limit: 0x78,
            attr: SEG_P | 0xb,
        };
        c.cr0 = CR0_PE | CR0_ET;
        c.seg[CS] = seg_of(&c, 0x08);
        for s in [SS, DS, ES, FS, GS] {
            c.seg[s] = seg_of(&c, 0x10);
        }
        c.gpr[4] = 0x9000;
        c.update_mode();
        assert_eq!((c.mode, c.bitness), (Mode::Protected, 32));
        c
    }

    fn to_user32(c: &mut Cpu, rip: u64) {
        c.seg[CS] = seg_of(c, 0x1b);
        for s in [SS, DS, ES, FS, GS] {
            c.seg[s] = seg_of(c, 0x23);
        }
        c.rip = rip;
        c.update_mode();
        assert_eq!(c.cpl, 3);
    }

    fn real_cpu() -> Cpu {
        let mut c = bare();
        c.seg[CS] = Seg::real(0);
        c.gpr[4] = 0x8000;
        c.rip = 0x1000;
        c.update_mode();
        c
    }

    #[test]
    fn real_to_protected_to_long_mode() {
        let mut c = real_cpu();
        put(&mut c, 0x1000, RM_TO_LONG);
        let g = [
            0,
            desc(0, 0xfffff, 0x9b, 0xc),
            desc(0, 0xfffff, 0x9b, 0xa),
            desc(0, 0xfffff, 0x93, 0xc),
        ];
        for (k, d) in g.iter().enumerate() {
            put64(&mut c, GDT + 8 * k as u64, *d);
        }
        put64(&mut c, 0x30000, 0x31000 | 3);
        put64(&mut c, 0x31000, 0x32000 | 3);
        put64(&mut c, 0x32000, 0x83);
        c.run(100);
        assert!(c.halted, "rip {:#x} mode {:?}", c.rip, c.mode);
        assert_eq!(c.mode, Mode::Long64);
        assert_eq!(c.gpr[0], 0x1_2345_6789);
        assert_eq!(
            c.gdtr,
            Dtr {
                base: 0x5000,
                limit: 0x3f
            }
        );
        assert_ne!(c.efer & EFER_LMA, 0);
        assert_eq!(
            (c.seg[CS].sel, c.seg[DS].sel, c.seg[SS].sel),
            (0x10, 0x18, 0x18)
        );
        assert_eq!((c.cpl, c.gpr[4]), (0, 0x9000));
        assert_eq!(c.rflags_sys & flags::IF, 0);
    }

    #[test]
    fn iretq_to_ring3_and_int80_back() {
        let mut c = long_cpu();
        put(&mut c, 0x10000, IRETQ_KERNEL);
        put(&mut c, 0x20000, INT80_USER);
        put(&mut c, 0x11000, HLT);
        for (k, v) in [0x20000u64, 0x33, 0x202, 0x90000, 0x2b].iter().enumerate() {
            put64(&mut c, 0x7ff00 + 8 * k as u64, *v);
        }
        c.gpr[4] = 0x7ff00;
        c.rip = 0x10000;
        c.run(10);
        assert!(c.halted);
        assert_eq!((c.cpl, c.seg[CS].sel, c.rip), (0, 0x10, 0x11001));
        assert_eq!(c.gpr[0], 7);
        let sp = c.gpr[4];
        assert_eq!(sp, 0x80000 - 40);
        let frame: Vec<u64> = (0..5).map(|k| get(&c, sp + 8 * k, 8)).collect();
        assert_eq!(frame, [0x20007, 0x33, 0x202, 0x90000, 0x2b]);
        assert_eq!(c.rflags_sys & flags::IF, 0);
    }

    #[test]
    fn syscall_sysret_round_trip() {
        let mut c = long_cpu();
        c.msr.star = (0x20 << 48) | (0x10 << 32);
        c.msr.lstar = 0x12000;
        c.msr.sfmask = flags::IF | flags::DF;
        put(&mut c, 0x20000, SYSCALL_USER);
        put(&mut c, 0x12000, SYSCALL_KERNEL);
        to_user64(&mut c, 0x20000);
        c.set_rflags(0x202 | flags::DF);
        c.stop_on_exception = true;
        c.run(2);
        assert_eq!(
            (c.cpl, c.seg[CS].sel, c.seg[SS].sel, c.rip),
            (0, 0x10, 0x18, 0x12000)
        );
        assert_eq!((c.gpr[1], c.gpr[11]), (0x20007, 0x602));
        assert_eq!(c.rflags() & (flags::IF | flags::DF), 0);
        c.run(100);
        assert_eq!(c.exception, Some(Exc::gp0()));
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (3, 0x33, 0x2b));
        assert_eq!((c.rip, c.gpr[3], c.gpr[2]), (0x2000c, 2, 5));
        assert_eq!(c.rflags(), 0x602);
        // SYSRET to a non-canonical RCX faults at CPL 0; SYSCALL without EFER.SCE is #UD.
        let mut c = long_cpu();
        put(&mut c, 0x12000, SYSCALL_KERNEL);
        c.rip = 0x12000;
        c.gpr[1] = 0x8000_0000_0000;
        c.stop_on_exception = true;
        c.run(2);
        assert_eq!((c.exception, c.cpl), (Some(Exc::gp0()), 0));
        let mut c = long_cpu();
        c.efer &= !EFER_SCE;
        put(&mut c, 0x20000, SYSCALL_USER);
        to_user64(&mut c, 0x20000);
        c.stop_on_exception = true;
        c.run(2);
        assert_eq!((c.exception, c.rip), (Some(Exc::ud()), 0x20005));
    }

    #[test]
    fn call_gate_64_and_retfq_to_outer_level() {
        let mut c = long_cpu();
        put(&mut c, 0x20000, CALLGATE64_USER);
        put(&mut c, 0x13000, RETFQ_KERNEL);
        to_user64(&mut c, 0x20000);
        c.stop_on_exception = true;
        c.run(1);
        assert_eq!((c.cpl, c.seg[CS].sel, c.rip), (0, 0x10, 0x13000));
        let sp = c.gpr[4];
        assert_eq!((sp, c.seg[SS].sel), (0x80000 - 32, 0));
        let frame: Vec<u64> = (0..4).map(|k| get(&c, sp + 8 * k, 8)).collect();
        assert_eq!(frame, [0x20007, 0x33, 0x90000, 0x2b]);
        c.run(100);
        assert_eq!(c.exception, Some(Exc::gp0()));
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (3, 0x33, 0x2b));
        assert_eq!((c.gpr[4], c.gpr[1], c.gpr[3]), (0x90000, 3, 9));
    }

    #[test]
    fn sysenter_sysexit_64() {
        let mut c = long_cpu();
        c.msr.sysenter_cs = 0x10;
        c.msr.sysenter_eip = 0x14000;
        c.msr.sysenter_esp = 0x80000;
        put(&mut c, 0x20000, SYSENTER_USER);
        put(&mut c, 0x14000, SYSEXIT_KERNEL);
        to_user64(&mut c, 0x20000);
        c.set_rflags(0x202);
        c.stop_on_exception = true;
        c.run(3);
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (0, 0x10, 0x18));
        assert_eq!((c.rip, c.gpr[4], c.iflag()), (0x14000, 0x80000, false));
        c.run(10);
        assert_eq!(c.exception, Some(Exc::gp0()));
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (3, 0x33, 0x3b));
        assert_eq!((c.rip, c.gpr[4], c.gpr[6]), (0x2000c, 0x90000, 4));
        // SYSENTER_CS = 0: #GP(0).
        let mut c = long_cpu();
        put(&mut c, 0x20000, SYSENTER_USER);
        to_user64(&mut c, 0x20000);
        c.stop_on_exception = true;
        c.run(3);
        assert_eq!((c.exception, c.rip), (Some(Exc::gp0()), 0x2000a));
    }

    #[test]
    fn privileged_instructions_at_cpl3() {
        for (name, code) in PRIV_AT_CPL3 {
            let mut c = long_cpu();
            put(&mut c, 0x20000, code);
            to_user64(&mut c, 0x20000);
            c.gpr[0] = 0x90000;
            c.stop_on_exception = true;
            c.run(1);
            assert_eq!(c.exception, Some(Exc::gp0()), "{name}");
            assert_eq!(c.rip, 0x20000, "{name}");
        }
        for (name, code) in OK_AT_CPL3 {
            let mut c = long_cpu();
            put(&mut c, 0x20000, code);
            to_user64(&mut c, 0x20000);
            c.stop_on_exception = true;
            c.run(1);
            assert_eq!(c.exception, None, "{name}");
            assert_eq!(c.rip, 0x20000 + code.len() as u64, "{name}");
        }
        // What SGDT/SIDT/STR stored.
        let mut c = long_cpu();
        put(&mut c, 0x20000, OK_AT_CPL3[1].1);
        to_user64(&mut c, 0x20000);
        c.run(1);
        assert_eq!(get(&c, 0x90000, 2), 0x5f);
        assert_eq!(get(&c, 0x90002, 8), GDT);
    }

    #[test]
    fn call_gate_32_with_parameters_and_retf_imm() {
        let mut c = prot32_cpu();
        put(&mut c, 0x20000, CALLGATE32_USER);
        put(&mut c, 0x10000, RETF8_KERNEL);
        to_user32(&mut c, 0x20000);
        c.gpr[4] = 0x9000;
        put64(&mut c, 0x9000, 0x2222_0000_1111);
        c.stop_on_exception = true;
        c.run(1);
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (0, 0x08, 0x10));
        let sp = c.gpr[4];
        assert_eq!(sp, 0x80000 - 24);
        let frame: Vec<u64> = (0..6).map(|k| get(&c, sp + 4 * k, 4)).collect();
        assert_eq!(frame, [0x20007, 0x1b, 0x1111, 0x2222, 0x9000, 0x23]);
        c.run(100);
        assert_eq!(c.exception, Some(Exc::gp0()));
        assert_eq!((c.cpl, c.seg[CS].sel, c.seg[SS].sel), (3, 0x1b, 0x23));
        assert_eq!((c.rip, c.gpr[4]), (0x20007, 0x9008));
        // DS held a ring-0 segment: nulled. ES was ring 3: kept.
        assert_eq!(c.seg[DS].sel, 0);
        assert_ne!(c.seg[DS].attr & SEG_UNUSABLE, 0);
        assert_eq!(c.seg[ES].sel, 0x23);
    }

    #[test]
    fn iret_to_v86_then_int_faults_with_iopl0() {
        let mut c = prot32_cpu();
        let frame = [
            0u64,
            0x3000,
            flags::VM | 2,
            0x100,
            0x4000,
            0x1111,
            0x2222,
            0x3333,
            0x4444,
        ];
        for (k, v) in frame.iter().enumerate() {
            put(&mut c, 0x9000 + 4 * k as u64, &(*v as u32).to_le_bytes());
        }
        put(&mut c, 0x10000, IRETD);
        put(&mut c, 0x30000, V86_INT);
        c.rip = 0x10000;
        c.stop_on_exception = true;
        c.run(10);
        assert_eq!((c.mode, c.cpl, c.bitness), (Mode::Virtual8086, 3, 16));
        assert_eq!((c.exception, c.rip), (Some(Exc::gp0()), 0));
        assert_eq!(
            (c.seg[CS].base, c.seg[SS].sel, c.gpr[4]),
            (0x30000, 0x4000, 0x100)
        );
        assert_eq!((c.seg[DS].sel, c.seg[GS].base), (0x2222, 0x44440));
    }

    struct Log(Rc<RefCell<Vec<(u16, u8, bool)>>>);

    impl PortIo for Log {
        fn io_in(&mut self, _: &mut Bus, port: u16, size: u8) -> u32 {
            self.0.borrow_mut().push((port, size, true));
            u32::from(port)
        }
        fn io_out(&mut self, _: &mut Bus, port: u16, size: u8, _: u32) {
            self.0.borrow_mut().push((port, size, false));
        }
    }

    #[test]
    fn io_permission_bitmap() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut c = prot32_cpu();
        c.io = Box::new(Log(log.clone()));
        put(&mut c, 0x20000, IO_USER);
        to_user32(&mut c, 0x20000);
        c.stop_on_exception = true;
        c.run(100);
        // OUT 0x64 is denied by the bitmap.
        assert_eq!((c.exception, c.rip), (Some(Exc::gp0()), 0x20009));
        assert_eq!(*log.borrow(), [(0x60, 1, true), (0x62, 2, true)]);
        assert_eq!(c.gpr[0] & 0xffff, 0x62);
        // With IOPL 3 the bitmap is not consulted.
        c.rflags_sys |= flags::IOPL;
        c.exception = None;
        c.stopped = false;
        c.run(2);
        assert_eq!(c.exception, None);
        assert_eq!(log.borrow()[2..], [(0x64, 1, false), (0x61, 1, true)]);
    }

    #[test]
    fn rep_ins_outs_real_mode() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut c = real_cpu();
        c.io = Box::new(Log(log.clone()));
        // mov cx, 3; mov dx, 0x80; mov di, 0x500; rep insb;
        // mov cx, 2; mov si, 0x500; rep outsw; hlt
        put(
            &mut c,
            0x1000,
            &[
                0xb9, 0x03, 0x00, 0xba, 0x80, 0x00, 0xbf, 0x00, 0x05, 0xf3, 0x6c, 0xb9, 0x02, 0x00,
                0xbe, 0x00, 0x05, 0xf3, 0x6f, 0xf4,
            ],
        );
        c.run(20);
        assert!(c.halted);
        assert_eq!(get(&c, 0x500, 4), 0x0080_8080);
        assert_eq!((c.gpr[7], c.gpr[6], c.gpr[1]), (0x503, 0x504, 0));
        let mut want = vec![(0x80, 1, true); 3];
        want.extend([(0x80, 2, false); 2]);
        assert_eq!(*log.borrow(), want);
    }

    #[test]
    fn ltr_lldt_str_sldt() {
        let mut c = prot32_cpu();
        put(&mut c, 0x10000, LTR);
        c.rip = 0x10000;
        c.run(20);
        assert!(c.halted);
        assert_eq!(get(&c, GDT + 0x28 + 5, 1), 0x8b, "busy bit set");
        assert_eq!(
            (c.tr.sel, c.tr.attr & SEG_TYPE, c.tr.base),
            (0x28, 0xb, TSS)
        );
        assert_eq!((c.gpr[3], c.gpr[1]), (0x28, 0x38));
        assert_eq!((c.ldtr.base, c.ldtr.limit), (0x7800, 0xf));
        // A busy TSS cannot be loaded again.
        c.halted = false;
        c.stop_on_exception = true;
        c.rip = 0x10000;
        c.run(2);
        assert_eq!(c.exception, Some(Exc::gp(0x28)));
    }

    #[test]
    fn segment_loads_32() {
        let mut c = prot32_cpu();
        put(&mut c, 0x10000, SEGS32);
        put(&mut c, 0x8000, &[0x78, 0x56, 0x34, 0x12, 0x10, 0x00]);
        c.rip = 0x10000;
        c.run(20);
        assert!(c.halted);
        assert_eq!(
            (c.seg[ES].sel, c.seg[FS].sel, c.seg[GS].sel),
            (0x23, 0x23, 0x10)
        );
        assert_eq!(
            (c.gpr[3], c.gpr[6], c.gpr[0] & 0xffff),
            (0x23, 0x1234_5678, 0x10)
        );
        assert_eq!((c.gpr[1] & 0xffff, c.gpr[4]), (0x23, 0x9000));
        assert!(c.lazy.zf());
        // Loading a ring-0 data segment into SS at CPL 3, or a code segment into DS: #GP.
        let mut c = prot32_cpu();
        to_user32(&mut c, 0x20000);
        assert_eq!(c.load_seg(SS, 0x10), Err(Exc::gp(0x10)));
        assert_eq!(c.load_seg(DS, 0x10), Err(Exc::gp(0x10)));
        assert_eq!(c.load_seg(DS, 0x18 | 3), Ok(()));
    }

    #[test]
    fn real_mode_int_iret_and_far_call() {
        let mut c = real_cpu();
        put(&mut c, 0x1000, REAL_INT);
        put(&mut c, 0x2000, REAL_HANDLER);
        put(&mut c, 0x40, &0x2000u32.to_le_bytes());
        c.set_rflags(0x202);
        c.run(20);
        assert!(c.halted);
        assert_eq!((c.gpr[0], c.gpr[3], c.gpr[1]), (5, 6, 7));
        assert_eq!((c.gpr[4], c.rflags()), (0x8000, 0x202));
        let mut c = real_cpu();
        put(&mut c, 0x1000, REAL_FAR);
        put(&mut c, 0x3010, REAL_RETF);
        c.run(20);
        assert!(c.halted);
        assert_eq!((c.gpr[3], c.gpr[1], c.gpr[4]), (1, 2, 0x8000));
        assert_eq!((c.seg[CS].sel, c.seg[CS].base), (0, 0));
    }

    #[test]
    fn control_register_rules() {
        let mut c = long_cpu();
        let cr0 = c.cr0;
        assert_eq!(c.write_cr4(c.cr4 & !CR4_PAE), Err(Exc::gp0()));
        assert_eq!(c.write_cr4(c.cr4 | CR4_OSXSAVE), Err(Exc::gp0()));
        assert_eq!(c.write_cr4(c.cr4 | CR4_VME), Err(Exc::gp0()));
        assert_eq!(c.write_cr0(cr0 & !CR0_PG), Err(Exc::gp0()), "64-bit mode");
        assert_eq!(c.write_cr0(cr0 | 1 << 32), Err(Exc::gp0()));
        assert_eq!(c.write_cr0(cr0 | CR0_NW), Err(Exc::gp0()));
        assert_eq!(c.write_cr3(1 << 63), Err(Exc::gp0()));
        assert_eq!(c.write_cr3(0x1000), Ok(()));
        assert_eq!(c.wrmsr(msr::EFER, c.efer & !EFER_LME), Err(Exc::gp0()));
        assert_eq!(c.wrmsr(msr::EFER, c.efer | 1 << 12), Err(Exc::gp0()));
        // Reserved CR0 bits are ignored; ET stays set.
        assert_eq!(c.write_cr0((cr0 & !CR0_ET) | 1 << 6), Ok(()));
        assert_eq!(c.cr0, cr0);
        // From compatibility mode, clearing PG leaves long mode.
        c.seg[CS] = seg_of(&c, 0x08);
        c.update_mode();
        assert_eq!(c.mode, Mode::Compat);
        assert_eq!(c.write_cr0(cr0 & !CR0_PG), Ok(()));
        assert_eq!((c.efer & EFER_LMA, c.mode), (0, Mode::Protected));
        // PG with LME needs PAE.
        assert_eq!(c.write_cr4(0), Ok(()));
        assert_eq!(c.write_cr0(cr0), Err(Exc::gp0()));
        assert_eq!(
            c.write_cr0(CR0_PG | CR0_ET),
            Err(Exc::gp0()),
            "PG without PE"
        );
        assert_eq!(c.write_cr4(CR4_PAE), Ok(()));
        assert_eq!(c.write_cr0(cr0), Ok(()));
        assert_eq!((c.efer & EFER_LMA, c.mode), (EFER_LMA, Mode::Compat));
    }

    #[test]
    fn msr_round_trips() {
        let mut c = long_cpu();
        let canon = [
            msr::SYSENTER_ESP,
            msr::SYSENTER_EIP,
            msr::LSTAR,
            msr::CSTAR,
            msr::FS_BASE,
            msr::GS_BASE,
            msr::KERNEL_GS_BASE,
        ];
        for m in canon {
            assert_eq!(c.wrmsr(m, 0xffff_8000_0000_1234), Ok(()), "{m:#x}");
            assert_eq!(c.rdmsr(m), Ok(0xffff_8000_0000_1234), "{m:#x}");
            assert_eq!(c.wrmsr(m, 0x8000_0000_0000), Err(Exc::gp0()), "{m:#x}");
        }
        assert_eq!(c.seg[FS].base, 0xffff_8000_0000_1234);
        for (m, v) in [
            (msr::STAR, 0x0023_0010_0000_0000u64),
            (msr::FMASK, 0x4700),
            (msr::SYSENTER_CS, 0x10),
            (msr::TSC_AUX, 7),
            (msr::PAT, 0x0007_0406_0007_0406),
            (msr::MTRR_DEF_TYPE, 0xc06),
            (msr::MTRR_PHYSBASE0, 0x8000_0006),
            (msr::MTRR_PHYSBASE0 + 1, 0xff_8000_0800),
            (msr::MTRR_FIX64K, 0x0606_0606_0606_0606),
            (0x26f, 0x0505_0505_0505_0505),
            (msr::MISC_ENABLE, 1),
            (msr::APIC_BASE, 0xfee0_0900),
        ] {
            assert_eq!(c.wrmsr(m, v), Ok(()), "{m:#x}");
            assert_eq!(c.rdmsr(m), Ok(v), "{m:#x}");
        }
        for (m, v) in [
            (msr::FMASK, 1u64 << 32),
            (msr::TSC_AUX, 1 << 32),
            (msr::PAT, 2),
            (msr::PAT, 8 << 56),
            (msr::MTRR_DEF_TYPE, 2),
            (msr::MTRR_DEF_TYPE, 0x1006),
            (msr::MTRR_PHYSBASE0, 3),
            (msr::MTRR_PHYSBASE0 + 1, 0x400),
            (msr::MTRR_FIX64K, 7),
            (msr::MTRRCAP, 0),
            (msr::APIC_BASE, 0xfee0_0d00),
            (0x3a, 0),
            (0xc000_0104, 0),
        ] {
            assert_eq!(c.wrmsr(m, v), Err(Exc::gp0()), "{m:#x} {v:#x}");
        }
        assert_eq!(c.rdmsr(0x3a), Err(Exc::gp0()));
        assert_eq!(c.rdmsr(msr::MTRRCAP), Ok(0x508));
        c.insns = 1000;
        c.wrmsr(msr::TSC, 5000).unwrap();
        assert_eq!(c.rdmsr(msr::TSC), Ok(5000));
        c.insns = 1010;
        assert_eq!(c.tsc(), 5010);
        // NXE and SCE toggle; LMA is read-only.
        assert_eq!(c.wrmsr(msr::EFER, EFER_LME), Ok(()));
        assert_eq!(c.efer, EFER_LME | EFER_LMA);
    }

    #[test]
    fn cpuid_model() {
        let c = bare();
        let r = cpuid::cpuid(&c, 0, 0);
        let mut v = Vec::new();
        for x in [r[1], r[3], r[2]] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        assert_eq!((&v[..], r[0]), (&b"GenuineIntel"[..], cpuid::MAX_BASIC));
        for leaf in [1u32, 7, 0x8000_0001, 0x8000_0007] {
            let got = cpuid::cpuid(&c, leaf, 0);
            let want = cpuid::feature_bits(leaf);
            // Leaf 1 EBX is not feature bits.
            let regs: &[usize] = if leaf == 1 { &[2, 3] } else { &[1, 2, 3] };
            for &k in regs {
                assert_eq!(got[k], want[k], "leaf {leaf:#x} reg {k}");
            }
        }
        let l1 = cpuid::cpuid(&c, 1, 0);
        assert_eq!(l1[0], 0x106a5);
        // x86-64-v2: CX16, LAHF/SAHF, POPCNT, SSE3, SSSE3, SSE4.1, SSE4.2; no AVX, XSAVE, VME.
        assert_eq!(l1[2] & 0x0098_2201, 0x0098_2201);
        assert_eq!(l1[2] & (1 << 28 | 1 << 26 | 1 << 27), 0);
        assert_eq!(l1[3] & 2, 0);
        let mut brand = Vec::new();
        for leaf in 0x8000_0002..=0x8000_0004u32 {
            for x in cpuid::cpuid(&c, leaf, 0) {
                brand.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert!(brand.starts_with(b"petrel x86-64 CPU\0"));
        assert_eq!(cpuid::cpuid(&c, 0x8000_0008, 0)[0], 0x3000 | MAX_PHYS_BITS);
        assert_eq!(cpuid::cpuid(&c, 0x8000_0000, 0)[0], cpuid::MAX_EXT);
        // Past the maximum: the highest basic leaf.
        assert_eq!(
            cpuid::cpuid(&c, 0x20, 0),
            cpuid::cpuid(&c, cpuid::MAX_BASIC, 0)
        );
        assert_eq!(
            cpuid::cpuid(&c, 0x8000_0009, 0),
            cpuid::cpuid(&c, cpuid::MAX_BASIC, 0)
        );
        // Leaf 4 ends with a null cache type.
        assert_ne!(cpuid::cpuid(&c, 4, 3)[0] & 0x1f, 0);
        assert_eq!(cpuid::cpuid(&c, 4, 4)[0] & 0x1f, 0);
        assert_eq!(
            &cpuid::cpuid(&c, 0x4000_0000, 0)[1..],
            &[
                u32::from_le_bytes(*b"Petr"),
                u32::from_le_bytes(*b"elPe"),
                u32::from_le_bytes(*b"trel")
            ]
        );
    }

    /// The host's LAR/LSL/VERR/VERW on the selectors of Linux's GDT (entries 0..7 are fixed by
    /// the kernel ABI) against petrel with the same descriptors.
    #[test]
    fn lar_lsl_verr_verw_match_host() {
        use crate::x86::user::{UserExit, UserMachine, UserState};
        let linux_gdt: [u64; 8] = [
            0,
            0x00cf_9b00_0000_ffff,
            0x00af_9b00_0000_ffff,
            0x00cf_9300_0000_ffff,
            0x00cf_fb00_0000_ffff,
            0x00cf_f300_0000_ffff,
            0x00af_fb00_0000_ffff,
            0,
        ];
        let mut m = UserMachine::new();
        for (k, d) in linux_gdt.iter().enumerate() {
            m.data_mut()[0x8000 + 8 * k..0x8008 + 8 * k].copy_from_slice(&d.to_le_bytes());
        }
        m.cpu.gdtr = Dtr {
            base: UserMachine::DATA + 0x8000,
            limit: 0x3f,
        };
        // lar rax, rcx / lsl rax, rcx / lar eax, ecx / lsl ax, cx / verr cx / verw cx
        let forms: [&[u8]; 6] = [
            &[0x48, 0x0f, 0x02, 0xc1],
            &[0x48, 0x0f, 0x03, 0xc1],
            &[0x0f, 0x02, 0xc1],
            &[0x66, 0x0f, 0x03, 0xc1],
            &[0x0f, 0x00, 0xe1],
            &[0x0f, 0x00, 0xe9],
        ];
        for (f, insn) in forms.iter().enumerate() {
            for sel in 0..0x40u64 {
                let init = 0x5555_5555_5555_5555u64;
                let (hr, hf): (u64, u64);
                // SAFETY: the instructions only read the GDT and write RAX/flags.
                unsafe {
                    match f {
                        0 => {
                            core::arch::asm!("lar rax, rcx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                        1 => {
                            core::arch::asm!("lsl rax, rcx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                        2 => {
                            core::arch::asm!("lar eax, ecx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                        3 => {
                            core::arch::asm!("lsl ax, cx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                        4 => {
                            core::arch::asm!("verr cx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                        _ => {
                            core::arch::asm!("verw cx", "pushfq", "pop {f}", f = out(reg) hf, inout("rax") init => hr, in("rcx") sel)
                        }
                    }
                }
                let mut code = insn.to_vec();
                code.extend_from_slice(&[0x48, 0xbb]);
                code.extend_from_slice(&UserMachine::STOP.to_le_bytes());
                code.extend_from_slice(&[0xff, 0xe3]);
                m.load_code(&code);
                let mut s = UserState {
                    rip: UserMachine::CODE,
                    ..UserState::default()
                };
                s.gpr[0] = init;
                s.gpr[1] = sel;
                assert_eq!(m.run(&mut s, 100), UserExit::Done);
                assert_eq!(s.gpr[0], hr, "form {f} sel {sel:#x}");
                assert_eq!(
                    s.rflags & flags::ZF,
                    hf & flags::ZF,
                    "form {f} sel {sel:#x}"
                );
            }
        }
    }

    /// PUSH FS/GS and MOV r, Sreg as the host does them: the whole stack slot is written
    /// zero-extended; a 32-bit register gets the zero-extended selector, a 16-bit one keeps
    /// its upper bits.
    #[test]
    fn sreg_stores_match_host() {
        use crate::x86::user::{UserExit, UserMachine, UserState};
        // The assembler would pick other encodings (PUSHW FS; MOV ECX, SS): use bytes.
        // push fs; pop rax; mov edx, ss; mov cx, ss
        let insns = [0x0f, 0xa0, 0x58, 0x8c, 0xd2, 0x66, 0x8c, 0xd1];
        let (h_push, h_mov32, h_mov16): (u64, u64, u64);
        // SAFETY: RSP is restored; the slot below it is scratch (asm! may use the stack).
        unsafe {
            core::arch::asm!(
                "sub rsp, 8", "mov qword ptr [rsp], -1", "add rsp, 8",
                ".byte 0x0f, 0xa0, 0x58, 0x8c, 0xd2, 0x66, 0x8c, 0xd1",
                out("rax") h_push,
                inout("rdx") 0x1234_5678_1234_5678u64 => h_mov32,
                inout("rcx") 0x1234_5678_1234_5678u64 => h_mov16,
            );
        }
        let hs: u64;
        // SAFETY: reads a selector.
        unsafe { core::arch::asm!("mov {0:e}, ss", out(reg) hs) };
        let hfs: u64;
        // SAFETY: reads a selector.
        unsafe { core::arch::asm!("mov {0:e}, fs", out(reg) hfs) };
        assert_eq!(h_push, hfs & 0xffff);
        assert_eq!(h_mov32, hs & 0xffff);
        assert_eq!(h_mov16, 0x1234_5678_1234_0000 | (hs & 0xffff));
        // petrel, with the slot below RSP pre-filled with ones.
        let mut m = UserMachine::new();
        // Without POP in this module's test set, petrel's pushed slot is read from memory.
        let mut code = insns.to_vec();
        code.remove(2);
        code.extend_from_slice(&[0x48, 0xbf]);
        code.extend_from_slice(&UserMachine::STOP.to_le_bytes());
        code.extend_from_slice(&[0xff, 0xe7]);
        m.load_code(&code);
        let top = UserMachine::DATA + 0x1000;
        m.data_mut()[0xff8..0x1000].fill(0xff);
        let mut s = UserState {
            rip: UserMachine::CODE,
            ..UserState::default()
        };
        s.gpr[4] = top;
        s.gpr[2] = 0x1234_5678_1234_5678;
        s.gpr[1] = 0x1234_5678_1234_5678;
        assert_eq!(m.run(&mut s, 100), UserExit::Done);
        let fs = u64::from(m.cpu.seg[FS].sel);
        let ss = u64::from(m.cpu.seg[SS].sel);
        let slot = u64::from_le_bytes(m.data()[0xff8..0x1000].try_into().unwrap());
        assert_eq!((slot, s.gpr[2]), (fs, ss));
        assert_eq!(s.gpr[1], 0x1234_5678_1234_0000 | ss);
        assert_eq!(s.gpr[4], top - 8);
    }
}
