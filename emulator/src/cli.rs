//! The `petrel` command line.

use crate::board::riscv_virt::{RiscvVirt, VirtConfig};
use crate::board::{Limits, RunEnd, TimeMode};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Exit status when a run hits --timeout or --max-insns (as timeout(1) uses).
pub const EXIT_TIMEOUT: i32 = 124;

#[derive(Parser, Debug)]
#[command(
    name = "petrel",
    version,
    about = "A system emulator for RISC-V (rv64) and x86-64 guests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot a machine. With `--bios none --kernel PROG.elf`, runs a bare-metal ELF in M-mode
    /// (a0 = hart id, a1 = device tree); petrel exits with the guest's exit status.
    Boot(BootArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Arch {
    Riscv64,
    #[value(name = "x86_64")]
    X86_64,
}

#[derive(clap::Args, Debug)]
struct BootArgs {
    /// Guest architecture.
    #[arg(long, value_enum, default_value = "riscv64")]
    arch: Arch,
    /// Firmware: a file, or `none` to start the kernel ELF directly in M-mode.
    #[arg(long, value_name = "FILE|none")]
    bios: Option<String>,
    /// Kernel (with --bios none: a bare-metal ELF loaded at its physical addresses).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Guest RAM in MiB.
    #[arg(long, value_name = "MiB", default_value_t = 256)]
    memory: u64,
    /// End the run after this many seconds of host time (exit status 124).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// End the run after this many guest instructions, trapping ones included (exit status
    /// 124).
    #[arg(long, value_name = "N")]
    max_insns: Option<u64>,
    /// Make guest time advance one timer tick (100 ns) every N instructions instead of
    /// following the host clock, for reproducible runs.
    #[arg(long, value_name = "N")]
    deterministic_time: Option<u64>,
    /// Print the number of executed instructions and the speed on exit (to stderr).
    #[arg(long)]
    stats: bool,
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "petrel: {} (see 'petrel --help')",
                first.trim_start_matches("error: ")
            );
            return 2;
        }
    };
    match cli.command {
        Command::Boot(args) => match boot(args) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("petrel: {msg}");
                1
            }
        },
    }
}

fn boot(args: BootArgs) -> Result<i32, String> {
    if args.arch == Arch::X86_64 {
        return Err("the x86_64 machine is not available in this build yet".into());
    }
    match args.bios.as_deref() {
        Some("none") => {}
        Some(_) | None => {
            return Err(
                "booting through firmware is not available yet: use --bios none --kernel PROG.elf"
                    .into(),
            )
        }
    }
    let Some(kernel) = &args.kernel else {
        return Err("--bios none needs --kernel PROG.elf".into());
    };
    let file = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let time = match args.deterministic_time {
        Some(0) => return Err("--deterministic-time needs a positive instruction count".into()),
        Some(n) => TimeMode::Instructions(n),
        None => TimeMode::Host,
    };
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => return Err(format!("invalid --timeout {t}")),
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let limits = Limits {
        timeout,
        max_insns: args.max_insns,
    };
    let cfg = VirtConfig {
        memory_mib: args.memory,
        time,
    };
    let input = crate::console::stdin_channel();
    let started = std::time::Instant::now();
    let mut insns = 0u64;
    let mut stdout = std::io::stdout();
    // A guest reset rebuilds the machine from the same files, as a power cycle would.
    let status = loop {
        let mut m = RiscvVirt::new(&cfg, input.clone())?;
        m.load_elf(&file)
            .map_err(|e| format!("{}: {e}", kernel.display()))?;
        let end = m.run(&limits, &mut stdout);
        insns += m.hart.instret;
        match end {
            RunEnd::Reset => continue,
            RunEnd::Exit(code) => break code as i32,
            RunEnd::Timeout => {
                let t = limits.timeout.unwrap_or_default();
                eprintln!("petrel: timeout: the guest was stopped after {t:?}");
                break EXIT_TIMEOUT;
            }
            RunEnd::InsnLimit => {
                eprintln!("petrel: the guest was stopped after {insns} instructions");
                break EXIT_TIMEOUT;
            }
        }
    };
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "petrel: {insns} instructions in {secs:.3} s ({:.1} MIPS)",
            insns as f64 / secs / 1e6
        );
    }
    Ok(status)
}
