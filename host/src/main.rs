//! petrel-host: runs petrel.wasm in wasmtime (WASI p1) and gives it host ports — network
//! interfaces whose frames this program carries, through functions it places in the module's
//! function table (net-backends/src/host.rs has the contract and why it is not imports), to
//! native backends: the `user` stack, a TAP device, or a stream port. The module's console is
//! this program's standard streams; directories are pre-opened as with `wasmtime run --dir`.

use petrel_net::host::abi;
use petrel_net::{Backend, BackendKind, DeviceEnd, NetSpec, MAX_FRAME};
use std::path::{Path, PathBuf};
use wasmtime::{Caller, Config, Engine, ExternType, Func, Linker, Module, Ref, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

const USAGE: &str = "\
usage: petrel-host [OPTIONS] [--] PETREL-ARGS...

Runs petrel.wasm under wasmtime with the given petrel arguments (e.g. `boot --run CMD`).

options:
  --wasm FILE          the module (default: petrel.wasm beside this program, else
                       target/wasm32-wasip1/release/petrel.wasm)
  --dir HOST[::GUEST]  pre-open a host directory, as GUEST (default: the same path); `.` makes
                       relative paths work
  --net SPEC           a host port backed by a native backend: user[,hostfwd=..][,resolver=..],
                       tap[,ifname=..] or port,...; the Nth --net is host port N-1, which the
                       module uses with `--net host,id=N-1`
  --env KEY=VALUE      set an environment variable for the module
  --no-cache           do not cache compiled code (default: wasmtime's cache directory)
  -h, --help           this text

petrel-host exits with the module's exit status.";

struct Options {
    wasm: Option<PathBuf>,
    dirs: Vec<(String, String)>,
    nets: Vec<NetSpec>,
    env: Vec<(String, String)>,
    cache: bool,
    args: Vec<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        wasm: None,
        dirs: Vec::new(),
        nets: Vec::new(),
        env: Vec::new(),
        cache: true,
        args: Vec::new(),
    };
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--wasm" => o.wasm = Some(PathBuf::from(value("--wasm")?)),
            "--dir" => {
                let v = value("--dir")?;
                let (host, guest) = match v.split_once("::") {
                    Some((h, g)) => (h.to_string(), g.to_string()),
                    None => (v.clone(), v.clone()),
                };
                if host.is_empty() || guest.is_empty() {
                    return Err(format!("--dir '{v}': expected HOST[::GUEST]"));
                }
                o.dirs.push((host, guest));
            }
            "--net" => {
                let v = value("--net")?;
                let spec = NetSpec::parse(&v).map_err(|e| format!("--net {v}: {e}"))?;
                match spec.kind {
                    BackendKind::None | BackendKind::Host { .. } => {
                        return Err(format!(
                            "--net {v}: a host port needs a native backend (user, tap or port)"
                        ))
                    }
                    _ => {}
                }
                if spec.mac.is_some() {
                    return Err(format!(
                        "--net {v}: the MAC address is the guest's; give it to petrel \
                         (--net host,id=N,mac=..)"
                    ));
                }
                o.nets.push(spec);
            }
            "--env" => {
                let v = value("--env")?;
                let (k, val) = v
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or(format!("--env '{v}': expected KEY=VALUE"))?;
                o.env.push((k.to_string(), val.to_string()));
            }
            "--no-cache" => o.cache = false,
            "--" => {
                o.args.extend(it);
                break;
            }
            s if s.starts_with('-') && o.args.is_empty() => {
                return Err(format!("unknown option '{s}'"));
            }
            _ => {
                o.args.push(a);
                o.args.extend(it);
                break;
            }
        }
    }
    if o.args.is_empty() {
        return Err("no petrel arguments (e.g. `petrel-host -- boot`)".into());
    }
    Ok(Some(o))
}

/// One host port: the native backend and the device-side ends of its link.
struct NativePort {
    end: DeviceEnd,
    backend: Option<Box<dyn Backend>>,
    checksums_valid: bool,
    id: usize,
}

impl NativePort {
    /// Lets the backend move frames; false once it has stopped for good.
    fn pump(&mut self) -> bool {
        let Some(b) = self.backend.as_mut() else {
            return false;
        };
        if let Err(e) = b.poll() {
            eprintln!("petrel-host: host port {}: {e}", self.id);
            self.backend = None;
            return false;
        }
        true
    }
}

struct State {
    wasi: WasiP1Ctx,
    ports: Vec<NativePort>,
}

fn port_of(state: &mut State, port: u32) -> Option<&mut NativePort> {
    state.ports.get_mut(port as usize)
}

/// `send(port, ptr, len)`: a frame from the guest.
fn host_send(mut caller: Caller<'_, State>, port: u32, ptr: u32, len: u32) -> i32 {
    let len = len as usize;
    if !(14..=MAX_FRAME).contains(&len) {
        return abi::GONE;
    }
    let Some(mem) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
        return abi::GONE;
    };
    let mut frame = vec![0u8; len];
    if mem.read(&caller, ptr as usize, &mut frame).is_err() {
        return abi::GONE;
    }
    let Some(p) = port_of(caller.data_mut(), port) else {
        return abi::GONE;
    };
    if p.backend.is_none() {
        return abi::GONE;
    }
    let frame = match p.end.to_backend.try_send(frame) {
        Ok(()) => None,
        Err(crossbeam_channel::TrySendError::Full(f)) => Some(f),
        Err(crossbeam_channel::TrySendError::Disconnected(_)) => return abi::GONE,
    };
    if !p.pump() {
        return abi::GONE;
    }
    match frame {
        None => abi::OK,
        Some(f) => match p.end.to_backend.try_send(f) {
            Ok(()) => abi::OK,
            Err(_) => abi::BUSY,
        },
    }
}

/// `recv(port, ptr, cap)`: the next frame for the guest, if any.
fn host_recv(mut caller: Caller<'_, State>, port: u32, ptr: u32, cap: u32) -> i32 {
    let Some(mem) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
        return abi::GONE;
    };
    let Some(p) = port_of(caller.data_mut(), port) else {
        return abi::GONE;
    };
    if !p.pump() {
        return abi::GONE;
    }
    let Ok(frame) = p.end.from_backend.try_recv() else {
        return 0;
    };
    if frame.len() > cap as usize || frame.len() > i32::MAX as usize {
        // The module offers MAX_FRAME bytes, which every backend respects.
        return abi::GONE;
    }
    match mem.write(&mut caller, ptr as usize, &frame) {
        Ok(()) => frame.len() as i32,
        Err(_) => abi::GONE,
    }
}

/// `info(port)`.
fn host_info(mut caller: Caller<'_, State>, port: u32) -> i32 {
    match port_of(caller.data_mut(), port) {
        Some(p) if p.backend.is_some() => {
            if p.checksums_valid {
                abi::INFO_CHECKSUMS_VALID
            } else {
                0
            }
        }
        _ => abi::GONE,
    }
}

fn default_wasm() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("petrel.wasm")));
    match beside {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("target/wasm32-wasip1/release/petrel.wasm"),
    }
}

fn run(o: Options) -> Result<i32, String> {
    let wasm_path = o.wasm.clone().unwrap_or_else(default_wasm);
    let bytes = std::fs::read(&wasm_path).map_err(|e| format!("{}: {e}", wasm_path.display()))?;

    let mut config = Config::new();
    if o.cache {
        match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
            Ok(c) => {
                config.cache(Some(c));
            }
            Err(e) => eprintln!("petrel-host: compiled-code cache unavailable: {e}"),
        }
    }
    let engine = Engine::new(&config).map_err(|e| format!("wasmtime: {e}"))?;
    let module = Module::new(&engine, &bytes)
        .map_err(|e| format!("{}: not a loadable module: {e}", wasm_path.display()))?;

    // The host functions go right after the module's own table entries.
    let table_base = module
        .exports()
        .find(|e| e.name() == "__indirect_function_table")
        .and_then(|e| match e.ty() {
            ExternType::Table(t) => Some(t.minimum()),
            _ => None,
        });
    if table_base.is_none() && !o.nets.is_empty() {
        return Err(format!(
            "{}: the module exports no function table, so it cannot have host ports",
            wasm_path.display()
        ));
    }

    let mut ports = Vec::new();
    for (id, spec) in o.nets.iter().enumerate() {
        let (end, link) = petrel_net::link();
        let backend = petrel_net::open(&spec.kind, link).map_err(|e| format!("--net: {e}"))?;
        ports.push(NativePort {
            end,
            checksums_valid: backend.checksums_valid(),
            backend: Some(backend),
            id,
        });
    }

    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().allow_blocking_current_thread(true);
    let mut argv = vec!["petrel".to_string()];
    argv.extend(o.args.iter().cloned());
    wasi.args(&argv);
    for (k, v) in &o.env {
        wasi.env(k, v);
    }
    wasi.env(abi::FULL_EXIT_ENV, "1");
    if let Some(base) = table_base {
        wasi.env(abi::ENV, format!("{},{},{}", base, base + 1, base + 2));
    }
    for (host, guest) in &o.dirs {
        if !Path::new(host).is_dir() {
            return Err(format!("--dir {host}: not a directory"));
        }
        wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| format!("--dir {host}: {e}"))?;
    }
    let mut store = Store::new(
        &engine,
        State {
            wasi: wasi.build_p1(),
            ports,
        },
    );
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)
        .map_err(|e| format!("wasmtime: {e}"))?;
    // WASI's proc_exit refuses statuses from 126 up; guests use them (signals, 255), and this
    // host promises (FULL_EXIT_ENV) to pass every status through.
    linker.allow_shadowing(true);
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "proc_exit",
            |_: Caller<'_, State>, status: i32| -> wasmtime::Result<()> {
                Err(I32Exit(status).into())
            },
        )
        .map_err(|e| format!("wasmtime: {e}"))?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| format!("{}: {e}", wasm_path.display()))?;

    if let Some(base) = table_base {
        let table = instance
            .get_table(&mut store, "__indirect_function_table")
            .ok_or("the function table vanished")?;
        let funcs = [
            Func::wrap(&mut store, host_send),
            Func::wrap(&mut store, host_recv),
            Func::wrap(&mut store, host_info),
        ];
        let at = table
            .grow(&mut store, funcs.len() as u64, Ref::Func(None))
            .map_err(|e| format!("growing the function table: {e}"))?;
        if at != base {
            return Err(format!(
                "the function table has {at} entries before start, not {base}"
            ));
        }
        for (i, f) in funcs.into_iter().enumerate() {
            table
                .set(&mut store, base + i as u64, Ref::Func(Some(f)))
                .map_err(|e| format!("filling the function table: {e}"))?;
        }
    }

    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| format!("{}: not a WASI command: {e}", wasm_path.display()))?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(format!("petrel.wasm stopped: {e}")),
        },
    }
}

fn main() {
    let code = match parse_args(std::env::args().skip(1)) {
        Ok(None) => {
            println!("{USAGE}");
            0
        }
        Ok(Some(o)) => match run(o) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("petrel-host: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("petrel-host: {e} (see petrel-host --help)");
            2
        }
    };
    std::process::exit(code);
}
