//! A hostile guest must only ever cause architectural faults: random instruction streams,
//! random trap vectors and random page-table roots run here, and the host must not panic
//! (test builds keep overflow checks on, so arithmetic slips show up too).

use crate::board::riscv_virt::{RiscvVirt, VirtConfig, RAM_BASE};
use crate::board::{Limits, TimeMode};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn machine() -> RiscvVirt {
    let (_tx, rx) = crossbeam_channel::unbounded();
    let cfg = VirtConfig {
        memory_mib: 4,
        time: TimeMode::Instructions(10),
        ..Default::default()
    };
    RiscvVirt::new(&cfg, rx).expect("machine")
}

#[test]
fn random_code_never_panics_the_host() {
    // PETREL_HOSTILE_SEEDS=N runs more seeds for a local soak.
    let seeds = std::env::var("PETREL_HOSTILE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    for seed in 0..seeds {
        let mut rng = Rng(seed);
        let mut m = machine();
        // Fill the first 64 KiB with random words, biased towards real opcodes (system, AMO,
        // FP, loads/stores) so that deep paths are reached, not just illegal-instruction traps.
        let opcodes = [
            0x73u32, 0x2f, 0x53, 0x43, 0x07, 0x27, 0x03, 0x23, 0x13, 0x33, 0x1b, 0x3b,
        ];
        for i in 0..16384usize {
            let r = rng.next();
            let word = match r % 4 {
                0 => r as u32,
                1 => ((r >> 8) as u32 & !0x7f) | opcodes[(r >> 40) as usize % opcodes.len()],
                2 => (r >> 16) as u32 & 0xffff, // a compressed instruction and a zero half
                _ => ((r >> 8) as u32 & !0x7f) | 0x73, // CSR accesses and xRET/WFI/SFENCE
            };
            m.bus.ram.data[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        m.hart.pc = RAM_BASE + (rng.next() % 1024) * 4;
        m.hart.mtvec = RAM_BASE + (rng.next() % 16384) * 4 + (rng.next() & 1);
        m.hart.stvec = RAM_BASE + (rng.next() % 16384) * 4;
        m.hart.mstatus = rng.next() & 0x7e_7faa;
        m.hart.medeleg = rng.next() & 0xb3ff;
        m.hart.satp = if seed % 3 != 2 {
            ((8 + seed % 3) << 60) | ((RAM_BASE >> 12) + rng.next() % 1024)
        } else {
            0
        };
        for r in 1..32 {
            m.hart.x[r] = match rng.next() % 3 {
                0 => RAM_BASE + rng.next() % (4 << 20),
                1 => rng.next(),
                _ => rng.next() % 4096,
            };
            m.hart.f[r] = rng.next();
        }
        let limits = Limits {
            timeout: Some(std::time::Duration::from_secs(5)),
            max_insns: Some(200_000),
            ..Default::default()
        };
        // Any end is fine (exit, reset, limit): what matters is that it returns.
        let _ = m.run(&limits, &mut std::io::sink());
    }
}

#[test]
fn fault_loop_is_bounded_by_the_instruction_limit() {
    let mut m = machine();
    m.hart.pc = 0x1000; // nothing there: instruction access fault
    m.hart.mtvec = 0x2000; // and the handler is not there either
    let limits = Limits {
        timeout: None,
        max_insns: Some(1000),
        ..Default::default()
    };
    let end = m.run(&limits, &mut std::io::sink());
    assert_eq!(end, crate::board::RunEnd::InsnLimit);
    assert_eq!(m.hart.mcause, 1);
    assert_eq!(m.hart.mepc, 0x2000);
}
