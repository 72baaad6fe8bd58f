//! 9P2000.L file server for virtio-9p: owns the protocol (messages, fids, replies) and the host
//! side of one shared directory, and keeps every request inside that directory. The virtio
//! transport hands it whole request messages and sends back what `handle` returns.
//!
//! Confinement on unix: fids hold directory handles, never paths. A walk resolves one name at a
//! time relative to a directory handle without following symlinks (`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`), and every later operation on the result goes through that handle and
//! name again, so neither a symlink nor a name swapped in concurrently leads outside the share.
//! `..` at the root stays at the root. Symlinks are only ever read (Treadlink): the guest kernel
//! resolves them itself by walking, which brings it back here. Elsewhere (wasm32-wasip1) the same
//! operations run on std::fs paths built from validated names, and the WASI pre-opened directory
//! is what confines them.

use std::collections::HashMap;
use std::io;
use std::path::Path;

/// A Linux errno, as Rlerror carries it whatever the host.
type Errno = u32;
type Res<T> = Result<T, Errno>;

#[allow(dead_code)] // The table is the protocol's; each backend uses part of it.
mod errno {
    pub const EPERM: u32 = 1;
    pub const ENOENT: u32 = 2;
    pub const EINTR: u32 = 4;
    pub const EIO: u32 = 5;
    pub const ENXIO: u32 = 6;
    pub const EBADF: u32 = 9;
    pub const EAGAIN: u32 = 11;
    pub const ENOMEM: u32 = 12;
    pub const EACCES: u32 = 13;
    pub const EBUSY: u32 = 16;
    pub const EEXIST: u32 = 17;
    pub const EXDEV: u32 = 18;
    pub const ENODEV: u32 = 19;
    pub const ENOTDIR: u32 = 20;
    pub const EISDIR: u32 = 21;
    pub const EINVAL: u32 = 22;
    pub const ENFILE: u32 = 23;
    pub const EMFILE: u32 = 24;
    pub const ENOTTY: u32 = 25;
    pub const ETXTBSY: u32 = 26;
    pub const EFBIG: u32 = 27;
    pub const ENOSPC: u32 = 28;
    pub const ESPIPE: u32 = 29;
    pub const EROFS: u32 = 30;
    pub const EMLINK: u32 = 31;
    pub const ERANGE: u32 = 34;
    pub const ENAMETOOLONG: u32 = 36;
    pub const ENOSYS: u32 = 38;
    pub const ENOTEMPTY: u32 = 39;
    pub const ELOOP: u32 = 40;
    pub const ENODATA: u32 = 61;
    pub const EPROTO: u32 = 71;
    pub const EOVERFLOW: u32 = 75;
    pub const EMSGSIZE: u32 = 90;
    pub const EOPNOTSUPP: u32 = 95;
    pub const ESTALE: u32 = 116;
    pub const EDQUOT: u32 = 122;
}
use errno::*;

const RLERROR: u8 = 7;
const TSTATFS: u8 = 8;
const TLOPEN: u8 = 12;
const TLCREATE: u8 = 14;
const TSYMLINK: u8 = 16;
const TMKNOD: u8 = 18;
const TRENAME: u8 = 20;
const TREADLINK: u8 = 22;
const TGETATTR: u8 = 24;
const TSETATTR: u8 = 26;
const TXATTRWALK: u8 = 30;
const TXATTRCREATE: u8 = 32;
const TREADDIR: u8 = 40;
const TFSYNC: u8 = 50;
const TLOCK: u8 = 52;
const TGETLOCK: u8 = 54;
const TLINK: u8 = 70;
const TMKDIR: u8 = 72;
const TRENAMEAT: u8 = 74;
const TUNLINKAT: u8 = 76;
const TVERSION: u8 = 100;
const TATTACH: u8 = 104;
const TFLUSH: u8 = 108;
const TWALK: u8 = 110;
const TREAD: u8 = 116;
const TWRITE: u8 = 118;
const TCLUNK: u8 = 120;
const TREMOVE: u8 = 122;

const NOTAG: u16 = 0xffff;
/// size[4] type[1] tag[2].
const HEADER: usize = 7;
/// Header plus the count[4] in front of Rread and Rreaddir data.
const DATA_HEADER: usize = HEADER + 4;
/// Linux's virtio transport asks for about 512 KB; more only costs host memory per request.
const MAX_MSIZE: u32 = 1 << 20;
/// Below this even an Rgetattr would not fit.
const MIN_MSIZE: u32 = 256;
/// MAXWELEM: the most names one Twalk may carry.
const MAX_WALK: usize = 16;
/// Fids cost host memory (and directory fids a descriptor); a guest may not take unbounded
/// amounts. Linux keeps a fid per cached dentry, so this is far above what it needs.
const MAX_FIDS: usize = 1 << 20;

// File types as Linux encodes them in st_mode, which is also what every unix uses.
const S_IFMT: u32 = 0o170000;
#[cfg_attr(not(unix), allow(dead_code))]
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
#[cfg_attr(not(unix), allow(dead_code))]
const S_IFIFO: u32 = 0o010000;

// Linux open flags as 9P2000.L carries them (Tlopen, Tlcreate).
const L_O_ACCMODE: u32 = 0o3;
const L_O_EXCL: u32 = 0o200;
const L_O_TRUNC: u32 = 0o1000;
const L_O_APPEND: u32 = 0o2000;
const L_O_DSYNC: u32 = 0o10000;
const L_O_SYNC: u32 = 0o4000000;

// Tsetattr valid bits.
const ATTR_MODE: u32 = 0x1;
const ATTR_UID: u32 = 0x2;
const ATTR_GID: u32 = 0x4;
const ATTR_SIZE: u32 = 0x8;
const ATTR_ATIME: u32 = 0x10;
const ATTR_MTIME: u32 = 0x20;
const ATTR_CTIME: u32 = 0x40;
const ATTR_ATIME_SET: u32 = 0x80;
const ATTR_MTIME_SET: u32 = 0x100;

/// Rgetattr fills mode, nlink, uid, gid, rdev, atime, mtime, ctime, ino, size and blocks.
const GETATTR_BASIC: u64 = 0x7ff;
const AT_REMOVEDIR: u32 = 0x200;
const LOCK_SUCCESS: u8 = 0;
const LOCK_TYPE_UNLCK: u8 = 2;
const QT_DIR: u8 = 0x80;
const QT_SYMLINK: u8 = 0x02;

/// What the backends report about a file, in Linux terms.
#[derive(Clone, Debug, Default)]
struct Attr {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    size: u64,
    blksize: u64,
    blocks: u64,
    atime: (i64, u64),
    mtime: (i64, u64),
    ctime: (i64, u64),
    /// Identifies directory handles (unix); std::fs has no such number.
    #[cfg_attr(not(unix), allow(dead_code))]
    dev: u64,
    ino: u64,
}

/// One directory entry of a Treaddir listing.
#[derive(Clone, Debug)]
struct Entry {
    ino: u64,
    /// DT_* type, which is the S_IFMT field shifted down.
    dtype: u8,
    name: Vec<u8>,
}

#[derive(Default)]
struct StatFs {
    bsize: u32,
    blocks: u64,
    bfree: u64,
    bavail: u64,
    files: u64,
    ffree: u64,
    fsid: u64,
    namelen: u32,
}

/// A timestamp change in Tsetattr.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Time {
    Omit,
    Now,
    At(i64, u64),
}

/// Tlopen/Tlcreate flags reduced to what the host is asked for. Flags a guest has no business
/// passing through (O_NOFOLLOW off, O_DIRECT, O_ASYNC, O_NOATIME...) are dropped.
#[derive(Clone, Copy, Debug)]
struct OpenFlags {
    read: bool,
    write: bool,
    truncate: bool,
    append: bool,
    excl: bool,
    /// std::fs cannot ask for synchronous writes; only the unix backend uses these.
    #[cfg_attr(not(unix), allow(dead_code))]
    sync: bool,
    #[cfg_attr(not(unix), allow(dead_code))]
    dsync: bool,
}

impl OpenFlags {
    fn from_linux(flags: u32) -> Res<OpenFlags> {
        let (read, write) = match flags & L_O_ACCMODE {
            0 => (true, false),
            1 => (false, true),
            2 => (true, true),
            _ => return Err(EINVAL),
        };
        Ok(OpenFlags {
            read,
            write,
            truncate: flags & L_O_TRUNC != 0,
            append: flags & L_O_APPEND != 0,
            excl: flags & L_O_EXCL != 0,
            sync: flags & L_O_SYNC == L_O_SYNC,
            dsync: flags & L_O_DSYNC != 0,
        })
    }

    fn modifies(&self) -> bool {
        self.write || self.truncate
    }
}

fn dtype(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

fn qid_type(dtype: u8) -> u8 {
    match u32::from(dtype) << 12 {
        S_IFDIR => QT_DIR,
        S_IFLNK => QT_SYMLINK,
        _ => 0,
    }
}

/// Maps a host error to the Linux errno the guest expects.
fn errno_of(e: &io::Error) -> Errno {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(n) = e.raw_os_error().and_then(|n| u32::try_from(n).ok()) {
        return n;
    }
    #[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
    if let Some(n) = e.raw_os_error().and_then(host::linux_errno) {
        return n;
    }
    kind_errno(e.kind())
}

fn kind_errno(kind: io::ErrorKind) -> Errno {
    use io::ErrorKind as K;
    match kind {
        K::NotFound => ENOENT,
        K::PermissionDenied => EACCES,
        K::AlreadyExists => EEXIST,
        K::InvalidInput | K::InvalidData => EINVAL,
        K::Unsupported => EOPNOTSUPP,
        K::DirectoryNotEmpty => ENOTEMPTY,
        K::NotADirectory => ENOTDIR,
        K::IsADirectory => EISDIR,
        K::ReadOnlyFilesystem => EROFS,
        K::StorageFull => ENOSPC,
        K::CrossesDevices => EXDEV,
        K::TooManyLinks => EMLINK,
        K::InvalidFilename => ENAMETOOLONG,
        K::FileTooLarge => EFBIG,
        K::ResourceBusy => EBUSY,
        K::ExecutableFileBusy => ETXTBSY,
        K::NotSeekable => ESPIPE,
        K::StaleNetworkFileHandle => ESTALE,
        K::Interrupted => EINTR,
        K::WouldBlock => EAGAIN,
        K::OutOfMemory => ENOMEM,
        _ => EIO,
    }
}

/// A name to create, remove or rename an entry under: one component, not `.` or `..`.
fn entry_name(name: &[u8]) -> Res<&[u8]> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        Err(EINVAL)
    } else {
        Ok(name)
    }
}

/// A name to walk: one component or `..`. `.` and the empty name name nothing.
fn walk_name(name: &[u8]) -> Res<&[u8]> {
    if name.contains(&b'/') || name.contains(&0) {
        Err(EINVAL)
    } else if name.is_empty() || name == b"." {
        Err(ENOENT)
    } else {
        Ok(name)
    }
}

/// Reads a request body; running out of bytes is a protocol error, never a panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.0.len() {
            return Err(EPROTO);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| EPROTO)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Res<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Appends reply fields.
trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_str(&mut self, s: &[u8]) -> Res<()>;
    fn put_qid(&mut self, dtype: u8, ino: u64);
    fn put_attr_qid(&mut self, a: &Attr);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_str(&mut self, s: &[u8]) -> Res<()> {
        self.put_u16(u16::try_from(s.len()).map_err(|_| ENAMETOOLONG)?);
        self.extend_from_slice(s);
        Ok(())
    }
    /// qid: type[1] version[4] path[8]. The version stays 0: Linux compares it to decide whether
    /// a looked-up file is still the inode it has, so an mtime-based one would split an open
    /// file from its own name after every write.
    fn put_qid(&mut self, dtype: u8, ino: u64) {
        self.put_u8(qid_type(dtype));
        self.put_u32(0);
        self.put_u64(ino);
    }
    fn put_attr_qid(&mut self, a: &Attr) {
        self.put_qid(dtype(a.mode), a.ino);
    }
}

fn start(ty: u8, tag: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.put_u32(0);
    out.put_u8(ty);
    out.put_u16(tag);
    out
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
    if let Some(field) = out.get_mut(..4) {
        field.copy_from_slice(&size.to_le_bytes());
    }
    out
}

fn error_reply(tag: u16, errno: Errno) -> Vec<u8> {
    let mut out = start(RLERROR, tag);
    out.put_u32(errno);
    finish(out)
}

/// Overwrites a count[4] written earlier at `at`.
fn patch_u32(out: &mut [u8], at: usize, v: u32) {
    if let Some(field) = out.get_mut(at..at.saturating_add(4)) {
        field.copy_from_slice(&v.to_le_bytes());
    }
}

struct Fid {
    node: host::Node,
    /// The guest user the fid was attached as, for owning what it creates when we can.
    uid: u32,
    state: State,
}

enum State {
    /// Walked to, not opened.
    Walked,
    File(host::File),
    /// An open directory and the listing Treaddir offsets index into, taken afresh whenever the
    /// guest reads from offset 0 (opendir, rewinddir).
    Dir(host::OpenDir, Option<Vec<Entry>>),
    /// A Txattrwalk result: an empty attribute list.
    Xattr,
}

impl Fid {
    fn file(&self) -> Option<&host::File> {
        match &self.state {
            State::File(f) => Some(f),
            _ => None,
        }
    }
}

pub struct P9Server {
    fs: host::Fs,
    read_only: bool,
    msize: u32,
    fids: HashMap<u32, Fid>,
}

impl P9Server {
    /// Serves `root`; with `read_only`, every modifying request fails with EROFS.
    pub fn new(root: &Path, read_only: bool) -> io::Result<P9Server> {
        Ok(P9Server {
            fs: host::Fs::new(root)?,
            read_only,
            msize: MAX_MSIZE,
            fids: HashMap::new(),
        })
    }

    /// Handles one complete 9P message (size[4] type[1] tag[2] body, little-endian) and returns
    /// the reply message, never longer than `max_reply` or the negotiated msize. A reply that
    /// would not fit becomes Rlerror(EMSGSIZE); if even that does not fit, the reply is empty.
    pub fn handle(&mut self, request: &[u8], max_reply: usize) -> Vec<u8> {
        let tag = request
            .get(5..HEADER)
            .and_then(|t| <[u8; 2]>::try_from(t).ok())
            .map_or(NOTAG, u16::from_le_bytes);
        let limit = max_reply.min(usize::try_from(self.msize).unwrap_or(usize::MAX));
        let reply = match self.dispatch(request, limit) {
            Ok(reply) if reply.len() <= limit => reply,
            Ok(_) => error_reply(tag, EMSGSIZE),
            Err(e) => error_reply(tag, e),
        };
        if reply.len() <= max_reply {
            reply
        } else {
            Vec::new()
        }
    }

    fn dispatch(&mut self, request: &[u8], limit: usize) -> Res<Vec<u8>> {
        let mut header = Reader(request);
        let size = header.u32()?;
        let ty = header.u8()?;
        let tag = header.u16()?;
        // Bytes past `size` are slack in the driver's buffer; a size past the end is a lie.
        let size = usize::try_from(size).map_err(|_| EPROTO)?;
        let body = request.get(HEADER..size).ok_or(EPROTO)?;
        let r = &mut Reader(body);
        let mut out = start(ty.wrapping_add(1), tag);
        let o = &mut out;
        match ty {
            TVERSION => self.version(r, o),
            TATTACH => self.attach(r, o),
            TFLUSH => r.u16().map(drop),
            TWALK => self.walk(r, o),
            TCLUNK => self.fids.remove(&r.u32()?).map(drop).ok_or(EBADF),
            TREMOVE => self.remove(r),
            TGETATTR => self.getattr(r, o),
            TSETATTR => self.setattr(r),
            TLOPEN => self.lopen(r, o),
            TLCREATE => self.lcreate(r, o),
            TREAD => self.read(r, o, limit),
            TWRITE => self.write(r, o),
            TREADDIR => self.readdir(r, o, limit),
            TMKDIR => self.mkdir(r, o),
            TSYMLINK => self.symlink(r, o),
            TMKNOD => self.mknod(r, o),
            TLINK => self.link(r),
            TREADLINK => self.readlink(r, o),
            TUNLINKAT => self.unlinkat(r),
            TRENAMEAT => self.renameat(r),
            TRENAME => self.rename(r),
            TSTATFS => self.statfs(r, o),
            TFSYNC => self.fsync(r),
            TLOCK => self.lock(r, o),
            TGETLOCK => self.getlock(r, o),
            TXATTRWALK => self.xattrwalk(r, o),
            TXATTRCREATE => self.xattrcreate(r),
            _ => Err(EOPNOTSUPP),
        }?;
        Ok(finish(out))
    }

    fn modifiable(&self) -> Res<()> {
        if self.read_only {
            Err(EROFS)
        } else {
            Ok(())
        }
    }

    fn fid(&self, fid: u32) -> Res<&Fid> {
        self.fids.get(&fid).ok_or(EBADF)
    }

    /// A fid number the guest may bind now.
    fn free_fid(&self, fid: u32) -> Res<()> {
        if self.fids.contains_key(&fid) {
            Err(EBADF)
        } else if self.fids.len() >= MAX_FIDS {
            Err(ENFILE)
        } else {
            Ok(())
        }
    }

    /// Who should own a new file: the guest's ids if we may give files away (we are root),
    /// else nobody in particular (it stays ours). u32::MAX, the guest's "no uid", means keep.
    fn owner(&self, uid: u32, gid: u32) -> Option<(u32, u32)> {
        self.fs.superuser().then_some((uid, gid))
    }

    fn version(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let msize = r.u32()?;
        let version = r.string()?;
        if msize < MIN_MSIZE {
            return Err(EINVAL);
        }
        // A new session: whatever the old one had open is gone.
        self.fids.clear();
        self.msize = msize.min(MAX_MSIZE);
        o.put_u32(self.msize);
        o.put_str(if version == b"9P2000.L" {
            b"9P2000.L"
        } else {
            b"unknown"
        })
    }

    fn attach(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = r.u32()?;
        let _afid = r.u32()?;
        let _uname = r.string()?;
        // The share is the whole tree: aname selects nothing.
        let _aname = r.string()?;
        let uid = r.u32()?;
        self.free_fid(fid)?;
        let node = self.fs.root();
        let attr = self.fs.attr(&node, None)?;
        self.fids.insert(
            fid,
            Fid {
                node,
                uid,
                state: State::Walked,
            },
        );
        o.put_attr_qid(&attr);
        Ok(())
    }

    fn walk(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = r.u32()?;
        let newfid = r.u32()?;
        let count = usize::from(r.u16()?);
        if count > MAX_WALK {
            return Err(EINVAL);
        }
        let mut names = Vec::with_capacity(count);
        for _ in 0..count {
            names.push(r.string()?);
        }
        let from = self.fid(fid)?;
        let (mut node, uid) = (from.node.clone(), from.uid);
        if newfid != fid {
            self.free_fid(newfid)?;
        }
        let mut qids = Vec::with_capacity(count);
        for name in names {
            match walk_name(name).and_then(|name| self.fs.lookup(&node, name)) {
                Ok((next, attr)) => {
                    qids.push(attr);
                    node = next;
                }
                // Only a walk failing at its first name is an error; otherwise the guest learns
                // how far it got and newfid stays unbound.
                Err(e) if qids.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        if qids.len() == count {
            self.fids.insert(
                newfid,
                Fid {
                    node,
                    uid,
                    state: State::Walked,
                },
            );
        }
        o.put_u16(qids.len() as u16);
        for attr in &qids {
            o.put_attr_qid(attr);
        }
        Ok(())
    }

    fn remove(&mut self, r: &mut Reader) -> Res<()> {
        // The fid is clunked whether or not the remove succeeds.
        let fid = self.fids.remove(&r.u32()?).ok_or(EBADF)?;
        self.modifiable()?;
        self.fs.remove(&fid.node)
    }

    fn getattr(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let _request_mask = r.u64()?;
        let a = self.fs.attr(&fid.node, fid.file())?;
        o.put_u64(GETATTR_BASIC);
        o.put_attr_qid(&a);
        o.put_u32(a.mode);
        o.put_u32(a.uid);
        o.put_u32(a.gid);
        o.put_u64(a.nlink);
        o.put_u64(a.rdev);
        o.put_u64(a.size);
        o.put_u64(a.blksize);
        o.put_u64(a.blocks);
        for (sec, nsec) in [a.atime, a.mtime, a.ctime, (0, 0)] {
            o.put_u64(sec as u64);
            o.put_u64(nsec);
        }
        o.put_u64(0); // gen
        o.put_u64(0); // data_version
        Ok(())
    }

    fn setattr(&mut self, r: &mut Reader) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let valid = r.u32()?;
        let mode = r.u32()?;
        let uid = r.u32()?;
        let gid = r.u32()?;
        let size = r.u64()?;
        let atime = settime(valid, ATTR_ATIME, ATTR_ATIME_SET, r.u64()?, r.u64()?)?;
        let mtime = settime(valid, ATTR_MTIME, ATTR_MTIME_SET, r.u64()?, r.u64()?)?;
        let changes = ATTR_MODE | ATTR_UID | ATTR_GID | ATTR_SIZE | ATTR_ATIME | ATTR_MTIME;
        if valid & (changes | ATTR_CTIME) != 0 {
            self.modifiable()?;
        }
        let (node, file) = (&fid.node, fid.file());
        if valid & (ATTR_UID | ATTR_GID) != 0 {
            let uid = (valid & ATTR_UID != 0).then_some(uid);
            let gid = (valid & ATTR_GID != 0).then_some(gid);
            match self.fs.chown(node, file, uid, gid) {
                // Not root, we cannot give files away. Failing would stop tar, cp -a and
                // package managers in a guest using the share as its root, so, like QEMU's
                // security_model=none, the ownership simply stays ours.
                Err(EPERM) if !self.fs.superuser() => {}
                result => result?,
            }
        }
        if valid & ATTR_MODE != 0 {
            self.fs.chmod(node, file, mode & 0o7777)?;
        }
        if valid & ATTR_SIZE != 0 {
            self.fs.truncate(node, file, size)?;
        }
        // After the size, which would move mtime again.
        if (atime, mtime) != (Time::Omit, Time::Omit) {
            self.fs.utimes(node, file, atime, mtime)?;
        }
        Ok(())
    }

    fn lopen(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = r.u32()?;
        let flags = OpenFlags::from_linux(r.u32()?)?;
        if flags.modifies() {
            self.modifiable()?;
        }
        let fid = self.fids.get_mut(&fid).ok_or(EBADF)?;
        if !matches!(fid.state, State::Walked) {
            return Err(EINVAL);
        }
        let (state, attr) = match self.fs.open(&fid.node, &flags)? {
            host::Opened::File(f) => {
                let attr = self.fs.attr(&fid.node, Some(&f))?;
                (State::File(f), attr)
            }
            host::Opened::Dir(d) => (State::Dir(d, None), self.fs.attr(&fid.node, None)?),
        };
        fid.state = state;
        o.put_attr_qid(&attr);
        o.put_u32(0); // iounit: msize decides
        Ok(())
    }

    fn lcreate(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = r.u32()?;
        let name = r.string()?;
        let flags = r.u32()?;
        let mode = r.u32()?;
        let gid = r.u32()?;
        self.modifiable()?;
        let name = entry_name(name)?;
        let flags = OpenFlags::from_linux(flags)?;
        let owner = self.owner(self.fid(fid)?.uid, gid);
        let fid = self.fids.get_mut(&fid).ok_or(EBADF)?;
        if !matches!(fid.state, State::Walked) {
            return Err(EINVAL);
        }
        let (node, file) = self
            .fs
            .create(&fid.node, name, &flags, mode & 0o7777, owner)?;
        let attr = self.fs.attr(&node, Some(&file))?;
        // The fid now stands for the new, open file.
        fid.node = node;
        fid.state = State::File(file);
        o.put_attr_qid(&attr);
        o.put_u32(0);
        Ok(())
    }

    fn read(&mut self, r: &mut Reader, o: &mut Vec<u8>, limit: usize) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let offset = r.u64()?;
        let count = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        let count = count.min(limit.saturating_sub(DATA_HEADER));
        let at = o.len();
        o.put_u32(0);
        let got = match &fid.state {
            State::File(file) => {
                let data = o.len();
                o.resize(data.saturating_add(count), 0);
                let buf = o.get_mut(data..).ok_or(EIO)?;
                let got = self.fs.read(file, offset, buf)?.min(count);
                o.truncate(data.saturating_add(got));
                got
            }
            State::Xattr => 0,
            State::Dir(..) => return Err(EISDIR),
            State::Walked => return Err(EBADF),
        };
        patch_u32(o, at, got as u32);
        Ok(())
    }

    fn write(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let offset = r.u64()?;
        let count = usize::try_from(r.u32()?).map_err(|_| EPROTO)?;
        let data = r.take(count)?;
        self.modifiable()?;
        let file = fid.file().ok_or(EBADF)?;
        let n = self.fs.write(file, offset, data)?;
        o.put_u32(n.min(count) as u32);
        Ok(())
    }

    fn readdir(&mut self, r: &mut Reader, o: &mut Vec<u8>, limit: usize) -> Res<()> {
        let fid = self.fids.get_mut(&r.u32()?).ok_or(EBADF)?;
        let offset = r.u64()?;
        let count = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        let room = count.min(limit.saturating_sub(DATA_HEADER));
        let Fid { node, state, .. } = fid;
        let State::Dir(dir, listing) = state else {
            return Err(match state {
                State::File(_) => ENOTDIR,
                _ => EBADF,
            });
        };
        if offset == 0 || listing.is_none() {
            *listing = Some(self.fs.read_dir(node, dir)?);
        }
        let entries = listing.as_deref().unwrap_or_default();
        let at = o.len();
        o.put_u32(0);
        let mut used = 0usize;
        let first = usize::try_from(offset).unwrap_or(usize::MAX);
        // An entry's offset is where the next read resumes: its index plus one.
        for (next, e) in (1u64..).zip(entries).skip(first) {
            // qid[13] offset[8] type[1] name[s]
            let need = 13 + 8 + 1 + 2 + e.name.len();
            if used.saturating_add(need) > room {
                break;
            }
            o.put_qid(e.dtype, e.ino);
            o.put_u64(next);
            o.put_u8(e.dtype);
            o.put_str(&e.name)?;
            used += need;
        }
        patch_u32(o, at, used as u32);
        Ok(())
    }

    fn mkdir(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let dir = self.fid(r.u32()?)?;
        let name = r.string()?;
        let mode = r.u32()?;
        let gid = r.u32()?;
        self.modifiable()?;
        let owner = self.owner(dir.uid, gid);
        let attr = self
            .fs
            .mkdir(&dir.node, entry_name(name)?, mode & 0o7777, owner)?;
        o.put_attr_qid(&attr);
        Ok(())
    }

    fn symlink(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let dir = self.fid(r.u32()?)?;
        let name = r.string()?;
        let target = r.string()?;
        let gid = r.u32()?;
        self.modifiable()?;
        let owner = self.owner(dir.uid, gid);
        // The target is only text to the server: it is never resolved here.
        let attr = self
            .fs
            .symlink(&dir.node, entry_name(name)?, target, owner)?;
        o.put_attr_qid(&attr);
        Ok(())
    }

    fn mknod(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let dir = self.fid(r.u32()?)?;
        let name = r.string()?;
        let mode = r.u32()?;
        let major = r.u32()?;
        let minor = r.u32()?;
        let gid = r.u32()?;
        self.modifiable()?;
        let name = entry_name(name)?;
        let kind = mode & S_IFMT;
        // Only root may make device nodes on the host; we do not pretend otherwise.
        if (kind == S_IFCHR || kind == S_IFBLK) && !self.fs.superuser() {
            return Err(EPERM);
        }
        let owner = self.owner(dir.uid, gid);
        let mode = kind | (mode & 0o7777);
        let attr = self.fs.mknod(&dir.node, name, mode, major, minor, owner)?;
        o.put_attr_qid(&attr);
        Ok(())
    }

    fn link(&mut self, r: &mut Reader) -> Res<()> {
        let dir = self.fid(r.u32()?)?;
        let target = self.fid(r.u32()?)?;
        let name = r.string()?;
        self.modifiable()?;
        self.fs.link(&target.node, &dir.node, entry_name(name)?)
    }

    fn readlink(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let target = self.fs.readlink(&fid.node)?;
        o.put_str(&target)
    }

    fn unlinkat(&mut self, r: &mut Reader) -> Res<()> {
        let dir = self.fid(r.u32()?)?;
        let name = r.string()?;
        let flags = r.u32()?;
        self.modifiable()?;
        self.fs
            .unlink(&dir.node, entry_name(name)?, flags & AT_REMOVEDIR != 0)
    }

    fn renameat(&mut self, r: &mut Reader) -> Res<()> {
        let from = self.fid(r.u32()?)?;
        let from_name = r.string()?;
        let to = self.fid(r.u32()?)?;
        let to_name = r.string()?;
        self.modifiable()?;
        let moved = self.fs.rename(
            &from.node,
            entry_name(from_name)?,
            &to.node,
            entry_name(to_name)?,
        )?;
        self.moved(&moved);
        Ok(())
    }

    fn rename(&mut self, r: &mut Reader) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let to = self.fid(r.u32()?)?;
        let name = r.string()?;
        self.modifiable()?;
        let moved = self
            .fs
            .rename_node(&fid.node, &to.node, entry_name(name)?)?;
        self.moved(&moved);
        Ok(())
    }

    /// Fids naming a renamed entry follow it to its new name.
    fn moved(&mut self, moved: &host::Moved) {
        for fid in self.fids.values_mut() {
            fid.node.follow(moved);
        }
    }

    fn statfs(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let s = self.fs.statfs(&fid.node)?;
        // V9FS_MAGIC, as Linux reports for 9p mounts anyway.
        o.put_u32(0x0102_1997);
        o.put_u32(s.bsize);
        o.put_u64(s.blocks);
        o.put_u64(s.bfree);
        o.put_u64(s.bavail);
        o.put_u64(s.files);
        o.put_u64(s.ffree);
        o.put_u64(s.fsid);
        o.put_u32(s.namelen);
        Ok(())
    }

    fn fsync(&mut self, r: &mut Reader) -> Res<()> {
        let fid = self.fid(r.u32()?)?;
        let datasync = r.u32()? != 0;
        match &fid.state {
            State::File(f) => self.fs.fsync_file(f, datasync),
            State::Dir(d, _) => self.fs.fsync_dir(d),
            _ => Err(EBADF),
        }
    }

    /// POSIX locks are granted without host locking: the guest kernel already arbitrates
    /// between its own processes, and nothing else shares the files through us.
    fn lock(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        self.fid(r.u32()?)?;
        let _type = r.u8()?;
        let _flags = r.u32()?;
        let _start = r.u64()?;
        let _length = r.u64()?;
        let _proc_id = r.u32()?;
        let _client_id = r.string()?;
        o.put_u8(LOCK_SUCCESS);
        Ok(())
    }

    /// Nothing ever holds a lock here, so every range is free.
    fn getlock(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        self.fid(r.u32()?)?;
        let _type = r.u8()?;
        let start = r.u64()?;
        let length = r.u64()?;
        let proc_id = r.u32()?;
        let client_id = r.string()?;
        o.put_u8(LOCK_TYPE_UNLCK);
        o.put_u64(start);
        o.put_u64(length);
        o.put_u32(proc_id);
        o.put_str(client_id)
    }

    /// Extended attributes are not served: the list is empty and every named one is absent,
    /// which `ls -l`, getfattr and the guest's security modules all accept.
    fn xattrwalk(&mut self, r: &mut Reader, o: &mut Vec<u8>) -> Res<()> {
        let fid = r.u32()?;
        let newfid = r.u32()?;
        let name = r.string()?;
        let from = self.fid(fid)?;
        if !name.is_empty() {
            return Err(ENODATA);
        }
        let (node, uid) = (from.node.clone(), from.uid);
        if newfid != fid {
            self.free_fid(newfid)?;
        }
        self.fids.insert(
            newfid,
            Fid {
                node,
                uid,
                state: State::Xattr,
            },
        );
        o.put_u64(0);
        Ok(())
    }

    fn xattrcreate(&mut self, r: &mut Reader) -> Res<()> {
        self.fid(r.u32()?)?;
        let _name = r.string()?;
        let _size = r.u64()?;
        let _flags = r.u32()?;
        self.modifiable()?;
        Err(EOPNOTSUPP)
    }
}

/// A Tsetattr time: untouched without `set`, the guest's value with `given`, else now.
fn settime(valid: u32, set: u32, given: u32, sec: u64, nsec: u64) -> Res<Time> {
    if valid & set == 0 {
        Ok(Time::Omit)
    } else if valid & given == 0 {
        Ok(Time::Now)
    } else if nsec >= 1_000_000_000 {
        Err(EINVAL)
    } else {
        Ok(Time::At(sec as i64, nsec))
    }
}

/// The host side on unix: descriptors and *at calls, never following a symlink.
#[cfg(unix)]
mod host {
    use super::errno::*;
    use super::{Attr, Entry, Errno, OpenFlags, Res, StatFs, Time};
    use super::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
    use libc::{c_int, AT_SYMLINK_NOFOLLOW};
    use std::ffi::{CStr, CString};
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::Arc;

    /// A directory handle: a reference to walk from and pass to *at calls. On Linux an O_PATH
    /// descriptor, which needs no read permission and cannot be read or written through.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const DIR_HANDLE: c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const DIR_HANDLE: c_int =
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

    /// Every open of a file: never through a symlink, never blocking on a fifo swapped in,
    /// never acquiring a controlling terminal.
    const OPEN_SAFE: c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

    /// An open directory handle, with the identity that rename bookkeeping and the root check
    /// compare.
    pub struct Dir {
        fd: OwnedFd,
        dev: u64,
        ino: u64,
    }

    impl Dir {
        fn raw(&self) -> RawFd {
            self.fd.as_raw_fd()
        }
    }

    /// A walked-to file. A directory carries its own handle; anything else is reached by name
    /// in its parent's handle, with the symlink-refusing *at calls, every time.
    #[derive(Clone)]
    pub struct Node {
        dir: Option<Arc<Dir>>,
        /// Parent handle and name; None for the root, and for a directory reached by `..`
        /// until a remove or rename needs its name (`Fs::locate`).
        link: Option<(Arc<Dir>, CString)>,
    }

    impl Node {
        /// The node itself as (descriptor, name, flags) for *at calls: a directory as "." in
        /// its own handle, anything else by name in its parent, never through a symlink.
        fn at(&self) -> Res<(RawFd, &CStr, c_int)> {
            if let Some(d) = &self.dir {
                return Ok((d.raw(), c".", 0));
            }
            match &self.link {
                Some((parent, name)) => Ok((parent.raw(), name.as_c_str(), AT_SYMLINK_NOFOLLOW)),
                None => Err(EBADF),
            }
        }

        fn dir(&self) -> Res<&Arc<Dir>> {
            self.dir.as_ref().ok_or(ENOTDIR)
        }

        pub fn follow(&mut self, moved: &Moved) {
            if let Some((parent, name)) = &self.link {
                if parent.dev == moved.from.0 && parent.ino == moved.from.1 && *name == moved.from.2
                {
                    self.link = Some(moved.to.clone());
                }
            }
        }
    }

    pub struct File {
        fd: OwnedFd,
        writable: bool,
    }

    /// A directory opened for reading (Tlopen), listed afresh for each Treaddir snapshot.
    pub struct OpenDir {
        fd: OwnedFd,
    }

    pub enum Opened {
        File(File),
        Dir(OpenDir),
    }

    /// Where a rename took an entry from (parent identity, name) and to.
    pub struct Moved {
        from: (u64, u64, CString),
        to: (Arc<Dir>, CString),
    }

    pub struct Fs {
        root: Arc<Dir>,
        superuser: bool,
    }

    fn last() -> Errno {
        super::errno_of(&io::Error::last_os_error())
    }

    fn check(ret: c_int) -> Res<()> {
        if ret < 0 {
            Err(last())
        } else {
            Ok(())
        }
    }

    fn cstr(name: &[u8]) -> Res<CString> {
        CString::new(name).map_err(|_| EINVAL)
    }

    /// Converts stat fields whose integer types differ between unix flavours.
    fn n<T: TryInto<u64>>(v: T) -> u64 {
        v.try_into().unwrap_or(0)
    }

    fn s<T: TryInto<i64>>(v: T) -> i64 {
        v.try_into().unwrap_or(0)
    }

    fn attr_of(st: &libc::stat) -> Attr {
        // Linux hosts hand rdev over as is (9P carries Linux's encoding); other hosts encode
        // devices differently, and their device numbers mean nothing to a Linux guest.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let rdev = n(st.st_rdev);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let rdev = 0;
        Attr {
            mode: n(st.st_mode) as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            nlink: n(st.st_nlink),
            rdev,
            size: n(st.st_size),
            blksize: n(st.st_blksize),
            blocks: n(st.st_blocks),
            atime: (s(st.st_atime), n(st.st_atime_nsec)),
            mtime: (s(st.st_mtime), n(st.st_mtime_nsec)),
            ctime: (s(st.st_ctime), n(st.st_ctime_nsec)),
            dev: n(st.st_dev),
            ino: n(st.st_ino),
        }
    }

    fn stat_fd(fd: RawFd) -> Res<Attr> {
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat fills `st` when it returns 0.
        check(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
        Ok(attr_of(unsafe { &st.assume_init() }))
    }

    fn stat_at(dir: RawFd, name: &CStr, flags: c_int) -> Res<Attr> {
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstatat fills `st` when it returns 0.
        check(unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), flags) })?;
        Ok(attr_of(unsafe { &st.assume_init() }))
    }

    fn open_at(dir: RawFd, name: &CStr, flags: c_int, mode: u32) -> Res<OwnedFd> {
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, mode as libc::c_uint) };
        if fd < 0 {
            return Err(last());
        }
        // SAFETY: openat just returned this descriptor and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens the directory `name` in `dir` as a handle, refusing a symlink in its place.
    fn open_dir(dir: RawFd, name: &CStr) -> Res<(Arc<Dir>, Attr)> {
        let fd = open_at(dir, name, DIR_HANDLE, 0)?;
        let attr = stat_fd(fd.as_raw_fd())?;
        let (dev, ino) = (attr.dev, attr.ino);
        Ok((Arc::new(Dir { fd, dev, ino }), attr))
    }

    fn require_regular(mode: u32) -> Res<()> {
        match mode & S_IFMT {
            S_IFREG => Ok(()),
            S_IFLNK => Err(ELOOP),
            S_IFDIR => Err(EISDIR),
            // Fifos, sockets and devices are the guest kernel's business (it never opens them
            // through 9P); opening them on the host could block or touch hardware.
            _ => Err(ENXIO),
        }
    }

    /// Opens the regular file `name` in `dir`. The type is checked before opening, so nothing
    /// else is ever opened, and after, in case the name changed in between.
    fn open_regular(dir: RawFd, name: &CStr, flags: c_int) -> Res<OwnedFd> {
        require_regular(stat_at(dir, name, AT_SYMLINK_NOFOLLOW)?.mode)?;
        let fd = open_at(dir, name, flags | OPEN_SAFE, 0)?;
        require_regular(stat_fd(fd.as_raw_fd())?.mode)?;
        clear_nonblock(&fd);
        Ok(fd)
    }

    /// O_NONBLOCK only guarded the open; reads and writes on the file should behave normally.
    fn clear_nonblock(fd: &OwnedFd) {
        let fd = fd.as_raw_fd();
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }

    fn host_flags(flags: &OpenFlags) -> c_int {
        let mut f = match (flags.read, flags.write) {
            (_, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
        };
        for (set, bit) in [
            (flags.truncate, libc::O_TRUNC),
            (flags.append, libc::O_APPEND),
            (flags.excl, libc::O_EXCL),
            (flags.sync, libc::O_SYNC),
            (flags.dsync, libc::O_DSYNC),
        ] {
            if set {
                f |= bit;
            }
        }
        f
    }

    /// Lists the directory `fd` refers to (any handle on it): name, inode and type of every
    /// entry, `.` and `..` included.
    fn entries(fd: RawFd) -> Res<Vec<Entry>> {
        let raw = open_at(
            fd,
            c".",
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )?
        .into_raw_fd();
        // SAFETY: on success the DIR stream owns `raw` and closedir releases both.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let e = last();
            unsafe { libc::close(raw) };
            return Err(e);
        }
        let mut list = Vec::new();
        loop {
            // SAFETY: the entry stays valid until the next readdir on this stream.
            let ent = unsafe { libc::readdir(stream) };
            if ent.is_null() {
                break;
            }
            let ent = unsafe { &*ent };
            let name = unsafe { CStr::from_ptr(ent.d_name.as_ptr()) };
            let mut dtype = ent.d_type;
            if dtype == libc::DT_UNKNOWN {
                if let Ok(a) = stat_at(fd, name, AT_SYMLINK_NOFOLLOW) {
                    dtype = super::dtype(a.mode);
                }
            }
            #[cfg(any(
                target_os = "freebsd",
                target_os = "dragonfly",
                target_os = "netbsd",
                target_os = "openbsd"
            ))]
            let ino = n(ent.d_fileno);
            #[cfg(not(any(
                target_os = "freebsd",
                target_os = "dragonfly",
                target_os = "netbsd",
                target_os = "openbsd"
            )))]
            let ino = n(ent.d_ino);
            list.push(Entry {
                ino,
                dtype,
                name: name.to_bytes().to_vec(),
            });
        }
        unsafe { libc::closedir(stream) };
        Ok(list)
    }

    /// Linux allows any number of descriptors up to the hard limit but starts processes at
    /// 1024; a guest using the share as its root keeps a directory handle per cached
    /// directory, so take what we may.
    fn raise_fd_limit() {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        unsafe {
            let mut lim = MaybeUninit::<libc::rlimit>::uninit();
            if libc::getrlimit(libc::RLIMIT_NOFILE, lim.as_mut_ptr()) == 0 {
                let mut lim = lim.assume_init();
                if lim.rlim_cur < lim.rlim_max {
                    lim.rlim_cur = lim.rlim_max;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                }
            }
        }
    }

    /// Converts into a field whose type differs between unix flavours.
    fn fit<A, B: TryFrom<A>>(v: A) -> Res<B> {
        B::try_from(v).map_err(|_| EINVAL)
    }

    fn timespec(t: Time) -> Res<libc::timespec> {
        // Zeroed rather than built literally: some targets have padding fields.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        match t {
            Time::Omit => ts.tv_nsec = libc::UTIME_OMIT,
            Time::Now => ts.tv_nsec = libc::UTIME_NOW,
            Time::At(sec, nsec) => {
                ts.tv_sec = fit(sec)?;
                ts.tv_nsec = fit(nsec)?;
            }
        }
        Ok(ts)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn linux_errno(host: c_int) -> Option<u32> {
        const TABLE: &[(c_int, u32)] = &[
            (libc::EPERM, EPERM),
            (libc::ENOENT, ENOENT),
            (libc::EINTR, EINTR),
            (libc::EIO, EIO),
            (libc::ENXIO, ENXIO),
            (libc::EBADF, EBADF),
            (libc::EAGAIN, EAGAIN),
            (libc::ENOMEM, ENOMEM),
            (libc::EACCES, EACCES),
            (libc::EBUSY, EBUSY),
            (libc::EEXIST, EEXIST),
            (libc::EXDEV, EXDEV),
            (libc::ENODEV, ENODEV),
            (libc::ENOTDIR, ENOTDIR),
            (libc::EISDIR, EISDIR),
            (libc::EINVAL, EINVAL),
            (libc::ENFILE, ENFILE),
            (libc::EMFILE, EMFILE),
            (libc::ENOTTY, ENOTTY),
            (libc::ETXTBSY, ETXTBSY),
            (libc::EFBIG, EFBIG),
            (libc::ENOSPC, ENOSPC),
            (libc::ESPIPE, ESPIPE),
            (libc::EROFS, EROFS),
            (libc::EMLINK, EMLINK),
            (libc::ERANGE, ERANGE),
            (libc::ENAMETOOLONG, ENAMETOOLONG),
            (libc::ENOSYS, ENOSYS),
            (libc::ENOTEMPTY, ENOTEMPTY),
            (libc::ELOOP, ELOOP),
            (libc::EOVERFLOW, EOVERFLOW),
            (libc::EOPNOTSUPP, EOPNOTSUPP),
            (libc::ENOTSUP, EOPNOTSUPP),
            (libc::EDQUOT, EDQUOT),
            (libc::ESTALE, ESTALE),
        ];
        TABLE.iter().find(|&&(h, _)| h == host).map(|&(_, l)| l)
    }

    impl Fs {
        pub fn new(root: &Path) -> io::Result<Fs> {
            let path = CString::new(root.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // The host chose the root, so its own path may go through symlinks; nothing below
            // it will.
            let raw = unsafe { libc::open(path.as_ptr(), DIR_HANDLE & !libc::O_NOFOLLOW) };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: open just returned this descriptor and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let attr = stat_fd(fd.as_raw_fd()).map_err(|_| io::Error::last_os_error())?;
            raise_fd_limit();
            Ok(Fs {
                root: Arc::new(Dir {
                    fd,
                    dev: attr.dev,
                    ino: attr.ino,
                }),
                superuser: unsafe { libc::geteuid() } == 0,
            })
        }

        pub fn superuser(&self) -> bool {
            self.superuser
        }

        #[cfg(test)]
        pub fn set_superuser(&mut self, superuser: bool) {
            self.superuser = superuser;
        }

        fn is_root(&self, d: &Dir) -> bool {
            d.dev == self.root.dev && d.ino == self.root.ino
        }

        pub fn root(&self) -> Node {
            Node {
                dir: Some(self.root.clone()),
                link: None,
            }
        }

        /// One walk step. `name` is a single component or `..`.
        pub fn lookup(&self, node: &Node, name: &[u8]) -> Res<(Node, Attr)> {
            let dir = node.dir()?;
            if name == b".." {
                // The root is its own parent: nothing above it is reachable.
                if self.is_root(dir) {
                    return Ok((node.clone(), stat_fd(dir.raw())?));
                }
                let (up, attr) = open_dir(dir.raw(), c"..")?;
                let up = Node {
                    dir: Some(up),
                    link: None,
                };
                return Ok((up, attr));
            }
            let name = cstr(name)?;
            let attr = stat_at(dir.raw(), &name, AT_SYMLINK_NOFOLLOW)?;
            if attr.mode & S_IFMT != S_IFDIR {
                let link = Some((dir.clone(), name));
                return Ok((Node { dir: None, link }, attr));
            }
            let (handle, attr) = open_dir(dir.raw(), &name)?;
            let node = Node {
                dir: Some(handle),
                link: Some((dir.clone(), name)),
            };
            Ok((node, attr))
        }

        pub fn attr(&self, node: &Node, file: Option<&File>) -> Res<Attr> {
            match file {
                Some(f) => stat_fd(f.fd.as_raw_fd()),
                None => {
                    let (fd, name, flags) = node.at()?;
                    stat_at(fd, name, flags)
                }
            }
        }

        pub fn open(&self, node: &Node, flags: &OpenFlags) -> Res<Opened> {
            if let Some(d) = &node.dir {
                if flags.modifies() {
                    return Err(EISDIR);
                }
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
                let fd = open_at(d.raw(), c".", flags, 0)?;
                return Ok(Opened::Dir(OpenDir { fd }));
            }
            let (parent, name) = node.link.as_ref().ok_or(EBADF)?;
            let fd = open_regular(parent.raw(), name, host_flags(flags))?;
            Ok(Opened::File(File {
                fd,
                writable: flags.write,
            }))
        }

        pub fn create(
            &self,
            dir: &Node,
            name: &[u8],
            flags: &OpenFlags,
            mode: u32,
            owner: Option<(u32, u32)>,
        ) -> Res<(Node, File)> {
            let d = dir.dir()?;
            let name = cstr(name)?;
            // An existing entry must be a regular file before anything opens it. A new one is
            // created exclusively, so that what gets the guest's mode and owner is ours.
            let new = match stat_at(d.raw(), &name, AT_SYMLINK_NOFOLLOW) {
                Ok(_) if flags.excl => return Err(EEXIST),
                Ok(a) => {
                    require_regular(a.mode)?;
                    0
                }
                Err(ENOENT) => libc::O_EXCL,
                Err(e) => return Err(e),
            };
            let flags_host = host_flags(flags) | libc::O_CREAT | OPEN_SAFE | new;
            let fd = open_at(d.raw(), &name, flags_host, mode)?;
            require_regular(stat_fd(fd.as_raw_fd())?.mode)?;
            clear_nonblock(&fd);
            if new != 0 {
                let fd = fd.as_raw_fd();
                if let Some((uid, gid)) = owner {
                    check(unsafe { libc::fchown(fd, uid, gid) })?;
                }
                // The guest applied its umask already; ours must not take more bits away.
                check(unsafe { libc::fchmod(fd, mode as libc::mode_t) })?;
            }
            let node = Node {
                dir: None,
                link: Some((d.clone(), name)),
            };
            let file = File {
                fd,
                writable: flags.write,
            };
            Ok((node, file))
        }

        pub fn read(&self, file: &File, offset: u64, buf: &mut [u8]) -> Res<usize> {
            let offset = libc::off_t::try_from(offset).map_err(|_| EINVAL)?;
            loop {
                let fd = file.fd.as_raw_fd();
                let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) };
                match usize::try_from(n) {
                    Ok(n) => return Ok(n),
                    Err(_) if last() == EINTR => continue,
                    Err(_) => return Err(last()),
                }
            }
        }

        pub fn write(&self, file: &File, offset: u64, data: &[u8]) -> Res<usize> {
            if !file.writable {
                return Err(EBADF);
            }
            let offset = libc::off_t::try_from(offset).map_err(|_| EFBIG)?;
            loop {
                let fd = file.fd.as_raw_fd();
                let n = unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), offset) };
                match usize::try_from(n) {
                    Ok(n) => return Ok(n),
                    Err(_) if last() == EINTR => continue,
                    Err(_) => return Err(last()),
                }
            }
        }

        pub fn read_dir(&self, node: &Node, open: &OpenDir) -> Res<Vec<Entry>> {
            let mut list = entries(open.fd.as_raw_fd())?;
            // The root's `..` is the root (walking it stays there); say so in the listing too
            // rather than show the host directory above.
            if node.dir.as_deref().is_some_and(|d| self.is_root(d)) {
                for e in list.iter_mut().filter(|e| e.name == b"..") {
                    e.ino = self.root.ino;
                }
            }
            Ok(list)
        }

        /// Gives a new entry to the guest's user when we are root.
        fn own(&self, dir: &Dir, name: &CStr, owner: Option<(u32, u32)>) -> Res<()> {
            match owner {
                Some((uid, gid)) => check(unsafe {
                    libc::fchownat(dir.raw(), name.as_ptr(), uid, gid, AT_SYMLINK_NOFOLLOW)
                }),
                None => Ok(()),
            }
        }

        pub fn mkdir(
            &self,
            dir: &Node,
            name: &[u8],
            mode: u32,
            owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            let d = dir.dir()?;
            let name = cstr(name)?;
            check(unsafe { libc::mkdirat(d.raw(), name.as_ptr(), mode as libc::mode_t) })?;
            let (new, _) = open_dir(d.raw(), &name)?;
            if let Some((uid, gid)) = owner {
                check(unsafe { libc::fchownat(new.raw(), c".".as_ptr(), uid, gid, 0) })?;
            }
            // The guest applied its umask already; ours must not take more bits away.
            check(unsafe { libc::fchmodat(new.raw(), c".".as_ptr(), mode as libc::mode_t, 0) })?;
            stat_fd(new.raw())
        }

        pub fn symlink(
            &self,
            dir: &Node,
            name: &[u8],
            target: &[u8],
            owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            let d = dir.dir()?;
            let name = cstr(name)?;
            if target.is_empty() {
                return Err(ENOENT);
            }
            let target = cstr(target)?;
            check(unsafe { libc::symlinkat(target.as_ptr(), d.raw(), name.as_ptr()) })?;
            self.own(d, &name, owner)?;
            stat_at(d.raw(), &name, AT_SYMLINK_NOFOLLOW)
        }

        /// `mode` carries the file type; device nodes only reach here when we are root.
        pub fn mknod(
            &self,
            dir: &Node,
            name: &[u8],
            mode: u32,
            major: u32,
            minor: u32,
            owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            let d = dir.dir()?;
            let name = cstr(name)?;
            match mode & S_IFMT {
                0 | S_IFREG => {
                    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | OPEN_SAFE;
                    drop(open_at(d.raw(), &name, flags, mode & 0o7777)?);
                }
                S_IFIFO | S_IFSOCK | S_IFCHR | S_IFBLK => mknod_at(d, &name, mode, major, minor)?,
                _ => return Err(EINVAL),
            }
            self.own(d, &name, owner)?;
            // Undo our umask, as for files and directories. Only a C library unable to chmod
            // without following symlinks can fail here, and then the node keeps its bits.
            let perm = (mode & 0o7777) as libc::mode_t;
            unsafe { libc::fchmodat(d.raw(), name.as_ptr(), perm, AT_SYMLINK_NOFOLLOW) };
            stat_at(d.raw(), &name, AT_SYMLINK_NOFOLLOW)
        }

        pub fn link(&self, target: &Node, dir: &Node, name: &[u8]) -> Res<()> {
            if target.dir.is_some() {
                return Err(EPERM);
            }
            let (parent, old) = target.link.as_ref().ok_or(EBADF)?;
            let d = dir.dir()?;
            let name = cstr(name)?;
            // Flags 0: a symlink is linked as itself, never followed.
            check(unsafe { libc::linkat(parent.raw(), old.as_ptr(), d.raw(), name.as_ptr(), 0) })
        }

        pub fn readlink(&self, node: &Node) -> Res<Vec<u8>> {
            if node.dir.is_some() {
                return Err(EINVAL);
            }
            let (parent, name) = node.link.as_ref().ok_or(EBADF)?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = unsafe {
                    libc::readlinkat(
                        parent.raw(),
                        name.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                let n = usize::try_from(n).map_err(|_| last())?;
                if n < buf.len() {
                    buf.truncate(n);
                    return Ok(buf);
                }
                if buf.len() >= 1 << 16 {
                    return Err(ENAMETOOLONG);
                }
                buf.resize(buf.len() * 2, 0);
            }
        }

        pub fn unlink(&self, dir: &Node, name: &[u8], rmdir: bool) -> Res<()> {
            let d = dir.dir()?;
            let name = cstr(name)?;
            let flags = if rmdir { libc::AT_REMOVEDIR } else { 0 };
            check(unsafe { libc::unlinkat(d.raw(), name.as_ptr(), flags) })
        }

        /// The parent handle and name of `node`, looked up by inode in its `..` if the walk
        /// that reached it did not record them.
        fn locate(&self, node: &Node) -> Res<(Arc<Dir>, CString)> {
            if let Some(link) = &node.link {
                return Ok(link.clone());
            }
            let d = node.dir()?;
            if self.is_root(d) {
                return Err(EBUSY);
            }
            let (parent, _) = open_dir(d.raw(), c"..")?;
            for e in entries(parent.raw())? {
                if e.name == b"." || e.name == b".." {
                    continue;
                }
                let name = cstr(&e.name)?;
                if let Ok(a) = stat_at(parent.raw(), &name, AT_SYMLINK_NOFOLLOW) {
                    if a.dev == d.dev && a.ino == d.ino {
                        return Ok((parent, name));
                    }
                }
            }
            Err(ENOENT)
        }

        pub fn remove(&self, node: &Node) -> Res<()> {
            let (parent, name) = self.locate(node)?;
            let flags = if node.dir.is_some() {
                libc::AT_REMOVEDIR
            } else {
                0
            };
            check(unsafe { libc::unlinkat(parent.raw(), name.as_ptr(), flags) })
        }

        fn rename_in(&self, from: &Arc<Dir>, old: CString, to: &Node, new: &[u8]) -> Res<Moved> {
            let to = to.dir()?;
            let new = cstr(new)?;
            check(unsafe { libc::renameat(from.raw(), old.as_ptr(), to.raw(), new.as_ptr()) })?;
            Ok(Moved {
                from: (from.dev, from.ino, old),
                to: (to.clone(), new),
            })
        }

        pub fn rename(&self, from: &Node, old: &[u8], to: &Node, new: &[u8]) -> Res<Moved> {
            self.rename_in(from.dir()?, cstr(old)?, to, new)
        }

        pub fn rename_node(&self, node: &Node, to: &Node, new: &[u8]) -> Res<Moved> {
            let (parent, old) = self.locate(node)?;
            self.rename_in(&parent, old, to, new)
        }

        pub fn chown(
            &self,
            node: &Node,
            file: Option<&File>,
            uid: Option<u32>,
            gid: Option<u32>,
        ) -> Res<()> {
            // -1 leaves an id as it is.
            let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
            match file {
                Some(f) => check(unsafe { libc::fchown(f.fd.as_raw_fd(), uid, gid) }),
                None => {
                    let (fd, name, flags) = node.at()?;
                    check(unsafe { libc::fchownat(fd, name.as_ptr(), uid, gid, flags) })
                }
            }
        }

        pub fn chmod(&self, node: &Node, file: Option<&File>, mode: u32) -> Res<()> {
            let mode = mode as libc::mode_t;
            if let Some(f) = file {
                return check(unsafe { libc::fchmod(f.fd.as_raw_fd(), mode) });
            }
            let (fd, name, flags) = node.at()?;
            match check(unsafe { libc::fchmodat(fd, name.as_ptr(), mode, flags) }) {
                // A C library without a symlink-safe fchmodat (no fchmodat2, no /proc) refuses
                // AT_SYMLINK_NOFOLLOW: chmod through a descriptor of the file itself instead,
                // which needs it readable or writable.
                Err(EOPNOTSUPP) if flags != 0 => {
                    let file = open_regular(fd, name, libc::O_RDONLY).or_else(|e| match e {
                        EACCES => open_regular(fd, name, libc::O_WRONLY),
                        e => Err(e),
                    })?;
                    check(unsafe { libc::fchmod(file.as_raw_fd(), mode) })
                }
                result => result,
            }
        }

        pub fn truncate(&self, node: &Node, file: Option<&File>, size: u64) -> Res<()> {
            let size = libc::off_t::try_from(size).map_err(|_| EFBIG)?;
            if let Some(f) = file.filter(|f| f.writable) {
                return check(unsafe { libc::ftruncate(f.fd.as_raw_fd(), size) });
            }
            if node.dir.is_some() {
                return Err(EISDIR);
            }
            let (parent, name) = node.link.as_ref().ok_or(EBADF)?;
            let fd = open_regular(parent.raw(), name, libc::O_WRONLY)?;
            check(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })
        }

        pub fn utimes(
            &self,
            node: &Node,
            file: Option<&File>,
            atime: Time,
            mtime: Time,
        ) -> Res<()> {
            let times = [timespec(atime)?, timespec(mtime)?];
            match file {
                Some(f) => check(unsafe { libc::futimens(f.fd.as_raw_fd(), times.as_ptr()) }),
                None => {
                    let (fd, name, flags) = node.at()?;
                    check(unsafe { libc::utimensat(fd, name.as_ptr(), times.as_ptr(), flags) })
                }
            }
        }

        pub fn statfs(&self, node: &Node) -> Res<StatFs> {
            let fd = match (&node.dir, &node.link) {
                (Some(d), _) | (None, Some((d, _))) => d.raw(),
                (None, None) => return Err(EBADF),
            };
            let mut st = MaybeUninit::<libc::statvfs>::uninit();
            check(unsafe { libc::fstatvfs(fd, st.as_mut_ptr()) })?;
            // SAFETY: fstatvfs succeeded and filled `st`.
            let st = unsafe { st.assume_init() };
            // Block counts are in fragment-size units.
            let bsize = if n(st.f_frsize) != 0 {
                n(st.f_frsize)
            } else {
                n(st.f_bsize)
            };
            Ok(StatFs {
                bsize: u32::try_from(bsize).unwrap_or(u32::MAX),
                blocks: n(st.f_blocks),
                bfree: n(st.f_bfree),
                bavail: n(st.f_bavail),
                files: n(st.f_files),
                ffree: n(st.f_ffree),
                fsid: n(st.f_fsid),
                namelen: u32::try_from(n(st.f_namemax)).unwrap_or(255),
            })
        }

        pub fn fsync_file(&self, file: &File, datasync: bool) -> Res<()> {
            sync(file.fd.as_raw_fd(), datasync)
        }

        pub fn fsync_dir(&self, dir: &OpenDir) -> Res<()> {
            sync(dir.fd.as_raw_fd(), false)
        }
    }

    fn sync(fd: RawFd, datasync: bool) -> Res<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if datasync {
            return check(unsafe { libc::fdatasync(fd) });
        }
        let _ = datasync;
        check(unsafe { libc::fsync(fd) })
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn mknod_at(dir: &Dir, name: &CStr, mode: u32, major: u32, minor: u32) -> Res<()> {
        let dev = libc::makedev(major, minor);
        check(unsafe { libc::mknodat(dir.raw(), name.as_ptr(), mode as libc::mode_t, dev) })
    }

    /// Other hosts encode device numbers and allow special files differently; not served.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn mknod_at(_: &Dir, _: &CStr, _: u32, _: u32, _: u32) -> Res<()> {
        Err(EOPNOTSUPP)
    }
}

/// The host side without unix calls (wasm32-wasip1): std::fs on paths joined from validated
/// names. A symlink is never walked through (the walk refuses to leave one), but a symlink
/// swapped in afterwards would be followed by the path calls: here the WASI pre-opened
/// directory, not this code, is what keeps the guest inside.
#[cfg(not(unix))]
mod host {
    use super::errno::*;
    use super::{Attr, Entry, Errno, OpenFlags, Res, StatFs, Time};
    use super::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
    use std::fs;
    use std::hash::{DefaultHasher, Hash, Hasher};
    use std::io::{self, Read, Seek, SeekFrom, Write};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// A walked-to file: its path below the root and its type when walked.
    #[derive(Clone)]
    pub struct Node {
        rel: PathBuf,
        kind: u32,
    }

    impl Node {
        pub fn follow(&mut self, moved: &Moved) {
            if let Ok(rest) = self.rel.strip_prefix(&moved.from) {
                self.rel = if rest.as_os_str().is_empty() {
                    moved.to.clone()
                } else {
                    moved.to.join(rest)
                };
            }
        }
    }

    pub struct File {
        file: fs::File,
        writable: bool,
    }

    pub struct OpenDir;

    pub enum Opened {
        File(File),
        Dir(OpenDir),
    }

    /// Where a rename took a path from and to; paths below it move along.
    pub struct Moved {
        from: PathBuf,
        to: PathBuf,
    }

    pub struct Fs {
        root: PathBuf,
    }

    fn err(e: io::Error) -> Errno {
        super::errno_of(&e)
    }

    fn name_str(name: &[u8]) -> Res<&str> {
        std::str::from_utf8(name).map_err(|_| EINVAL)
    }

    /// Paths have no inode numbers here: a hash of the path stands in for the qid path.
    fn ino(rel: &Path) -> u64 {
        let mut h = DefaultHasher::new();
        rel.hash(&mut h);
        h.finish()
    }

    fn split(t: io::Result<SystemTime>) -> (i64, u64) {
        match t.map(|t| t.duration_since(UNIX_EPOCH)) {
            Ok(Ok(d)) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                u64::from(d.subsec_nanos()),
            ),
            _ => (0, 0),
        }
    }

    fn attr_of(rel: &Path, md: &fs::Metadata) -> Attr {
        let ft = md.file_type();
        let ro = md.permissions().readonly();
        let mode = if ft.is_dir() {
            S_IFDIR | if ro { 0o555 } else { 0o755 }
        } else if ft.is_symlink() {
            S_IFLNK | 0o777
        } else {
            S_IFREG | if ro { 0o444 } else { 0o644 }
        };
        Attr {
            mode,
            nlink: 1,
            size: md.len(),
            blksize: 4096,
            blocks: md.len().div_ceil(512),
            atime: split(md.accessed()),
            mtime: split(md.modified()),
            ctime: split(md.modified()),
            ino: ino(rel),
            ..Attr::default()
        }
    }

    fn system_time(t: Time) -> Option<SystemTime> {
        match t {
            Time::Omit => None,
            Time::Now => Some(SystemTime::now()),
            Time::At(sec, nsec) => {
                let d = Duration::new(sec.unsigned_abs(), u32::try_from(nsec).unwrap_or(0));
                if sec >= 0 {
                    UNIX_EPOCH.checked_add(d)
                } else {
                    UNIX_EPOCH.checked_sub(d)
                }
            }
        }
    }

    impl Fs {
        pub fn new(root: &Path) -> io::Result<Fs> {
            if !fs::metadata(root)?.is_dir() {
                return Err(io::Error::from(io::ErrorKind::NotADirectory));
            }
            Ok(Fs {
                root: root.to_path_buf(),
            })
        }

        pub fn superuser(&self) -> bool {
            false
        }

        pub fn root(&self) -> Node {
            Node {
                rel: PathBuf::new(),
                kind: S_IFDIR,
            }
        }

        fn path(&self, rel: &Path) -> PathBuf {
            if rel.as_os_str().is_empty() {
                self.root.clone()
            } else {
                self.root.join(rel)
            }
        }

        fn child(dir: &Node, name: &[u8]) -> Res<PathBuf> {
            if dir.kind != S_IFDIR {
                return Err(ENOTDIR);
            }
            Ok(dir.rel.join(name_str(name)?))
        }

        fn stat(&self, rel: &Path) -> Res<Attr> {
            let md = fs::symlink_metadata(self.path(rel)).map_err(err)?;
            Ok(attr_of(rel, &md))
        }

        pub fn lookup(&self, node: &Node, name: &[u8]) -> Res<(Node, Attr)> {
            let rel = if name == b".." {
                if node.kind != S_IFDIR {
                    return Err(ENOTDIR);
                }
                // Popping the root's empty path leaves it empty: `..` stays at the root.
                let mut rel = node.rel.clone();
                rel.pop();
                rel
            } else {
                Self::child(node, name)?
            };
            let attr = self.stat(&rel)?;
            let kind = attr.mode & S_IFMT;
            Ok((Node { rel, kind }, attr))
        }

        pub fn attr(&self, node: &Node, file: Option<&File>) -> Res<Attr> {
            match file {
                Some(f) => Ok(attr_of(&node.rel, &f.file.metadata().map_err(err)?)),
                None => self.stat(&node.rel),
            }
        }

        pub fn open(&self, node: &Node, flags: &OpenFlags) -> Res<Opened> {
            match node.kind {
                S_IFDIR if flags.modifies() => Err(EISDIR),
                S_IFDIR => Ok(Opened::Dir(OpenDir)),
                S_IFLNK => Err(ELOOP),
                _ => {
                    let file = fs::OpenOptions::new()
                        .read(flags.read)
                        .write(flags.write)
                        .append(flags.write && flags.append)
                        .truncate(flags.write && flags.truncate)
                        .open(self.path(&node.rel))
                        .map_err(err)?;
                    Ok(Opened::File(File {
                        file,
                        writable: flags.write,
                    }))
                }
            }
        }

        pub fn create(
            &self,
            dir: &Node,
            name: &[u8],
            flags: &OpenFlags,
            mode: u32,
            _owner: Option<(u32, u32)>,
        ) -> Res<(Node, File)> {
            let rel = Self::child(dir, name)?;
            let mut options = fs::OpenOptions::new();
            // Creating needs write access whatever the guest will do with the file.
            options.read(flags.read).write(true).append(flags.append);
            if flags.excl {
                options.create_new(true);
            } else {
                options.create(true).truncate(flags.truncate);
            }
            let path = self.path(&rel);
            let file = options.open(&path).map_err(err)?;
            // WASI files have no permission bits to set.
            #[cfg(target_os = "wasi")]
            let _ = mode;
            #[cfg(not(target_os = "wasi"))]
            if mode & 0o222 == 0 {
                if let Ok(md) = file.metadata() {
                    let mut perm = md.permissions();
                    perm.set_readonly(true);
                    let _ = fs::set_permissions(&path, perm);
                }
            }
            let node = Node { rel, kind: S_IFREG };
            let file = File {
                file,
                writable: flags.write,
            };
            Ok((node, file))
        }

        pub fn read(&self, file: &File, offset: u64, buf: &mut [u8]) -> Res<usize> {
            let mut f = &file.file;
            f.seek(SeekFrom::Start(offset)).map_err(err)?;
            f.read(buf).map_err(err)
        }

        pub fn write(&self, file: &File, offset: u64, data: &[u8]) -> Res<usize> {
            if !file.writable {
                return Err(EBADF);
            }
            let mut f = &file.file;
            f.seek(SeekFrom::Start(offset)).map_err(err)?;
            f.write(data).map_err(err)
        }

        pub fn read_dir(&self, node: &Node, _open: &OpenDir) -> Res<Vec<Entry>> {
            let mut up = node.rel.clone();
            up.pop();
            let mut list = vec![
                Entry {
                    ino: ino(&node.rel),
                    dtype: super::dtype(S_IFDIR),
                    name: b".".to_vec(),
                },
                Entry {
                    ino: ino(&up),
                    dtype: super::dtype(S_IFDIR),
                    name: b"..".to_vec(),
                },
            ];
            for e in fs::read_dir(self.path(&node.rel)).map_err(err)? {
                let e = e.map_err(err)?;
                let Some(name) = e.file_name().to_str().map(String::from) else {
                    continue;
                };
                let kind = match e.file_type() {
                    Ok(t) if t.is_dir() => S_IFDIR,
                    Ok(t) if t.is_symlink() => S_IFLNK,
                    _ => S_IFREG,
                };
                list.push(Entry {
                    ino: ino(&node.rel.join(&name)),
                    dtype: super::dtype(kind),
                    name: name.into_bytes(),
                });
            }
            Ok(list)
        }

        pub fn mkdir(
            &self,
            dir: &Node,
            name: &[u8],
            _mode: u32,
            _owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            let rel = Self::child(dir, name)?;
            fs::create_dir(self.path(&rel)).map_err(err)?;
            self.stat(&rel)
        }

        pub fn symlink(
            &self,
            _dir: &Node,
            _name: &[u8],
            _target: &[u8],
            _owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            Err(EOPNOTSUPP)
        }

        pub fn mknod(
            &self,
            dir: &Node,
            name: &[u8],
            mode: u32,
            _major: u32,
            _minor: u32,
            _owner: Option<(u32, u32)>,
        ) -> Res<Attr> {
            if !matches!(mode & S_IFMT, 0 | S_IFREG) {
                return Err(EOPNOTSUPP);
            }
            let rel = Self::child(dir, name)?;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.path(&rel))
                .map_err(err)?;
            self.stat(&rel)
        }

        pub fn link(&self, target: &Node, dir: &Node, name: &[u8]) -> Res<()> {
            if target.kind == S_IFDIR {
                return Err(EPERM);
            }
            let rel = Self::child(dir, name)?;
            fs::hard_link(self.path(&target.rel), self.path(&rel)).map_err(err)
        }

        pub fn readlink(&self, node: &Node) -> Res<Vec<u8>> {
            if node.kind != S_IFLNK {
                return Err(EINVAL);
            }
            let target = fs::read_link(self.path(&node.rel)).map_err(err)?;
            let target = target.to_str().ok_or(EINVAL)?;
            Ok(target.as_bytes().to_vec())
        }

        pub fn unlink(&self, dir: &Node, name: &[u8], rmdir: bool) -> Res<()> {
            let path = self.path(&Self::child(dir, name)?);
            let is_dir = fs::symlink_metadata(&path).map_err(err)?.is_dir();
            match (rmdir, is_dir) {
                (true, true) => fs::remove_dir(&path).map_err(err),
                (true, false) => Err(ENOTDIR),
                (false, true) => Err(EISDIR),
                (false, false) => fs::remove_file(&path).map_err(err),
            }
        }

        pub fn remove(&self, node: &Node) -> Res<()> {
            if node.rel.as_os_str().is_empty() {
                return Err(EBUSY);
            }
            let path = self.path(&node.rel);
            if node.kind == S_IFDIR {
                fs::remove_dir(path).map_err(err)
            } else {
                fs::remove_file(path).map_err(err)
            }
        }

        fn rename_path(&self, from: PathBuf, to: &Node, new: &[u8]) -> Res<Moved> {
            let to = Self::child(to, new)?;
            fs::rename(self.path(&from), self.path(&to)).map_err(err)?;
            Ok(Moved { from, to })
        }

        pub fn rename(&self, from: &Node, old: &[u8], to: &Node, new: &[u8]) -> Res<Moved> {
            self.rename_path(Self::child(from, old)?, to, new)
        }

        pub fn rename_node(&self, node: &Node, to: &Node, new: &[u8]) -> Res<Moved> {
            if node.rel.as_os_str().is_empty() {
                return Err(EBUSY);
            }
            self.rename_path(node.rel.clone(), to, new)
        }

        pub fn chown(
            &self,
            _node: &Node,
            _file: Option<&File>,
            _uid: Option<u32>,
            _gid: Option<u32>,
        ) -> Res<()> {
            Err(EPERM)
        }

        /// Only the read-only bit exists here.
        pub fn chmod(&self, node: &Node, _file: Option<&File>, mode: u32) -> Res<()> {
            if node.kind == S_IFLNK {
                return Err(EOPNOTSUPP);
            }
            let path = self.path(&node.rel);
            let mut perm = fs::metadata(&path).map_err(err)?.permissions();
            perm.set_readonly(mode & 0o222 == 0);
            #[cfg(target_os = "wasi")]
            {
                // WASI has no permission bits: the file exists, and that is all there is.
                let _ = perm;
                Ok(())
            }
            #[cfg(not(target_os = "wasi"))]
            fs::set_permissions(&path, perm).map_err(err)
        }

        pub fn truncate(&self, node: &Node, file: Option<&File>, size: u64) -> Res<()> {
            if let Some(f) = file.filter(|f| f.writable) {
                return f.file.set_len(size).map_err(err);
            }
            match node.kind {
                S_IFDIR => Err(EISDIR),
                S_IFLNK => Err(ELOOP),
                _ => fs::OpenOptions::new()
                    .write(true)
                    .open(self.path(&node.rel))
                    .and_then(|f| f.set_len(size))
                    .map_err(err),
            }
        }

        pub fn utimes(
            &self,
            node: &Node,
            file: Option<&File>,
            atime: Time,
            mtime: Time,
        ) -> Res<()> {
            let mut times = fs::FileTimes::new();
            if let Some(t) = system_time(atime) {
                times = times.set_accessed(t);
            }
            if let Some(t) = system_time(mtime) {
                times = times.set_modified(t);
            }
            if let Some(f) = file {
                return f.file.set_times(times).map_err(err);
            }
            if node.kind == S_IFLNK {
                return Err(EOPNOTSUPP);
            }
            let path = self.path(&node.rel);
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .or_else(|_| fs::File::open(&path))
                .and_then(|f| f.set_times(times))
                .map_err(err)
        }

        pub fn statfs(&self, _node: &Node) -> Res<StatFs> {
            Ok(StatFs {
                bsize: 4096,
                namelen: 255,
                ..StatFs::default()
            })
        }

        pub fn fsync_file(&self, file: &File, datasync: bool) -> Res<()> {
            if datasync {
                file.file.sync_data().map_err(err)
            } else {
                file.file.sync_all().map_err(err)
            }
        }

        pub fn fsync_dir(&self, _dir: &OpenDir) -> Res<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    // Most tests compare with unix metadata; without unix only the portable one runs.
    #![cfg_attr(not(unix), allow(dead_code, unused_imports))]

    use super::*;
    use std::fs;
    #[cfg(unix)]
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    const BIG: usize = 1 << 20;
    const ROOT: u32 = 0;
    const O_RDONLY: u32 = 0;
    const O_WRONLY: u32 = 1;
    const O_RDWR: u32 = 2;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("petrel-p9-{}-{n}", std::process::id()));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Builds a request; `done` fills in the size.
    struct Msg(Vec<u8>);

    impl Msg {
        fn new(ty: u8) -> Msg {
            Msg(vec![0, 0, 0, 0, ty, 0x34, 0x12])
        }
        fn u8(mut self, v: u8) -> Msg {
            self.0.push(v);
            self
        }
        fn u16(mut self, v: u16) -> Msg {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Msg {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Msg {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn b(self, v: &[u8]) -> Msg {
            let mut m = self.u16(v.len() as u16);
            m.0.extend_from_slice(v);
            m
        }
        fn s(self, v: &str) -> Msg {
            self.b(v.as_bytes())
        }
        fn done(mut self) -> Vec<u8> {
            let n = self.0.len() as u32;
            self.0[..4].copy_from_slice(&n.to_le_bytes());
            self.0
        }
    }

    /// qid type and path.
    type Qid = (u8, u64);

    fn qid(r: &mut Reader) -> Qid {
        let t = r.u8().unwrap();
        assert_eq!(r.u32().unwrap(), 0, "qid version");
        (t, r.u64().unwrap())
    }

    #[derive(Debug)]
    struct Stat {
        qid: Qid,
        mode: u32,
        uid: u32,
        nlink: u64,
        size: u64,
        atime: u64,
        mtime: u64,
    }

    #[derive(Debug, PartialEq)]
    struct DirEnt {
        qid: Qid,
        offset: u64,
        dtype: u8,
        name: String,
    }

    /// A server on a fresh temporary directory, versioned and attached as fid 0.
    struct T {
        dir: TempDir,
        srv: P9Server,
    }

    impl T {
        fn new() -> T {
            T::with(false, |_| {})
        }

        /// `prepare` fills the directory before the server opens it.
        fn with(read_only: bool, prepare: impl FnOnce(&TempDir)) -> T {
            let dir = TempDir::new();
            prepare(&dir);
            let srv = P9Server::new(&dir.0, read_only).unwrap();
            let mut t = T { dir, srv };
            let body = t.ok(Msg::new(TVERSION).u32(65536).s("9P2000.L"));
            let mut r = Reader(&body);
            assert_eq!(r.u32().unwrap(), 65536);
            assert_eq!(r.string().unwrap(), b"9P2000.L");
            t.ok(Msg::new(TATTACH).u32(ROOT).u32(!0).s("root").s("").u32(0));
            t
        }

        fn call_with(&mut self, m: Msg, max: usize) -> Result<Vec<u8>, u32> {
            let req = m.done();
            let rep = self.srv.handle(&req, max);
            assert!(rep.len() >= HEADER && rep.len() <= max, "reply length");
            assert_eq!(
                u32::from_le_bytes(rep[..4].try_into().unwrap()) as usize,
                rep.len()
            );
            assert_eq!(rep[5..7], req[5..7], "tag");
            if rep[4] == RLERROR {
                assert_eq!(rep.len(), 11);
                Err(u32::from_le_bytes(rep[7..11].try_into().unwrap()))
            } else {
                assert_eq!(rep[4], req[4] + 1);
                Ok(rep[7..].to_vec())
            }
        }

        fn call(&mut self, m: Msg) -> Result<Vec<u8>, u32> {
            self.call_with(m, BIG)
        }

        fn ok(&mut self, m: Msg) -> Vec<u8> {
            self.call(m).unwrap()
        }

        fn err(&mut self, m: Msg) -> u32 {
            self.call(m).unwrap_err()
        }

        fn walk(&mut self, fid: u32, newfid: u32, names: &[&str]) -> Result<Vec<Qid>, u32> {
            let mut m = Msg::new(TWALK).u32(fid).u32(newfid).u16(names.len() as u16);
            for n in names {
                m = m.s(n);
            }
            let body = self.call(m)?;
            let mut r = Reader(&body);
            let n = r.u16().unwrap();
            Ok((0..n).map(|_| qid(&mut r)).collect())
        }

        fn lopen(&mut self, fid: u32, flags: u32) -> Result<Qid, u32> {
            let body = self.call(Msg::new(TLOPEN).u32(fid).u32(flags))?;
            Ok(qid(&mut Reader(&body)))
        }

        fn lcreate(&mut self, dir: u32, name: &str, flags: u32, mode: u32) -> Result<Qid, u32> {
            let m = Msg::new(TLCREATE)
                .u32(dir)
                .s(name)
                .u32(flags)
                .u32(mode)
                .u32(0);
            let body = self.call(m)?;
            Ok(qid(&mut Reader(&body)))
        }

        fn getattr(&mut self, fid: u32) -> Result<Stat, u32> {
            let body = self.call(Msg::new(TGETATTR).u32(fid).u64(GETATTR_BASIC))?;
            let r = &mut Reader(&body);
            assert_eq!(r.u64().unwrap(), GETATTR_BASIC);
            let qid = qid(r);
            let mode = r.u32().unwrap();
            let uid = r.u32().unwrap();
            let _gid = r.u32().unwrap();
            let nlink = r.u64().unwrap();
            let _rdev = r.u64().unwrap();
            let size = r.u64().unwrap();
            let _blksize = r.u64().unwrap();
            let _blocks = r.u64().unwrap();
            let atime = r.u64().unwrap();
            let _ = r.u64().unwrap();
            let mtime = r.u64().unwrap();
            Ok(Stat {
                qid,
                mode,
                uid,
                nlink,
                size,
                atime,
                mtime,
            })
        }

        fn setattr(&mut self, fid: u32, valid: u32, mode: u32, size: u64) -> Result<(), u32> {
            let m = Msg::new(TSETATTR)
                .u32(fid)
                .u32(valid)
                .u32(mode)
                .u32(0)
                .u32(0);
            self.call(m.u64(size).u64(0).u64(0).u64(0).u64(0)).map(drop)
        }

        fn read(&mut self, fid: u32, offset: u64, count: u32) -> Result<Vec<u8>, u32> {
            let body = self.call(Msg::new(TREAD).u32(fid).u64(offset).u32(count))?;
            let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            assert_eq!(body.len(), 4 + n);
            Ok(body[4..].to_vec())
        }

        fn write(&mut self, fid: u32, offset: u64, data: &[u8]) -> Result<u32, u32> {
            let m = Msg::new(TWRITE).u32(fid).u64(offset).u32(data.len() as u32);
            let mut m = m;
            m.0.extend_from_slice(data);
            let body = self.call(m)?;
            Ok(u32::from_le_bytes(body[..4].try_into().unwrap()))
        }

        fn readdir(&mut self, fid: u32, offset: u64, count: u32) -> Result<Vec<DirEnt>, u32> {
            let body = self.call(Msg::new(TREADDIR).u32(fid).u64(offset).u32(count))?;
            let r = &mut Reader(&body);
            let n = r.u32().unwrap() as usize;
            assert_eq!(r.0.len(), n);
            let mut out = Vec::new();
            while !r.0.is_empty() {
                let qid = qid(r);
                let offset = r.u64().unwrap();
                let dtype = r.u8().unwrap();
                let name = String::from_utf8(r.string().unwrap().to_vec()).unwrap();
                out.push(DirEnt {
                    qid,
                    offset,
                    dtype,
                    name,
                });
            }
            Ok(out)
        }

        /// Lists an opened directory fid in small reads, resuming from each last offset as
        /// Linux does.
        fn list(&mut self, fid: u32) -> Vec<DirEnt> {
            let mut all: Vec<DirEnt> = Vec::new();
            loop {
                let offset = all.last().map_or(0, |e| e.offset);
                let got = self.readdir(fid, offset, 64).unwrap();
                if got.is_empty() {
                    return all;
                }
                all.extend(got);
            }
        }

        fn readlink(&mut self, fid: u32) -> Result<Vec<u8>, u32> {
            let body = self.call(Msg::new(TREADLINK).u32(fid))?;
            Ok(Reader(&body).string().unwrap().to_vec())
        }

        fn clunk(&mut self, fid: u32) {
            self.ok(Msg::new(TCLUNK).u32(fid));
        }

        #[cfg(unix)]
        fn ino(&self, rel: &str) -> u64 {
            fs::symlink_metadata(self.dir.path(rel)).unwrap().ino()
        }
    }

    /// The protocol paths every backend serves, checked against std::fs only (this is the test
    /// the std::fs backend of wasm32-wasip1 runs).
    #[test]
    fn portable_round_trip() {
        let mut t = T::with(false, |d| {
            fs::create_dir(d.path("a")).unwrap();
            fs::write(d.path("a/f"), "hello").unwrap();
        });
        let root = t.getattr(ROOT).unwrap().qid;
        assert_eq!(root.0, QT_DIR);
        let q = t.walk(ROOT, 1, &["a", "f"]).unwrap();
        assert_eq!((q[0].0, q[1].0), (QT_DIR, 0));
        assert_eq!(t.getattr(1).unwrap().size, 5);
        assert_eq!(t.getattr(1).unwrap().mode & S_IFMT, S_IFREG);
        t.lopen(1, O_RDONLY).unwrap();
        assert_eq!(t.read(1, 1, 100).unwrap(), b"ello");
        assert_eq!(t.walk(ROOT, 2, &["..", ".."]).unwrap(), vec![root; 2]);
        let q = t.walk(ROOT, 7, &["a", "..", ".."]).unwrap();
        assert_eq!(q[1..], [root; 2]);
        assert_eq!(t.walk(ROOT, 3, &["a", "missing"]).unwrap().len(), 1);
        assert_eq!(t.walk(ROOT, 3, &["a/f"]), Err(EINVAL));

        t.walk(ROOT, 3, &["a"]).unwrap();
        t.lcreate(3, "g", O_RDWR, 0o644).unwrap();
        assert_eq!(t.write(3, 0, b"abc").unwrap(), 3);
        assert_eq!(fs::read(t.dir.path("a/g")).unwrap(), b"abc");
        t.setattr(3, ATTR_SIZE, 0, 1).unwrap();
        assert_eq!(fs::read(t.dir.path("a/g")).unwrap(), b"a");
        t.clunk(3);

        t.ok(Msg::new(TMKDIR).u32(ROOT).s("d").u32(0o755).u32(0));
        assert!(t.dir.path("d").is_dir());
        t.walk(ROOT, 4, &["a"]).unwrap();
        t.walk(ROOT, 5, &["d"]).unwrap();
        t.ok(Msg::new(TRENAMEAT).u32(4).s("g").u32(5).s("h"));
        assert_eq!(fs::read(t.dir.path("d/h")).unwrap(), b"a");
        // A fid on a renamed directory follows it.
        t.ok(Msg::new(TRENAMEAT).u32(ROOT).s("d").u32(ROOT).s("e"));
        assert_eq!(t.walk(5, 6, &["h"]).unwrap().len(), 1);
        assert_eq!(t.getattr(6).unwrap().size, 1);
        t.lopen(5, O_RDONLY).unwrap();
        let mut names: Vec<_> = t.list(5).into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, [".", "..", "h"]);

        assert_eq!(
            t.err(Msg::new(TUNLINKAT).u32(ROOT).s("e").u32(AT_REMOVEDIR)),
            ENOTEMPTY
        );
        assert_eq!(t.err(Msg::new(TUNLINKAT).u32(ROOT).s("e/h").u32(0)), EINVAL);
        assert!(t.dir.path("e/h").exists());
        t.ok(Msg::new(TUNLINKAT).u32(5).s("h").u32(0));
        t.ok(Msg::new(TUNLINKAT).u32(ROOT).s("e").u32(AT_REMOVEDIR));
        assert!(!t.dir.path("e").exists());
        assert_eq!(fs::read_dir(&t.dir.0).unwrap().count(), 1);
    }

    #[test]
    #[cfg(unix)]
    fn version_attach_walk_getattr() {
        let mut t = T::with(false, |d| {
            fs::create_dir(d.path("a")).unwrap();
            fs::write(d.path("a/b.txt"), "hello").unwrap();
        });
        let root = t.getattr(ROOT).unwrap();
        assert_eq!(root.qid, (QT_DIR, t.ino("")));
        assert_eq!(root.mode & S_IFMT, S_IFDIR);

        let qids = t.walk(ROOT, 1, &["a", "b.txt"]).unwrap();
        assert_eq!(qids, vec![(QT_DIR, t.ino("a")), (0, t.ino("a/b.txt"))]);
        let st = t.getattr(1).unwrap();
        let host = fs::metadata(t.dir.path("a/b.txt")).unwrap();
        assert_eq!(st.qid, (0, host.ino()));
        assert_eq!(st.size, 5);
        assert_eq!(st.mode, host.mode());
        assert_eq!(st.uid, host.uid());
        assert_eq!(st.nlink, 1);
        assert_eq!(st.mtime, host.mtime() as u64);

        // An empty walk clones; walking onto a bound fid is refused unless it is the same fid.
        assert_eq!(t.walk(1, 2, &[]).unwrap(), vec![]);
        assert_eq!(t.getattr(2).unwrap().qid, st.qid);
        assert_eq!(t.walk(ROOT, 2, &["a"]), Err(EBADF));
        assert_eq!(t.walk(2, 2, &[]), Ok(vec![]));

        // Unknown versions are answered with "unknown"; the msize never exceeds ours.
        let body = t.ok(Msg::new(TVERSION).u32(u32::MAX).s("9P2000"));
        let mut r = Reader(&body);
        assert_eq!(r.u32().unwrap(), MAX_MSIZE);
        assert_eq!(r.string().unwrap(), b"unknown");
        // A version starts a new session: old fids are gone.
        assert_eq!(t.getattr(1).unwrap_err(), EBADF);
        assert_eq!(t.getattr(ROOT).unwrap_err(), EBADF);
        t.ok(Msg::new(TATTACH).u32(ROOT).u32(!0).s("").s("").u32(0));
        assert_eq!(
            t.err(Msg::new(TATTACH).u32(ROOT).u32(!0).s("").s("").u32(0)),
            EBADF
        );
        t.ok(Msg::new(TFLUSH).u16(7));
    }

    #[test]
    #[cfg(unix)]
    fn walk_partial_and_errors() {
        let mut t = T::with(false, |d| {
            fs::create_dir(d.path("a")).unwrap();
            fs::write(d.path("a/f"), "x").unwrap();
        });
        // Failing at the first name is an error; later, the qids so far and no new fid.
        assert_eq!(t.walk(ROOT, 1, &["missing"]), Err(ENOENT));
        assert_eq!(t.walk(ROOT, 1, &["a", "missing"]).unwrap().len(), 1);
        assert_eq!(t.getattr(1).unwrap_err(), EBADF);
        // A file cannot be walked through.
        assert_eq!(t.walk(ROOT, 1, &["a", "f", "x"]).unwrap().len(), 2);
        assert_eq!(t.getattr(1).unwrap_err(), EBADF);
        assert_eq!(t.walk(ROOT, 1, &["a", "f"]).unwrap().len(), 2);
        assert_eq!(t.walk(1, 2, &["x"]), Err(ENOTDIR));
        // Names that are not one component.
        assert_eq!(t.walk(ROOT, 3, &["a/f"]), Err(EINVAL));
        assert_eq!(t.walk(ROOT, 3, &["."]), Err(ENOENT));
        assert_eq!(t.walk(ROOT, 3, &[""]), Err(ENOENT));
        assert_eq!(t.walk(ROOT, 3, &["a\0"]), Err(EINVAL));
        assert_eq!(t.walk(99, 3, &["a"]), Err(EBADF));
        // Walking a fid onto itself moves it.
        t.walk(ROOT, 4, &[]).unwrap();
        t.walk(4, 4, &["a"]).unwrap();
        assert_eq!(t.getattr(4).unwrap().qid, (QT_DIR, t.ino("a")));
        // Sixteen names are the limit.
        let names = ["a", ".."].repeat(8);
        assert_eq!(t.walk(ROOT, 5, &names).unwrap().len(), 16);
        let names = ["a", ".."].repeat(9);
        assert_eq!(t.walk(ROOT, 6, &names), Err(EINVAL));
    }

    #[test]
    #[cfg(unix)]
    fn create_write_read_readdir() {
        let mut t = T::new();
        t.walk(ROOT, 1, &[]).unwrap();
        let q = t.lcreate(1, "f", O_RDWR, 0o640).unwrap();
        assert_eq!(q, (0, t.ino("f")));
        assert_eq!(fs::metadata(t.dir.path("f")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(t.write(1, 0, b"hello world").unwrap(), 11);
        assert_eq!(t.write(1, 11, b"!").unwrap(), 1);
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"hello world!");
        assert_eq!(t.read(1, 6, 100).unwrap(), b"world!");
        assert_eq!(t.read(1, 100, 100).unwrap(), b"");
        t.ok(Msg::new(TFSYNC).u32(1).u32(0));
        t.ok(Msg::new(TFSYNC).u32(1).u32(1));
        assert_eq!(t.getattr(1).unwrap().size, 12);
        t.clunk(1);
        // The fid was bound to the new file, not the directory.
        assert_eq!(t.getattr(1).unwrap_err(), EBADF);

        // Exclusive creation of an existing name fails; plain creation opens it.
        t.walk(ROOT, 2, &[]).unwrap();
        assert_eq!(t.lcreate(2, "f", O_RDWR | L_O_EXCL, 0o600), Err(EEXIST));
        assert_eq!(t.lcreate(2, "f", O_RDONLY, 0o600).unwrap(), q);
        assert_eq!(t.read(2, 0, 5).unwrap(), b"hello");
        assert_eq!(t.write(2, 0, b"x"), Err(EBADF));
        t.clunk(2);

        // Reopening with O_TRUNC and O_APPEND.
        t.walk(ROOT, 3, &["f"]).unwrap();
        t.lopen(3, O_WRONLY | L_O_TRUNC | L_O_APPEND).unwrap();
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"");
        t.write(3, 0, b"ab").unwrap();
        t.write(3, 0, b"cd").unwrap();
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"abcd");
        assert_eq!(t.read(3, 0, 10), Err(EBADF));
        // An open fid cannot be opened again or walked to with an open file.
        assert_eq!(t.lopen(3, O_RDONLY), Err(EINVAL));
        t.clunk(3);

        // A directory with enough entries to need several reads.
        for i in 0..40 {
            fs::write(t.dir.path(&format!("file-{i:02}")), "").unwrap();
        }
        fs::create_dir(t.dir.path("sub")).unwrap();
        std::os::unix::fs::symlink("f", t.dir.path("link")).unwrap();
        t.walk(ROOT, 4, &[]).unwrap();
        assert_eq!(t.readdir(4, 0, 1000), Err(EBADF));
        t.lopen(4, O_RDONLY).unwrap();
        let list = t.list(4);
        let mut names: Vec<_> = list.iter().map(|e| e.name.clone()).collect();
        names.sort();
        let mut host: Vec<_> = fs::read_dir(&t.dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .chain([".".into(), "..".into()])
            .collect();
        host.sort();
        assert_eq!(names, host);
        for e in &list {
            let (dtype, qtype) = match e.name.as_str() {
                "." | ".." | "sub" => (4, QT_DIR),
                "link" => (10, QT_SYMLINK),
                _ => (8, 0),
            };
            assert_eq!((e.dtype, e.qid.0), (dtype, qtype), "{}", e.name);
            if !e.name.starts_with('.') {
                assert_eq!(e.qid.1, t.ino(&e.name), "{}", e.name);
            }
        }
        // Offsets are positions to resume from; reading from 0 again starts over.
        let from_five = t.readdir(4, list[4].offset, 1000).unwrap();
        assert_eq!(from_five[0].name, list[5].name);
        assert_eq!(t.readdir(4, 0, 65536).unwrap().len(), list.len());
        assert!(t.readdir(4, u64::MAX, 1000).unwrap().is_empty());
        // A count too small for one entry returns none rather than a partial one.
        assert!(t.readdir(4, 0, 10).unwrap().is_empty());
        // Directories cannot be read, written or opened for writing.
        assert_eq!(t.read(4, 0, 10), Err(EISDIR));
        t.walk(ROOT, 5, &["sub"]).unwrap();
        assert_eq!(t.lopen(5, O_RDWR), Err(EISDIR));
        t.ok(Msg::new(TFSYNC).u32(4).u32(0));
    }

    #[test]
    #[cfg(unix)]
    fn directory_operations() {
        let mut t = T::with(false, |d| fs::write(d.path("f"), "data").unwrap());
        // mkdir
        let body = t.ok(Msg::new(TMKDIR).u32(ROOT).s("d").u32(0o750).u32(0));
        assert_eq!(qid(&mut Reader(&body)), (QT_DIR, t.ino("d")));
        assert_eq!(fs::metadata(t.dir.path("d")).unwrap().mode() & 0o777, 0o750);
        assert_eq!(
            t.err(Msg::new(TMKDIR).u32(ROOT).s("d").u32(0o750).u32(0)),
            EEXIST
        );
        t.walk(ROOT, 1, &["d"]).unwrap();

        // renameat, with a fid on the file following it
        t.walk(ROOT, 2, &["f"]).unwrap();
        let ino = t.ino("f");
        t.ok(Msg::new(TRENAMEAT).u32(ROOT).s("f").u32(1).s("g"));
        assert!(!t.dir.path("f").exists());
        assert_eq!(fs::read(t.dir.path("d/g")).unwrap(), b"data");
        assert_eq!(t.getattr(2).unwrap().qid, (0, ino));
        t.lopen(2, O_RDONLY).unwrap();
        assert_eq!(t.read(2, 0, 10).unwrap(), b"data");

        // link: same inode, same qid
        t.ok(Msg::new(TLINK).u32(ROOT).u32(2).s("hard"));
        assert_eq!(t.ino("hard"), ino);
        assert_eq!(t.walk(ROOT, 3, &["hard"]).unwrap(), vec![(0, ino)]);
        assert_eq!(t.getattr(3).unwrap().nlink, 2);
        assert_eq!(t.err(Msg::new(TLINK).u32(ROOT).u32(1).s("dirlink")), EPERM);

        // symlink and readlink
        let body = t.ok(Msg::new(TSYMLINK).u32(ROOT).s("sym").s("d/g").u32(0));
        assert_eq!(qid(&mut Reader(&body)), (QT_SYMLINK, t.ino("sym")));
        assert_eq!(
            fs::read_link(t.dir.path("sym")).unwrap(),
            PathBuf::from("d/g")
        );
        t.walk(ROOT, 4, &["sym"]).unwrap();
        assert_eq!(t.readlink(4).unwrap(), b"d/g");
        assert_eq!(t.getattr(4).unwrap().mode & S_IFMT, S_IFLNK);
        assert_eq!(t.readlink(3), Err(EINVAL));
        assert_eq!(t.readlink(ROOT), Err(EINVAL));
        // A link to a symlink is a link to the symlink itself.
        t.ok(Msg::new(TLINK).u32(ROOT).u32(4).s("sym2"));
        assert_eq!(t.ino("sym2"), t.ino("sym"));

        // rename by fid
        t.ok(Msg::new(TRENAME).u32(3).u32(1).s("moved"));
        assert_eq!(t.ino("d/moved"), ino);
        assert_eq!(t.getattr(3).unwrap().qid, (0, ino));
        assert_eq!(t.err(Msg::new(TRENAME).u32(ROOT).u32(1).s("x")), EBUSY);

        // unlinkat
        assert_eq!(t.err(Msg::new(TUNLINKAT).u32(ROOT).s("d").u32(0)), EISDIR);
        assert_eq!(
            t.err(Msg::new(TUNLINKAT).u32(ROOT).s("d").u32(AT_REMOVEDIR)),
            ENOTEMPTY
        );
        t.ok(Msg::new(TUNLINKAT).u32(1).s("g").u32(0));
        t.ok(Msg::new(TUNLINKAT).u32(1).s("moved").u32(0));
        t.ok(Msg::new(TUNLINKAT).u32(ROOT).s("d").u32(AT_REMOVEDIR));
        assert!(!t.dir.path("d").exists());
        assert_eq!(
            t.err(Msg::new(TUNLINKAT).u32(ROOT).s("d").u32(AT_REMOVEDIR)),
            ENOENT
        );

        // remove clunks the fid whatever happens
        t.walk(ROOT, 5, &["sym"]).unwrap();
        t.ok(Msg::new(TREMOVE).u32(5));
        assert!(fs::symlink_metadata(t.dir.path("sym")).is_err());
        assert_eq!(t.getattr(5).unwrap_err(), EBADF);
        t.walk(ROOT, 6, &[]).unwrap();
        assert_eq!(t.err(Msg::new(TREMOVE).u32(6)), EBUSY);
        assert_eq!(t.getattr(6).unwrap_err(), EBADF);
        assert!(t.dir.0.exists());
    }

    #[test]
    #[cfg(unix)]
    fn modes_are_the_guests_not_our_umask() {
        let mut t = T::new();
        t.walk(ROOT, 1, &[]).unwrap();
        t.lcreate(1, "f", O_RDWR, 0o666).unwrap();
        t.ok(Msg::new(TMKDIR).u32(ROOT).s("d").u32(0o777).u32(0));
        let fifo = S_IFIFO | 0o666;
        t.ok(Msg::new(TMKNOD)
            .u32(ROOT)
            .s("p")
            .u32(fifo)
            .u32(0)
            .u32(0)
            .u32(0));
        for (name, mode) in [("f", 0o666), ("d", 0o777), ("p", 0o666)] {
            let md = fs::symlink_metadata(t.dir.path(name)).unwrap();
            assert_eq!(md.mode() & 0o7777, mode, "{name}");
        }
        // Opening an existing file through Tlcreate leaves its mode alone.
        fs::set_permissions(t.dir.path("f"), fs::Permissions::from_mode(0o600)).unwrap();
        t.walk(ROOT, 2, &[]).unwrap();
        t.lcreate(2, "f", O_RDWR, 0o666).unwrap();
        assert_eq!(
            fs::metadata(t.dir.path("f")).unwrap().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn server_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<P9Server>();
    }

    #[test]
    #[cfg(unix)]
    fn directory_reached_by_dotdot_keeps_its_name() {
        let mut t = T::with(false, |d| fs::create_dir_all(d.path("a/b/c")).unwrap());
        let qids = t.walk(ROOT, 1, &["a", "b", "c", ".."]).unwrap();
        assert_eq!(qids[3], (QT_DIR, t.ino("a/b")));
        assert_eq!(t.err(Msg::new(TREMOVE).u32(1)), ENOTEMPTY);
        t.walk(ROOT, 1, &["a", "b", "c", ".."]).unwrap();
        t.walk(ROOT, 2, &[]).unwrap();
        t.ok(Msg::new(TRENAME).u32(1).u32(2).s("top"));
        assert!(t.dir.path("top/c").is_dir());
        assert!(!t.dir.path("a/b").exists());
    }

    #[test]
    #[cfg(unix)]
    fn unlinked_open_file_stays_usable() {
        let mut t = T::new();
        t.walk(ROOT, 1, &[]).unwrap();
        t.lcreate(1, "tmp", O_RDWR, 0o600).unwrap();
        t.write(1, 0, b"0123456789").unwrap();
        t.ok(Msg::new(TUNLINKAT).u32(ROOT).s("tmp").u32(0));
        assert_eq!(t.getattr(1).unwrap().size, 10);
        t.setattr(1, ATTR_SIZE, 0, 4).unwrap();
        t.setattr(1, ATTR_MODE, 0o644, 0).unwrap();
        assert_eq!(t.getattr(1).unwrap().mode & 0o777, 0o644);
        assert_eq!(t.read(1, 0, 100).unwrap(), b"0123");
    }

    #[test]
    #[cfg(unix)]
    fn setattr_size_mode_times() {
        let mut t = T::with(false, |d| {
            fs::write(d.path("f"), "0123456789").unwrap();
            fs::create_dir(d.path("d")).unwrap();
        });
        t.walk(ROOT, 1, &["f"]).unwrap();
        t.setattr(1, ATTR_SIZE, 0, 3).unwrap();
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"012");
        t.setattr(1, ATTR_SIZE, 0, 5).unwrap();
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"012\0\0");
        t.setattr(1, ATTR_MODE, 0o4600, 0).unwrap();
        assert_eq!(
            fs::metadata(t.dir.path("f")).unwrap().mode() & 0o7777,
            0o4600
        );
        assert_eq!(t.getattr(1).unwrap().mode, S_IFREG | 0o4600);

        let m = Msg::new(TSETATTR).u32(1);
        let m = m.u32(ATTR_ATIME | ATTR_MTIME | ATTR_ATIME_SET | ATTR_MTIME_SET);
        let m = m.u32(0).u32(0).u32(0).u64(0);
        t.ok(m.u64(1_000_000).u64(5).u64(2_000_000).u64(7));
        let host = fs::metadata(t.dir.path("f")).unwrap();
        assert_eq!((host.atime(), host.atime_nsec()), (1_000_000, 5));
        assert_eq!((host.mtime(), host.mtime_nsec()), (2_000_000, 7));
        let st = t.getattr(1).unwrap();
        assert_eq!((st.atime, st.mtime), (1_000_000, 2_000_000));
        // Only mtime, to now; atime untouched.
        let m = Msg::new(TSETATTR)
            .u32(1)
            .u32(ATTR_MTIME)
            .u32(0)
            .u32(0)
            .u32(0);
        t.ok(m.u64(0).u64(0).u64(0).u64(0).u64(0));
        let host = fs::metadata(t.dir.path("f")).unwrap();
        assert_eq!(host.atime(), 1_000_000);
        assert!(host.mtime() > 2_000_000);
        // Nanoseconds past a second are refused.
        let m = Msg::new(TSETATTR).u32(1).u32(ATTR_MTIME | ATTR_MTIME_SET);
        let m = m.u32(0).u32(0).u32(0).u64(0).u64(0).u64(0);
        assert_eq!(t.err(m.u64(1).u64(1_000_000_000)), EINVAL);

        // Ownership: our own ids are always accepted.
        let me = fs::metadata(t.dir.path("f")).unwrap();
        let m = Msg::new(TSETATTR).u32(1).u32(ATTR_UID | ATTR_GID).u32(0);
        let m = m.u32(me.uid()).u32(me.gid()).u64(0);
        t.ok(m.u64(0).u64(0).u64(0).u64(0));

        // Directories: mode and times work, size does not.
        t.walk(ROOT, 2, &["d"]).unwrap();
        t.setattr(2, ATTR_MODE, 0o700, 0).unwrap();
        assert_eq!(fs::metadata(t.dir.path("d")).unwrap().mode() & 0o777, 0o700);
        assert_eq!(t.setattr(2, ATTR_SIZE, 0, 0), Err(EISDIR));
        t.setattr(2, ATTR_ATIME | ATTR_MTIME, 0, 0).unwrap();
        // Through an open fid.
        t.walk(ROOT, 3, &["f"]).unwrap();
        t.lopen(3, O_RDWR).unwrap();
        t.setattr(3, ATTR_SIZE, 0, 0).unwrap();
        assert_eq!(fs::metadata(t.dir.path("f")).unwrap().len(), 0);
        t.setattr(3, ATTR_MODE, 0o644, 0).unwrap();
        // valid = 0 changes nothing and succeeds.
        t.setattr(3, 0, 0, 0).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn statfs() {
        let mut t = T::new();
        let body = t.ok(Msg::new(TSTATFS).u32(ROOT));
        let r = &mut Reader(&body);
        assert_eq!(r.u32().unwrap(), 0x0102_1997);
        assert!(r.u32().unwrap() > 0, "bsize");
        let blocks = r.u64().unwrap();
        let bfree = r.u64().unwrap();
        assert!(blocks > 0 && bfree <= blocks);
        let _bavail = r.u64().unwrap();
        let _files = r.u64().unwrap();
        let _ffree = r.u64().unwrap();
        let _fsid = r.u64().unwrap();
        assert!(r.u32().unwrap() > 0, "namelen");
        assert!(r.0.is_empty());
        assert_eq!(t.err(Msg::new(TSTATFS).u32(42)), EBADF);
    }

    #[test]
    #[cfg(unix)]
    fn read_only_refuses_every_modification() {
        let mut t = T::with(true, |d| {
            fs::write(d.path("f"), "data").unwrap();
            fs::create_dir(d.path("d")).unwrap();
        });
        t.walk(ROOT, 1, &["f"]).unwrap();
        t.walk(ROOT, 2, &["d"]).unwrap();
        let all_time = ATTR_ATIME | ATTR_MTIME;
        let requests = [
            Msg::new(TLCREATE)
                .u32(2)
                .s("new")
                .u32(O_RDWR)
                .u32(0o644)
                .u32(0),
            Msg::new(TMKDIR).u32(ROOT).s("new").u32(0o755).u32(0),
            Msg::new(TSYMLINK).u32(ROOT).s("new").s("f").u32(0),
            Msg::new(TMKNOD)
                .u32(ROOT)
                .s("new")
                .u32(S_IFIFO | 0o644)
                .u32(0)
                .u32(0)
                .u32(0),
            Msg::new(TLINK).u32(ROOT).u32(1).s("new"),
            Msg::new(TRENAMEAT).u32(ROOT).s("f").u32(ROOT).s("new"),
            Msg::new(TRENAME).u32(1).u32(ROOT).s("new"),
            Msg::new(TUNLINKAT).u32(ROOT).s("f").u32(0),
            Msg::new(TUNLINKAT).u32(ROOT).s("d").u32(AT_REMOVEDIR),
            Msg::new(TSETATTR)
                .u32(1)
                .u32(ATTR_SIZE)
                .u32(0)
                .u32(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0),
            Msg::new(TSETATTR)
                .u32(1)
                .u32(ATTR_MODE)
                .u32(0o777)
                .u32(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0),
            Msg::new(TSETATTR)
                .u32(1)
                .u32(all_time)
                .u32(0)
                .u32(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0),
            Msg::new(TSETATTR)
                .u32(1)
                .u32(ATTR_UID)
                .u32(0)
                .u32(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0),
            Msg::new(TLOPEN).u32(1).u32(O_WRONLY),
            Msg::new(TLOPEN).u32(1).u32(O_RDWR),
            Msg::new(TLOPEN).u32(1).u32(O_RDONLY | L_O_TRUNC),
            Msg::new(TXATTRCREATE).u32(1).s("user.x").u64(1).u32(0),
        ];
        for m in requests {
            let ty = m.0[4];
            assert_eq!(t.call(m), Err(EROFS), "type {ty}");
        }
        t.walk(ROOT, 3, &["f"]).unwrap();
        assert_eq!(t.err(Msg::new(TREMOVE).u32(3)), EROFS);
        // Reading works, writing through a read fid still says EROFS.
        t.lopen(1, O_RDONLY).unwrap();
        assert_eq!(t.read(1, 0, 10).unwrap(), b"data");
        assert_eq!(t.write(1, 0, b"x"), Err(EROFS));
        assert_eq!(fs::read(t.dir.path("f")).unwrap(), b"data");
        let names: Vec<_> = fs::read_dir(&t.dir.0).unwrap().collect();
        assert_eq!(names.len(), 2);
        assert_eq!(fs::metadata(t.dir.path("f")).unwrap().mode() & 0o777, 0o644);
    }

    #[test]
    #[cfg(unix)]
    fn dotdot_stays_in_root() {
        let mut t = T::with(false, |d| fs::create_dir_all(d.path("a/b")).unwrap());
        let root = (QT_DIR, t.ino(""));
        assert_eq!(t.walk(ROOT, 1, &[".."]).unwrap(), vec![root]);
        assert_eq!(t.walk(ROOT, 2, &["..", "..", ".."]).unwrap(), vec![root; 3]);
        let qids = t
            .walk(ROOT, 3, &["a", "b", "..", "..", "..", "..", "a"])
            .unwrap();
        assert_eq!(qids[2], (QT_DIR, t.ino("a")));
        assert_eq!(qids[3..6], [root; 3]);
        assert_eq!(qids[6], (QT_DIR, t.ino("a")));
        // What the fids reached really is the root: listing it shows the share.
        t.lopen(2, O_RDONLY).unwrap();
        let list = t.list(2);
        let names: Vec<_> = list.iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains(&"a") && names.len() == 3, "{names:?}");
        // And the root's own `..` entry is the root.
        let up = list.iter().find(|e| e.name == "..").unwrap();
        assert_eq!(up.qid, root);
        // Nothing may be created or removed as `..`.
        assert_eq!(
            t.err(Msg::new(TMKDIR).u32(ROOT).s("..").u32(0o755).u32(0)),
            EINVAL
        );
        assert_eq!(
            t.err(Msg::new(TUNLINKAT).u32(3).s("..").u32(AT_REMOVEDIR)),
            EINVAL
        );
    }

    #[test]
    #[cfg(unix)]
    fn symlinks_never_lead_out() {
        let outside = TempDir::new();
        fs::write(outside.path("secret"), "secret").unwrap();
        let secret = outside.path("secret");
        let before = fs::metadata(&secret).unwrap();
        let outdir = outside.0.clone();
        let mut t = T::with(false, move |d| {
            std::os::unix::fs::symlink("/etc", d.path("etc")).unwrap();
            std::os::unix::fs::symlink(&outdir, d.path("out")).unwrap();
            std::os::unix::fs::symlink(outdir.join("secret"), d.path("s")).unwrap();
            std::os::unix::fs::symlink("..", d.path("up")).unwrap();
        });
        // The walk stops at the symlink: its qid, then nothing.
        let qids = t.walk(ROOT, 1, &["etc", "passwd"]).unwrap();
        assert_eq!(qids, vec![(QT_SYMLINK, t.ino("etc"))]);
        assert_eq!(t.getattr(1).unwrap_err(), EBADF);
        assert_eq!(t.walk(ROOT, 1, &["up", ".."]).unwrap().len(), 1);
        assert_eq!(t.walk(ROOT, 1, &["out", "secret"]).unwrap().len(), 1);
        t.walk(ROOT, 1, &["etc"]).unwrap();
        assert_eq!(t.walk(1, 2, &["passwd"]), Err(ENOTDIR));
        assert_eq!(t.walk(1, 2, &[".."]), Err(ENOTDIR));
        // It can be read as a link, and only as a link.
        assert_eq!(t.readlink(1).unwrap(), b"/etc");
        assert_eq!(t.getattr(1).unwrap().mode & S_IFMT, S_IFLNK);
        assert_eq!(t.lopen(1, O_RDONLY), Err(ELOOP));
        assert_eq!(t.lcreate(1, "x", O_RDWR, 0o644), Err(ENOTDIR));
        assert_eq!(
            t.err(Msg::new(TMKDIR).u32(1).s("x").u32(0o755).u32(0)),
            ENOTDIR
        );
        assert_eq!(
            t.err(Msg::new(TSYMLINK).u32(1).s("x").s("y").u32(0)),
            ENOTDIR
        );

        // A link to a file outside: opening, truncating, chmod and times never reach it.
        t.walk(ROOT, 3, &["s"]).unwrap();
        assert_eq!(
            t.readlink(3).unwrap(),
            secret.as_os_str().as_encoded_bytes()
        );
        assert_eq!(t.lopen(3, O_RDWR), Err(ELOOP));
        assert!(t.setattr(3, ATTR_SIZE, 0, 0).is_err());
        assert!(t.setattr(3, ATTR_MODE, 0o777, 0).is_err());
        let m = Msg::new(TSETATTR).u32(3).u32(ATTR_MTIME | ATTR_MTIME_SET);
        let m = m.u32(0).u32(0).u32(0).u64(0).u64(0).u64(0);
        t.ok(m.u64(12345).u64(0)); // the link's own mtime
        assert_eq!(
            fs::symlink_metadata(t.dir.path("s")).unwrap().mtime(),
            12345
        );
        // Creating over a symlink fails rather than writing through it.
        t.walk(ROOT, 4, &[]).unwrap();
        assert_eq!(t.lcreate(4, "s", O_WRONLY | L_O_TRUNC, 0o644), Err(ELOOP));
        let after = fs::metadata(&secret).unwrap();
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(after.mode(), before.mode());
        assert_eq!(after.mtime(), before.mtime());

        // Links made by the guest keep absolute targets as plain text.
        t.ok(Msg::new(TSYMLINK)
            .u32(ROOT)
            .s("abs")
            .s("/etc/passwd")
            .u32(0));
        assert_eq!(
            fs::read_link(t.dir.path("abs")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        t.walk(ROOT, 5, &["abs"]).unwrap();
        assert_eq!(t.readlink(5).unwrap(), b"/etc/passwd");
        assert_eq!(t.lopen(5, O_RDONLY), Err(ELOOP));
        // A hard link to the symlink is another symlink, not the file outside.
        t.ok(Msg::new(TLINK).u32(ROOT).u32(3).s("hard"));
        assert!(fs::symlink_metadata(t.dir.path("hard"))
            .unwrap()
            .file_type()
            .is_symlink());
        // Renaming a symlink moves the link.
        t.ok(Msg::new(TRENAMEAT).u32(ROOT).s("s").u32(ROOT).s("s2"));
        assert!(fs::symlink_metadata(t.dir.path("s2"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
    }

    /// Runs `swap` on another thread until `work` returns.
    #[cfg(unix)]
    fn racing(mut swap: impl FnMut() + Send + 'static, work: impl FnOnce()) {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let swapper = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                swap();
            }
        });
        work();
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn racing_symlink_swaps_never_lead_out() {
        let outside = TempDir::new();
        fs::write(outside.path("secret"), "secret").unwrap();
        let (out_dir, secret) = (outside.0.clone(), outside.path("secret"));
        let mut t = T::with(false, |d| {
            fs::create_dir(d.path("d")).unwrap();
            fs::write(d.path("f"), "mine").unwrap();
        });
        let share = t.dir.0.clone();
        // "d" keeps turning from a real directory into a symlink to the outside directory, and
        // "f" from a file into a symlink to the secret file, each by atomic renames.
        std::os::unix::fs::symlink(&out_dir, t.dir.path("l")).unwrap();
        let mut linked = false;
        let swap = move || {
            let p = |n: &str| share.join(n);
            if linked {
                let _ = fs::rename(p("d"), p("l"));
                let _ = fs::rename(p("r"), p("d"));
                let _ = fs::write(p("ff"), "mine");
                let _ = fs::rename(p("ff"), p("f"));
            } else {
                let _ = fs::rename(p("d"), p("r"));
                let _ = fs::rename(p("l"), p("d"));
                let _ = std::os::unix::fs::symlink(out_dir.join("secret"), p("fl"));
                let _ = fs::rename(p("fl"), p("f"));
            }
            linked = !linked;
        };
        racing(swap, || {
            for i in 0..5000 {
                // Lets the swapper run between requests even on few CPUs.
                std::thread::yield_now();
                if let Ok(q) = t.walk(ROOT, 1, &["d", "secret"]) {
                    assert_eq!(q.len(), 1, "walked through a symlink");
                }
                if t.walk(ROOT, 1, &["d"]).is_ok() {
                    let name = format!("x{i}");
                    if t.lcreate(1, &name, O_RDWR | L_O_TRUNC, 0o644).is_ok() {
                        let _ = t.write(1, 0, b"pwned");
                    }
                    let _ = t.call(Msg::new(TCLUNK).u32(1));
                }
                if t.walk(ROOT, 2, &["d"]).is_ok() {
                    let _ = t.call(Msg::new(TUNLINKAT).u32(2).s("secret").u32(0));
                    let _ = t.call(Msg::new(TMKDIR).u32(2).s("m").u32(0o755).u32(0));
                    let _ = t.call(Msg::new(TCLUNK).u32(2));
                }
                if t.walk(ROOT, 3, &["f"]).is_ok() {
                    let _ = t.setattr(3, ATTR_SIZE, 0, 0);
                    let _ = t.setattr(3, ATTR_MODE, 0o777, 0);
                    if t.lopen(3, O_RDWR | L_O_TRUNC).is_ok() {
                        let _ = t.write(3, 0, b"pwned");
                    }
                    let _ = t.call(Msg::new(TCLUNK).u32(3));
                }
            }
        });
        let names: Vec<_> = fs::read_dir(&outside.0).unwrap().collect();
        assert_eq!(names.len(), 1, "something was created outside");
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(fs::metadata(&secret).unwrap().mode() & 0o777, 0o644);
    }

    #[test]
    #[cfg(unix)]
    fn target_names_must_be_one_component() {
        let mut t = T::with(false, |d| {
            fs::write(d.path("f"), "").unwrap();
            fs::create_dir(d.path("d")).unwrap();
        });
        t.walk(ROOT, 1, &["f"]).unwrap();
        t.walk(ROOT, 2, &[]).unwrap();
        for bad in ["a/b", "../x", "/etc/x", "..", ".", "", "x\0y"] {
            let requests = [
                Msg::new(TRENAMEAT).u32(ROOT).s("f").u32(ROOT).s(bad),
                Msg::new(TRENAMEAT).u32(ROOT).s(bad).u32(ROOT).s("g"),
                Msg::new(TRENAME).u32(1).u32(ROOT).s(bad),
                Msg::new(TLINK).u32(ROOT).u32(1).s(bad),
                Msg::new(TSYMLINK).u32(ROOT).s(bad).s("f").u32(0),
                Msg::new(TMKDIR).u32(ROOT).s(bad).u32(0o755).u32(0),
                Msg::new(TMKNOD)
                    .u32(ROOT)
                    .s(bad)
                    .u32(S_IFIFO | 0o644)
                    .u32(0)
                    .u32(0)
                    .u32(0),
                Msg::new(TUNLINKAT).u32(ROOT).s(bad).u32(0),
                Msg::new(TLCREATE)
                    .u32(2)
                    .s(bad)
                    .u32(O_RDWR)
                    .u32(0o644)
                    .u32(0),
            ];
            for m in requests {
                let ty = m.0[4];
                assert_eq!(t.call(m), Err(EINVAL), "type {ty} name {bad:?}");
            }
        }
        let mut host: Vec<_> = fs::read_dir(&t.dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        host.sort();
        assert_eq!(host, ["d", "f"]);
        assert!(!std::path::Path::new("/etc/x").exists());
    }

    #[test]
    #[cfg(unix)]
    fn mknod_fifos_sockets_devices() {
        let mut t = T::new();
        let fifo = S_IFIFO | 0o600;
        let body = t.ok(Msg::new(TMKNOD)
            .u32(ROOT)
            .s("fifo")
            .u32(fifo)
            .u32(0)
            .u32(0)
            .u32(0));
        assert_eq!(qid(&mut Reader(&body)), (0, t.ino("fifo")));
        assert!(fs::symlink_metadata(t.dir.path("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let sock = S_IFSOCK | 0o600;
        t.ok(Msg::new(TMKNOD)
            .u32(ROOT)
            .s("sock")
            .u32(sock)
            .u32(0)
            .u32(0)
            .u32(0));
        assert!(fs::symlink_metadata(t.dir.path("sock"))
            .unwrap()
            .file_type()
            .is_socket());
        let reg = S_IFREG | 0o600;
        t.ok(Msg::new(TMKNOD)
            .u32(ROOT)
            .s("reg")
            .u32(reg)
            .u32(0)
            .u32(0)
            .u32(0));
        assert!(fs::symlink_metadata(t.dir.path("reg")).unwrap().is_file());
        // Special files are the guest kernel's: opening one here must not block or succeed.
        t.walk(ROOT, 1, &["fifo"]).unwrap();
        assert_eq!(t.lopen(1, O_RDONLY), Err(ENXIO));
        assert_eq!(t.lopen(1, O_WRONLY), Err(ENXIO));
        assert_eq!(t.setattr(1, ATTR_SIZE, 0, 0), Err(ENXIO));
        assert_eq!(t.getattr(1).unwrap().mode, S_IFIFO | 0o600);

        let chr = S_IFCHR | 0o600;
        let mk = |name: &str| {
            Msg::new(TMKNOD)
                .u32(ROOT)
                .s(name)
                .u32(chr)
                .u32(1)
                .u32(3)
                .u32(0)
        };
        t.srv.fs.set_superuser(false);
        assert_eq!(t.call(mk("null")), Err(EPERM));
        assert!(!t.dir.path("null").exists());
        t.srv.fs.set_superuser(unsafe { libc::geteuid() } == 0);
        if t.srv.fs.superuser() {
            // Root in a container may still lack CAP_MKNOD.
            match t.call(mk("null")) {
                Ok(_) => {
                    let md = fs::symlink_metadata(t.dir.path("null")).unwrap();
                    assert!(md.file_type().is_char_device());
                    #[cfg(target_os = "linux")]
                    assert_eq!(md.rdev(), libc::makedev(1, 3));
                    t.walk(ROOT, 2, &["null"]).unwrap();
                    assert_eq!(t.lopen(2, O_RDONLY), Err(ENXIO));
                }
                Err(e) => assert_eq!(e, EPERM),
            }
        }
        assert_eq!(
            t.err(
                Msg::new(TMKNOD)
                    .u32(ROOT)
                    .s("x")
                    .u32(S_IFDIR | 0o755)
                    .u32(0)
                    .u32(0)
                    .u32(0)
            ),
            EINVAL
        );
    }

    #[test]
    #[cfg(unix)]
    fn xattrs_and_locks() {
        let mut t = T::with(false, |d| fs::write(d.path("f"), "").unwrap());
        t.walk(ROOT, 1, &["f"]).unwrap();
        let body = t.ok(Msg::new(TXATTRWALK).u32(1).u32(2).s(""));
        assert_eq!(Reader(&body).u64().unwrap(), 0);
        assert_eq!(t.read(2, 0, 100).unwrap(), b"");
        t.clunk(2);
        let m = Msg::new(TXATTRWALK).u32(1).u32(2).s("security.selinux");
        assert_eq!(t.err(m), ENODATA);
        assert_eq!(t.getattr(2).unwrap_err(), EBADF);
        let m = Msg::new(TXATTRCREATE).u32(1).s("user.x").u64(1).u32(0);
        assert_eq!(t.err(m), EOPNOTSUPP);

        t.lopen(1, O_RDWR).unwrap();
        let m = Msg::new(TLOCK)
            .u32(1)
            .u8(1)
            .u32(0)
            .u64(0)
            .u64(10)
            .u32(77)
            .s("client");
        assert_eq!(t.ok(m), [LOCK_SUCCESS]);
        let m = Msg::new(TGETLOCK)
            .u32(1)
            .u8(1)
            .u64(5)
            .u64(10)
            .u32(77)
            .s("client");
        let body = t.ok(m);
        let r = &mut Reader(&body);
        assert_eq!(r.u8().unwrap(), LOCK_TYPE_UNLCK);
        assert_eq!((r.u64().unwrap(), r.u64().unwrap()), (5, 10));
        assert_eq!(r.u32().unwrap(), 77);
        assert_eq!(r.string().unwrap(), b"client");
        let m = Msg::new(TLOCK)
            .u32(9)
            .u8(1)
            .u32(0)
            .u64(0)
            .u64(10)
            .u32(77)
            .s("client");
        assert_eq!(t.err(m), EBADF);
    }

    #[test]
    #[cfg(unix)]
    fn replies_fit_the_space_given() {
        let mut t = T::with(false, |d| {
            fs::write(d.path("f"), vec![7u8; 10000]).unwrap();
            for i in 0..20 {
                fs::write(d.path(&format!("entry-{i}")), "").unwrap();
            }
        });
        t.walk(ROOT, 1, &["f"]).unwrap();
        t.lopen(1, O_RDONLY).unwrap();
        // Clamped to max_reply, then to the msize.
        let body = t
            .call_with(Msg::new(TREAD).u32(1).u64(0).u32(u32::MAX), 100)
            .unwrap();
        assert_eq!(body.len(), 100 - HEADER);
        assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 89);
        t.ok(Msg::new(TVERSION).u32(4096).s("9P2000.L"));
        t.ok(Msg::new(TATTACH).u32(ROOT).u32(!0).s("").s("").u32(0));
        t.walk(ROOT, 1, &["f"]).unwrap();
        t.lopen(1, O_RDONLY).unwrap();
        assert_eq!(t.read(1, 0, u32::MAX).unwrap().len(), 4096 - DATA_HEADER);
        // Directory listings are clamped the same way, whole entries only.
        t.walk(ROOT, 2, &[]).unwrap();
        t.lopen(2, O_RDONLY).unwrap();
        let body = t
            .call_with(Msg::new(TREADDIR).u32(2).u64(0).u32(u32::MAX), 80)
            .unwrap();
        let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
        assert!(n > 0 && body.len() == 4 + n && body.len() <= 80 - HEADER);
        let mut names = 0;
        let mut offset = 0;
        loop {
            let m = Msg::new(TREADDIR).u32(2).u64(offset).u32(u32::MAX);
            let body = t.call_with(m, 80).unwrap();
            if body.len() == 4 {
                break;
            }
            let r = &mut Reader(&body[4..]);
            while !r.0.is_empty() {
                qid(r);
                offset = r.u64().unwrap();
                r.u8().unwrap();
                r.string().unwrap();
                names += 1;
            }
        }
        assert_eq!(names, 23);
        // A reply that cannot fit becomes an error; an error that cannot fit, nothing.
        let m = Msg::new(TGETATTR).u32(1).u64(GETATTR_BASIC);
        assert_eq!(t.call_with(m, 50), Err(EMSGSIZE));
        let req = Msg::new(TGETATTR).u32(1).u64(GETATTR_BASIC).done();
        assert!(t.srv.handle(&req, 10).is_empty());
        assert!(t.srv.handle(&req, 0).is_empty());
        // Too small an msize is refused and the old one stays.
        assert_eq!(t.err(Msg::new(TVERSION).u32(100).s("9P2000.L")), EINVAL);
        assert_eq!(t.read(1, 0, u32::MAX).unwrap().len(), 4096 - DATA_HEADER);
    }

    #[test]
    #[cfg(unix)]
    fn malformed_messages_get_errors() {
        let mut t = T::with(false, |d| {
            fs::create_dir(d.path("d")).unwrap();
            fs::write(d.path("d/f"), "x").unwrap();
        });
        let notag = |rep: &[u8]| {
            assert_eq!(rep.len(), 11);
            assert_eq!(rep[4], RLERROR);
            u16::from_le_bytes([rep[5], rep[6]])
        };
        assert_eq!(notag(&t.srv.handle(&[], BIG)), NOTAG);
        assert_eq!(notag(&t.srv.handle(&[1, 2, 3], BIG)), NOTAG);
        // Size fields that lie.
        let mut req = Msg::new(TCLUNK).u32(0).done();
        req[0] = 200;
        assert_eq!(notag(&t.srv.handle(&req, BIG)), 0x1234);
        req[..4].copy_from_slice(&3u32.to_le_bytes());
        notag(&t.srv.handle(&req, BIG));
        req[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        notag(&t.srv.handle(&req, BIG));
        // Slack after the message is ignored.
        let mut req = Msg::new(TGETATTR).u32(ROOT).u64(GETATTR_BASIC).done();
        req.extend_from_slice(&[0xff; 16]);
        assert_eq!(t.srv.handle(&req, BIG)[4], TGETATTR + 1);

        assert_eq!(
            t.err(Msg::new(TWRITE).u32(ROOT).u64(0).u32(u32::MAX).u8(1)),
            EPROTO
        );
        assert_eq!(t.err(Msg::new(TREAD).u32(77).u64(0).u32(u32::MAX)), EBADF);
        assert_eq!(t.err(Msg::new(TCLUNK).u32(77)), EBADF);
        assert_eq!(t.err(Msg::new(TREADDIR).u32(77).u64(0).u32(100)), EBADF);
        let mut walk = Msg::new(TWALK).u32(ROOT).u32(1).u16(100);
        for _ in 0..100 {
            walk = walk.s("d");
        }
        assert_eq!(t.err(walk), EINVAL);
        assert_eq!(
            t.err(Msg::new(TWALK).u32(ROOT).u32(1).u16(u16::MAX)),
            EINVAL
        );
        assert_eq!(
            t.err(Msg::new(TWALK).u32(ROOT).u32(1).u16(3).s("d")),
            EPROTO
        );
        assert_eq!(
            t.err(Msg::new(TWALK).u32(ROOT).u32(1).u16(1).u16(500)),
            EPROTO
        );
        assert_eq!(t.err(Msg::new(TLOPEN).u32(ROOT).u32(3)), EINVAL);
        for ty in [0, 6, 7, 101, 112, 114, 124, 126, 255] {
            assert_eq!(t.err(Msg::new(ty).u32(0)), EOPNOTSUPP, "type {ty}");
        }

        // Every strict prefix of a valid message is an error, whether the size field still
        // claims the whole message or is patched to the prefix.
        t.walk(ROOT, 5, &["d"]).unwrap();
        t.walk(ROOT, 6, &["d", "f"]).unwrap();
        let valid = [
            Msg::new(TVERSION).u32(8192).s("9P2000.L"),
            Msg::new(TATTACH).u32(9).u32(!0).s("u").s("").u32(0),
            Msg::new(TFLUSH).u16(1),
            Msg::new(TWALK).u32(ROOT).u32(9).u16(2).s("d").s("f"),
            Msg::new(TCLUNK).u32(6),
            Msg::new(TREMOVE).u32(6),
            Msg::new(TGETATTR).u32(6).u64(GETATTR_BASIC),
            Msg::new(TSETATTR)
                .u32(6)
                .u32(ATTR_SIZE)
                .u32(0)
                .u32(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0),
            Msg::new(TLOPEN).u32(6).u32(O_RDONLY),
            Msg::new(TLCREATE)
                .u32(5)
                .s("n")
                .u32(O_RDWR)
                .u32(0o644)
                .u32(0),
            Msg::new(TREAD).u32(6).u64(0).u32(10),
            Msg::new(TWRITE).u32(6).u64(0).u32(2).u8(1).u8(2),
            Msg::new(TREADDIR).u32(5).u64(0).u32(100),
            Msg::new(TMKDIR).u32(5).s("n").u32(0o755).u32(0),
            Msg::new(TSYMLINK).u32(5).s("n").s("t").u32(0),
            Msg::new(TMKNOD)
                .u32(5)
                .s("n")
                .u32(S_IFIFO)
                .u32(0)
                .u32(0)
                .u32(0),
            Msg::new(TLINK).u32(5).u32(6).s("n"),
            Msg::new(TREADLINK).u32(6),
            Msg::new(TUNLINKAT).u32(5).s("f").u32(0),
            Msg::new(TRENAMEAT).u32(5).s("f").u32(5).s("n"),
            Msg::new(TRENAME).u32(6).u32(5).s("n"),
            Msg::new(TSTATFS).u32(5),
            Msg::new(TFSYNC).u32(6).u32(0),
            Msg::new(TLOCK)
                .u32(6)
                .u8(0)
                .u32(0)
                .u64(0)
                .u64(0)
                .u32(1)
                .s("c"),
            Msg::new(TGETLOCK).u32(6).u8(0).u64(0).u64(0).u32(1).s("c"),
            Msg::new(TXATTRWALK).u32(6).u32(9).s(""),
            Msg::new(TXATTRCREATE).u32(6).s("n").u64(0).u32(0),
        ];
        for m in valid {
            let full = m.done();
            for len in 0..full.len() {
                let prefix = &full[..len];
                let rep = t.srv.handle(prefix, BIG);
                assert_eq!(rep[4], RLERROR, "type {} prefix {len}", full[4]);
                let mut patched = prefix.to_vec();
                if len >= 4 {
                    patched[..4].copy_from_slice(&(len as u32).to_le_bytes());
                }
                let rep = t.srv.handle(&patched, BIG);
                assert_eq!(rep[4], RLERROR, "type {} patched prefix {len}", full[4]);
            }
        }
        // None of it changed anything.
        assert_eq!(fs::read(t.dir.path("d/f")).unwrap(), b"x");
        assert_eq!(fs::read_dir(t.dir.path("d")).unwrap().count(), 1);
        assert_eq!(t.getattr(6).unwrap().size, 1);
    }

    #[test]
    #[cfg(unix)]
    fn fid_table_is_bounded() {
        let mut t = T::new();
        for fid in 1..=100 {
            t.walk(ROOT, fid, &[]).unwrap();
        }
        for fid in 1..=100 {
            t.clunk(fid);
        }
        assert_eq!(t.srv.fids.len(), 1);
    }

    #[test]
    #[cfg(unix)]
    fn missing_root_is_an_error() {
        let dir = TempDir::new();
        assert!(P9Server::new(&dir.path("missing"), false).is_err());
        fs::write(dir.path("file"), "").unwrap();
        assert!(P9Server::new(&dir.path("file"), false).is_err());
    }
}
