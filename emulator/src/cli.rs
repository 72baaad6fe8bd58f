//! The `petrel` command line.

use crate::board::riscv_virt::{Boot, RiscvVirt, VirtConfig, VirtioSpec};
use crate::board::{Limits, RunEnd, TimeMode};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
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
    /// Boot a machine: with no options, the bundled riscv64 Linux guest to a shell (Ctrl-A x
    /// quits). With `--bios none --kernel PROG.elf`, a bare-metal ELF in M-mode (a0 = hart id,
    /// a1 = device tree). petrel exits with the guest's exit status.
    Boot(BootArgs),
    /// Convert a container image (OCI layout directory, OCI archive, docker save tar) into a
    /// bundle: the root filesystem as a squashfs image, the image config, and the guest's boot
    /// files.
    Convert(crate::container::ConvertArgs),
    /// Run a container image or bundle, as `docker run` would: the image is converted on first
    /// use and cached by its digest; petrel exits with the process's exit status.
    Run(crate::container::RunArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Arch {
    Riscv64,
    #[value(name = "x86_64")]
    X86_64,
}

#[derive(clap::Args, Debug)]
struct BootArgs {
    /// A TinyEMU machine configuration file (relaxed JSON: version, machine, memory_size,
    /// bios, kernel, initrd, cmdline, ...). Command-line options override its values.
    #[arg(value_name = "MACHINE.cfg")]
    config: Option<PathBuf>,
    /// Guest architecture. x86_64 runs bare-metal Multiboot v1 kernels (--bios none --kernel
    /// PROG.elf: entered in 32-bit protected mode, COM1 and port 0xE9 on stdout, a write of v
    /// to port 0xF4 exits with status (v<<1)|1, as QEMU's isa-debug-exit).
    #[arg(long, value_enum, default_value = "riscv64")]
    arch: Arch,
    /// Firmware: a file (OpenSBI fw_dynamic or fw_jump), or `none` to start the kernel ELF
    /// directly in M-mode. Default: the bundled OpenSBI.
    #[arg(long, value_name = "FILE|none")]
    bios: Option<String>,
    /// Kernel: a RISC-V Linux Image (may be gzip-compressed) or an ELF; with --bios none, a
    /// bare-metal ELF loaded at its physical addresses (x86_64: a Multiboot v1 ELF32 or a.out
    /// kludge image). Default: the bundled Linux guest.
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Initial ramdisk (default: the bundled one when the kernel is the bundled one).
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Kernel command line [default: console=ttyS0].
    #[arg(long, value_name = "ARGS")]
    append: Option<String>,
    /// Run this shell command in the bundled guest instead of a login shell, then power off;
    /// petrel exits with the command's exit status.
    #[arg(long, value_name = "CMD")]
    run: Option<String>,
    /// Guest RAM in MiB [default: 256].
    #[arg(long, value_name = "MiB")]
    memory: Option<u64>,
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
    /// A virtio-blk disk: a raw image file; `ro` makes it read-only, `snapshot` keeps the
    /// guest's writes in memory and leaves the file untouched. May be given several times.
    #[arg(long, value_name = "FILE[,ro][,snapshot]")]
    drive: Vec<String>,
    /// A virtio-rng device fed from host entropy (/dev/hwrng in the guest).
    #[arg(long)]
    rng: bool,
    /// Share a host directory over virtio-9p (9P2000.L; mount with `mount -t 9p -o
    /// trans=virtio,version=9p2000.L TAG DIR`). Default tag: share0, share1, ... `ro` refuses
    /// writes. Nothing outside the directory is reachable, symlinks included.
    #[arg(long, value_name = "HOSTDIR[,tag=T][,ro]")]
    share: Vec<String>,
    /// A virtio-console port (/dev/hvc1 in the bundled guest, whose hvc0 is the SBI console):
    /// what the guest writes is appended to OUT; with in=FILE, FILE's bytes are offered to the
    /// guest once it has opened the port (the tty echoes them unless the guest turns echo off).
    #[arg(long, value_name = "OUT[,in=FILE]")]
    hvc: Vec<String>,
    /// A virtio-net interface and its backend: `user[,hostfwd=tcp:HOSTADDR:PORT-:PORT]
    /// [,resolver=IP]` (userspace NAT as QEMU's -netdev user: DHCP 10.0.2.15, gateway 10.0.2.2
    /// = host loopback, DNS 10.0.2.3), `tap[,ifname=NAME]`, `port,listen=unix:PATH|tcp:HOST:PORT`,
    /// `port,connect=ADDR`, `port,fd=N`, `port,stdio` (frames as 4-byte big-endian length +
    /// Ethernet frame, as QEMU's -netdev stream and c2w-net), `host[,id=N]` (petrel.wasm only:
    /// frames to the embedding host's port N, see petrel-host), or `none`; `mac=XX:..` sets the
    /// address. May be given several times.
    #[arg(long, value_name = "SPEC")]
    net: Vec<String>,
    /// Print the number of executed instructions and the speed on exit (to stderr).
    #[arg(long)]
    stats: bool,
}

/// Parses `FILE[,ro][,snapshot]`.
fn parse_drive(spec: &str) -> Result<VirtioSpec, String> {
    let mut parts = spec.split(',');
    let path = parts
        .next()
        .filter(|p| !p.is_empty())
        .ok_or("--drive needs a file name")?;
    let (mut read_only, mut snapshot) = (false, false);
    for opt in parts {
        match opt {
            "ro" | "readonly" => read_only = true,
            "snapshot" => snapshot = true,
            other => {
                return Err(format!(
                    "--drive {spec}: unknown option '{other}' (ro, snapshot)"
                ))
            }
        }
    }
    Ok(VirtioSpec::Block {
        path: PathBuf::from(path),
        read_only,
        snapshot,
    })
}

/// The bundled riscv64 guest (guest-images/riscv64): OpenSBI, a Linux 6.1 Image (gzip) and a
/// busybox initramfs, compiled into the binary so `petrel boot` works from anywhere.
pub(crate) mod bundled {
    pub static FIRMWARE: &[u8] = include_bytes!("../../guest-images/riscv64/fw_dynamic.bin");
    pub static KERNEL_GZ: &[u8] = include_bytes!("../../guest-images/riscv64/Image.gz");
    pub static INITRD: &[u8] = include_bytes!("../../guest-images/riscv64/initramfs.cpio.gz");
}

/// The kernel command line of the bundled guest when none is given.
const DEFAULT_CMDLINE: &str = "console=ttyS0";
/// Linux's COMMAND_LINE_SIZE on riscv, terminating NUL included.
const MAX_CMDLINE: usize = 1024;

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    wasi_exit_status(run_command_line())
}

/// WASI hosts refuse exit statuses from 126 up (a trap instead of an exit), which guests do use
/// (signals, 255): under a host that has not said it takes them, report 125 and say why.
fn wasi_exit_status(code: i32) -> i32 {
    if cfg!(target_os = "wasi")
        && !(0..126).contains(&code)
        && std::env::var_os(petrel_net::host::abi::FULL_EXIT_ENV).is_none()
    {
        eprintln!(
            "petrel: exit status {code} does not fit WASI's 0..=125; exiting with 125 \
             (petrel-host passes it through)"
        );
        return 125;
    }
    code
}

fn run_command_line() -> i32 {
    #[cfg(target_os = "wasi")]
    crate::wasi_preopens::recover();
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
        Command::Convert(args) => match crate::container::convert(args) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("petrel: {msg}");
                1
            }
        },
        // docker's convention: 125 when the runtime fails, so that it differs from the
        // statuses the container's process gives.
        Command::Run(args) => match crate::container::run(args) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("petrel: {msg}");
                crate::container::EXIT_RUNTIME
            }
        },
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Undoes gzip compression when the file is gzip-compressed (kernels are often shipped so).
pub(crate) fn maybe_gunzip(data: Vec<u8>, what: &str) -> Result<Vec<u8>, String> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Ok(data);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&data[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("{what}: bad gzip data: {e}"))?;
    Ok(out)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn timed_out(t: Duration) -> Result<i32, String> {
    eprintln!("petrel: timeout: the guest was stopped after {t:?}");
    Ok(EXIT_TIMEOUT)
}

fn insn_limit(insns: u64) -> Result<i32, String> {
    eprintln!("petrel: the guest was stopped after {insns} instructions");
    Ok(EXIT_TIMEOUT)
}

fn boot(mut args: BootArgs) -> Result<i32, String> {
    let mut virtio = Vec::new();
    if let Some(cfg_path) = &args.config {
        let cfg = crate::tinyemu_cfg::load(cfg_path)?;
        for eth in &cfg.eth {
            let kind = match eth.driver.as_str() {
                "tap" => petrel_net::BackendKind::Tap {
                    ifname: eth.ifname.clone(),
                },
                _ => petrel_net::BackendKind::User {
                    hostfwd: Vec::new(),
                    resolver: None,
                },
            };
            virtio.push(VirtioSpec::Net(petrel_net::NetSpec { kind, mac: None }));
        }
        for fs in &cfg.fs {
            virtio.push(VirtioSpec::Share {
                dir: fs.dir.clone(),
                tag: fs.tag.clone(),
                read_only: false,
            });
        }
        // TinyEMU opens its drives copy-on-write unless told otherwise.
        for d in &cfg.drives {
            virtio.push(VirtioSpec::Block {
                path: d.file.clone(),
                read_only: false,
                snapshot: true,
            });
        }
        args.memory = args.memory.or(cfg.memory_mib);
        args.bios = args.bios.or(cfg.bios.map(|p| p.display().to_string()));
        args.kernel = args.kernel.or(cfg.kernel);
        args.initrd = args.initrd.or(cfg.initrd);
        args.append = args.append.or(cfg.cmdline);
    }
    if args.arch == Arch::X86_64 {
        if !virtio.is_empty() {
            return Err(
                "the x86_64 machine has no virtio devices yet (they come with the PC board)".into(),
            );
        }
        return boot_x86(&args);
    }
    let time = match args.deterministic_time {
        Some(0) => return Err("--deterministic-time needs a positive instruction count".into()),
        Some(n) => TimeMode::Instructions(n),
        None => TimeMode::Host,
    };
    let timeout = timeout_arg(args.timeout)?;

    // Gather the boot images.
    let bare_metal = args.bios.as_deref() == Some("none");
    let (firmware, kernel, initrd, cmdline);
    if bare_metal {
        let Some(k) = &args.kernel else {
            return Err("--bios none needs --kernel PROG.elf".into());
        };
        if args.initrd.is_some() || args.append.is_some() || args.run.is_some() {
            return Err("--initrd, --append and --run need firmware (drop --bios none)".into());
        }
        (firmware, kernel, initrd, cmdline) = (Vec::new(), read_file(k)?, None, String::new());
    } else {
        firmware = match &args.bios {
            Some(path) => read_file(Path::new(path))?,
            None => bundled::FIRMWARE.to_vec(),
        };
        let bundled_kernel = args.kernel.is_none();
        kernel = match &args.kernel {
            Some(k) => maybe_gunzip(read_file(k)?, &k.display().to_string())?,
            None => maybe_gunzip(bundled::KERNEL_GZ.to_vec(), "bundled kernel")?,
        };
        initrd = match &args.initrd {
            Some(p) => Some(read_file(p)?),
            None if bundled_kernel => Some(bundled::INITRD.to_vec()),
            None => None,
        };
        let mut line = args
            .append
            .clone()
            .unwrap_or_else(|| DEFAULT_CMDLINE.to_string());
        if let Some(cmd) = &args.run {
            line.push_str(" petrel.cmd64=");
            line.push_str(&base64(cmd.as_bytes()));
        }
        if line.len() >= MAX_CMDLINE {
            return Err(format!(
                "the kernel command line is {} bytes; Linux takes at most {} (--run commands are \
                 base64-encoded into it)",
                line.len(),
                MAX_CMDLINE - 1
            ));
        }
        cmdline = line;
    }
    let boot = if bare_metal {
        Boot::BareMetal { elf: &kernel }
    } else {
        Boot::Firmware {
            firmware: &firmware,
            kernel: &kernel,
            initrd: initrd.as_deref(),
            cmdline: &cmdline,
        }
    };
    let kernel_name = args.kernel.as_ref().map(|k| k.display().to_string());

    // `--net port,stdio` takes standard input and output for frames: the console then writes
    // to standard error and has no input.
    let nets = args
        .net
        .iter()
        .map(|n| petrel_net::NetSpec::parse(n).map_err(|e| format!("--net {n}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let net_stdio = nets
        .iter()
        .any(|s| s.kind == petrel_net::BackendKind::Port(petrel_net::PortMode::Stdio));
    let terminal = if net_stdio {
        crate::terminal::Terminal::untouched()
    } else {
        crate::terminal::Terminal::setup()
    };
    let exit_flag = Arc::new(AtomicBool::new(false));
    let limits = Limits {
        timeout,
        max_insns: args.max_insns,
        exit: Some(exit_flag.clone()),
    };
    for d in &args.drive {
        virtio.push(parse_drive(d)?);
    }
    if args.rng {
        virtio.push(VirtioSpec::Rng);
    }
    for (n, spec) in args.share.iter().enumerate() {
        let mut parts = spec.split(',');
        let dir = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or("--share needs a directory")?;
        let (mut tag, mut read_only) = (format!("share{n}"), false);
        for opt in parts {
            match opt {
                "ro" | "readonly" => read_only = true,
                o if o.starts_with("tag=") => tag = o["tag=".len()..].to_string(),
                o => return Err(format!("--share {spec}: unknown option '{o}' (tag=T, ro)")),
            }
        }
        virtio.push(VirtioSpec::Share {
            dir: PathBuf::from(dir),
            tag,
            read_only,
        });
    }
    virtio.extend(
        nets.into_iter()
            .filter(|s| s.kind != petrel_net::BackendKind::None)
            .map(VirtioSpec::Net),
    );
    for h in &args.hvc {
        let mut parts = h.split(',');
        let output = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or("--hvc needs an output file")?;
        let mut input = None;
        for opt in parts {
            match opt.strip_prefix("in=") {
                Some(p) if !p.is_empty() => input = Some(PathBuf::from(p)),
                _ => return Err(format!("--hvc {h}: unknown option '{opt}' (in=FILE)")),
            }
        }
        virtio.push(VirtioSpec::Console {
            output: PathBuf::from(output),
            input,
        });
    }
    let cfg = VirtConfig {
        virtio,
        memory_mib: args.memory.unwrap_or(256),
        time,
    };
    let (_no_input, input) = if net_stdio {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Some(tx), rx)
    } else {
        (
            None,
            crate::console::stdin_channel(terminal.is_raw(), exit_flag),
        )
    };
    let started = std::time::Instant::now();
    let mut insns = 0u64;
    let mut stdout: Box<dyn std::io::Write> = if net_stdio {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    // A guest reset rebuilds the machine from the same files, as a power cycle would.
    let result = loop {
        // The limits cover the whole run, across guest reboots.
        let mut slice_limits = limits.clone();
        if let Some(t) = limits.timeout {
            match t.checked_sub(started.elapsed()) {
                Some(left) if !left.is_zero() => slice_limits.timeout = Some(left),
                _ => break timed_out(t),
            }
        }
        if let Some(max) = limits.max_insns {
            match max.checked_sub(insns) {
                Some(left) if left > 0 => slice_limits.max_insns = Some(left),
                _ => break insn_limit(insns),
            }
        }
        let mut m = match RiscvVirt::new(&cfg, input.clone()) {
            Ok(m) => m,
            Err(e) => break Err(e),
        };
        if let Err(e) = m.load(&boot) {
            break Err(match (&kernel_name, bare_metal) {
                (Some(k), true) => format!("{k}: {e}"),
                _ => e,
            });
        }
        let end = m.run(&slice_limits, &mut *stdout);
        insns += m.hart.instret + m.hart.traps;
        match end {
            RunEnd::Reset => continue,
            RunEnd::Exit(code) => break Ok(code as i32),
            RunEnd::UserExit => break Ok(0),
            RunEnd::Timeout => break timed_out(limits.timeout.unwrap_or_default()),
            RunEnd::InsnLimit => break insn_limit(insns),
        }
    };
    terminal.restore();
    if args.stats {
        print_stats(insns, started);
    }
    result
}

/// `petrel boot --arch x86_64`: the bare-metal machine (Multiboot v1 kernel, COM1, port 0xE9,
/// exit port 0xF4).
fn boot_x86(args: &BootArgs) -> Result<i32, String> {
    use crate::board::pc_bare::{PcBare, DEFAULT_MEMORY_MIB};
    if args.bios.as_deref() != Some("none") {
        return Err(
            "--arch x86_64 runs bare-metal Multiboot kernels only so far: give --bios none \
                    --kernel PROG.elf"
                .into(),
        );
    }
    let Some(kernel_path) = &args.kernel else {
        return Err("--bios none needs --kernel PROG.elf".into());
    };
    for (set, name) in [
        (args.initrd.is_some(), "--initrd"),
        (args.run.is_some(), "--run"),
        (!args.drive.is_empty(), "--drive"),
        (!args.net.is_empty(), "--net"),
        (!args.share.is_empty(), "--share"),
        (!args.hvc.is_empty(), "--hvc"),
        (args.rng, "--rng"),
        (args.deterministic_time.is_some(), "--deterministic-time"),
    ] {
        if set {
            return Err(format!(
                "{name} is not available on the bare-metal x86_64 machine"
            ));
        }
    }
    let timeout = timeout_arg(args.timeout)?;
    let kernel = read_file(kernel_path)?;
    let name = kernel_path.display().to_string();
    let terminal = crate::terminal::Terminal::setup();
    let exit_flag = Arc::new(AtomicBool::new(false));
    let input = crate::console::stdin_channel(terminal.is_raw(), exit_flag.clone());
    let limits = Limits {
        timeout,
        max_insns: args.max_insns,
        exit: Some(exit_flag),
    };
    let started = std::time::Instant::now();
    let result = (|| {
        let mut m = PcBare::new(args.memory.unwrap_or(DEFAULT_MEMORY_MIB), input)?;
        let cmdline = args.append.clone().unwrap_or_else(|| name.clone());
        m.load_multiboot(&kernel, &cmdline)
            .map_err(|e| format!("{name}: {e}"))?;
        let mut stdout = std::io::stdout();
        let end = m.run(&limits, &mut stdout);
        let insns = m.cpu.insns;
        let r = match end {
            RunEnd::Exit(code) => Ok(code as i32),
            RunEnd::UserExit => Ok(0),
            RunEnd::Reset => Err(format!(
                "the guest's CPU shut down (triple fault) at {:#x}",
                m.cpu.rip
            )),
            RunEnd::Timeout => timed_out(timeout.unwrap_or_default()),
            RunEnd::InsnLimit => insn_limit(insns),
        };
        Ok::<_, String>((r, insns))
    })();
    terminal.restore();
    let (r, insns) = result?;
    if args.stats {
        print_stats(insns, started);
    }
    r
}

/// `--timeout SECS` as a duration (positive and finite).
fn timeout_arg(t: Option<f64>) -> Result<Option<Duration>, String> {
    match t {
        Some(t) if !(t > 0.0 && t.is_finite()) => Err(format!("invalid --timeout {t}")),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
        None => Ok(None),
    }
}

/// `--stats`: instructions and speed of the whole run, on stderr.
fn print_stats(insns: u64, started: std::time::Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "petrel: {insns} instructions in {secs:.3} s ({:.1} MIPS)",
        insns as f64 / secs / 1e6
    );
}
