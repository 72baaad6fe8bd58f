//! `petrel convert` and `petrel run`: container images become bundles (cached by image id),
//! and a bundle boots in the bundled guest whose init (`/sbin/petrel-run`) mounts the image and
//! runs its process. This module owns the host end of that run: the machine's devices (root
//! filesystem disk, volumes, network, the `petrel.run` port) and the session that carries
//! config, stdio, signals and the exit status over the port.

use crate::board::riscv_virt::{Boot, RiscvVirt, VirtConfig, VirtioSpec};
use crate::board::{Companion, Limits, RunEnd, TimeMode};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use petrel_containers::bundle::{self, BundleInfo, StderrProgress};
use petrel_containers::image::Platform;
use petrel_containers::run::{self, Decoder, GuestMsg, NetConfig, Overrides, Volume};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The platform of the guests petrel runs today.
pub const GUEST_PLATFORM: &str = "linux/riscv64";
/// The port the guest's init looks for.
const PORT_NAME: &str = "petrel.run";
const CMDLINE: &str = "console=ttyS0 quiet rdinit=/sbin/petrel-run";
/// docker's status when the runtime itself fails.
pub const EXIT_RUNTIME: i32 = 125;
const BOOT_FILES: [&str; 3] = ["fw_dynamic.bin", "Image.gz", "initramfs.cpio.gz"];

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The image: an OCI image layout directory, an OCI archive (tar), or a `docker save` tar.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// The bundle directory to write (must not exist).
    #[arg(short, long, value_name = "BUNDLE")]
    output: PathBuf,
    /// The platform to take from a multi-platform image [default: linux/riscv64].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Override the image's entrypoint ("" clears it).
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Set an environment variable (K=V), or pass the host's value of K.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Bind a host directory into the container (over virtio-9p).
    #[arg(short = 'v', long = "volume", value_name = "HOSTDIR:PATH[:ro]")]
    volume: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User to run as: NAME|UID[:GROUP|GID].
    #[arg(short = 'u', long = "user", value_name = "USER")]
    user: Option<String>,
    /// Network backend, as `petrel boot --net` [default: user]: `user`, `tap[,ifname=N]`,
    /// `port,...`, `host[,id=N]` (petrel.wasm), or `none`.
    #[arg(long = "net", visible_alias = "network", value_name = "SPEC")]
    net: Option<String>,
    /// Publish a container port on the host (user network).
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[ADDR:]HOSTPORT:PORT[/udp]"
    )]
    publish: Vec<String>,
    /// Guest RAM in MiB [default: 256].
    #[arg(short = 'm', long, value_name = "MiB")]
    memory: Option<u64>,
    /// The platform to take from a multi-platform image [default: linux/riscv64].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// The container's host name [default: petrel].
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Give the process a terminal (and put the host terminal in raw mode).
    #[arg(short = 't', long)]
    tty: bool,
    /// Accepted for docker compatibility: standard input is always connected.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Accepted for docker compatibility: nothing of a run is kept.
    #[arg(long)]
    rm: bool,
    /// End the run after this many seconds (exit status 124).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Show the guest kernel's console on standard error.
    #[arg(long)]
    debug_console: bool,
    /// Where converted images are cached [default: $PETREL_CACHE_DIR, else
    /// $XDG_CACHE_HOME/petrel/bundles, else ~/.cache/petrel/bundles; with none of them, the
    /// image is converted in memory for this run].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The image (OCI layout directory, OCI archive, docker save tar) or a bundle directory.
    #[arg(value_name = "IMAGE|BUNDLE")]
    image: PathBuf,
    /// The command and its arguments (replace the image's Cmd).
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    cmd: Vec<String>,
}

fn platform(p: &Option<String>) -> Result<Platform, String> {
    Platform::parse(p.as_deref().unwrap_or(GUEST_PLATFORM)).map_err(|e| format!("--platform: {e}"))
}

fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The bundled guest's boot files, as a bundle stores them.
fn boot_files() -> [(&'static str, &'static [u8]); 3] {
    use crate::cli::bundled;
    [
        (BOOT_FILES[0], bundled::FIRMWARE),
        (BOOT_FILES[1], bundled::KERNEL_GZ),
        (BOOT_FILES[2], bundled::INITRD),
    ]
}

pub fn convert(args: ConvertArgs) -> Result<i32, String> {
    let platform = platform(&args.platform)?;
    let started = std::time::Instant::now();
    let mut progress = StderrProgress::new(stderr_is_tty());
    let info = bundle::convert(
        &args.image,
        &platform,
        &args.output,
        &boot_files(),
        &mut progress,
    )?;
    eprintln!(
        "petrel: {} ({}, {}) converted to {} in {:.2} s",
        args.image.display(),
        info.image,
        info.platform,
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn cache_root(arg: &Option<PathBuf>) -> Option<PathBuf> {
    if let Some(d) = arg {
        return Some(d.clone());
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("PETREL_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("petrel/bundles")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/petrel/bundles")))
}

/// Where the root filesystem and boot files come from.
enum Source {
    Dir(PathBuf),
    Memory(Arc<Vec<u8>>),
}

/// Finds or makes the bundle for IMAGE|BUNDLE.
fn prepare(args: &RunArgs) -> Result<(BundleInfo, Source), String> {
    if args.image.is_dir() && bundle::is_bundle(&args.image) {
        let info = BundleInfo::load(&args.image)?;
        return Ok((info, Source::Dir(args.image.clone())));
    }
    let platform = platform(&args.platform)?;
    let mut progress = StderrProgress::new(stderr_is_tty());
    let Some(root) = cache_root(&args.cache_dir) else {
        eprintln!(
            "petrel: converting {} in memory (no cache directory: see --cache-dir)",
            args.image.display()
        );
        let (info, rootfs) = bundle::convert_in_memory(&args.image, &platform, &mut progress)?;
        return Ok((info, Source::Memory(Arc::new(rootfs))));
    };
    let id = bundle::image_id(&args.image, &platform)?;
    // The guest's init is part of what a bundle boots: a petrel with another guest converts
    // afresh rather than mixing its host side with an older init.
    let guest = petrel_containers::image::sha256_hex(crate::cli::bundled::INITRD);
    let key = format!("{}-{}", id.trim_start_matches("sha256:"), &guest[..12]);
    let dir = root.join(key);
    if !bundle::is_bundle(&dir) {
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        eprintln!(
            "petrel: converting {} ({id}) into {}",
            args.image.display(),
            dir.display()
        );
        bundle::convert(&args.image, &platform, &dir, &boot_files(), &mut progress)?;
    }
    let info = BundleInfo::load(&dir)?;
    Ok((info, Source::Dir(dir)))
}

/// Signals to forward to the container (natively: SIGINT, SIGTERM, SIGHUP, SIGQUIT).
static PENDING_SIGNAL: AtomicI32 = AtomicI32::new(0);
static SIGNALS_SEEN: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
fn forward_signals() {
    extern "C" fn on_signal(sig: libc::c_int) {
        PENDING_SIGNAL.store(sig, Ordering::Relaxed);
        SIGNALS_SEEN.fetch_add(1, Ordering::Relaxed);
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// The host's terminal size for `-t`.
fn window_size() -> Option<(u16, u16)> {
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ fills the winsize we pass.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        for fd in [1, 0, 2] {
            if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
                return Some((ws.ws_row, ws.ws_col));
            }
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The host end of the `petrel.run` port.
struct Session {
    from_guest: Receiver<Vec<u8>>,
    to_guest: Sender<u8>,
    stdin: Option<Receiver<u8>>,
    decoder: Decoder,
    msgs: Vec<GuestMsg>,
    stdin_buf: Vec<u8>,
    /// Set when the guest said something it should not have; the run ends with it.
    error: Option<String>,
    /// The container's exit status, once known.
    exited: Option<i32>,
}

impl Session {
    fn send(&self, frame: &[u8]) {
        for &b in frame {
            let _ = self.to_guest.send(b);
        }
    }
}

impl Companion for Session {
    fn poll(&mut self) -> Option<RunEnd> {
        while let Ok(bytes) = self.from_guest.try_recv() {
            if let Err(e) = self.decoder.push(&bytes, &mut self.msgs) {
                self.error = Some(e);
                return Some(RunEnd::Exit(EXIT_RUNTIME as u32));
            }
        }
        let mut end = None;
        if !self.msgs.is_empty() {
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            for m in self.msgs.drain(..) {
                // A closed stdout (`| head`) must not stop the container: output is dropped.
                match m {
                    GuestMsg::Stdout(b) => {
                        let _ = out.write_all(&b);
                    }
                    GuestMsg::Stderr(b) => {
                        let _ = err.write_all(&b);
                    }
                    GuestMsg::Exit(code) => {
                        self.exited = Some(code);
                        end = Some(RunEnd::Exit(code as u32));
                    }
                }
            }
            let _ = out.flush();
            let _ = err.flush();
        }
        if end.is_some() {
            return end;
        }
        if let Some(rx) = &self.stdin {
            let mut closed = false;
            loop {
                match rx.try_recv() {
                    Ok(b) => self.stdin_buf.push(b),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if !self.stdin_buf.is_empty() {
                let f = run::frame(b'I', &self.stdin_buf);
                self.stdin_buf.clear();
                self.send(&f);
            }
            if closed {
                self.send(&run::frame(b'E', &[]));
                self.stdin = None;
            }
        }
        let sig = PENDING_SIGNAL.swap(0, Ordering::Relaxed);
        if sig != 0 {
            if SIGNALS_SEEN.load(Ordering::Relaxed) >= 3 {
                eprintln!("petrel: stopping the container (signal {sig} three times)");
                self.exited = Some(128 + sig);
                return Some(RunEnd::Exit(128 + sig as u32));
            }
            self.send(&run::frame(b'S', &[sig as u8]));
        }
        None
    }
}

/// Keeps the end of the guest console for error reports.
struct Tail {
    buf: Vec<u8>,
    echo: bool,
}

impl Write for Tail {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.echo {
            let _ = std::io::stderr().write_all(b);
        }
        self.buf.extend_from_slice(b);
        if self.buf.len() > 32 << 10 {
            self.buf.drain(..self.buf.len() - (16 << 10));
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn run(args: RunArgs) -> Result<i32, String> {
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => return Err(format!("invalid --timeout {t}")),
        t => t.map(Duration::from_secs_f64),
    };
    // Check everything the user typed before the (possibly long) conversion.
    let mut volumes = Vec::new();
    let mut virtio = Vec::new();
    for (i, v) in args.volume.iter().enumerate() {
        let (host, path, read_only) = run::parse_volume(v)?;
        let host = PathBuf::from(host);
        if !host.is_dir() {
            // docker creates a missing host directory; a file is not something 9p can share.
            if host.exists() {
                return Err(format!("-v {v}: {} is not a directory", host.display()));
            }
            std::fs::create_dir_all(&host).map_err(|e| format!("-v {v}: {e}"))?;
        }
        let tag = format!("vol{i}");
        virtio.push(VirtioSpec::Share {
            dir: host,
            tag: tag.clone(),
            read_only,
        });
        volumes.push(Volume {
            tag,
            path,
            read_only,
        });
    }
    let mut net_spec = args.net.clone().unwrap_or_else(|| "user".into());
    let rules = args
        .publish
        .iter()
        .map(|p| run::parse_publish(p))
        .collect::<Result<Vec<_>, _>>()?;
    if !rules.is_empty() {
        if !(net_spec == "user" || net_spec.starts_with("user,")) {
            return Err("-p needs the user network (--net user)".into());
        }
        for r in rules {
            net_spec.push(',');
            net_spec.push_str(&r);
        }
    }
    let net =
        petrel_net::NetSpec::parse(&net_spec).map_err(|e| format!("--net {net_spec}: {e}"))?;
    let net_config = match &net.kind {
        petrel_net::BackendKind::None => NetConfig::None,
        petrel_net::BackendKind::User { .. } => {
            NetConfig::Static("10.0.2.15/24".into(), "10.0.2.2".into(), "10.0.2.3".into())
        }
        _ => NetConfig::Dhcp,
    };
    if let petrel_net::BackendKind::Port(petrel_net::PortMode::Stdio) = net.kind {
        return Err("--net port,stdio would take the container's standard streams".into());
    }

    let (info, source) = prepare(&args)?;
    let overrides = Overrides {
        entrypoint: args.entrypoint.clone(),
        cmd: args.cmd.clone(),
        env: args.env.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
    };
    let mut spec = run::resolve(&info.config, &overrides, &|k| std::env::var(k).ok())?;
    spec.volumes = volumes;
    spec.net = net_config;
    spec.validate()?;

    let (firmware, kernel_gz, initrd, rootfs) = match &source {
        Source::Dir(dir) => {
            let read = |name: &str| {
                let p = dir.join(bundle::BOOT).join(name);
                std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let rootfs = VirtioSpec::Block {
                path: dir.join(bundle::ROOTFS),
                read_only: true,
                snapshot: false,
            };
            (
                read(BOOT_FILES[0])?,
                read(BOOT_FILES[1])?,
                read(BOOT_FILES[2])?,
                rootfs,
            )
        }
        Source::Memory(data) => {
            let b = boot_files();
            let rootfs = VirtioSpec::MemoryDisk {
                name: "rootfs".into(),
                data: data.clone(),
            };
            (b[0].1.to_vec(), b[1].1.to_vec(), b[2].1.to_vec(), rootfs)
        }
    };
    let kernel = crate::cli::maybe_gunzip(kernel_gz, "bundle kernel")?;
    // The root filesystem is the first disk: /dev/vda in the guest.
    virtio.insert(0, rootfs);
    if net.kind != petrel_net::BackendKind::None {
        virtio.push(VirtioSpec::Net(net));
    }
    let (to_guest, guest_rx) = crossbeam_channel::unbounded();
    let (guest_tx, from_guest) = crossbeam_channel::unbounded();
    virtio.push(VirtioSpec::Port {
        name: PORT_NAME.into(),
        to_guest: guest_rx,
        from_guest: guest_tx,
    });
    let cfg = VirtConfig {
        virtio,
        memory_mib: args.memory.unwrap_or(256),
        time: TimeMode::Host,
    };

    let terminal = if args.tty {
        crate::terminal::Terminal::setup()
    } else {
        crate::terminal::Terminal::untouched()
    };
    #[cfg(unix)]
    forward_signals();
    let stdin = crate::console::stdin_channel(false, Arc::new(AtomicBool::new(false)));
    let mut session = Session {
        from_guest,
        to_guest,
        stdin: Some(stdin),
        decoder: Decoder::default(),
        msgs: Vec::new(),
        stdin_buf: Vec::new(),
        error: None,
        exited: None,
    };
    session.send(&spec.config_frame());
    if args.tty {
        if let Some((rows, cols)) = window_size() {
            let mut p = rows.to_le_bytes().to_vec();
            p.extend_from_slice(&cols.to_le_bytes());
            session.send(&run::frame(b'W', &p));
        }
    }
    // The serial console gets no input: stdin belongs to the container.
    let (_console_tx, console_rx) = crossbeam_channel::unbounded();
    let mut m = RiscvVirt::new(&cfg, console_rx)?;
    m.load(&Boot::Firmware {
        firmware: &firmware,
        kernel: &kernel,
        initrd: Some(&initrd),
        cmdline: CMDLINE,
    })?;
    let mut tail = Tail {
        buf: Vec::new(),
        echo: args.debug_console,
    };
    let limits = Limits {
        timeout,
        max_insns: None,
        exit: None,
    };
    let end = m.run_with(&limits, &mut tail, &mut session);
    terminal.restore();
    if let Some(e) = session.error {
        return Err(e);
    }
    let unexpected = |what: &str| {
        let text = String::from_utf8_lossy(&tail.buf);
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        let mut msg = format!("the guest {what} before the container's process ended");
        if !args.debug_console && from < lines.len() {
            msg.push_str("; the guest console said:\n");
            msg.push_str(&lines[from..].join("\n"));
        }
        Err(msg)
    };
    if let Some(code) = session.exited {
        return Ok(code);
    }
    match end {
        RunEnd::Exit(_) | RunEnd::UserExit => unexpected("powered off"),
        RunEnd::Reset => unexpected("rebooted"),
        RunEnd::Timeout => {
            eprintln!("petrel: the container was stopped after --timeout");
            Ok(crate::cli::EXIT_TIMEOUT)
        }
        RunEnd::InsnLimit => Ok(crate::cli::EXIT_TIMEOUT),
    }
}
