//! Writing the root filesystem tree as a squashfs image (LZ4, which the guest decompresses far
//! more cheaply than gzip under emulation) with the backhand library. Squashfs keeps numeric
//! owners, modes and device nodes in the image itself, so they survive an unprivileged
//! conversion and a host filesystem that could not store them.

use crate::layers::{Data, Kind, Node, Spool, Tree};
use backhand::compression::{CompressionOptions, Compressor, Lz4};
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::rc::Rc;

#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(target_os = "wasi")]
use std::os::wasi::ffi::OsStrExt;

/// A file's contents, read back from the spool when the image is written.
struct SpoolFile {
    spool: Rc<RefCell<Spool>>,
    data: Data,
    pos: u64,
}

impl Read for SpoolFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.data.len - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(left as usize);
        let got = self
            .spool
            .borrow_mut()
            .read_at(self.data.offset + self.pos, &mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the conversion spool is shorter than expected",
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

fn header(n: &Node) -> NodeHeader {
    NodeHeader::new(
        (n.meta.mode & 0o7777) as u16,
        n.meta.uid,
        n.meta.gid,
        n.meta.mtime.min(u32::MAX as u64) as u32,
    )
}

fn dev(major: u32, minor: u32) -> u32 {
    // Linux's new_encode_dev, as squashfs stores device numbers.
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Writes `tree` as a squashfs image to `out`; returns the image size.
pub fn write_squashfs<W: Write + Seek>(tree: Tree, out: W) -> Result<u64, String> {
    let Tree { root, spool } = tree;
    let spool = Rc::new(RefCell::new(spool));
    let mut fs = FilesystemWriter::default();
    let compressor = FilesystemCompressor::new(
        Compressor::Lz4,
        // Linux reads LZ4 squashfs only with these options present (version 1, "legacy").
        Some(CompressionOptions::Lz4(Lz4 {
            version: 1,
            flags: 0,
        })),
    )
    .map_err(|e| format!("squashfs: {e}"))?;
    fs.set_compressor(compressor);
    fs.set_emit_compression_options(true);
    let h = header(&root);
    fs.set_root_mode(h.permissions);
    fs.set_root_uid(h.uid);
    fs.set_root_gid(h.gid);
    fs.set_time(h.mtime);
    let Kind::Dir(children) = root.kind else {
        return Err("the root is not a directory".into());
    };
    let mut stack: Vec<(
        PathBuf,
        std::collections::btree_map::IntoIter<Vec<u8>, Node>,
    )> = vec![(PathBuf::from("/"), children.into_iter())];
    while let Some((dir, iter)) = stack.last_mut() {
        let Some((name, node)) = iter.next() else {
            stack.pop();
            continue;
        };
        let path = dir.join(OsStr::from_bytes(&name));
        let h = header(&node);
        let e = |e: backhand::BackhandError| format!("squashfs: {}: {e}", path.display());
        match node.kind {
            Kind::Dir(children) => {
                fs.push_dir(&path, h).map_err(e)?;
                stack.push((path, children.into_iter()));
            }
            Kind::File(data) => {
                let f = SpoolFile {
                    spool: spool.clone(),
                    data,
                    pos: 0,
                };
                fs.push_file(f, &path, h).map_err(e)?;
            }
            Kind::Symlink(target) => {
                fs.push_symlink(PathBuf::from(OsStr::from_bytes(&target)), &path, h)
                    .map_err(e)?;
            }
            Kind::Char(ma, mi) => fs.push_char_device(dev(ma, mi), &path, h).map_err(e)?,
            Kind::Block(ma, mi) => fs.push_block_device(dev(ma, mi), &path, h).map_err(e)?,
            Kind::Fifo => fs.push_fifo(&path, h).map_err(e)?,
        }
    }
    let (_, size) = fs
        .write(out)
        .map_err(|e| format!("writing the squashfs image: {e}"))?;
    Ok(size)
}
