//! A hostile guest must never panic the host: random bytes run as code in every mode, with
//! random descriptor tables, IDTs and page tables under them.

use super::cpu::{Cpu, NoPorts, Seg, CR0_PE, CR0_PG, CR4_PAE, CS, EFER_LMA, EFER_LME, SEG_DB};
use super::cpu::{SEG_G, SEG_L, SEG_P, SEG_S};
use crate::bus::{Bus, Ram};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn machine(seed: u64, mode: u32) -> Cpu {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut ram = Ram::new(0, 1 << 20);
    for chunk in ram.data.chunks_mut(8) {
        let v = r.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let mut c = Cpu::new(Bus::new(ram), Box::new(NoPorts));
    c.gdtr.base = r.next() & 0xf_ffff;
    c.gdtr.limit = r.next() as u16;
    c.idtr.base = r.next() & 0xf_ffff;
    c.idtr.limit = r.next() as u16;
    c.tr = Seg {
        sel: 0x28,
        base: r.next() & 0xf_ffff,
        limit: 0x67,
        attr: SEG_P | 0xb,
    };
    let flat = |ty: u16, extra: u16| Seg {
        sel: 0x8,
        base: 0,
        limit: 0xffff_ffff,
        attr: ty | SEG_S | SEG_P | SEG_G | extra,
    };
    match mode {
        0 => {
            c.seg[CS] = Seg::real(0x1000);
            c.rip = r.next() & 0xffff;
        }
        1 => {
            c.cr0 |= CR0_PE;
            for s in 0..6 {
                c.seg[s] = flat(3, SEG_DB);
            }
            c.seg[CS] = flat(0xb, SEG_DB);
            c.rip = r.next() & 0xf_ffff;
        }
        _ => {
            c.cr0 |= CR0_PE | CR0_PG;
            c.cr4 |= CR4_PAE;
            c.efer |= EFER_LME | EFER_LMA;
            c.cr3 = r.next() & 0xf_f000;
            for s in 0..6 {
                c.seg[s] = flat(3, SEG_DB);
            }
            c.seg[CS] = flat(0xb, SEG_L);
            c.rip = r.next() & 0xf_ffff;
        }
    }
    c.gpr = std::array::from_fn(|_| r.next());
    c.update_mode();
    c
}

#[test]
fn random_code_never_panics() {
    for seed in 0..150u64 {
        let mut c = machine(seed, (seed % 3) as u32);
        c.run(20_000);
        assert!(
            c.insns > 0 || c.halted || c.shutdown,
            "seed {seed}: nothing ran"
        );
    }
}
