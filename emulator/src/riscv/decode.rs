//! RISC-V instruction decoding: 32-bit and compressed encodings into one cached form, `Insn`.
//! Compressed instructions decode to the same operations as their 32-bit expansions, so the
//! interpreter has one implementation of each; only `len` differs.

/// Defines `Op` with its count and list of variants.
macro_rules! define_ops {
    ($($name:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Op {
            $($name),*
        }

        impl Op {
            pub const COUNT: usize = [$(Op::$name),*].len();
            pub const ALL: [Op; Op::COUNT] = [$(Op::$name),*];
        }
    };
}

// `Undecoded` is the decode cache's empty slot; `Nop` an instruction without side effects whose
// destination is x0 (HINTs, c.nop, ...).
#[rustfmt::skip]
define_ops! {
    Undecoded, Illegal, Nop, Lui, Auipc, Jal, Jalr, Beq,
    Bne, Blt, Bge, Bltu, Bgeu, Lb, Lh, Lw,
    Ld, Lbu, Lhu, Lwu, Sb, Sh, Sw, Sd,
    Addi, Slti, Sltiu, Xori, Ori, Andi, Slli, Srli,
    Srai, Add, Sub, Sll, Slt, Sltu, Xor, Srl,
    Sra, Or, And, Addiw, Slliw, Srliw, Sraiw, Addw,
    Subw, Sllw, Srlw, Sraw, Fence, FenceI, Ecall, Ebreak,
    Mret, Sret, Wfi, SfenceVma, Csrrw, Csrrs, Csrrc, Csrrwi,
    Csrrsi, Csrrci, Mul, Mulh, Mulhsu, Mulhu, Div, Divu,
    Rem, Remu, Mulw, Divw, Divuw, Remw, Remuw, LrW,
    ScW, AmoswapW, AmoaddW, AmoxorW, AmoandW, AmoorW, AmominW, AmomaxW,
    AmominuW, AmomaxuW, LrD, ScD, AmoswapD, AmoaddD, AmoxorD, AmoandD,
    AmoorD, AmominD, AmomaxD, AmominuD, AmomaxuD, Flw, Fsw, Fld,
    Fsd, FmaddS, FmsubS, FnmsubS, FnmaddS, FaddS, FsubS, FmulS,
    FdivS, FsqrtS, FsgnjS, FsgnjnS, FsgnjxS, FminS, FmaxS, FcvtWS,
    FcvtWuS, FcvtLS, FcvtLuS, FmvXW, FclassS, FeqS, FltS, FleS,
    FcvtSW, FcvtSWu, FcvtSL, FcvtSLu, FmvWX, FmaddD, FmsubD, FnmsubD,
    FnmaddD, FaddD, FsubD, FmulD, FdivD, FsqrtD, FsgnjD, FsgnjnD,
    FsgnjxD, FminD, FmaxD, FcvtWD, FcvtWuD, FcvtLD, FcvtLuD, FmvXD,
    FclassD, FeqD, FltD, FleD, FcvtDW, FcvtDWu, FcvtDL, FcvtDLu,
    FmvDX, FcvtSD, FcvtDS, Sh1add, Sh2add, Sh3add, AddUw, Sh1addUw,
    Sh2addUw, Sh3addUw, SlliUw, Andn, Orn, Xnor, Clz, Clzw,
    Ctz, Ctzw, Cpop, Cpopw, Max, Maxu, Min, Minu,
    SextB, SextH, ZextH, Rol, Rolw, Ror, Rori, Roriw,
    Rorw, OrcB, Rev8, Bclr, Bclri, Bext, Bexti, Binv,
    Binvi, Bset, Bseti, CzeroEqz, CzeroNez,
}

/// A decoded instruction. `imm` holds the immediate, the CSR number, or (for `Illegal`) the raw
/// encoding that becomes mtval. `rm` is the FP rounding-mode field (7 = dynamic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub op: Op,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub rs3: u8,
    pub rm: u8,
    pub len: u8,
    pub imm: i32,
}

impl Insn {
    pub const UNDECODED: Insn = Insn {
        op: Op::Undecoded,
        rd: 0,
        rs1: 0,
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 0,
        imm: 0,
    };

    fn illegal(bits: u32, len: u8) -> Insn {
        Insn {
            op: Op::Illegal,
            len,
            imm: bits as i32,
            ..Insn::UNDECODED
        }
    }
}

fn r(op: Op, i: u32) -> Insn {
    Insn {
        op,
        rd: ((i >> 7) & 31) as u8,
        rs1: ((i >> 15) & 31) as u8,
        rs2: ((i >> 20) & 31) as u8,
        rs3: (i >> 27) as u8,
        rm: ((i >> 12) & 7) as u8,
        len: 4,
        imm: 0,
    }
}

fn with_imm(op: Op, i: u32, imm: i32) -> Insn {
    Insn { imm, ..r(op, i) }
}

fn imm_i(i: u32) -> i32 {
    (i as i32) >> 20
}
fn imm_s(i: u32) -> i32 {
    (((i as i32) >> 25) << 5) | ((i >> 7) & 31) as i32
}
fn imm_b(i: u32) -> i32 {
    (((i as i32) >> 31) << 12)
        | (((i >> 7) & 1) << 11) as i32
        | (((i >> 25) & 0x3f) << 5) as i32
        | (((i >> 8) & 0xf) << 1) as i32
}
fn imm_j(i: u32) -> i32 {
    (((i as i32) >> 31) << 20)
        | (i & 0xff000) as i32
        | (((i >> 20) & 1) << 11) as i32
        | (((i >> 21) & 0x3ff) << 1) as i32
}

fn decode32_raw(i: u32) -> Insn {
    use Op::*;
    let funct3 = (i >> 12) & 7;
    let funct7 = i >> 25;
    let rs2f = (i >> 20) & 31;
    let op = match i & 0x7f {
        0x37 => return with_imm(Lui, i, (i & 0xffff_f000) as i32),
        0x17 => return with_imm(Auipc, i, (i & 0xffff_f000) as i32),
        0x6f => return with_imm(Jal, i, imm_j(i)),
        0x67 if funct3 == 0 => return with_imm(Jalr, i, imm_i(i)),
        0x63 => {
            let op = match funct3 {
                0 => Beq,
                1 => Bne,
                4 => Blt,
                5 => Bge,
                6 => Bltu,
                7 => Bgeu,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, imm_b(i));
        }
        0x03 => {
            let op = match funct3 {
                0 => Lb,
                1 => Lh,
                2 => Lw,
                3 => Ld,
                4 => Lbu,
                5 => Lhu,
                6 => Lwu,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, imm_i(i));
        }
        0x23 => {
            let op = match funct3 {
                0 => Sb,
                1 => Sh,
                2 => Sw,
                3 => Sd,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, imm_s(i));
        }
        0x13 => {
            let shamt = ((i >> 20) & 63) as i32;
            let top6 = i >> 26;
            let op = match funct3 {
                0 => Addi,
                2 => Slti,
                3 => Sltiu,
                4 => Xori,
                6 => Ori,
                7 => Andi,
                1 => match (top6, rs2f) {
                    (0x00, _) => return with_imm(Slli, i, shamt),
                    (0x12, _) => return with_imm(Bclri, i, shamt),
                    (0x1a, _) => return with_imm(Binvi, i, shamt),
                    (0x0a, _) => return with_imm(Bseti, i, shamt),
                    (0x18, 0) if funct7 == 0x30 => Clz,
                    (0x18, 1) if funct7 == 0x30 => Ctz,
                    (0x18, 2) if funct7 == 0x30 => Cpop,
                    (0x18, 4) if funct7 == 0x30 => SextB,
                    (0x18, 5) if funct7 == 0x30 => SextH,
                    _ => return Insn::illegal(i, 4),
                },
                _ => match top6 {
                    0x00 => return with_imm(Srli, i, shamt),
                    0x10 => return with_imm(Srai, i, shamt),
                    0x18 => return with_imm(Rori, i, shamt),
                    0x12 => return with_imm(Bexti, i, shamt),
                    0x0a if (i >> 20) & 0xfff == 0x287 => OrcB,
                    0x1a if (i >> 20) & 0xfff == 0x6b8 => Rev8,
                    _ => return Insn::illegal(i, 4),
                },
            };
            return with_imm(op, i, imm_i(i));
        }
        0x1b => {
            let shamt = ((i >> 20) & 31) as i32;
            match (funct3, funct7) {
                (0, _) => return with_imm(Addiw, i, imm_i(i)),
                (1, 0x00) => return with_imm(Slliw, i, shamt),
                (1, 0x04) | (1, 0x05) => return with_imm(SlliUw, i, ((i >> 20) & 63) as i32),
                (1, 0x30) => match rs2f {
                    0 => Clzw,
                    1 => Ctzw,
                    2 => Cpopw,
                    _ => return Insn::illegal(i, 4),
                },
                (5, 0x00) => return with_imm(Srliw, i, shamt),
                (5, 0x20) => return with_imm(Sraiw, i, shamt),
                (5, 0x30) => return with_imm(Roriw, i, shamt),
                _ => return Insn::illegal(i, 4),
            }
        }
        0x33 => match (funct7, funct3) {
            (0x00, 0) => Add,
            (0x20, 0) => Sub,
            (0x00, 1) => Sll,
            (0x00, 2) => Slt,
            (0x00, 3) => Sltu,
            (0x00, 4) => Xor,
            (0x00, 5) => Srl,
            (0x20, 5) => Sra,
            (0x00, 6) => Or,
            (0x00, 7) => And,
            (0x01, 0) => Mul,
            (0x01, 1) => Mulh,
            (0x01, 2) => Mulhsu,
            (0x01, 3) => Mulhu,
            (0x01, 4) => Div,
            (0x01, 5) => Divu,
            (0x01, 6) => Rem,
            (0x01, 7) => Remu,
            (0x10, 2) => Sh1add,
            (0x10, 4) => Sh2add,
            (0x10, 6) => Sh3add,
            (0x20, 7) => Andn,
            (0x20, 6) => Orn,
            (0x20, 4) => Xnor,
            (0x05, 6) => Max,
            (0x05, 7) => Maxu,
            (0x05, 4) => Min,
            (0x05, 5) => Minu,
            (0x30, 1) => Rol,
            (0x30, 5) => Ror,
            (0x24, 1) => Bclr,
            (0x24, 5) => Bext,
            (0x34, 1) => Binv,
            (0x14, 1) => Bset,
            (0x07, 5) => CzeroEqz,
            (0x07, 7) => CzeroNez,
            _ => return Insn::illegal(i, 4),
        },
        0x3b => match (funct7, funct3) {
            (0x00, 0) => Addw,
            (0x20, 0) => Subw,
            (0x00, 1) => Sllw,
            (0x00, 5) => Srlw,
            (0x20, 5) => Sraw,
            (0x01, 0) => Mulw,
            (0x01, 4) => Divw,
            (0x01, 5) => Divuw,
            (0x01, 6) => Remw,
            (0x01, 7) => Remuw,
            (0x04, 0) => AddUw,
            (0x04, 4) if rs2f == 0 => ZextH,
            (0x10, 2) => Sh1addUw,
            (0x10, 4) => Sh2addUw,
            (0x10, 6) => Sh3addUw,
            (0x30, 1) => Rolw,
            (0x30, 5) => Rorw,
            _ => return Insn::illegal(i, 4),
        },
        0x0f => match funct3 {
            0 => Fence,
            1 => FenceI,
            _ => return Insn::illegal(i, 4),
        },
        0x73 => {
            let csr = (i >> 20) as i32;
            let op = match funct3 {
                0 => {
                    let rd_rs1_zero = (i >> 7) & 0x1f == 0 && (i >> 15) & 0x1f == 0;
                    return match i >> 20 {
                        0x000 if rd_rs1_zero => r(Ecall, i),
                        0x001 if rd_rs1_zero => r(Ebreak, i),
                        0x302 if rd_rs1_zero => r(Mret, i),
                        0x102 if rd_rs1_zero => r(Sret, i),
                        0x105 if rd_rs1_zero => r(Wfi, i),
                        _ if funct7 == 0x09 && (i >> 7) & 0x1f == 0 => r(SfenceVma, i),
                        _ => Insn::illegal(i, 4),
                    };
                }
                1 => Csrrw,
                2 => Csrrs,
                3 => Csrrc,
                5 => Csrrwi,
                6 => Csrrsi,
                7 => Csrrci,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, csr);
        }
        0x2f => {
            let f5 = i >> 27;
            match (funct3, f5) {
                (2, 0x02) if rs2f == 0 => LrW,
                (2, 0x03) => ScW,
                (2, 0x01) => AmoswapW,
                (2, 0x00) => AmoaddW,
                (2, 0x04) => AmoxorW,
                (2, 0x0c) => AmoandW,
                (2, 0x08) => AmoorW,
                (2, 0x10) => AmominW,
                (2, 0x14) => AmomaxW,
                (2, 0x18) => AmominuW,
                (2, 0x1c) => AmomaxuW,
                (3, 0x02) if rs2f == 0 => LrD,
                (3, 0x03) => ScD,
                (3, 0x01) => AmoswapD,
                (3, 0x00) => AmoaddD,
                (3, 0x04) => AmoxorD,
                (3, 0x0c) => AmoandD,
                (3, 0x08) => AmoorD,
                (3, 0x10) => AmominD,
                (3, 0x14) => AmomaxD,
                (3, 0x18) => AmominuD,
                (3, 0x1c) => AmomaxuD,
                _ => return Insn::illegal(i, 4),
            }
        }
        0x07 => {
            let op = match funct3 {
                2 => Flw,
                3 => Fld,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, imm_i(i));
        }
        0x27 => {
            let op = match funct3 {
                2 => Fsw,
                3 => Fsd,
                _ => return Insn::illegal(i, 4),
            };
            return with_imm(op, i, imm_s(i));
        }
        0x43 | 0x47 | 0x4b | 0x4f => {
            let d = match (i >> 25) & 3 {
                0 => false,
                1 => true,
                _ => return Insn::illegal(i, 4),
            };
            if !rm_ok(funct3) {
                return Insn::illegal(i, 4);
            }
            match (i & 0x7f, d) {
                (0x43, false) => FmaddS,
                (0x47, false) => FmsubS,
                (0x4b, false) => FnmsubS,
                (0x4f, false) => FnmaddS,
                (0x43, true) => FmaddD,
                (0x47, true) => FmsubD,
                (0x4b, true) => FnmsubD,
                _ => FnmaddD,
            }
        }
        0x53 => return decode_fp(i),
        _ => return Insn::illegal(i, 4),
    };
    r(op, i)
}

/// Static rounding modes 5 and 6 are reserved; 7 (dynamic) is checked against frm at run time.
fn rm_ok(rm: u32) -> bool {
    rm != 5 && rm != 6
}

fn decode_fp(i: u32) -> Insn {
    use Op::*;
    let funct7 = i >> 25;
    let rm = (i >> 12) & 7;
    let rs2 = (i >> 20) & 31;
    let op = match funct7 {
        0x00 | 0x04 | 0x08 | 0x0c | 0x01 | 0x05 | 0x09 | 0x0d => {
            if !rm_ok(rm) {
                return Insn::illegal(i, 4);
            }
            match funct7 {
                0x00 => FaddS,
                0x04 => FsubS,
                0x08 => FmulS,
                0x0c => FdivS,
                0x01 => FaddD,
                0x05 => FsubD,
                0x09 => FmulD,
                _ => FdivD,
            }
        }
        0x2c | 0x2d if rs2 == 0 && rm_ok(rm) => {
            if funct7 == 0x2c {
                FsqrtS
            } else {
                FsqrtD
            }
        }
        0x10 => match rm {
            0 => FsgnjS,
            1 => FsgnjnS,
            2 => FsgnjxS,
            _ => return Insn::illegal(i, 4),
        },
        0x11 => match rm {
            0 => FsgnjD,
            1 => FsgnjnD,
            2 => FsgnjxD,
            _ => return Insn::illegal(i, 4),
        },
        0x14 => match rm {
            0 => FminS,
            1 => FmaxS,
            _ => return Insn::illegal(i, 4),
        },
        0x15 => match rm {
            0 => FminD,
            1 => FmaxD,
            _ => return Insn::illegal(i, 4),
        },
        0x20 if rs2 == 1 && rm_ok(rm) => FcvtSD,
        0x21 if rs2 == 0 && rm_ok(rm) => FcvtDS,
        0x60 | 0x61 | 0x68 | 0x69 if rs2 < 4 && rm_ok(rm) => match (funct7, rs2) {
            (0x60, 0) => FcvtWS,
            (0x60, 1) => FcvtWuS,
            (0x60, 2) => FcvtLS,
            (0x60, _) => FcvtLuS,
            (0x61, 0) => FcvtWD,
            (0x61, 1) => FcvtWuD,
            (0x61, 2) => FcvtLD,
            (0x61, _) => FcvtLuD,
            (0x68, 0) => FcvtSW,
            (0x68, 1) => FcvtSWu,
            (0x68, 2) => FcvtSL,
            (0x68, _) => FcvtSLu,
            (_, 0) => FcvtDW,
            (_, 1) => FcvtDWu,
            (_, 2) => FcvtDL,
            _ => FcvtDLu,
        },
        0x70 if rs2 == 0 && rm == 0 => FmvXW,
        0x70 if rs2 == 0 && rm == 1 => FclassS,
        0x71 if rs2 == 0 && rm == 0 => FmvXD,
        0x71 if rs2 == 0 && rm == 1 => FclassD,
        0x50 => match rm {
            0 => FleS,
            1 => FltS,
            2 => FeqS,
            _ => return Insn::illegal(i, 4),
        },
        0x51 => match rm {
            0 => FleD,
            1 => FltD,
            2 => FeqD,
            _ => return Insn::illegal(i, 4),
        },
        0x78 if rs2 == 0 && rm == 0 => FmvWX,
        0x79 if rs2 == 0 && rm == 0 => FmvDX,
        _ => return Insn::illegal(i, 4),
    };
    r(op, i)
}

/// Decodes a 32-bit instruction (low two bits 11).
pub fn decode32(i: u32) -> Insn {
    nop_if_x0(decode32_raw(i))
}

/// Decodes a 16-bit compressed instruction (RV64C) into its 32-bit equivalent operation.
pub fn decode16(x: u16) -> Insn {
    nop_if_x0(decode16_raw(x))
}

/// Integer operations that only write rd do nothing when rd is x0: turning them into `Nop`
/// here means the interpreter never has to re-zero x0 after them.
fn nop_if_x0(i: Insn) -> Insn {
    use Op::*;
    let pure = matches!(
        i.op,
        Lui | Auipc
            | Addi
            | Slti
            | Sltiu
            | Xori
            | Ori
            | Andi
            | Slli
            | Srli
            | Srai
            | Add
            | Sub
            | Sll
            | Slt
            | Sltu
            | Xor
            | Srl
            | Sra
            | Or
            | And
            | Addiw
            | Slliw
            | Srliw
            | Sraiw
            | Addw
            | Subw
            | Sllw
            | Srlw
            | Sraw
            | Mul
            | Mulh
            | Mulhsu
            | Mulhu
            | Div
            | Divu
            | Rem
            | Remu
            | Mulw
            | Divw
            | Divuw
            | Remw
            | Remuw
            | Sh1add
            | Sh2add
            | Sh3add
            | AddUw
            | Sh1addUw
            | Sh2addUw
            | Sh3addUw
            | SlliUw
            | Andn
            | Orn
            | Xnor
            | Clz
            | Clzw
            | Ctz
            | Ctzw
            | Cpop
            | Cpopw
            | Max
            | Maxu
            | Min
            | Minu
            | SextB
            | SextH
            | ZextH
            | Rol
            | Rolw
            | Ror
            | Rori
            | Roriw
            | Rorw
            | OrcB
            | Rev8
            | Bclr
            | Bclri
            | Bext
            | Bexti
            | Binv
            | Binvi
            | Bset
            | Bseti
            | CzeroEqz
            | CzeroNez
    );
    if pure && i.rd == 0 {
        Insn { op: Nop, ..i }
    } else {
        i
    }
}

fn bits(x: u16, hi: u32, lo: u32) -> u32 {
    (u32::from(x) >> lo) & ((1 << (hi - lo + 1)) - 1)
}

fn sext(v: u32, width: u32) -> i32 {
    ((v << (32 - width)) as i32) >> (32 - width)
}

fn c(op: Op, rd: u32, rs1: u32, rs2: u32, imm: i32) -> Insn {
    Insn {
        op,
        rd: rd as u8,
        rs1: rs1 as u8,
        rs2: rs2 as u8,
        rs3: 0,
        rm: 0,
        len: 2,
        imm,
    }
}

fn decode16_raw(x: u16) -> Insn {
    use Op::*;
    let ill = Insn::illegal(u32::from(x), 2);
    let rd = bits(x, 11, 7);
    let rs2 = bits(x, 6, 2);
    let rdp = 8 + bits(x, 4, 2); // rd'/rs2' in bits 4:2
    let rs1p = 8 + bits(x, 9, 7);
    let ci_imm = sext((bits(x, 12, 12) << 5) | bits(x, 6, 2), 6);
    match (x & 3, bits(x, 15, 13)) {
        (0, 0) => {
            let imm = (bits(x, 12, 11) << 4)
                | (bits(x, 10, 7) << 6)
                | (bits(x, 6, 6) << 2)
                | (bits(x, 5, 5) << 3);
            if imm == 0 {
                return ill; // includes the all-zero halfword
            }
            c(Addi, rdp, 2, 0, imm as i32)
        }
        (0, 1) | (0, 3) | (0, 5) | (0, 7) => {
            let imm = ((bits(x, 12, 10) << 3) | (bits(x, 6, 5) << 6)) as i32;
            let op = [Fld, Ld, Fsd, Sd][(bits(x, 15, 13) >> 1) as usize];
            if matches!(op, Fld | Ld) {
                c(op, rdp, rs1p, 0, imm)
            } else {
                c(op, 0, rs1p, rdp, imm)
            }
        }
        (0, 2) | (0, 6) => {
            let imm = ((bits(x, 12, 10) << 3) | (bits(x, 6, 6) << 2) | (bits(x, 5, 5) << 6)) as i32;
            if bits(x, 15, 13) == 2 {
                c(Lw, rdp, rs1p, 0, imm)
            } else {
                c(Sw, 0, rs1p, rdp, imm)
            }
        }
        (1, 0) => c(Addi, rd, rd, 0, ci_imm),
        (1, 1) => {
            if rd == 0 {
                return ill;
            }
            c(Addiw, rd, rd, 0, ci_imm)
        }
        (1, 2) => c(Addi, rd, 0, 0, ci_imm),
        (1, 3) => {
            if rd == 2 {
                let imm = (bits(x, 12, 12) << 9)
                    | (bits(x, 6, 6) << 4)
                    | (bits(x, 5, 5) << 6)
                    | (bits(x, 4, 3) << 7)
                    | (bits(x, 2, 2) << 5);
                if imm == 0 {
                    return ill;
                }
                c(Addi, 2, 2, 0, sext(imm, 10))
            } else {
                if ci_imm == 0 {
                    return ill;
                }
                c(Lui, rd, 0, 0, ci_imm << 12)
            }
        }
        (1, 4) => {
            let shamt = ((bits(x, 12, 12) << 5) | bits(x, 6, 2)) as i32;
            match bits(x, 11, 10) {
                0 => c(Srli, rs1p, rs1p, 0, shamt),
                1 => c(Srai, rs1p, rs1p, 0, shamt),
                2 => c(Andi, rs1p, rs1p, 0, ci_imm),
                _ => {
                    let op = match (bits(x, 12, 12), bits(x, 6, 5)) {
                        (0, 0) => Sub,
                        (0, 1) => Xor,
                        (0, 2) => Or,
                        (0, 3) => And,
                        (1, 0) => Subw,
                        (1, 1) => Addw,
                        _ => return ill,
                    };
                    c(op, rs1p, rs1p, rdp, 0)
                }
            }
        }
        (1, 5) => {
            let imm = (bits(x, 12, 12) << 11)
                | (bits(x, 11, 11) << 4)
                | (bits(x, 10, 9) << 8)
                | (bits(x, 8, 8) << 10)
                | (bits(x, 7, 7) << 6)
                | (bits(x, 6, 6) << 7)
                | (bits(x, 5, 3) << 1)
                | (bits(x, 2, 2) << 5);
            c(Jal, 0, 0, 0, sext(imm, 12))
        }
        (1, 6) | (1, 7) => {
            let imm = (bits(x, 12, 12) << 8)
                | (bits(x, 11, 10) << 3)
                | (bits(x, 6, 5) << 6)
                | (bits(x, 4, 3) << 1)
                | (bits(x, 2, 2) << 5);
            let op = if bits(x, 15, 13) == 6 { Beq } else { Bne };
            c(op, 0, rs1p, 0, sext(imm, 9))
        }
        (2, 0) => c(
            Slli,
            rd,
            rd,
            0,
            ((bits(x, 12, 12) << 5) | bits(x, 6, 2)) as i32,
        ),
        (2, 1) | (2, 3) => {
            let imm = ((bits(x, 12, 12) << 5) | (bits(x, 6, 5) << 3) | (bits(x, 4, 2) << 6)) as i32;
            if bits(x, 15, 13) == 3 {
                if rd == 0 {
                    return ill;
                }
                c(Ld, rd, 2, 0, imm)
            } else {
                c(Fld, rd, 2, 0, imm)
            }
        }
        (2, 2) => {
            if rd == 0 {
                return ill;
            }
            let imm = ((bits(x, 12, 12) << 5) | (bits(x, 6, 4) << 2) | (bits(x, 3, 2) << 6)) as i32;
            c(Lw, rd, 2, 0, imm)
        }
        (2, 4) => match (bits(x, 12, 12), rd, rs2) {
            (0, 0, 0) => ill,
            (0, _, 0) => c(Jalr, 0, rd, 0, 0),
            (0, _, _) => c(Add, rd, 0, rs2, 0),
            (1, 0, 0) => c(Ebreak, 0, 0, 0, 0),
            (1, _, 0) => c(Jalr, 1, rd, 0, 0),
            _ => c(Add, rd, rd, rs2, 0),
        },
        (2, 5) | (2, 7) => {
            let imm = ((bits(x, 12, 10) << 3) | (bits(x, 9, 7) << 6)) as i32;
            let op = if bits(x, 15, 13) == 7 { Sd } else { Fsd };
            c(op, 0, 2, rs2, imm)
        }
        (2, 6) => {
            let imm = ((bits(x, 12, 9) << 2) | (bits(x, 8, 7) << 6)) as i32;
            c(Sw, 0, 2, rs2, imm)
        }
        _ => ill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_encodings() {
        // addi a0, a0, -1
        let i = decode32(0xfff5_0513);
        assert_eq!((i.op, i.rd, i.rs1, i.imm), (Op::Addi, 10, 10, -1));
        // jal ra, -4
        assert_eq!(decode32(0xffdf_f0ef).imm, -4);
        // beq a0, a1, -8
        let b = decode32(0xfeb5_0ce3);
        assert_eq!((b.op, b.imm), (Op::Beq, -8));
        // sd a1, -16(sp)
        let s = decode32(0xfeb1_3823);
        assert_eq!((s.op, s.rs1, s.rs2, s.imm), (Op::Sd, 2, 11, -16));
        assert_eq!(decode32(0).op, Op::Illegal);
    }

    #[test]
    fn decodes_compressed() {
        assert_eq!(decode16(0).op, Op::Illegal);
        // c.addi sp, -16 is c.addi16sp? no: 0x1141 = c.addi sp,-16
        let i = decode16(0x1141);
        assert_eq!((i.op, i.rd, i.imm, i.len), (Op::Addi, 2, -16, 2));
        // c.ret = c.jr ra
        let i = decode16(0x8082);
        assert_eq!((i.op, i.rd, i.rs1), (Op::Jalr, 0, 1));
        // c.sdsp ra, 8(sp)
        let i = decode16(0xe406);
        assert_eq!((i.op, i.rs1, i.rs2, i.imm), (Op::Sd, 2, 1, 8));
        // c.ebreak
        assert_eq!(decode16(0x9002).op, Op::Ebreak);
        // c.j -2  (0xbffd)
        assert_eq!(decode16(0xbffd).imm, -2);
    }
}
