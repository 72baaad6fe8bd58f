//! Finding an image's manifest, config and layers in what `docker save`, skopeo, umoci and
//! buildkit write: an OCI image layout directory (`index.json` + `blobs/`), the same layout in a
//! tar (an OCI archive), or a `docker save` tar (`manifest.json`). Multi-platform indexes are
//! resolved to one platform. Every blob read is checked against its sha256 digest and size.

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Manifests, indexes and configs are small; a larger one is hostile.
const MAX_JSON: u64 = 64 << 20;

/// `os/arch[/variant]`, as `docker --platform` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(format!(
                "invalid platform '{s}' (expected OS/ARCH[/VARIANT])"
            )),
        }
    }

    /// Whether `p` is this platform (a variant matters only when this one names it).
    fn accepts(&self, p: &Platform) -> bool {
        p.os == self.os
            && p.arch == self.arch
            && (self.variant.is_none() || p.variant == self.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How a layer blob is compressed (from its media type, confirmed by its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One layer: where its blob is and what it must hash to.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Path of the blob inside the image.
    pub path: String,
    /// Digest and size of the blob as stored (OCI descriptors), when the image states them.
    pub digest: Option<String>,
    pub size: Option<u64>,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`), when known.
    pub diff_id: Option<String>,
    pub compression: Compression,
}

/// A resolved image: the manifest chosen for the platform, its config and layers.
#[derive(Debug)]
pub struct Image {
    pub store: Store,
    /// Identifies the image for caching: the manifest digest (OCI) or the config digest
    /// (`docker save`, which has no manifest blob).
    pub id: String,
    pub platform: String,
    pub config: Value,
    pub layers: Vec<Layer>,
}

/// Where blobs are read from.
#[derive(Debug)]
pub enum Store {
    Dir(PathBuf),
    /// A tar file and the position and size of each member's data.
    Tar {
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
}

impl Store {
    fn open(image: &Path) -> Result<Store, String> {
        let meta = std::fs::metadata(image).map_err(|e| format!("{}: {e}", image.display()))?;
        if meta.is_dir() {
            return Ok(Store::Dir(image.to_path_buf()));
        }
        let mut f = File::open(image).map_err(|e| format!("{}: {e}", image.display()))?;
        let mut magic = [0u8; 4];
        let n = f.read(&mut magic).unwrap_or(0);
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(format!(
                "{}: a compressed archive; petrel reads image archives uncompressed (as docker \
                 save and skopeo write them): decompress it first",
                image.display()
            ));
        }
        f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let mut members = HashMap::new();
        let mut archive = tar::Archive::new(f);
        // Seeking past member data: an image archive may be gigabytes.
        let entries = archive
            .entries_with_seek()
            .map_err(|e| format!("{}: not a tar archive: {e}", image.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: bad tar archive: {e}", image.display()))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = name.trim_start_matches("./").to_string();
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        if members.is_empty() {
            return Err(format!(
                "{}: not an image (neither a directory nor a tar archive with files)",
                image.display()
            ));
        }
        Ok(Store::Tar {
            path: image.to_path_buf(),
            members,
        })
    }

    fn has(&self, name: &str) -> bool {
        match self {
            Store::Dir(d) => d.join(name).is_file(),
            Store::Tar { members, .. } => members.contains_key(name),
        }
    }

    /// Opens a member (a blob) and returns a reader limited to its length, and that length.
    pub fn open_member(&self, name: &str) -> Result<(Box<dyn Read>, u64), String> {
        if name.split('/').any(|c| c == "..") || name.starts_with('/') {
            return Err(format!("image refers to '{name}', outside the image"));
        }
        match self {
            Store::Dir(d) => {
                let p = d.join(name);
                let f = File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                let len = f.metadata().map_err(|e| e.to_string())?.len();
                Ok((Box::new(f), len))
            }
            Store::Tar { path, members } => {
                let &(pos, len) = members
                    .get(name)
                    .ok_or_else(|| format!("{}: no '{name}' in the archive", path.display()))?;
                let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                f.seek(SeekFrom::Start(pos))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((Box::new(f.take(len)), len))
            }
        }
    }

    /// Reads a small JSON member, checking its digest when one is expected.
    fn json(&self, name: &str, digest: Option<&str>) -> Result<Value, String> {
        let (r, len) = self.open_member(name)?;
        if len > MAX_JSON {
            return Err(format!(
                "{name}: {len} bytes is too large for image metadata"
            ));
        }
        let mut data = Vec::with_capacity(len as usize);
        r.take(MAX_JSON)
            .read_to_end(&mut data)
            .map_err(|e| format!("{name}: {e}"))?;
        if let Some(d) = digest {
            check_digest(name, d, &data)?;
        }
        serde_json::from_slice(&data).map_err(|e| format!("{name}: invalid JSON: {e}"))
    }
}

/// `sha256:HEX` → the blob path in an OCI layout, refusing anything that is not a digest.
fn blob_path(digest: &str) -> Result<String, String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("invalid digest '{digest}'"))?;
    if alg != "sha256" {
        return Err(format!("digest '{digest}': only sha256 is supported"));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(format!("invalid digest '{digest}'"));
    }
    Ok(format!("blobs/sha256/{hex}"))
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_digest(what: &str, want: &str, data: &[u8]) -> Result<(), String> {
    let got = format!("sha256:{}", sha256_hex(data));
    if got != want {
        return Err(format!(
            "{what}: corrupt: its sha256 is {got}, the image says {want}"
        ));
    }
    Ok(())
}

fn descriptor_digest(d: &Value) -> Result<&str, String> {
    d.get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| "a descriptor without a digest".to_string())
}

fn media_type(v: &Value) -> &str {
    v.get("mediaType").and_then(Value::as_str).unwrap_or("")
}

fn is_index(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json"
        || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn layer_compression(mt: &str) -> Result<Compression, String> {
    Ok(match mt {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Compression::None,
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
        other => return Err(format!("unsupported layer media type '{other}'")),
    })
}

/// The platform an image config (or an index entry's `platform`) declares.
fn config_platform(config: &Value) -> Platform {
    let f = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
    Platform {
        os: f("os").unwrap_or_else(|| "linux".into()),
        arch: f("architecture").unwrap_or_else(|| "unknown".into()),
        variant: f("variant"),
    }
}

fn diff_ids(config: &Value) -> Vec<Option<String>> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Opens IMAGE (directory or tar) and resolves it for `platform`.
pub fn open(path: &Path, platform: &Platform) -> Result<Image, String> {
    let store = Store::open(path)?;
    if store.has("index.json") {
        open_oci(store, platform)
    } else if store.has("manifest.json") {
        open_docker(store, platform)
    } else {
        Err(format!(
            "{}: not a container image (no index.json as in an OCI layout, no manifest.json as \
             in a docker save archive)",
            path.display()
        ))
    }
}

fn open_oci(store: Store, platform: &Platform) -> Result<Image, String> {
    let index = store.json("index.json", None)?;
    let mut seen = Vec::new();
    let manifest_desc = choose_manifest(&store, &index, platform, &mut seen, 0)?;
    let Some(desc) = manifest_desc else {
        let list = if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        };
        return Err(format!(
            "the image has no manifest for {platform} (it has: {list}); use --platform to \
             choose one"
        ));
    };
    let digest = descriptor_digest(&desc)?.to_string();
    let manifest = store.json(&blob_path(&digest)?, Some(&digest))?;
    let config_desc = manifest
        .get("config")
        .ok_or("the image manifest has no config")?;
    let config_digest = descriptor_digest(config_desc)?;
    let config = store.json(&blob_path(config_digest)?, Some(config_digest))?;
    let found = config_platform(&config);
    if !platform.accepts(&found) && desc.get("platform").is_none() {
        return Err(format!(
            "the image is for {found}, not {platform}; use --platform {found} to take it anyway"
        ));
    }
    let ids = diff_ids(&config);
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("the image manifest has no layers list")?
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let d = descriptor_digest(l)?;
            Ok(Layer {
                path: blob_path(d)?,
                digest: Some(d.to_string()),
                size: l.get("size").and_then(Value::as_u64),
                diff_id: ids.get(i).cloned().flatten(),
                compression: layer_compression(media_type(l))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Image {
        store,
        id: digest,
        platform: found.to_string(),
        config,
        layers,
    })
}

/// Walks an index (and nested indexes) for the manifest of `platform`. A manifest without a
/// platform is taken when it is the only candidate (its config is checked afterwards).
fn choose_manifest(
    store: &Store,
    index: &Value,
    platform: &Platform,
    seen: &mut Vec<String>,
    depth: u32,
) -> Result<Option<Value>, String> {
    if depth > 4 {
        return Err("image indexes nest too deeply".into());
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or("index.json has no manifests")?;
    let mut unlabelled = Vec::new();
    for m in manifests {
        let mt = media_type(m);
        if is_index(mt) {
            let d = descriptor_digest(m)?;
            let nested = store.json(&blob_path(d)?, Some(d))?;
            if let Some(found) = choose_manifest(store, &nested, platform, seen, depth + 1)? {
                return Ok(Some(found));
            }
            continue;
        }
        match m.get("platform") {
            Some(p) => {
                let os = p.get("os").and_then(Value::as_str).unwrap_or("?");
                let arch = p.get("architecture").and_then(Value::as_str).unwrap_or("?");
                // Build attestations are stored as manifests for "unknown/unknown".
                if os != "unknown" {
                    seen.push(format!("{os}/{arch}"));
                }
                if platform.accepts(&config_platform(p)) {
                    return Ok(Some(m.clone()));
                }
            }
            None => unlabelled.push(m.clone()),
        }
    }
    if unlabelled.len() == 1 && depth == 0 && seen.is_empty() {
        return Ok(unlabelled.pop());
    }
    if unlabelled.len() > 1 && seen.is_empty() {
        // Several images without platforms (an OCI layout holding several tags): the first is
        // as good a guess as any only if it matches; look at each config.
        for m in unlabelled {
            let d = descriptor_digest(&m)?;
            let manifest = store.json(&blob_path(d)?, Some(d))?;
            if let Some(cd) = manifest.get("config").map(descriptor_digest).transpose()? {
                let config = store.json(&blob_path(cd)?, Some(cd))?;
                let p = config_platform(&config);
                seen.push(p.to_string());
                if platform.accepts(&p) {
                    return Ok(Some(m));
                }
            }
        }
    }
    Ok(None)
}

fn open_docker(store: Store, platform: &Platform) -> Result<Image, String> {
    let list = store.json("manifest.json", None)?;
    let entries = list
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("manifest.json lists no images")?;
    let mut seen = Vec::new();
    for entry in entries {
        let config_path = entry
            .get("Config")
            .and_then(Value::as_str)
            .ok_or("manifest.json: an entry without Config")?;
        // The config's file name is its digest, in both the classic (HEX.json) and the OCI-style
        // (blobs/sha256/HEX) layouts.
        let stem = config_path
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".json");
        let digest = format!("sha256:{stem}");
        let expect = (stem.len() == 64).then_some(digest.as_str());
        let config = store.json(config_path, expect)?;
        let p = config_platform(&config);
        if !platform.accepts(&p) {
            seen.push(p.to_string());
            continue;
        }
        let ids = diff_ids(&config);
        let paths = entry
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or("manifest.json: an entry without Layers")?;
        if ids.len() != paths.len() {
            return Err(format!(
                "manifest.json lists {} layers but the config has {} diff_ids",
                paths.len(),
                ids.len()
            ));
        }
        let layers = paths
            .iter()
            .zip(ids)
            .map(|(p, id)| {
                let path = p
                    .as_str()
                    .ok_or("manifest.json: a layer that is not a path")?;
                Ok(Layer {
                    path: path.to_string(),
                    digest: None,
                    size: None,
                    diff_id: Some(id.ok_or("the config has a diff_id that is not a string")?),
                    // docker save writes plain tars; newer versions may compress: sniffed.
                    compression: Compression::None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        return Ok(Image {
            store,
            id: digest,
            platform: p.to_string(),
            config,
            layers,
        });
    }
    Err(format!(
        "the archive has no image for {platform} (it has: {}); use --platform to choose one",
        seen.join(", ")
    ))
}
