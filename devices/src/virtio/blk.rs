//! virtio-blk over a raw image file: read-only images, a copy-on-write mode that keeps every
//! write in memory and leaves the file untouched (TinyEMU's default, QEMU's snapshot=on), flush,
//! discard and write-zeroes, and a device ID. Requests outside the disk fail with IOERR.

use super::*;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_BLK_SIZE: u64 = 1 << 6;
const F_FLUSH: u64 = 1 << 9;
const F_DISCARD: u64 = 1 << 13;
const F_WRITE_ZEROES: u64 = 1 << 14;

const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const T_DISCARD: u32 = 11;
const T_WRITE_ZEROES: u32 = 13;

const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;

const SECTOR: u64 = 512;
const BLOCK: u64 = 4096;
/// Largest data transfer accepted in one request.
const MAX_TRANSFER: u64 = 16 << 20;
const SEG_MAX: u32 = 128;

/// A disk's contents: an image file, or read-only bytes shared with whoever made them (a
/// container's root filesystem converted in memory when there is nowhere to cache it).
enum Backing {
    File(File),
    Memory(std::sync::Arc<Vec<u8>>),
}

impl Backing {
    fn read_exact_at(&mut self, pos: u64, out: &mut [u8]) -> std::io::Result<()> {
        match self {
            Backing::File(f) => {
                f.seek(SeekFrom::Start(pos))?;
                f.read_exact(out)
            }
            Backing::Memory(m) => {
                let src = usize::try_from(pos)
                    .ok()
                    .and_then(|p| m.get(p..p.checked_add(out.len())?))
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                out.copy_from_slice(src);
                Ok(())
            }
        }
    }

    fn write_all_at(&mut self, pos: u64, data: &[u8]) -> std::io::Result<()> {
        match self {
            Backing::File(f) => {
                f.seek(SeekFrom::Start(pos))?;
                f.write_all(data)
            }
            // Memory disks are read-only: the device refuses writes before they get here.
            Backing::Memory(_) => Err(std::io::ErrorKind::PermissionDenied.into()),
        }
    }
}

pub struct Blk {
    file: Backing,
    size: u64,
    read_only: bool,
    /// Copy-on-write: 4 KiB blocks written by the guest, by block number.
    overlay: Option<HashMap<u64, Box<[u8; BLOCK as usize]>>>,
    id: [u8; 20],
}

impl Blk {
    /// Opens a raw image. With `snapshot`, the file is opened read-only and guest writes live in
    /// memory only.
    pub fn open(path: &Path, read_only: bool, snapshot: bool) -> Result<Blk, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!read_only && !snapshot)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let size = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if size % SECTOR != 0 {
            return Err(format!(
                "{}: disk image size {size} is not a multiple of 512 bytes",
                path.display()
            ));
        }
        let mut id = [0u8; 20];
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (d, s) in id.iter_mut().zip(name.bytes()) {
            *d = s;
        }
        Ok(Blk {
            file: Backing::File(file),
            size,
            read_only,
            overlay: snapshot.then(HashMap::new),
            id,
        })
    }

    /// A read-only disk whose contents are `data` (copied only if it needs padding to whole
    /// sectors).
    pub fn from_bytes(name: &str, mut data: std::sync::Arc<Vec<u8>>) -> Blk {
        if !data.len().is_multiple_of(SECTOR as usize) {
            let d = std::sync::Arc::make_mut(&mut data);
            d.resize(d.len().next_multiple_of(SECTOR as usize), 0);
        }
        let mut id = [0u8; 20];
        for (d, s) in id.iter_mut().zip(name.bytes()) {
            *d = s;
        }
        Blk {
            size: data.len() as u64,
            file: Backing::Memory(data),
            read_only: true,
            overlay: None,
            id,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, mut pos: u64, out: &mut [u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < out.len() {
            let block = pos / BLOCK;
            let in_block = (pos % BLOCK) as usize;
            let n = (BLOCK as usize - in_block).min(out.len() - done);
            match self.overlay.as_ref().and_then(|o| o.get(&block)) {
                Some(b) => out[done..done + n].copy_from_slice(&b[in_block..in_block + n]),
                None => {
                    self.file.read_exact_at(pos, &mut out[done..done + n])?;
                }
            }
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    fn write_at(&mut self, mut pos: u64, data: &[u8]) -> std::io::Result<()> {
        if self.overlay.is_none() {
            return self.file.write_all_at(pos, data);
        }
        let mut done = 0;
        while done < data.len() {
            let block = pos / BLOCK;
            let in_block = (pos % BLOCK) as usize;
            let n = (BLOCK as usize - in_block).min(data.len() - done);
            if !self
                .overlay
                .as_ref()
                .is_some_and(|o| o.contains_key(&block))
            {
                // First write to this block: start from the file's contents (the image's last
                // block may be shorter than 4 KiB).
                let mut b = Box::new([0u8; BLOCK as usize]);
                let start = block * BLOCK;
                let len = (self.size - start).min(BLOCK) as usize;
                self.file.read_exact_at(start, &mut b[..len])?;
                self.overlay
                    .get_or_insert_with(HashMap::new)
                    .insert(block, b);
            }
            let b = self
                .overlay
                .as_mut()
                .and_then(|o| o.get_mut(&block))
                .expect("inserted above");
            b[in_block..in_block + n].copy_from_slice(&data[done..done + n]);
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    fn in_range(&self, sector: u64, bytes: u64) -> bool {
        sector
            .checked_mul(SECTOR)
            .and_then(|s| s.checked_add(bytes))
            .is_some_and(|e| e <= self.size)
    }

    /// Executes one request; returns the status and the data to give back.
    fn execute(&mut self, kind: u32, sector: u64, chain: &Chain, ram: &Ram) -> (u8, Vec<u8>) {
        let data_out = chain.writable_len().saturating_sub(1);
        match kind {
            T_IN => {
                if data_out > MAX_TRANSFER || !self.in_range(sector, data_out) {
                    return (S_IOERR, Vec::new());
                }
                let mut buf = vec![0u8; data_out as usize];
                match self.read_at(sector * SECTOR, &mut buf) {
                    Ok(()) => (S_OK, buf),
                    Err(_) => (S_IOERR, Vec::new()),
                }
            }
            T_OUT => {
                let len = chain.readable_len().saturating_sub(16);
                if self.read_only || len > MAX_TRANSFER || !self.in_range(sector, len) {
                    return (S_IOERR, Vec::new());
                }
                let Ok(all) = chain.read_all(ram, (16 + len) as usize) else {
                    return (S_IOERR, Vec::new());
                };
                match self.write_at(sector * SECTOR, &all[16..]) {
                    Ok(()) => (S_OK, Vec::new()),
                    Err(_) => (S_IOERR, Vec::new()),
                }
            }
            T_FLUSH => {
                if self.overlay.is_some() || self.read_only {
                    return (S_OK, Vec::new());
                }
                let synced = match &self.file {
                    Backing::File(f) => f.sync_data(),
                    Backing::Memory(_) => Ok(()),
                };
                match synced {
                    Ok(()) => (S_OK, Vec::new()),
                    Err(_) => (S_IOERR, Vec::new()),
                }
            }
            T_GET_ID => (S_OK, self.id[..(data_out as usize).min(20)].to_vec()),
            T_DISCARD | T_WRITE_ZEROES => {
                if self.read_only {
                    return (S_IOERR, Vec::new());
                }
                let len = chain
                    .readable_len()
                    .saturating_sub(16)
                    .min(SEG_MAX as u64 * 16);
                let Ok(all) = chain.read_all(ram, (16 + len) as usize) else {
                    return (S_IOERR, Vec::new());
                };
                for seg in all[16..].chunks_exact(16) {
                    let start = u64::from_le_bytes(seg[0..8].try_into().unwrap_or_default());
                    let count = u64::from(u32::from_le_bytes(
                        seg[8..12].try_into().unwrap_or_default(),
                    ));
                    let bytes = count * SECTOR;
                    if !self.in_range(start, bytes) {
                        return (S_IOERR, Vec::new());
                    }
                    // Discard is a hint the device may ignore; write-zeroes must zero.
                    if kind == T_WRITE_ZEROES {
                        let zeros = vec![0u8; BLOCK as usize];
                        let mut pos = start * SECTOR;
                        let end = pos + bytes;
                        while pos < end {
                            let n = (end - pos).min(BLOCK) as usize;
                            if self.write_at(pos, &zeros[..n]).is_err() {
                                return (S_IOERR, Vec::new());
                            }
                            pos += n as u64;
                        }
                    }
                }
                (S_OK, Vec::new())
            }
            _ => (S_UNSUPP, Vec::new()),
        }
    }
}

impl VirtioDevice for Blk {
    fn device_id(&self) -> u32 {
        ID_BLOCK
    }

    fn features(&self) -> u64 {
        let mut f = F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_DISCARD | F_WRITE_ZEROES;
        if self.read_only {
            f |= F_RO;
        }
        f
    }

    fn num_queues(&self) -> usize {
        1
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut c = [0u8; 60];
        c[0..8].copy_from_slice(&(self.size / SECTOR).to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR as u32).to_le_bytes());
        let max_sectors = (MAX_TRANSFER / SECTOR) as u32;
        c[36..40].copy_from_slice(&max_sectors.to_le_bytes()); // max_discard_sectors
        c[40..44].copy_from_slice(&SEG_MAX.to_le_bytes()); // max_discard_seg
        c[44..48].copy_from_slice(&1u32.to_le_bytes()); // discard_sector_alignment
        c[48..52].copy_from_slice(&max_sectors.to_le_bytes()); // max_write_zeroes_sectors
        c[52..56].copy_from_slice(&SEG_MAX.to_le_bytes()); // max_write_zeroes_seg
        read_config_bytes(&c, offset, data);
    }

    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        queues[0].serve(ram, |chain, ram| {
            if chain.readable_len() < 16 || chain.writable_len() < 1 {
                return Err(QueueError::BadChain(
                    "block request without header or status",
                ));
            }
            let header = chain.read_all(ram, 16)?;
            let kind = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let mut s = [0u8; 8];
            s.copy_from_slice(&header[8..16]);
            let sector = u64::from_le_bytes(s);
            let (status, mut reply) = self.execute(kind, sector, chain, ram);
            // The status byte is the last writable byte; data (if any) comes before it.
            let data_room = (chain.writable_len() - 1) as usize;
            reply.resize(reply.len().min(data_room), 0);
            let mut out = reply;
            out.resize(data_room, 0);
            out.push(status);
            chain.write_all(ram, &out)?;
            Ok(out.len() as u32)
        })
    }
}
