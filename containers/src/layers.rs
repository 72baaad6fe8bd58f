//! Applying layer tars, in order, to an in-memory tree of the root filesystem: OCI whiteouts
//! (`.wh.NAME` and opaque `.wh..wh..opq`), hard links, symlinks, device nodes, modes and numeric
//! ownership exactly as the tar says (nothing is created on the host, so conversion needs no
//! privileges and no entry can touch a host file). File contents go to a spool, and the tree
//! keeps where. Entries with absolute paths, `..` above the root, or parents reached through a
//! symlink that leads out of the root are errors.

use crate::image::{hex, Compression, Layer, Store};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};

/// Where a file's contents sit in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data {
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// Permission bits with setuid, setgid and sticky (no file type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Dir(BTreeMap<Vec<u8>, Node>),
    File(Data),
    Symlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub meta: Meta,
    pub kind: Kind,
    /// The layer that created this node (opaque directories hide only lower layers).
    layer: usize,
}

/// File contents collected while the layers are read: a file (on disk next to the output) or
/// memory.
pub trait SpoolIo: Read + Write + Seek {}
impl<T: Read + Write + Seek> SpoolIo for T {}

pub struct Spool {
    io: Box<dyn SpoolIo>,
    end: u64,
}

impl Spool {
    pub fn new(io: Box<dyn SpoolIo>) -> Spool {
        Spool { io, end: 0 }
    }

    fn append(&mut self, r: &mut dyn Read) -> io::Result<Data> {
        self.io.seek(SeekFrom::Start(self.end))?;
        let len = io::copy(r, &mut self.io)?;
        let d = Data {
            offset: self.end,
            len,
        };
        self.end += len;
        Ok(d)
    }

    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.io.seek(SeekFrom::Start(offset))?;
        self.io.read(buf)
    }
}

pub struct Tree {
    pub root: Node,
    pub spool: Spool,
}

const OPAQUE: &[u8] = b".wh..wh..opq";
const WHITEOUT: &[u8] = b".wh.";
/// Symlinks followed while resolving one path, as Linux's limit.
const MAX_LINKS: u32 = 40;

fn dir_node(layer: usize) -> Node {
    Node {
        meta: Meta {
            mode: 0o755,
            ..Meta::default()
        },
        kind: Kind::Dir(BTreeMap::new()),
        layer,
    }
}

fn show(path: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in path {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Splits a tar path into components, refusing absolute paths and `..` above the root.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let shown = String::from_utf8_lossy(raw);
    if raw.first() == Some(&b'/') {
        return Err(format!("entry '{shown}' has an absolute path"));
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(format!("entry '{shown}' climbs out of the root with '..'"));
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

impl Tree {
    pub fn new(spool: Spool) -> Tree {
        Tree {
            root: dir_node(0),
            spool,
        }
    }

    fn get(&self, path: &[Vec<u8>]) -> Option<&Node> {
        let mut n = &self.root;
        for c in path {
            match &n.kind {
                Kind::Dir(children) => n = children.get(c)?,
                _ => return None,
            }
        }
        Some(n)
    }

    fn children_mut(&mut self, dir: &[Vec<u8>]) -> &mut BTreeMap<Vec<u8>, Node> {
        let mut n = &mut self.root;
        for c in dir {
            let Kind::Dir(children) = &mut n.kind else {
                unreachable!("resolved paths go through directories only")
            };
            n = children.get_mut(c).expect("resolved paths exist");
        }
        match &mut n.kind {
            Kind::Dir(children) => children,
            _ => unreachable!("resolved paths end at directories"),
        }
    }

    /// Resolves a directory path inside the root as the guest kernel would after chroot:
    /// symlinks are followed (absolute ones from the root); `..` above the root, reached
    /// through a symlink, is an escape. Missing directories are created when `create`.
    fn resolve_dir(
        &mut self,
        path: &[Vec<u8>],
        create: bool,
        layer: usize,
    ) -> Result<Option<Vec<Vec<u8>>>, String> {
        let mut todo: Vec<Vec<u8>> = path.iter().rev().cloned().collect();
        let mut at: Vec<Vec<u8>> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if at.pop().is_none() {
                        return Err(format!(
                            "'{}' leads out of the root filesystem through a symlink",
                            show(path)
                        ));
                    }
                    continue;
                }
                _ => {}
            }
            let mut next = at.clone();
            next.push(c.clone());
            match self.get(&next).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => at = next,
                Some(Kind::Symlink(target)) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(format!("'{}': too many levels of symlinks", show(path)));
                    }
                    let target = target.clone();
                    if target.first() == Some(&b'/') {
                        at.clear();
                    }
                    for t in target.split(|&b| b == b'/').rev() {
                        todo.push(t.to_vec());
                    }
                }
                Some(_) => {
                    return Err(format!(
                        "'{}': '{}' is not a directory",
                        show(path),
                        show(&next)
                    ))
                }
                None if create => {
                    self.children_mut(&at).insert(c, dir_node(layer));
                    at = next;
                }
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    /// Reads one layer tar and applies it.
    fn apply(&mut self, tar: &mut dyn Read, layer: usize) -> Result<(), String> {
        let mut archive = tar::Archive::new(tar);
        let entries = archive.entries().map_err(|e| e.to_string())?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("bad tar data: {e}"))?;
            let raw = entry.path_bytes().into_owned();
            let mut path = components(&raw)?;
            let Some(name) = path.pop() else {
                // The root itself ("./"): its metadata.
                if entry.header().entry_type().is_dir() {
                    self.root.meta = meta_of(entry.header())?;
                }
                continue;
            };
            let ty = entry.header().entry_type();
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let Some(dir) = self.resolve_dir(&path, false, layer)? else {
                    continue;
                };
                let children = self.children_mut(&dir);
                if name == OPAQUE {
                    children.retain(|_, n| n.layer == layer);
                } else {
                    children.remove(hidden);
                }
                continue;
            }
            let dir = self
                .resolve_dir(&path, true, layer)?
                .expect("created on demand");
            let meta = meta_of(entry.header())?;
            let kind = match ty {
                tar::EntryType::Directory => {
                    let children = self.children_mut(&dir);
                    match children.get_mut(&name) {
                        Some(n) if matches!(n.kind, Kind::Dir(_)) => {
                            n.meta = meta;
                            continue;
                        }
                        _ => Kind::Dir(BTreeMap::new()),
                    }
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let data = self
                        .spool
                        .append(&mut entry)
                        .map_err(|e| format!("'{}': {e}", String::from_utf8_lossy(&raw)))?;
                    Kind::File(data)
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| format!("symlink '{}' without a target", show(&path)))?;
                    Kind::Symlink(target.into_owned())
                }
                tar::EntryType::Link => {
                    let target = entry.link_name_bytes().ok_or_else(|| {
                        format!(
                            "hard link '{}' without a target",
                            String::from_utf8_lossy(&raw)
                        )
                    })?;
                    let shown = String::from_utf8_lossy(&target).into_owned();
                    let mut tpath =
                        components(&target).map_err(|e| format!("hard link '{shown}': {e}"))?;
                    let tname = tpath.pop().ok_or("a hard link to the root")?;
                    let tdir = self.resolve_dir(&tpath, false, layer)?;
                    let found = tdir.and_then(|mut d| {
                        d.push(tname);
                        self.get(&d).cloned()
                    });
                    match found {
                        Some(
                            n @ Node {
                                kind: Kind::File(_),
                                ..
                            },
                        )
                        | Some(
                            n @ Node {
                                kind: Kind::Symlink(_),
                                ..
                            },
                        )
                        | Some(
                            n @ Node {
                                kind: Kind::Char(..),
                                ..
                            },
                        )
                        | Some(
                            n @ Node {
                                kind: Kind::Block(..),
                                ..
                            },
                        )
                        | Some(
                            n @ Node {
                                kind: Kind::Fifo, ..
                            },
                        ) => {
                            let children = self.children_mut(&dir);
                            children.insert(name, Node { layer, ..n });
                            continue;
                        }
                        _ => {
                            return Err(format!(
                                "hard link '{}' to '{shown}', which is not a file in the image",
                                String::from_utf8_lossy(&raw)
                            ))
                        }
                    }
                }
                tar::EntryType::Char | tar::EntryType::Block => {
                    let h = entry.header();
                    let major = h.device_major().ok().flatten().unwrap_or(0);
                    let minor = h.device_minor().ok().flatten().unwrap_or(0);
                    if ty == tar::EntryType::Char {
                        Kind::Char(major, minor)
                    } else {
                        Kind::Block(major, minor)
                    }
                }
                tar::EntryType::Fifo => Kind::Fifo,
                // Metadata entries the tar reader already folded into the next entry.
                tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink => continue,
                other => {
                    return Err(format!(
                        "entry '{}' has an unsupported type {:?}",
                        String::from_utf8_lossy(&raw),
                        other
                    ))
                }
            };
            let children = self.children_mut(&dir);
            children.insert(name, Node { meta, kind, layer });
        }
        Ok(())
    }
}

fn meta_of(h: &tar::Header) -> Result<Meta, String> {
    let num =
        |r: io::Result<u64>, what: &str| r.map_err(|e| format!("bad tar header ({what}): {e}"));
    Ok(Meta {
        mode: h
            .mode()
            .map_err(|e| format!("bad tar header (mode): {e}"))?
            & 0o7777,
        uid: u32::try_from(num(h.uid(), "uid")?).map_err(|_| "uid out of range")?,
        gid: u32::try_from(num(h.gid(), "gid")?).map_err(|_| "gid out of range")?,
        mtime: num(h.mtime(), "mtime")?,
    })
}

/// Hashes what passes through and counts it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }
    fn digest(&self) -> String {
        format!("sha256:{}", hex(&self.hash.clone().finalize()))
    }
}

/// Reports progress as layers are read.
pub trait Progress {
    /// Layer `index` (0-based) of `total` starts; its blob has `size` bytes.
    fn layer_start(&mut self, index: usize, total: usize, digest: &str, size: u64);
    /// So many bytes of the current blob have been read.
    fn layer_bytes(&mut self, read: u64);
    fn layer_done(&mut self);
}

/// Counts blob bytes for the progress display.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    progress: &'a mut dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if n > 0 && (self.read >> 20) != ((self.read - n as u64) >> 20) {
            self.progress.layer_bytes(self.read);
        }
        Ok(n)
    }
}

/// Reads and applies every layer in order, verifying each blob's digest and size and each
/// uncompressed tar's diff_id.
pub fn apply_layers(
    store: &Store,
    layers: &[Layer],
    tree: &mut Tree,
    progress: &mut dyn Progress,
) -> Result<(), String> {
    for (i, layer) in layers.iter().enumerate() {
        let name = layer.digest.clone().unwrap_or_else(|| layer.path.clone());
        let what = format!("layer {} ({name})", i + 1);
        let (blob, len) = store.open_member(&layer.path)?;
        if let Some(want) = layer.size {
            if want != len {
                return Err(format!(
                    "{what}: corrupt: the blob has {len} bytes, the manifest says {want}"
                ));
            }
        }
        progress.layer_start(i, layers.len(), &name, len);
        let mut counted = Counting {
            inner: blob,
            read: 0,
            progress,
        };
        let mut blob = Hashing::new(&mut counted);
        let result = apply_one(&mut blob, layer.compression, tree, i + 1);
        // Read what the tar reader left (end-of-archive padding) so the digest covers the blob.
        let drained = io::copy(&mut blob, &mut io::sink());
        let (digest, count) = (blob.digest(), blob.count);
        if count < len {
            return Err(format!(
                "{what}: truncated: {count} of {len} bytes could be read"
            ));
        }
        if let Some(want) = &layer.digest {
            if &digest != want {
                return Err(format!("{what}: corrupt: its sha256 is {digest}"));
            }
        }
        let diff = result.map_err(|e| format!("{what}: {e}"))?;
        drained.map_err(|e| format!("{what}: {e}"))?;
        if let Some(want) = &layer.diff_id {
            if &diff != want {
                return Err(format!(
                    "{what}: corrupt: the uncompressed layer's sha256 is {diff}, the image \
                     config says {want}"
                ));
            }
        }
        counted.progress.layer_done();
    }
    Ok(())
}

/// Decompresses (by the blob's first bytes: media types are not always right, and docker save
/// does not record them) and applies one layer; returns the uncompressed tar's digest.
fn apply_one(
    blob: &mut dyn Read,
    declared: Compression,
    tree: &mut Tree,
    layer: usize,
) -> Result<String, String> {
    let mut buffered = BufReader::with_capacity(256 << 10, blob);
    let head = buffered.fill_buf().map_err(|e| e.to_string())?;
    let sniffed = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    if declared != Compression::None && sniffed != declared {
        return Err(format!(
            "the manifest says {declared:?} compression but the data is {sniffed:?}"
        ));
    }
    let mut tar: Box<dyn Read> = match sniffed {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(buffered)
                .map_err(|e| format!("bad zstd data: {e}"))?,
        ),
    };
    let mut hashed = Hashing::new(&mut tar);
    tree.apply(&mut hashed, layer)?;
    // Trailing zero blocks after the tar's end marker belong to the diff_id too.
    io::copy(&mut hashed, &mut io::sink()).map_err(|e| format!("bad layer data: {e}"))?;
    Ok(hashed.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for &(path, ty, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(ty);
            h.set_mode(0o644);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // set_path refuses '..' and absolute paths: write the name field by hand.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn tree() -> Tree {
        Tree::new(Spool::new(Box::new(io::Cursor::new(Vec::new()))))
    }

    fn apply(
        t: &mut Tree,
        layer: usize,
        entries: &[(&str, tar::EntryType, &[u8], &str)],
    ) -> Result<(), String> {
        t.apply(&mut &tar_of(entries)[..], layer)
    }

    fn names(t: &Tree, dir: &[&str]) -> Vec<String> {
        let p: Vec<Vec<u8>> = dir.iter().map(|s| s.as_bytes().to_vec()).collect();
        match &t.get(&p).unwrap().kind {
            Kind::Dir(c) => c
                .keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect(),
            _ => panic!("not a dir"),
        }
    }

    use tar::EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_layers_only() {
        let mut t = tree();
        apply(
            &mut t,
            1,
            &[
                ("a/", D, b"", ""),
                ("a/x", F, b"1", ""),
                ("a/y", F, b"2", ""),
                ("b", F, b"3", ""),
            ],
        )
        .unwrap();
        apply(
            &mut t,
            2,
            &[
                ("a/z", F, b"4", ""),
                ("a/.wh..wh..opq", F, b"", ""),
                (".wh.b", F, b"", ""),
            ],
        )
        .unwrap();
        assert_eq!(names(&t, &[]), ["a"]);
        assert_eq!(names(&t, &["a"]), ["z"]);
    }

    #[test]
    fn hard_links_share_contents_and_missing_targets_fail() {
        let mut t = tree();
        apply(&mut t, 1, &[("f", F, b"data", ""), ("g", L, b"", "f")]).unwrap();
        let (Kind::File(a), Kind::File(b)) = (
            &t.get(&[b"f".to_vec()]).unwrap().kind,
            &t.get(&[b"g".to_vec()]).unwrap().kind,
        ) else {
            panic!()
        };
        assert_eq!(a, b);
        assert!(apply(&mut t, 2, &[("h", L, b"", "nope")]).is_err());
        assert!(apply(&mut t, 2, &[("h", L, b"", "../../etc/passwd")]).is_err());
    }

    #[test]
    fn hostile_paths_are_refused() {
        let mut t = tree();
        assert!(apply(&mut t, 1, &[("/etc/x", F, b"", "")])
            .unwrap_err()
            .contains("absolute"));
        assert!(apply(&mut t, 1, &[("a/../../x", F, b"", "")])
            .unwrap_err()
            .contains(".."));
        // A symlink that climbs out, then a file written through it.
        apply(&mut t, 1, &[("up", S, b"", "../../..")]).unwrap();
        let e = apply(&mut t, 2, &[("up/etc/passwd", F, b"x", "")]).unwrap_err();
        assert!(e.contains("leads out of the root"), "{e}");
        // Absolute symlinks resolve inside the root, as after chroot.
        apply(
            &mut t,
            3,
            &[
                ("usr/lib/", D, b"", ""),
                ("lib", S, b"", "/usr/lib"),
                ("lib/x", F, b"y", ""),
            ],
        )
        .unwrap();
        assert_eq!(names(&t, &["usr", "lib"]), ["x"]);
    }
}
