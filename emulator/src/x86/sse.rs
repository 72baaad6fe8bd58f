//! MMX and SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 with MXCSR rounding and exceptions.
//!
//! Handlers are chosen per `Code` once (the table in `block`); MMX and XMM forms of the same
//! operation share one lane function (see `sse_int`) monomorphised into two handlers. Floating
//! point goes through `sse_fp`, which implements MXCSR exactly. Legacy-SSE memory operands of
//! 16 bytes must be 16-byte aligned (#GP(0)) except for the explicitly unaligned instructions
//! (MOVUPS/MOVUPD/MOVDQU/LDDQU and the SSE4.2 string compares).

#[path = "sse_fp.rs"]
pub mod sse_fp;
#[path = "sse_fpi.rs"]
mod sse_fpi;
#[path = "sse_int.rs"]
pub mod sse_int;
#[path = "sse_tables.rs"]
mod sse_tables;
// The tests run instructions natively on the host as the oracle.
#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
#[path = "sse_tests.rs"]
mod sse_tests;

use super::block::Handler;
use super::cpu::{Acc, Cpu, Exc, CR0_EM, CR0_TS, R};
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};
use sse_int::*;

#[inline(always)]
pub(crate) fn xn(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::XMM0 as usize) & 15
}
#[inline(always)]
pub(crate) fn mn(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::MM0 as usize) & 7
}

/// MMX instructions: #UD with CR0.EM, #NM with CR0.TS, then #MF for a pending unmasked x87
/// exception (with CR0.NE, as the x87's waiting instructions).
#[inline(always)]
pub(crate) fn mmx_check(c: &Cpu) -> R<()> {
    if c.cr0 & (CR0_EM | CR0_TS) != 0 {
        return Err(if c.cr0 & CR0_EM != 0 {
            Exc::ud()
        } else {
            Exc::nm()
        });
    }
    if c.x87_pending_mf() {
        return Err(Exc::new(crate::x86::vec::MF));
    }
    Ok(())
}

/// Reads the memory operand (its size from iced's `MemorySize`), zero-extended. 16-byte
/// operands must be aligned when `align`.
#[inline]
pub(crate) fn load(c: &mut Cpu, i: &Instruction, align: bool) -> R<u128> {
    let size = i.memory_size().size();
    let la = c.mem_linear(i, size as u32, Acc::Read)?;
    Ok(match size {
        16 => {
            if align && la & 15 != 0 {
                return Err(Exc::gp0());
            }
            let lo = c.read::<8>(la)?;
            let hi = c.read::<8>(la.wrapping_add(8))?;
            lo as u128 | (hi as u128) << 64
        }
        8 => c.read::<8>(la)? as u128,
        4 => c.read::<4>(la)? as u128,
        2 => c.read::<2>(la)? as u128,
        _ => c.read::<1>(la)? as u128,
    })
}

/// Writes `size` bytes of v to the memory operand (all or nothing).
#[inline]
pub(crate) fn store(c: &mut Cpu, i: &Instruction, size: usize, v: u128, align: bool) -> R<()> {
    let la = c.mem_linear(i, size as u32, Acc::Write)?;
    match size {
        16 => {
            if align && la & 15 != 0 {
                return Err(Exc::gp0());
            }
            if la & 0xfff > 0xff0 {
                return c.write_u128(la, v);
            }
            c.write::<8>(la, v as u64)?;
            c.write::<8>(la.wrapping_add(8), (v >> 64) as u64)
        }
        8 => c.write::<8>(la, v as u64),
        4 => c.write::<4>(la, v as u64),
        2 => c.write::<2>(la, v as u64),
        _ => c.write::<1>(la, v as u64),
    }
}

/// Operand n of an XMM instruction: register, memory (aligned if 16 bytes) or imm8.
#[inline(always)]
pub(crate) fn src_x(c: &mut Cpu, i: &Instruction, n: u32) -> R<u128> {
    match i.op_kind(n) {
        OpKind::Register => Ok(c.xmm[xn(i.op_register(n))]),
        OpKind::Memory => load(c, i, true),
        _ => Ok(i.immediate8() as u128),
    }
}

/// Operand n of an MMX instruction: register, m64 or imm8.
#[inline(always)]
pub(crate) fn src_m(c: &mut Cpu, i: &Instruction, n: u32) -> R<u64> {
    match i.op_kind(n) {
        OpKind::Register => Ok(c.fpu.mmx_read(mn(i.op_register(n)))),
        OpKind::Memory => Ok(load(c, i, false)? as u64),
        _ => Ok(u64::from(i.immediate8())),
    }
}

fn v_x<O: VOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    c.xmm[d] = O::f(c.xmm[d], b, i.immediate8(), 16);
    Ok(())
}

fn v_m<O: VOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let b = src_m(c, i, 1)?;
    let d = mn(i.op0_register());
    let a = c.fpu.mmx_read(d);
    let r = O::f(a as u128, b as u128, i.immediate8(), 8) as u64;
    c.fpu.mmx_write(d, r);
    Ok(())
}

/// Is operand `n` of `code` an MMX register or m64 of an MMX instruction (from iced's naming:
/// Code names spell the operands, e.g. `Paddb_mm_mmm64`).
fn operand_is_mm(code: Code, n: usize) -> bool {
    let s = format!("{code:?}");
    s.split('_')
        .nth(n + 1)
        .is_some_and(|t| t == "mm" || t.starts_with("mmm"))
}

macro_rules! vsel {
    ($code:expr, $($m:ident => $o:ident),* $(,)?) => {
        match $code.mnemonic() {
            $(Mnemonic::$m => Some(if operand_is_mm($code, 0) { v_m::<$o> as Handler } else { v_x::<$o> as Handler }),)*
            _ => None,
        }
    };
}

pub fn handler(code: Code) -> Option<Handler> {
    if let Some(h) = int_handler(code) {
        return Some(h);
    }
    if let Some(h) = sse_fpi::handler(code) {
        return Some(h);
    }
    misc_handler(code)
}

fn int_handler(code: Code) -> Option<Handler> {
    vsel!(code,
        Paddb => Paddb, Paddw => Paddw, Paddd => Paddd, Paddq => Paddq,
        Psubb => Psubb, Psubw => Psubw, Psubd => Psubd, Psubq => Psubq,
        Paddsb => Paddsb, Paddsw => Paddsw, Paddusb => Paddusb, Paddusw => Paddusw,
        Psubsb => Psubsb, Psubsw => Psubsw, Psubusb => Psubusb, Psubusw => Psubusw,
        Pmullw => Pmullw, Pmulhw => Pmulhw, Pmulhuw => Pmulhuw, Pmuludq => Pmuludq,
        Pmuldq => Pmuldq, Pmulld => Pmulld, Pmulhrsw => Pmulhrsw, Pmaddwd => Pmaddwd,
        Pmaddubsw => Pmaddubsw, Psadbw => Psadbw, Pavgb => Pavgb, Pavgw => Pavgw,
        Pminub => Pminub, Pmaxub => Pmaxub, Pminsb => Pminsb, Pmaxsb => Pmaxsb,
        Pminuw => Pminuw, Pmaxuw => Pmaxuw, Pminsw => Pminsw, Pmaxsw => Pmaxsw,
        Pminud => Pminud, Pmaxud => Pmaxud, Pminsd => Pminsd, Pmaxsd => Pmaxsd,
        Pcmpeqb => Pcmpeqb, Pcmpeqw => Pcmpeqw, Pcmpeqd => Pcmpeqd, Pcmpeqq => Pcmpeqq,
        Pcmpgtb => Pcmpgtb, Pcmpgtw => Pcmpgtw, Pcmpgtd => Pcmpgtd, Pcmpgtq => Pcmpgtq,
        Pand => Pand, Pandn => Pandn, Por => Por, Pxor => Pxor,
        Psllw => Psllw, Pslld => Pslld, Psllq => Psllq, Psrlw => Psrlw, Psrld => Psrld,
        Psrlq => Psrlq, Psraw => Psraw, Psrad => Psrad, Pslldq => Pslldq, Psrldq => Psrldq,
        Packsswb => Packsswb, Packuswb => Packuswb, Packssdw => Packssdw, Packusdw => Packusdw,
        Punpcklbw => Punpcklbw, Punpcklwd => Punpcklwd, Punpckldq => Punpckldq,
        Punpcklqdq => Punpcklqdq, Punpckhbw => Punpckhbw, Punpckhwd => Punpckhwd,
        Punpckhdq => Punpckhdq, Punpckhqdq => Punpckhqdq,
        Pshufb => Pshufb, Phaddw => Phaddw, Phaddd => Phaddd, Phaddsw => Phaddsw,
        Phsubw => Phsubw, Phsubd => Phsubd, Phsubsw => Phsubsw,
        Pabsb => Pabsb, Pabsw => Pabsw, Pabsd => Pabsd,
        Psignb => Psignb, Psignw => Psignw, Psignd => Psignd, Palignr => Palignr,
        Pshufd => Pshufd, Pshufw => Pshufw, Pshuflw => Pshuflw, Pshufhw => Pshufhw,
        Pblendw => Pblendw, Phminposuw => Phminposuw, Mpsadbw => Mpsadbw,
        Pmovsxbw => Pmovsxbw, Pmovsxbd => Pmovsxbd, Pmovsxbq => Pmovsxbq,
        Pmovsxwd => Pmovsxwd, Pmovsxwq => Pmovsxwq, Pmovsxdq => Pmovsxdq,
        Pmovzxbw => Pmovzxbw, Pmovzxbd => Pmovzxbd, Pmovzxbq => Pmovzxbq,
        Pmovzxwd => Pmovzxwd, Pmovzxwq => Pmovzxwq, Pmovzxdq => Pmovzxdq,
        Andps => Pand, Andpd => Pand, Andnps => Andnps, Andnpd => Andnps,
        Orps => Por, Orpd => Por, Xorps => Pxor, Xorpd => Pxor,
        Unpcklps => Unpcklps, Unpckhps => Unpckhps, Unpcklpd => Unpcklpd, Unpckhpd => Unpckhpd,
        Shufps => Shufps, Shufpd => Shufpd, Blendps => Blendps, Blendpd => Blendpd,
        Movsldup => Movsldup, Movshdup => Movshdup, Movddup => Movddup,
    )
}

fn misc_handler(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Movaps_xmm_xmmm128 | C::Movapd_xmm_xmmm128 | C::Movdqa_xmm_xmmm128 => mov_load::<true>,
        C::Movntdqa_xmm_m128 => mov_load::<true>,
        C::Movups_xmm_xmmm128 | C::Movupd_xmm_xmmm128 | C::Movdqu_xmm_xmmm128 => mov_load::<false>,
        C::Lddqu_xmm_m128 => mov_load::<false>,
        C::Movaps_xmmm128_xmm | C::Movapd_xmmm128_xmm | C::Movdqa_xmmm128_xmm => mov_store::<true>,
        C::Movntps_m128_xmm | C::Movntpd_m128_xmm | C::Movntdq_m128_xmm => mov_store::<true>,
        C::Movups_xmmm128_xmm | C::Movupd_xmmm128_xmm | C::Movdqu_xmmm128_xmm => mov_store::<false>,
        C::Movss_xmm_xmmm32 => movs_load::<4>,
        C::Movsd_xmm_xmmm64 => movs_load::<8>,
        C::Movss_xmmm32_xmm => movs_store::<4>,
        C::Movsd_xmmm64_xmm => movs_store::<8>,
        C::Movhlps_xmm_xmm => movhlps,
        C::Movlhps_xmm_xmm => movlhps,
        C::Movlps_xmm_m64 | C::Movlpd_xmm_m64 => movl_load,
        C::Movhps_xmm_m64 | C::Movhpd_xmm_m64 => movh_load,
        C::Movlps_m64_xmm | C::Movlpd_m64_xmm => movl_store,
        C::Movhps_m64_xmm | C::Movhpd_m64_xmm => movh_store,
        C::Movmskps_r32_xmm | C::Movmskps_r64_xmm => movmskps,
        C::Movmskpd_r32_xmm | C::Movmskpd_r64_xmm => movmskpd,
        C::Pmovmskb_r32_xmm | C::Pmovmskb_r64_xmm => pmovmskb_x,
        C::Pmovmskb_r32_mm | C::Pmovmskb_r64_mm => pmovmskb_m,
        C::Movd_mm_rm32 | C::Movq_mm_rm64 => movd_to_mm,
        C::Movd_xmm_rm32 | C::Movq_xmm_rm64 => movd_to_xmm,
        C::Movd_rm32_mm | C::Movq_rm64_mm => movd_from_mm,
        C::Movd_rm32_xmm | C::Movq_rm64_xmm => movd_from_xmm,
        C::Movq_mm_mmm64 => movq_mm_load,
        C::Movq_mmm64_mm | C::Movntq_m64_mm => movq_mm_store,
        C::Movq_xmm_xmmm64 => movq_x_load,
        C::Movq_xmmm64_xmm => movq_x_store,
        C::Movq2dq_xmm_mm => movq2dq,
        C::Movdq2q_mm_xmm => movdq2q,
        C::Movnti_m32_r32 | C::Movnti_m64_r64 => movnti,
        C::Maskmovq_rDI_mm_mm => maskmovq,
        C::Maskmovdqu_rDI_xmm_xmm => maskmovdqu,
        C::Pextrw_r32_mm_imm8 | C::Pextrw_r64_mm_imm8 => pextrw_m,
        C::Pextrw_r32_xmm_imm8
        | C::Pextrw_r64_xmm_imm8
        | C::Pextrw_r32m16_xmm_imm8
        | C::Pextrw_r64m16_xmm_imm8 => pextr::<2>,
        C::Pextrb_r32m8_xmm_imm8 | C::Pextrb_r64m8_xmm_imm8 => pextr::<1>,
        C::Pextrd_rm32_xmm_imm8 => pextr::<4>,
        C::Pextrq_rm64_xmm_imm8 => pextr::<8>,
        C::Extractps_rm32_xmm_imm8 | C::Extractps_r64m32_xmm_imm8 => pextr::<4>,
        C::Pinsrw_mm_r32m16_imm8 | C::Pinsrw_mm_r64m16_imm8 => pinsrw_m,
        C::Pinsrw_xmm_r32m16_imm8 | C::Pinsrw_xmm_r64m16_imm8 => pinsr::<2>,
        C::Pinsrb_xmm_r32m8_imm8 | C::Pinsrb_xmm_r64m8_imm8 => pinsr::<1>,
        C::Pinsrd_xmm_rm32_imm8 => pinsr::<4>,
        C::Pinsrq_xmm_rm64_imm8 => pinsr::<8>,
        C::Pblendvb_xmm_xmmm128 => blendv::<1>,
        C::Blendvps_xmm_xmmm128 => blendv::<4>,
        C::Blendvpd_xmm_xmmm128 => blendv::<8>,
        C::Ptest_xmm_xmmm128 => ptest,
        C::Pcmpestri_xmm_xmmm128_imm8 => pcmpstr_h::<0>,
        C::Pcmpestri64_xmm_xmmm128_imm8 => pcmpstr_h::<1>,
        C::Pcmpestrm_xmm_xmmm128_imm8 => pcmpstr_h::<2>,
        C::Pcmpestrm64_xmm_xmmm128_imm8 => pcmpstr_h::<3>,
        C::Pcmpistri_xmm_xmmm128_imm8 => pcmpstr_h::<4>,
        C::Pcmpistrm_xmm_xmmm128_imm8 => pcmpstr_h::<6>,
        C::Crc32_r32_rm8 | C::Crc32_r64_rm8 | C::Crc32_r32_rm16 | C::Crc32_r32_rm32 => crc32,
        C::Crc32_r64_rm64 => crc32,
        C::Emms => emms,
        C::Ldmxcsr_m32 => ldmxcsr,
        C::Stmxcsr_m32 => stmxcsr,
        _ => match code.mnemonic() {
            Mnemonic::Lfence | Mnemonic::Mfence | Mnemonic::Sfence => fence,
            Mnemonic::Prefetchnta
            | Mnemonic::Prefetcht0
            | Mnemonic::Prefetcht1
            | Mnemonic::Prefetcht2 => fence,
            _ => return None,
        },
    })
}

// ---- moves ----

fn mov_load<const ALIGN: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = match i.op_kind(1) {
        OpKind::Register => c.xmm[xn(i.op1_register())],
        _ => load(c, i, ALIGN)?,
    };
    c.xmm[xn(i.op0_register())] = v;
    Ok(())
}

fn mov_store<const ALIGN: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())];
    match i.op_kind(0) {
        OpKind::Register => {
            c.xmm[xn(i.op0_register())] = v;
            Ok(())
        }
        _ => store(c, i, 16, v, ALIGN),
    }
}

const fn low(n: usize) -> u128 {
    (1u128 << (8 * n)) - 1
}

/// MOVSS/MOVSD load form: register sources merge into the low element, memory zero-extends.
fn movs_load<const N: usize>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let d = xn(i.op0_register());
    match i.op_kind(1) {
        OpKind::Register => {
            let s = c.xmm[xn(i.op1_register())];
            c.xmm[d] = (c.xmm[d] & !low(N)) | (s & low(N));
        }
        _ => c.xmm[d] = load(c, i, false)?,
    }
    Ok(())
}

fn movs_store<const N: usize>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    match i.op_kind(0) {
        OpKind::Register => {
            let d = xn(i.op0_register());
            c.xmm[d] = (c.xmm[d] & !low(N)) | (s & low(N));
            Ok(())
        }
        _ => store(c, i, N, s, false),
    }
}

fn movhlps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & !low(8)) | (s >> 64);
    Ok(())
}

fn movlhps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & low(8)) | (s << 64);
    Ok(())
}

fn movl_load(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = load(c, i, false)?;
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & !low(8)) | v;
    Ok(())
}

fn movh_load(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = load(c, i, false)?;
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & low(8)) | (v << 64);
    Ok(())
}

fn movl_store(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())];
    store(c, i, 8, v, false)
}

fn movh_store(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())];
    store(c, i, 8, v >> 64, false)
}

fn movmskps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    let m = (0..4).fold(0u64, |m, k| m | (((s >> (32 * k + 31)) & 1) as u64) << k);
    c.set_reg(i.op0_register(), m);
    Ok(())
}

fn movmskpd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    let m = ((s >> 63) & 1) as u64 | (((s >> 127) & 1) as u64) << 1;
    c.set_reg(i.op0_register(), m);
    Ok(())
}

fn byte_mask(v: u128, n: usize) -> u64 {
    (0..n).fold(0u64, |m, k| m | (((v >> (8 * k + 7)) & 1) as u64) << k)
}

fn pmovmskb_x(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    c.set_reg(i.op0_register(), byte_mask(s, 16));
    Ok(())
}

fn pmovmskb_m(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let s = c.fpu.mmx_read(mn(i.op1_register()));
    c.set_reg(i.op0_register(), byte_mask(s as u128, 8));
    Ok(())
}

/// r/m32 or r/m64 source of MOVD/MOVQ/PINSR*/CVTSI2SS..., zero-extended.
#[inline]
pub(crate) fn src_gpr(c: &mut Cpu, i: &Instruction, n: u32) -> R<u64> {
    match i.op_kind(n) {
        OpKind::Register => Ok(c.reg(i.op_register(n))),
        _ => Ok(load(c, i, false)? as u64),
    }
}

fn movd_to_mm(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = src_gpr(c, i, 1)?;
    c.fpu.mmx_write(mn(i.op0_register()), v);
    Ok(())
}

fn movd_to_xmm(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = src_gpr(c, i, 1)?;
    c.xmm[xn(i.op0_register())] = v as u128;
    Ok(())
}

/// Writes a GPR (32-bit writes zero-extend) or a memory operand of `size` bytes.
fn dst_gpr(c: &mut Cpu, i: &Instruction, size: usize, v: u64) -> R<()> {
    match i.op_kind(0) {
        OpKind::Register => {
            c.set_reg(i.op0_register(), v);
            Ok(())
        }
        _ => store(c, i, size, v as u128, false),
    }
}

fn gpr_size(c: &Instruction) -> usize {
    match c.op_kind(0) {
        OpKind::Register => c.op0_register().size(),
        _ => c.memory_size().size(),
    }
}

/// An MMX register's value for a store. On the host a store that faults has already reset
/// TOP but has not yet made the tags valid; `mmx_enter` completes the transition after the
/// store.
fn mm_peek(c: &mut Cpu, r: iced_x86::Register) -> u64 {
    c.fpu.top = 0;
    c.fpu.regs[mn(r) & 7].mant
}

fn movd_from_mm(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = mm_peek(c, i.op1_register());
    let size = gpr_size(i);
    dst_gpr(c, i, size, v & crate::x86::flags::mask(size as u8))?;
    c.fpu.mmx_enter();
    Ok(())
}

fn movd_from_xmm(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())] as u64;
    let size = gpr_size(i);
    dst_gpr(c, i, size, v & crate::x86::flags::mask(size as u8))
}

fn movq_mm_load(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = src_m(c, i, 1)?;
    c.fpu.mmx_write(mn(i.op0_register()), v);
    Ok(())
}

fn movq_mm_store(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = mm_peek(c, i.op1_register());
    match i.op_kind(0) {
        OpKind::Register => {
            c.fpu.mmx_write(mn(i.op0_register()), v);
            Ok(())
        }
        _ => {
            store(c, i, 8, v as u128, false)?;
            c.fpu.mmx_enter();
            Ok(())
        }
    }
}

fn movq_x_load(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = match i.op_kind(1) {
        OpKind::Register => c.xmm[xn(i.op1_register())] & low(8),
        _ => load(c, i, false)?,
    };
    c.xmm[xn(i.op0_register())] = v;
    Ok(())
}

fn movq_x_store(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())] & low(8);
    match i.op_kind(0) {
        OpKind::Register => {
            c.xmm[xn(i.op0_register())] = v;
            Ok(())
        }
        _ => store(c, i, 8, v, false),
    }
}

fn movq2dq(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.fpu.mmx_read(mn(i.op1_register()));
    c.xmm[xn(i.op0_register())] = v as u128;
    Ok(())
}

fn movdq2q(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())] as u64;
    c.fpu.mmx_write(mn(i.op0_register()), v);
    Ok(())
}

fn movnti(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = i.op1_register().size();
    let v = c.reg(i.op1_register());
    store(c, i, size, v as u128, false)
}

/// MASKMOVQ/MASKMOVDQU: bytes of `v` whose mask byte has its top bit set go to DS:rDI
/// (segment overridable). Nothing is written, and no address is checked, when the mask is
/// empty.
fn maskmov(c: &mut Cpu, i: &Instruction, v: u128, m: u128, n: usize) -> R<()> {
    let sel = byte_mask(m, n);
    if sel == 0 {
        return Ok(());
    }
    let off = match i.op_kind(0) {
        OpKind::MemorySegDI => c.gpr[7] & 0xffff,
        OpKind::MemorySegEDI => c.gpr[7] & 0xffff_ffff,
        _ => c.gpr[7],
    };
    let la = c.linear(Cpu::mem_seg(i), off, n as u32, Acc::Write)?;
    let mut cur = [0u8; 16];
    c.read_bytes(la, &mut cur[..n])?;
    let vb = v.to_le_bytes();
    for k in 0..n {
        if sel >> k & 1 != 0 {
            cur[k] = vb[k];
        }
    }
    c.write_bytes(la, &cur[..n])
}

fn maskmovq(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = mm_peek(c, i.op1_register());
    let m = mm_peek(c, i.op2_register());
    maskmov(c, i, v as u128, m as u128, 8)?;
    c.fpu.mmx_enter();
    Ok(())
}

fn maskmovdqu(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.xmm[xn(i.op1_register())];
    let m = c.xmm[xn(i.op2_register())];
    maskmov(c, i, v, m, 16)
}

// ---- element insert/extract ----

fn pextrw_m(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = c.fpu.mmx_read(mn(i.op1_register()));
    let k = (i.immediate8() & 3) as u32;
    c.set_reg(i.op0_register(), (v >> (16 * k)) & 0xffff);
    Ok(())
}

/// PEXTRB/W/D/Q, EXTRACTPS: element `imm` of N bytes to r32/r64 (zero-extended) or memory.
fn pextr<const N: usize>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = c.xmm[xn(i.op1_register())];
    let k = (i.immediate8() as usize) & (16 / N - 1);
    let v = (s >> (8 * N * k)) & low(N);
    match i.op_kind(0) {
        OpKind::Register => {
            c.set_reg(i.op0_register(), v as u64);
            Ok(())
        }
        _ => store(c, i, N, v, false),
    }
}

fn pinsrw_m(c: &mut Cpu, i: &Instruction) -> R<()> {
    mmx_check(c)?;
    let v = src_gpr(c, i, 1)? & 0xffff;
    let d = mn(i.op0_register());
    let k = (i.immediate8() & 3) as u32;
    let a = c.fpu.mmx_read(d);
    c.fpu
        .mmx_write(d, (a & !(0xffff << (16 * k))) | (v << (16 * k)));
    Ok(())
}

fn pinsr<const N: usize>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = src_gpr(c, i, 1)? as u128 & low(N);
    let d = xn(i.op0_register());
    let sh = 8 * N * ((i.immediate8() as usize) & (16 / N - 1));
    c.xmm[d] = (c.xmm[d] & !(low(N) << sh)) | (v << sh);
    Ok(())
}

// ---- blends, tests, strings ----

fn blendv<const S: usize>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    c.xmm[d] = sse_int::blendv(c.xmm[d], b, c.xmm[0], S);
    Ok(())
}

fn ptest(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let a = c.xmm[xn(i.op0_register())];
    let mut f = 0;
    if a & b == 0 {
        f |= super::flags::ZF;
    }
    if !a & b == 0 {
        f |= super::flags::CF;
    }
    c.lazy.set_eager(f);
    Ok(())
}

/// PCMPxSTRx. K bit 0: 64-bit lengths (REX.W), bit 1: mask output (else index), bit 2:
/// implicit lengths.
fn pcmpstr_h<const K: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = match i.op_kind(1) {
        OpKind::Register => c.xmm[xn(i.op1_register())],
        _ => load(c, i, false)?,
    };
    let a = c.xmm[xn(i.op0_register())];
    let imm = i.immediate8();
    let words = imm & 1 != 0;
    let n = if words { 8 } else { 16 };
    let (la, lb) = if K & 4 != 0 {
        (implicit_len(a, words), implicit_len(b, words))
    } else if K & 1 != 0 {
        (
            explicit_len(c.gpr[0] as i64, words),
            explicit_len(c.gpr[2] as i64, words),
        )
    } else {
        (
            explicit_len(c.gpr[0] as i32 as i64, words),
            explicit_len(c.gpr[2] as i32 as i64, words),
        )
    };
    let (res, fl) = pcmpstr(a, b, la, lb, imm);
    if K & 2 != 0 {
        c.xmm[0] = if imm & 0x40 != 0 {
            let s = if words { 2 } else { 1 };
            let mut m = 0u128;
            for k in 0..n {
                if res >> k & 1 != 0 {
                    m |= low(s) << (8 * s * k);
                }
            }
            m
        } else {
            res as u128
        };
    } else {
        let idx = if res == 0 {
            n as u64
        } else if imm & 0x40 != 0 {
            31 - res.leading_zeros() as u64
        } else {
            res.trailing_zeros() as u64
        };
        c.gpr[1] = idx;
    }
    c.lazy.set_eager(fl);
    Ok(())
}

fn crc32(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = Cpu::op_size(i, 1);
    let v = c.read_op(i, 1, size)?;
    let crc = c.reg(i.op0_register()) as u32;
    let r = crc32c(crc, v, size as usize);
    c.set_reg(i.op0_register(), u64::from(r));
    Ok(())
}

// ---- state ----

fn emms(c: &mut Cpu, _: &Instruction) -> R<()> {
    mmx_check(c)?;
    c.fpu.emms();
    Ok(())
}

fn ldmxcsr(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = load(c, i, false)? as u32;
    if v & !0xffff != 0 {
        return Err(Exc::gp0());
    }
    c.mxcsr = v;
    Ok(())
}

fn stmxcsr(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = c.mxcsr;
    store(c, i, 4, v as u128, false)
}

fn fence(_: &mut Cpu, _: &Instruction) -> R<()> {
    Ok(())
}
