//! Control and status registers: access rules (privilege, read-only, counter enables, TVM),
//! WARL legalisation, and the side effects of writes on translation and interrupts.

use super::{cause, mmu, Hart, Priv, Trap};

pub const MSTATUS_SIE: u64 = 1 << 1;
pub const MSTATUS_MIE: u64 = 1 << 3;
pub const MSTATUS_SPIE: u64 = 1 << 5;
pub const MSTATUS_MPIE: u64 = 1 << 7;
pub const MSTATUS_SPP: u64 = 1 << 8;
pub const MSTATUS_MPP: u64 = 3 << 11;
pub const MSTATUS_FS: u64 = 3 << 13;
pub const MSTATUS_MPRV: u64 = 1 << 17;
pub const MSTATUS_SUM: u64 = 1 << 18;
pub const MSTATUS_MXR: u64 = 1 << 19;
pub const MSTATUS_TVM: u64 = 1 << 20;
pub const MSTATUS_TW: u64 = 1 << 21;
pub const MSTATUS_TSR: u64 = 1 << 22;
pub const MSTATUS_UXL: u64 = 3 << 32;
pub const MSTATUS_SXL: u64 = 3 << 34;
pub const MSTATUS_SD: u64 = 1 << 63;

const MSTATUS_WRITABLE: u64 = MSTATUS_SIE
    | MSTATUS_MIE
    | MSTATUS_SPIE
    | MSTATUS_MPIE
    | MSTATUS_SPP
    | MSTATUS_MPP
    | MSTATUS_FS
    | MSTATUS_MPRV
    | MSTATUS_SUM
    | MSTATUS_MXR
    | MSTATUS_TVM
    | MSTATUS_TW
    | MSTATUS_TSR;
const SSTATUS_MASK: u64 = MSTATUS_SIE
    | MSTATUS_SPIE
    | MSTATUS_SPP
    | MSTATUS_FS
    | MSTATUS_SUM
    | MSTATUS_MXR
    | MSTATUS_UXL
    | MSTATUS_SD;

pub const IRQ_SSI: u64 = 1;
pub const IRQ_MSI: u64 = 3;
pub const IRQ_STI: u64 = 5;
pub const IRQ_MTI: u64 = 7;
pub const IRQ_SEI: u64 = 9;
pub const IRQ_MEI: u64 = 11;
pub const MIP_SSIP: u64 = 1 << IRQ_SSI;
pub const MIP_MSIP: u64 = 1 << IRQ_MSI;
pub const MIP_STIP: u64 = 1 << IRQ_STI;
pub const MIP_MTIP: u64 = 1 << IRQ_MTI;
pub const MIP_SEIP: u64 = 1 << IRQ_SEI;
pub const MIP_MEIP: u64 = 1 << IRQ_MEI;
const S_INTERRUPTS: u64 = MIP_SSIP | MIP_STIP | MIP_SEIP;
const ALL_INTERRUPTS: u64 = S_INTERRUPTS | MIP_MSIP | MIP_MTIP | MIP_MEIP;
/// Exceptions that can be delegated: all but ecall from M (11) and the reserved codes.
const DELEGABLE_EXCEPTIONS: u64 = 0xb3ff;

pub const MENVCFG_STCE: u64 = 1 << 63;
const MENVCFG_WRITABLE: u64 = MENVCFG_STCE | 1; // STCE, FIOM
const SENVCFG_WRITABLE: u64 = 1; // FIOM

pub const MISA_VALUE: u64 = (2 << 62)
    | (1 << 0)  // A
    | (1 << 2)  // C
    | (1 << 3)  // D
    | (1 << 5)  // F
    | (1 << 8)  // I
    | (1 << 12) // M
    | (1 << 18) // S
    | (1 << 20); // U

pub mod addr {
    pub const FFLAGS: u16 = 0x001;
    pub const FRM: u16 = 0x002;
    pub const FCSR: u16 = 0x003;
    pub const CYCLE: u16 = 0xc00;
    pub const TIME: u16 = 0xc01;
    pub const INSTRET: u16 = 0xc02;
    pub const SSTATUS: u16 = 0x100;
    pub const SIE: u16 = 0x104;
    pub const STVEC: u16 = 0x105;
    pub const SCOUNTEREN: u16 = 0x106;
    pub const SENVCFG: u16 = 0x10a;
    pub const SSCRATCH: u16 = 0x140;
    pub const SEPC: u16 = 0x141;
    pub const SCAUSE: u16 = 0x142;
    pub const STVAL: u16 = 0x143;
    pub const SIP: u16 = 0x144;
    pub const STIMECMP: u16 = 0x14d;
    pub const SATP: u16 = 0x180;
    pub const MVENDORID: u16 = 0xf11;
    pub const MARCHID: u16 = 0xf12;
    pub const MIMPID: u16 = 0xf13;
    pub const MHARTID: u16 = 0xf14;
    pub const MCONFIGPTR: u16 = 0xf15;
    pub const MSTATUS: u16 = 0x300;
    pub const MISA: u16 = 0x301;
    pub const MEDELEG: u16 = 0x302;
    pub const MIDELEG: u16 = 0x303;
    pub const MIE: u16 = 0x304;
    pub const MTVEC: u16 = 0x305;
    pub const MCOUNTEREN: u16 = 0x306;
    pub const MENVCFG: u16 = 0x30a;
    pub const MCOUNTINHIBIT: u16 = 0x320;
    pub const MSCRATCH: u16 = 0x340;
    pub const MEPC: u16 = 0x341;
    pub const MCAUSE: u16 = 0x342;
    pub const MTVAL: u16 = 0x343;
    pub const MIP: u16 = 0x344;
    pub const PMPCFG0: u16 = 0x3a0;
    pub const PMPADDR0: u16 = 0x3b0;
    pub const MCYCLE: u16 = 0xb00;
    pub const MINSTRET: u16 = 0xb02;
}

fn illegal() -> Trap {
    Trap::new(cause::ILLEGAL, 0)
}

/// pmpaddr registers hold bits 55:2 of an address.
const PMPADDR_MASK: u64 = (1 << 54) - 1;

impl Hart {
    pub fn fs_dirty(&mut self) {
        self.mstatus |= MSTATUS_FS | MSTATUS_SD;
    }

    fn read_mstatus(&self) -> u64 {
        let sd = if self.mstatus & MSTATUS_FS == MSTATUS_FS {
            MSTATUS_SD
        } else {
            0
        };
        (self.mstatus & !MSTATUS_SD) | sd | MSTATUS_UXL & (2 << 32) | MSTATUS_SXL & (2 << 34)
    }

    /// Counter access from S/U is gated by mcounteren (and scounteren for U).
    fn counter_allowed(&self, bit: u64) -> bool {
        match self.prv {
            Priv::M => true,
            Priv::S => self.mcounteren & (1 << bit) != 0,
            Priv::U => self.mcounteren & self.scounteren & (1 << bit) != 0,
        }
    }

    fn fp_enabled(&self) -> bool {
        self.mstatus & MSTATUS_FS != 0
    }

    /// Reads a CSR as the instruction `csr` at the current privilege would.
    pub fn csr_read(&mut self, csr: u16, time: u64) -> Result<u64, Trap> {
        use addr::*;
        if (csr >> 8) & 3 > self.prv as u16 {
            return Err(illegal());
        }
        let v = match csr {
            FFLAGS | FRM | FCSR if !self.fp_enabled() => return Err(illegal()),
            FFLAGS => u64::from(self.fflags),
            FRM => u64::from(self.frm),
            FCSR => u64::from(self.fflags) | (u64::from(self.frm) << 5),
            0xc00..=0xc1f => {
                let n = u64::from(csr - 0xc00);
                if !self.counter_allowed(n) {
                    return Err(illegal());
                }
                match csr {
                    CYCLE => self.mcycle(),
                    TIME => time,
                    INSTRET => self.minstret(),
                    _ => 0,
                }
            }
            SSTATUS => self.read_mstatus() & SSTATUS_MASK,
            SIE => self.mie & self.mideleg,
            STVEC => self.stvec,
            SCOUNTEREN => self.scounteren,
            SENVCFG => self.senvcfg,
            SSCRATCH => self.sscratch,
            SEPC => self.sepc,
            SCAUSE => self.scause,
            STVAL => self.stval,
            SIP => self.effective_mip(time) & self.mideleg,
            STIMECMP => {
                self.stimecmp_access_ok()?;
                self.stimecmp
            }
            SATP => {
                if self.prv == Priv::S && self.mstatus & MSTATUS_TVM != 0 {
                    return Err(illegal());
                }
                self.satp
            }
            MVENDORID | MARCHID | MIMPID | MCONFIGPTR => 0,
            MHARTID => self.hartid,
            MSTATUS => self.read_mstatus(),
            MISA => MISA_VALUE,
            MEDELEG => self.medeleg,
            MIDELEG => self.mideleg,
            MIE => self.mie,
            MTVEC => self.mtvec,
            MCOUNTEREN => self.mcounteren,
            MENVCFG => self.menvcfg,
            MCOUNTINHIBIT => self.mcountinhibit,
            0x323..=0x33f => 0, // mhpmevent3..31: no events are counted
            MSCRATCH => self.mscratch,
            MEPC => self.mepc,
            MCAUSE => self.mcause,
            MTVAL => self.mtval,
            MIP => self.effective_mip(time),
            0x3a0..=0x3af => {
                let n = (csr - PMPCFG0) as usize;
                if n % 2 == 1 {
                    return Err(illegal()); // odd pmpcfg registers do not exist on RV64
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.pmpcfg[n * 4..n * 4 + 8]);
                u64::from_le_bytes(b)
            }
            0x3b0..=0x3ef => self.pmpaddr[(csr - PMPADDR0) as usize],
            MCYCLE => self.mcycle(),
            MINSTRET => self.minstret(),
            0xb03..=0xb1f => 0,
            // Sdtrig with no triggers: tselect reads 0, tdata1 reports type 0 ("no trigger at
            // this index"), tinfo says only type 0 exists. Software that probes for triggers
            // (debuggers, riscv-tests' breakpoint) sees that there are none, without a trap.
            0x7a0..=0x7a3 => 0,
            0x7a4 => 1,
            _ => return Err(illegal()),
        };
        Ok(v)
    }

    fn stimecmp_access_ok(&self) -> Result<(), Trap> {
        let ok = match self.prv {
            Priv::M => true,
            Priv::S => self.menvcfg & MENVCFG_STCE != 0 && self.mcounteren & 2 != 0,
            Priv::U => false,
        };
        if ok {
            Ok(())
        } else {
            Err(illegal())
        }
    }

    /// mip as software sees it: the software-writable bits OR-ed with the lines devices drive,
    /// and STIP from stimecmp when Sstc is enabled.
    pub fn effective_mip(&self, time: u64) -> u64 {
        let mip = self.mip | self.irq_lines;
        if self.menvcfg & MENVCFG_STCE != 0 {
            let stip = if time >= self.stimecmp { MIP_STIP } else { 0 };
            (mip & !MIP_STIP) | stip
        } else {
            mip
        }
    }

    pub fn mcycle(&self) -> u64 {
        if self.mcountinhibit & 1 != 0 {
            self.cycle_frozen
        } else {
            self.instret.wrapping_add(self.cycle_offset)
        }
    }

    pub fn minstret(&self) -> u64 {
        if self.mcountinhibit & 4 != 0 {
            self.instret_frozen
        } else {
            self.instret.wrapping_add(self.instret_offset)
        }
    }

    /// Checks that `csr` may be written at all (before any read side effects are committed).
    pub fn csr_check_write(&self, csr: u16) -> Result<(), Trap> {
        if csr >> 10 == 3 || (csr >> 8) & 3 > self.prv as u16 {
            return Err(illegal());
        }
        Ok(())
    }

    /// Writes a CSR; the caller has already checked access with `csr_read`/`csr_check_write`.
    pub fn csr_write(&mut self, csr: u16, v: u64) -> Result<(), Trap> {
        use addr::*;
        self.csr_check_write(csr)?;
        match csr {
            FFLAGS => {
                self.fflags = (v & 0x1f) as u8;
                self.fs_dirty();
            }
            FRM => {
                self.frm = (v & 7) as u8;
                self.fs_dirty();
            }
            FCSR => {
                self.fflags = (v & 0x1f) as u8;
                self.frm = ((v >> 5) & 7) as u8;
                self.fs_dirty();
            }
            SSTATUS => {
                let m = SSTATUS_MASK & MSTATUS_WRITABLE;
                self.set_mstatus((self.mstatus & !m) | (v & m));
            }
            SIE => {
                let m = self.mideleg & ALL_INTERRUPTS;
                self.mie = (self.mie & !m) | (v & m);
                self.request_break();
            }
            STVEC => self.stvec = legal_tvec(self.stvec, v),
            SCOUNTEREN => self.scounteren = v & 0xffff_ffff,
            SENVCFG => self.senvcfg = v & SENVCFG_WRITABLE,
            SSCRATCH => self.sscratch = v,
            SEPC => self.sepc = v & !1,
            SCAUSE => self.scause = v,
            STVAL => self.stval = v,
            SIP => {
                let m = self.mideleg & MIP_SSIP;
                self.mip = (self.mip & !m) | (v & m);
                self.request_break();
            }
            STIMECMP => {
                self.stimecmp_access_ok()?;
                self.stimecmp = v;
                self.request_break();
            }
            SATP => {
                if self.prv == Priv::S && self.mstatus & MSTATUS_TVM != 0 {
                    return Err(illegal());
                }
                let mode = v >> 60;
                // An unsupported mode makes the whole write have no effect (WARL).
                if matches!(
                    mode,
                    mmu::SATP_BARE | mmu::SATP_SV39 | mmu::SATP_SV48 | mmu::SATP_SV57
                ) {
                    // All 16 ASID bits are kept (Linux probes their width); MODE, ASID and
                    // the 44-bit PPN fill the register.
                    self.satp = v;
                    self.flush_tlb();
                    self.request_break();
                }
            }
            MSTATUS => {
                self.set_mstatus((self.mstatus & !MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE));
            }
            MISA => {} // extensions cannot be turned off: all writes are ignored (WARL)
            MEDELEG => self.medeleg = v & DELEGABLE_EXCEPTIONS,
            MIDELEG => self.mideleg = v & S_INTERRUPTS,
            MIE => {
                self.mie = v & ALL_INTERRUPTS;
                self.request_break();
            }
            MTVEC => self.mtvec = legal_tvec(self.mtvec, v),
            MCOUNTEREN => self.mcounteren = v & 0xffff_ffff,
            MENVCFG => {
                self.menvcfg = v & MENVCFG_WRITABLE;
                self.request_break();
            }
            MCOUNTINHIBIT => {
                let (cy, ir) = (self.mcycle(), self.minstret());
                self.mcountinhibit = v & 5;
                self.set_counters(cy, ir);
            }
            0x323..=0x33f => {}
            MSCRATCH => self.mscratch = v,
            MEPC => self.mepc = v & !1,
            MCAUSE => self.mcause = v,
            MTVAL => self.mtval = v,
            MIP => {
                // STIP is driven by stimecmp while Sstc is enabled; M/S external and M timer
                // and software bits come from devices.
                let mut m = MIP_SSIP | MIP_SEIP;
                if self.menvcfg & MENVCFG_STCE == 0 {
                    m |= MIP_STIP;
                }
                self.mip = (self.mip & !m) | (v & m);
                self.request_break();
            }
            0x3a0..=0x3af => {
                let n = (csr - PMPCFG0) as usize;
                if n % 2 == 1 {
                    return Err(illegal());
                }
                for (i, b) in v.to_le_bytes().iter().enumerate() {
                    let e = n * 4 + i;
                    if self.pmpcfg[e] & 0x80 != 0 {
                        continue; // locked entries ignore writes
                    }
                    let mut b = *b & 0x9f;
                    // R=0,W=1 is reserved: keep the entry's old permissions.
                    if b & 3 == 2 {
                        b = (b & !7) | (self.pmpcfg[e] & 7);
                    }
                    self.pmpcfg[e] = b;
                }
                self.pmp_changed();
            }
            0x3b0..=0x3ef => {
                let n = (csr - PMPADDR0) as usize;
                let locked = self.pmpcfg[n] & 0x80 != 0;
                // A locked TOR entry above also locks this address register.
                let next_tor_locked = n + 1 < 64
                    && self.pmpcfg[n + 1] & 0x80 != 0
                    && (self.pmpcfg[n + 1] >> 3) & 3 == 1;
                if !locked && !next_tor_locked {
                    self.pmpaddr[n] = v & PMPADDR_MASK;
                    self.pmp_changed();
                }
            }
            MCYCLE => {
                let ir = self.minstret();
                self.set_counters(v, ir);
            }
            MINSTRET => {
                let cy = self.mcycle();
                // This instruction retires after the write, and the written value wins.
                self.set_counters(cy, v.wrapping_sub(1));
            }
            0xb03..=0xb1f => {}
            0x7a0..=0x7a4 => {} // no triggers: writes have no effect
            _ => return Err(illegal()),
        }
        Ok(())
    }

    /// PMP decisions are cached in the TLBs: a change to the rules drops them.
    fn pmp_changed(&mut self) {
        self.pmp_end = self
            .pmpcfg
            .iter()
            .rposition(|c| (c >> 3) & 3 != 0)
            .map_or(0, |i| i + 1);
        self.pmp_active = self.pmp_end > 0;
        self.flush_tlb();
        self.request_break();
    }

    fn set_counters(&mut self, cycle: u64, instret: u64) {
        self.cycle_offset = cycle.wrapping_sub(self.instret);
        self.instret_offset = instret.wrapping_sub(self.instret);
        self.cycle_frozen = cycle;
        self.instret_frozen = instret;
    }

    pub fn set_mstatus(&mut self, mut v: u64) {
        // MPP=2 is reserved: keep the previous value.
        if (v >> 11) & 3 == 2 {
            v = (v & !MSTATUS_MPP) | (self.mstatus & MSTATUS_MPP);
        }
        let old = self.mstatus;
        self.mstatus = v & !MSTATUS_SD;
        if self.mstatus & MSTATUS_FS == MSTATUS_FS {
            self.mstatus |= MSTATUS_SD;
        }
        let xlate = MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_MPP;
        if (old ^ self.mstatus) & xlate != 0 {
            self.flush_tlb();
            self.update_tlb_ctx();
        }
        self.request_break();
    }
}

/// mtvec/stvec: modes 0 (direct) and 1 (vectored) only; a reserved mode keeps the old mode.
fn legal_tvec(old: u64, v: u64) -> u64 {
    let mode = if v & 3 < 2 { v & 3 } else { old & 3 };
    (v & !3) | mode
}
