//! Bundles: what `petrel convert` writes and `petrel run` boots. A bundle directory holds
//! `rootfs.sqfs` (the image's root filesystem, squashfs), `bundle.json` (the image id, platform
//! and the image config: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, ...) and
//! `boot/` (firmware, kernel and initramfs the guest boots with). A conversion writes into
//! `BUNDLE.partial` and renames it at the end, so a failed conversion leaves no bundle behind.

use crate::image::{self, Platform};
use crate::layers::{self, Progress, Spool, Tree};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub const ROOTFS: &str = "rootfs.sqfs";
pub const CONFIG: &str = "bundle.json";
pub const BOOT: &str = "boot";
const FORMAT: u64 = 1;

/// A bundle's description.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    /// The image's id (manifest digest, or config digest for docker save archives).
    pub image: String,
    pub platform: String,
    /// The image config's `config` object (Entrypoint, Cmd, Env, ...), possibly null.
    pub config: Value,
}

impl BundleInfo {
    fn to_json(&self) -> Value {
        json!({
            "petrel_bundle": FORMAT,
            "image": self.image,
            "platform": self.platform,
            "config": self.config,
            "rootfs": ROOTFS,
        })
    }

    pub fn load(dir: &Path) -> Result<BundleInfo, String> {
        let p = dir.join(CONFIG);
        let data = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let v: Value =
            serde_json::from_slice(&data).map_err(|e| format!("{}: {e}", p.display()))?;
        if v.get("petrel_bundle").and_then(Value::as_u64) != Some(FORMAT) {
            return Err(format!(
                "{}: not a petrel bundle of format {FORMAT}",
                p.display()
            ));
        }
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{}: no '{k}'", p.display()))
        };
        Ok(BundleInfo {
            image: s("image")?,
            platform: s("platform")?,
            config: v.get("config").cloned().unwrap_or(Value::Null),
        })
    }
}

/// Whether `dir` looks like a bundle (rather than an OCI layout directory).
pub fn is_bundle(dir: &Path) -> bool {
    dir.join(CONFIG).is_file()
}

/// Progress lines on standard error, one per layer, rewritten in place on a terminal.
pub struct StderrProgress {
    pub tty: bool,
    size: u64,
    label: String,
}

impl StderrProgress {
    pub fn new(tty: bool) -> Self {
        StderrProgress {
            tty,
            size: 0,
            label: String::new(),
        }
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

impl Progress for StderrProgress {
    fn layer_start(&mut self, index: usize, total: usize, digest: &str, size: u64) {
        let short: String = digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        self.label = format!("layer {}/{total} {short}", index + 1);
        self.size = size;
        if self.tty {
            eprint!("\r{}: 0.0/{:.1} MiB", self.label, mib(size));
        }
    }
    fn layer_bytes(&mut self, read: u64) {
        if self.tty {
            eprint!(
                "\r{}: {:.1}/{:.1} MiB",
                self.label,
                mib(read),
                mib(self.size)
            );
        }
    }
    fn layer_done(&mut self) {
        if self.tty {
            eprintln!("\r{}: {:.1} MiB done      ", self.label, mib(self.size));
        } else {
            eprintln!("{}: {:.1} MiB done", self.label, mib(self.size));
        }
    }
}

/// Reads the image, applies its layers and returns the info and the squashfs root filesystem
/// written through `out`.
fn build<W: std::io::Write + std::io::Seek>(
    image_path: &Path,
    platform: &Platform,
    spool: Spool,
    out: W,
    progress: &mut dyn Progress,
) -> Result<BundleInfo, String> {
    let img = image::open(image_path, platform)?;
    let mut tree = Tree::new(spool);
    layers::apply_layers(&img.store, &img.layers, &mut tree, progress)?;
    crate::squash::write_squashfs(tree, out)?;
    Ok(BundleInfo {
        image: img.id,
        platform: img.platform,
        config: img.config.get("config").cloned().unwrap_or(Value::Null),
    })
}

/// Only the image's id and platform, without converting (for cache look-ups).
pub fn image_id(image_path: &Path, platform: &Platform) -> Result<String, String> {
    Ok(image::open(image_path, platform)?.id)
}

/// Converts an image into a bundle directory `out`, which must not exist yet. `boot` lists
/// the files to place in `boot/`.
pub fn convert(
    image_path: &Path,
    platform: &Platform,
    out: &Path,
    boot: &[(&str, &[u8])],
    progress: &mut dyn Progress,
) -> Result<BundleInfo, String> {
    if out.exists() {
        return Err(format!("{}: already exists", out.display()));
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    }
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(partial.join(BOOT)).map_err(|e| io(&partial, e))?;
    let result = (|| {
        let spool_path = partial.join("spool");
        let spool_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spool_path)
            .map_err(|e| io(&spool_path, e))?;
        let rootfs = partial.join(ROOTFS);
        let out_file = std::fs::File::create(&rootfs).map_err(|e| io(&rootfs, e))?;
        let info = build(
            image_path,
            platform,
            Spool::new(Box::new(spool_file)),
            std::io::BufWriter::new(out_file),
            progress,
        )?;
        std::fs::remove_file(&spool_path).map_err(|e| io(&spool_path, e))?;
        for (name, data) in boot {
            let p = partial.join(BOOT).join(name);
            std::fs::write(&p, data).map_err(|e| io(&p, e))?;
        }
        let cfg = partial.join(CONFIG);
        let text = serde_json::to_string_pretty(&info.to_json()).expect("JSON values serialise");
        std::fs::write(&cfg, text + "\n").map_err(|e| io(&cfg, e))?;
        std::fs::rename(&partial, out).map_err(|e| io(out, e))?;
        Ok(info)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

/// Converts an image without writing anything: the root filesystem image is returned in memory
/// (for hosts with nowhere to cache, such as a WASI run without a cache directory).
pub fn convert_in_memory(
    image_path: &Path,
    platform: &Platform,
    progress: &mut dyn Progress,
) -> Result<(BundleInfo, Vec<u8>), String> {
    let mut out = std::io::Cursor::new(Vec::new());
    let spool = Spool::new(Box::new(std::io::Cursor::new(Vec::new())));
    let info = build(image_path, platform, spool, &mut out, progress)?;
    Ok((info, out.into_inner()))
}
