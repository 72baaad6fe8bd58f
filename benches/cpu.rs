//! CPU benchmarks: the RV64GC interpreter running bare-metal workloads on the virt board, and
//! the x86-64 interpreter running Multiboot workloads (integer, memory, SSE; long mode) from
//! `benches/x86/bin/` (built by `benches/x86/build.sh`) on the bare-metal PC machine.
//!
//! Each benchmark builds a fresh machine, loads a workload from `benches/riscv/bin/` (built by
//! `make -C benches/riscv`, see its README) and times a fixed number of guest instructions from
//! the reset vector. The throughput is reported in elements = guest instructions, so criterion's
//! `Melem/s` is the interpreter's MIPS. Machine creation and ELF loading are not timed.
//!
//!     cargo bench --bench cpu                 # all workloads
//!     cargo bench --bench cpu -- riscv/fp     # one of them
//!     cargo bench --bench cpu -- x86/         # the x86-64 workloads
//!     PETREL_BENCH_INSNS=100000000 cargo bench --bench cpu   # a longer window
//!
//! Whole-program timings against QEMU are in `scripts/bench-vs-qemu` and
//! `scripts/bench-x86-vs-qemu`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use petrel_emulator::board::pc_bare::PcBare;
use petrel_emulator::board::riscv_virt::{RiscvVirt, VirtConfig};
use petrel_emulator::board::{Limits, RunEnd, TimeMode};
use std::time::Duration;

/// Guest instructions timed per iteration (unless PETREL_BENCH_INSNS says otherwise).
const DEFAULT_INSNS: u64 = 30_000_000;

struct Workload {
    name: &'static str,
    elf: &'static [u8],
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "int",
        elf: include_bytes!("riscv/bin/int.elf"),
    },
    Workload {
        name: "mem",
        elf: include_bytes!("riscv/bin/mem.elf"),
    },
    Workload {
        name: "fp",
        elf: include_bytes!("riscv/bin/fp.elf"),
    },
    Workload {
        name: "lz",
        elf: include_bytes!("riscv/bin/lz.elf"),
    },
];

fn insns() -> u64 {
    match std::env::var("PETREL_BENCH_INSNS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("PETREL_BENCH_INSNS={v:?} is not an instruction count")),
        Err(_) => DEFAULT_INSNS,
    }
}

/// A fresh machine with the workload loaded, as `petrel boot --bios none --kernel` builds it
/// (256 MiB of RAM), with instruction-driven time so that runs are reproducible.
fn machine(w: &Workload, console_in: &crossbeam_channel::Receiver<u8>) -> RiscvVirt {
    let cfg = VirtConfig {
        memory_mib: 256,
        time: TimeMode::Instructions(100),
        ..Default::default()
    };
    let mut m = RiscvVirt::new(&cfg, console_in.clone()).expect("virt board");
    m.load_elf(w.elf)
        .unwrap_or_else(|e| panic!("{}.elf: {e}", w.name));
    m
}

/// What the benchmark needs from a board: run to a limit, and count what ran.
trait Machine {
    fn run_to(&mut self, limits: &Limits, out: &mut dyn std::io::Write) -> RunEnd;
    fn instructions(&self) -> u64;
}

impl Machine for RiscvVirt {
    fn run_to(&mut self, limits: &Limits, out: &mut dyn std::io::Write) -> RunEnd {
        self.run(limits, out)
    }
    fn instructions(&self) -> u64 {
        self.hart.instret
    }
}

impl Machine for PcBare {
    fn run_to(&mut self, limits: &Limits, out: &mut dyn std::io::Write) -> RunEnd {
        self.run(limits, out)
    }
    fn instructions(&self) -> u64 {
        self.cpu.insns
    }
}

/// One criterion group: each workload on a fresh machine for the first N instructions.
fn bench_group<M: Machine>(
    c: &mut Criterion,
    group_name: &str,
    workloads: &[Workload],
    make: fn(&Workload, &crossbeam_channel::Receiver<u8>) -> M,
) {
    let n = insns();
    let limits = Limits {
        timeout: None,
        max_insns: Some(n),
        ..Default::default()
    };
    // No console input; the sender stays alive so the UART never sees a closed channel.
    let (_tx, rx) = crossbeam_channel::unbounded::<u8>();

    let mut group = c.benchmark_group(group_name);
    group
        .throughput(Throughput::Elements(n))
        // each iteration takes a good fraction of a second: same iteration count per sample
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for w in workloads {
        // Every workload runs far longer than the window: one untimed run checks that it is
        // still running (not stopped by a trap or an early exit) when the limit is reached.
        let mut m = make(w, &rx);
        let mut out = Vec::new();
        let end = m.run_to(&limits, &mut out);
        assert!(
            end == RunEnd::InsnLimit && m.instructions() == n,
            "{group_name}/{}: ended with {end:?} after {} instructions; output:\n{}",
            w.name,
            m.instructions(),
            String::from_utf8_lossy(&out)
        );
        drop(m);

        group.bench_function(w.name, |b| {
            b.iter_batched(
                || make(w, &rx),
                |mut m| {
                    let end = m.run_to(&limits, &mut std::io::sink());
                    assert_eq!(end, RunEnd::InsnLimit);
                    m // dropped (RAM unmapped) outside the timed part
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn cpu(c: &mut Criterion) {
    bench_group(c, "riscv", WORKLOADS, machine);
}

const X86_WORKLOADS: &[Workload] = &[
    Workload {
        name: "int",
        elf: include_bytes!("x86/bin/int.elf"),
    },
    Workload {
        name: "mem",
        elf: include_bytes!("x86/bin/mem.elf"),
    },
    Workload {
        name: "sse",
        elf: include_bytes!("x86/bin/sse.elf"),
    },
];

fn x86_machine(w: &Workload, console_in: &crossbeam_channel::Receiver<u8>) -> PcBare {
    let mut m = PcBare::new(128, console_in.clone()).expect("x86 machine");
    m.load_multiboot(w.elf, w.name)
        .unwrap_or_else(|e| panic!("{}.elf: {e}", w.name));
    m
}

fn x86(c: &mut Criterion) {
    bench_group(c, "x86", X86_WORKLOADS, x86_machine);
}

criterion_group!(benches, cpu, x86);
criterion_main!(benches);
