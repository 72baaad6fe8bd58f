//! Container images made inside the tests: layers written with the `tar` crate (gzip, zstd or
//! plain), assembled as an OCI image layout directory, an OCI archive or a `docker save` tar,
//! following the OCI image spec and docker's archive format rather than petrel's reader. The
//! riscv64 busybox is Debian's busybox-static, taken from the bundled guest's initramfs.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

pub fn sha256(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Debian's riscv64 busybox-static, from guest-images/riscv64/initramfs.cpio.gz (newc cpio).
pub fn busybox() -> Vec<u8> {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/guest-images/riscv64/initramfs.cpio.gz"
    ))
    .unwrap();
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut cpio)
        .unwrap();
    let mut at = 0;
    let field = |b: &[u8], i: usize| {
        usize::from_str_radix(std::str::from_utf8(&b[6 + i * 8..14 + i * 8]).unwrap(), 16).unwrap()
    };
    let pad = |n: usize| (n + 3) & !3;
    while at + 110 <= cpio.len() {
        let h = &cpio[at..at + 110];
        assert_eq!(&h[..6], b"070701", "initramfs is not a newc cpio");
        let (size, namesize) = (field(h, 6), field(h, 11));
        let name = &cpio[at + 110..at + 110 + namesize - 1];
        let data_at = pad(at + 110 + namesize);
        if name == b"bin/busybox" {
            return cpio[data_at..data_at + size].to_vec();
        }
        at = pad(data_at + size);
    }
    panic!("no bin/busybox in the initramfs");
}

/// One tar entry of a layer.
pub enum Entry {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32, u32, u32),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    /// `.wh.NAME` in a directory.
    Whiteout(&'static str),
    /// `.wh..wh..opq` in a directory.
    Opaque(&'static str),
    Char(&'static str, u32, u32),
}

pub fn file(path: &str, data: &[u8], mode: u32) -> Entry {
    Entry::File(path.to_string(), data.to_vec(), mode, 0, 0)
}

pub fn owned(path: &str, data: &[u8], mode: u32, uid: u32, gid: u32) -> Entry {
    Entry::File(path.to_string(), data.to_vec(), mode, uid, gid)
}

/// A layer tar from entries. Names are written into the header's name field as given, so that
/// tests can also make hostile ones (the tar crate's `set_path` refuses them).
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        let (name, data): (String, &[u8]) = match e {
            Entry::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                (format!("{}/", p.trim_end_matches('/')), &[])
            }
            Entry::File(p, d, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*uid as u64);
                h.set_gid(*gid as u64);
                h.set_size(d.len() as u64);
                (p.clone(), d)
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(target).unwrap();
                (p.to_string(), &[])
            }
            Entry::Hardlink(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_link_name(target).unwrap();
                (p.to_string(), &[])
            }
            Entry::Whiteout(p) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
                let dir = if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                };
                (format!("{dir}.wh.{name}"), &[])
            }
            Entry::Opaque(dir) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                (format!("{}/.wh..wh..opq", dir.trim_end_matches('/')), &[])
            }
            Entry::Char(p, major, minor) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o666);
                h.set_device_major(*major).unwrap();
                h.set_device_minor(*minor).unwrap();
                (p.to_string(), &[])
            }
        };
        let field = &mut h.as_old_mut().name;
        assert!(
            name.len() <= field.len(),
            "test names fit the ustar name field"
        );
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A base layer: busybox with its applets as symlinks, /etc/passwd and /etc/group with a user
/// `app` (1000:1000) in group `staff` too, /tmp and a home directory.
pub fn base_layer() -> Vec<Entry> {
    let mut e = vec![
        Entry::Dir("bin", 0o755),
        Entry::Dir("etc", 0o755),
        Entry::Dir("home", 0o755),
        Entry::Dir("tmp", 0o1777),
        file("bin/busybox", &busybox(), 0o755),
        file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            0o644,
        ),
        file(
            "etc/group",
            b"root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
            0o644,
        ),
        Entry::Dir("home/app", 0o755),
    ];
    for applet in [
        "sh", "echo", "cat", "id", "ls", "env", "pwd", "sleep", "kill", "readlink", "stat",
        "md5sum", "wget", "httpd", "hostname", "test", "mkdir", "true", "false", "head", "wc",
        "tty", "touch", "ip", "nc",
    ] {
        e.push(Entry::Symlink(
            Box::leak(format!("bin/{applet}").into_boxed_str()),
            "busybox",
        ));
    }
    e
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            use std::io::Write;
            let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            g.write_all(tar).unwrap();
            g.finish().unwrap()
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// An image under construction: layer tars (uncompressed) and the config's `config` object.
pub struct Image {
    pub layers: Vec<(Vec<u8>, Compression)>,
    pub config: Value,
    pub arch: &'static str,
}

impl Image {
    pub fn new(config: Value) -> Image {
        Image {
            layers: Vec::new(),
            config,
            arch: "riscv64",
        }
    }

    pub fn layer(mut self, entries: &[Entry], c: Compression) -> Image {
        self.layers.push((layer_tar(entries), c));
        self
    }

    fn config_blob(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|(t, _)| format!("sha256:{}", sha256(t)))
            .collect();
        serde_json::to_vec(&json!({
            "architecture": self.arch,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        }))
        .unwrap()
    }

    /// The blobs (path → bytes) and index.json of an OCI layout; with `other_arch`, the index
    /// is a multi-platform one that also lists an amd64 image (a copy with another config).
    pub fn oci_files(&self, other_arch: bool) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut blob = |data: Vec<u8>| {
            let d = sha256(&data);
            let size = data.len();
            files.push((format!("blobs/sha256/{d}"), data));
            (format!("sha256:{d}"), size)
        };
        let mut layer_descs = Vec::new();
        for (tar, c) in &self.layers {
            let (d, size) = blob(compress(tar, *c));
            layer_descs.push(json!({"mediaType": layer_media_type(*c), "digest": d, "size": size}));
        }
        let mut manifest_for = |config: Vec<u8>| {
            let (cd, cs) = blob(config);
            let m = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cd, "size": cs},
                "layers": layer_descs,
            }))
            .unwrap();
            blob(m)
        };
        let (md, ms) = manifest_for(self.config_blob());
        let mut manifests = vec![json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": ms,
            "platform": {"architecture": self.arch, "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        })];
        if other_arch {
            let mut cfg: Value = serde_json::from_slice(&self.config_blob()).unwrap();
            cfg["architecture"] = json!("amd64");
            let (d, s) = manifest_for(serde_json::to_vec(&cfg).unwrap());
            manifests.insert(
                0,
                json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": d, "size": s,
                       "platform": {"architecture": "amd64", "os": "linux"}}),
            );
        }
        let mut out = files;
        out.push((
            "index.json".into(),
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            }))
            .unwrap(),
        ));
        out.push((
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ));
        out
    }

    pub fn write_oci_dir(&self, dir: &Path, other_arch: bool) {
        for (name, data) in self.oci_files(other_arch) {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
    }

    pub fn write_oci_archive(&self, path: &Path) {
        write_tar(path, self.oci_files(false));
    }

    /// `docker save`'s classic format: HEX.json config, ID/layer.tar per layer (uncompressed),
    /// manifest.json and repositories.
    pub fn write_docker_save(&self, path: &Path) {
        let config = self.config_blob();
        let cd = sha256(&config);
        let mut files = vec![(format!("{cd}.json"), config)];
        let mut layer_paths = Vec::new();
        for (i, (tar, _)) in self.layers.iter().enumerate() {
            let id = sha256(format!("layer-{i}-{}", sha256(tar)).as_bytes());
            files.push((format!("{id}/VERSION"), b"1.0".to_vec()));
            files.push((format!("{id}/layer.tar"), tar.clone()));
            layer_paths.push(format!("{id}/layer.tar"));
        }
        files.push((
            "manifest.json".into(),
            serde_json::to_vec(&json!([{
                "Config": format!("{cd}.json"),
                "RepoTags": ["petrel-test:latest"],
                "Layers": layer_paths,
            }]))
            .unwrap(),
        ));
        write_tar(path, files);
    }
}

pub fn write_tar(path: &Path, files: Vec<(String, Vec<u8>)>) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, &name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}
