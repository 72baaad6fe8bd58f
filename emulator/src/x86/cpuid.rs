//! CPUID: the feature set petrel implements (x86-64-v2 and what was tested), coherent across
//! leaves.
//!
//! The model is "GenuineIntel", family 6 model 0x1A stepping 5 (a Nehalem-EP signature):
//! Nehalem is the first Intel core with exactly the x86-64-v2 set (SSE4.2, POPCNT, CX16,
//! LAHF/SAHF) and no AVX, so Linux and glibc take their SSE2/SSE4.2 paths and none of their
//! model quirks are for bugs petrel does not have (Linux drops PAT only for family 6 models
//! below 15). The hypervisor bit is set and leaf 0x4000_0000 says "PetrelPetrel", so guests
//! know their timing is virtual. What is advertised is exactly what the interpreter executes;
//! [`FEATURES`] lists it so tests can hold the two together.

use super::cpu::Cpu;
use super::mmu::MAX_PHYS_BITS;

/// Where a feature bit lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    Eax,
    Ebx,
    Ecx,
    Edx,
}

/// One advertised feature: name (as Linux's /proc/cpuinfo spells it), leaf, subleaf, register,
/// bit.
#[derive(Clone, Copy, Debug)]
pub struct Feature {
    pub name: &'static str,
    pub leaf: u32,
    pub sub: u32,
    pub reg: Reg,
    pub bit: u32,
}

const fn f(name: &'static str, leaf: u32, reg: Reg, bit: u32) -> Feature {
    Feature {
        name,
        leaf,
        sub: 0,
        reg,
        bit,
    }
}

/// Every feature flag petrel advertises. Anything not here reads as 0.
pub const FEATURES: &[Feature] = &[
    // Leaf 1 EDX.
    f("fpu", 1, Reg::Edx, 0),
    f("de", 1, Reg::Edx, 2),
    f("pse", 1, Reg::Edx, 3),
    f("tsc", 1, Reg::Edx, 4),
    f("msr", 1, Reg::Edx, 5),
    f("pae", 1, Reg::Edx, 6),
    f("cx8", 1, Reg::Edx, 8),
    f("sep", 1, Reg::Edx, 11),
    f("mtrr", 1, Reg::Edx, 12),
    f("pge", 1, Reg::Edx, 13),
    f("cmov", 1, Reg::Edx, 15),
    f("pat", 1, Reg::Edx, 16),
    f("pse36", 1, Reg::Edx, 17),
    f("clflush", 1, Reg::Edx, 19),
    f("mmx", 1, Reg::Edx, 23),
    f("fxsr", 1, Reg::Edx, 24),
    f("sse", 1, Reg::Edx, 25),
    f("sse2", 1, Reg::Edx, 26),
    // Leaf 1 ECX.
    f("pni", 1, Reg::Ecx, 0),
    f("ssse3", 1, Reg::Ecx, 9),
    f("cx16", 1, Reg::Ecx, 13),
    f("sse4_1", 1, Reg::Ecx, 19),
    f("sse4_2", 1, Reg::Ecx, 20),
    f("movbe", 1, Reg::Ecx, 22),
    f("popcnt", 1, Reg::Ecx, 23),
    f("hypervisor", 1, Reg::Ecx, 31),
    // Leaf 0x8000_0001.
    f("lahf_lm", 0x8000_0001, Reg::Ecx, 0),
    f("abm", 0x8000_0001, Reg::Ecx, 5),
    f("syscall", 0x8000_0001, Reg::Edx, 11),
    f("nx", 0x8000_0001, Reg::Edx, 20),
    f("pdpe1gb", 0x8000_0001, Reg::Edx, 26),
    f("rdtscp", 0x8000_0001, Reg::Edx, 27),
    f("lm", 0x8000_0001, Reg::Edx, 29),
    // Leaf 0x8000_0007.
    f("constant_tsc", 0x8000_0007, Reg::Edx, 8),
];

/// XSAVE/OSXSAVE are not advertised (XSAVE/XRSTOR are not implemented), so CR4.OSXSAVE is
/// reserved and XGETBV/XSETBV raise #UD.
pub const XSAVE: bool = false;

pub const MAX_BASIC: u32 = 0xd;
pub const MAX_EXT: u32 = 0x8000_0008;
/// Family 6, model 0x1A (extended model 1, model 0xA), stepping 5.
pub const SIGNATURE: u32 = 0x0001_06a5;
pub const BRAND: &[u8; 48] =
    b"petrel x86-64 CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
pub const HYPERVISOR_ID: &[u8; 12] = b"PetrelPetrel";
/// IA32_MISC_ENABLE bit 22: limit CPUID's maximum basic leaf to 2.
const MISC_LIMIT_CPUID: u64 = 1 << 22;

/// The feature bits of `leaf` (subleaf 0) as [EAX, EBX, ECX, EDX] masks.
pub const fn feature_bits(leaf: u32) -> [u32; 4] {
    let mut r = [0u32; 4];
    let mut i = 0;
    while i < FEATURES.len() {
        let ft = FEATURES[i];
        if ft.leaf == leaf {
            let idx = match ft.reg {
                Reg::Eax => 0,
                Reg::Ebx => 1,
                Reg::Ecx => 2,
                Reg::Edx => 3,
            };
            r[idx] |= 1 << ft.bit;
        }
        i += 1;
    }
    r
}

fn le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Deterministic cache parameters for leaf 4 subleaf `sub`: (type, level, line, ways, sets).
fn cache(sub: u32) -> Option<(u32, u32, u32, u32, u32)> {
    Some(match sub {
        0 => (1, 1, 64, 8, 64),    // L1d 32 KiB
        1 => (2, 1, 64, 4, 128),   // L1i 32 KiB
        2 => (3, 2, 64, 8, 512),   // L2 256 KiB
        3 => (3, 3, 64, 16, 8192), // L3 8 MiB
        _ => return None,
    })
}

/// CPUID for `leaf`/`sub` as [EAX, EBX, ECX, EDX].
pub fn cpuid(cpu: &Cpu, leaf: u32, sub: u32) -> [u32; 4] {
    let max_basic = if cpu.msr.misc_enable & MISC_LIMIT_CPUID != 0 {
        2
    } else {
        MAX_BASIC
    };
    // Intel answers leaves past the maximum (basic or extended) with the highest basic leaf.
    let leaf = match leaf {
        0x4000_0000..=0x4000_00ff => leaf,
        0x8000_0000..=MAX_EXT => leaf,
        l if l <= max_basic => l,
        _ => max_basic,
    };
    let fb = feature_bits(leaf);
    match leaf {
        0 => {
            let v = b"GenuineIntel";
            [max_basic, le(&v[0..4]), le(&v[8..12]), le(&v[4..8])]
        }
        1 => {
            // CLFLUSH line 8 qwords; one logical processor; APIC ID 0.
            let ebx = (8 << 8) | (1 << 16);
            let mut ecx = fb[2];
            if XSAVE && cpu.cr4 & super::cpu::CR4_OSXSAVE != 0 {
                ecx |= 1 << 27;
            }
            [SIGNATURE, ebx, ecx, fb[3]]
        }
        // Descriptor 0xFF: "see leaf 4"; AL = 1 iteration.
        2 => [0x00ff_0001, 0, 0, 0],
        4 => match cache(sub) {
            Some((ty, level, line, ways, sets)) => {
                // Self-initialising; shared by one logical processor, one core per package.
                let eax = ty | (level << 5) | (1 << 8);
                let ebx = (line - 1) | ((ways - 1) << 22);
                let edx = if level == 3 { 1 << 1 } else { 0 };
                [eax, ebx, sets - 1, edx]
            }
            None => [0; 4],
        },
        // Leaf 7: no structured extended features; max subleaf 0.
        7 => [0, fb[1], fb[2], fb[3]],
        0x4000_0000 => {
            let v = HYPERVISOR_ID;
            [0x4000_0000, le(&v[0..4]), le(&v[4..8]), le(&v[8..12])]
        }
        0x4000_0001..=0x4000_00ff => [0; 4],
        0x8000_0000 => [MAX_EXT, 0, 0, 0],
        0x8000_0001 => [0, 0, fb[2], fb[3]],
        0x8000_0002..=0x8000_0004 => {
            let o = ((leaf - 0x8000_0002) * 16) as usize;
            let b = &BRAND[o..o + 16];
            [le(&b[0..4]), le(&b[4..8]), le(&b[8..12]), le(&b[12..16])]
        }
        // L2: 256 KiB, 8-way (encoding 6), 64-byte lines.
        0x8000_0006 => [0, 0, (256 << 16) | (6 << 12) | 64, 0],
        0x8000_0007 => [0, 0, 0, fb[3]],
        0x8000_0008 => [MAX_PHYS_BITS | (48 << 8), 0, 0, 0],
        // 3, 5, 6, 8..0xd, 0x8000_0005: nothing to report.
        _ => [0; 4],
    }
}
