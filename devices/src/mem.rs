//! Guest RAM: one contiguous block at a physical base address, as CPUs and DMA-capable devices
//! both see it. Device writes are recorded so the CPU can drop decoded instructions they
//! overwrite (a kernel reading a program from disk into a page it will then execute).

/// More DMA writes than this between two CPU slices: the CPU drops its whole decode cache.
const MAX_DMA_RANGES: usize = 1024;

/// Guest RAM: one contiguous block at `base`.
pub struct Ram {
    pub base: u64,
    pub data: Vec<u8>,
    /// RAM offsets written by devices since the CPU last looked: (offset, len).
    dma_writes: Vec<(usize, usize)>,
    dma_overflow: bool,
}

/// What devices wrote since the CPU last asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmaWrites {
    /// RAM offsets and lengths.
    Ranges(Vec<(usize, usize)>),
    /// Too many writes to list: assume all of RAM changed.
    Everything,
}

/// A guest physical range that is not entirely inside RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress(pub u64);

impl Ram {
    pub fn new(base: u64, size: usize) -> Self {
        Ram {
            base,
            data: vec![0; size],
            dma_writes: Vec::new(),
            dma_overflow: false,
        }
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Offset in `data` of `[paddr, paddr+len)`, if it lies entirely in RAM.
    #[inline]
    pub fn offset(&self, paddr: u64, len: u64) -> Option<usize> {
        let off = paddr.checked_sub(self.base)?;
        (off.checked_add(len)? <= self.size()).then_some(off as usize)
    }

    #[inline(always)]
    pub fn read<const N: usize>(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b[..N].copy_from_slice(&self.data[off..off + N]);
        u64::from_le_bytes(b)
    }

    #[inline(always)]
    pub fn write<const N: usize>(&mut self, off: usize, v: u64) {
        self.data[off..off + N].copy_from_slice(&v.to_le_bytes()[..N]);
    }

    pub fn read_u64_at(&self, paddr: u64) -> Option<u64> {
        self.offset(paddr, 8).map(|o| self.read::<8>(o))
    }

    /// The guest bytes at `[paddr, paddr+len)`, for a device reading a buffer.
    pub fn slice(&self, paddr: u64, len: usize) -> Result<&[u8], BadAddress> {
        let off = self.offset(paddr, len as u64).ok_or(BadAddress(paddr))?;
        Ok(&self.data[off..off + len])
    }

    /// Mutable guest bytes for a device filling a buffer (recorded as a DMA write).
    pub fn slice_mut(&mut self, paddr: u64, len: usize) -> Result<&mut [u8], BadAddress> {
        let off = self.offset(paddr, len as u64).ok_or(BadAddress(paddr))?;
        self.note_dma(off, len);
        Ok(&mut self.data[off..off + len])
    }

    /// Device read of a little-endian value.
    pub fn dma_read<const N: usize>(&self, paddr: u64) -> Result<u64, BadAddress> {
        let off = self.offset(paddr, N as u64).ok_or(BadAddress(paddr))?;
        Ok(self.read::<N>(off))
    }

    /// Device write of a little-endian value.
    pub fn dma_write<const N: usize>(&mut self, paddr: u64, v: u64) -> Result<(), BadAddress> {
        let off = self.offset(paddr, N as u64).ok_or(BadAddress(paddr))?;
        self.note_dma(off, N);
        self.write::<N>(off, v);
        Ok(())
    }

    fn note_dma(&mut self, off: usize, len: usize) {
        if self.dma_overflow {
            return;
        }
        if let Some(last) = self.dma_writes.last_mut() {
            if last.0 + last.1 == off {
                last.1 += len;
                return;
            }
        }
        if self.dma_writes.len() >= MAX_DMA_RANGES {
            self.dma_overflow = true;
            self.dma_writes.clear();
        } else {
            self.dma_writes.push((off, len));
        }
    }

    /// Takes the device writes since the last call.
    pub fn take_dma_writes(&mut self) -> DmaWrites {
        if std::mem::take(&mut self.dma_overflow) {
            return DmaWrites::Everything;
        }
        DmaWrites::Ranges(std::mem::take(&mut self.dma_writes))
    }

    /// Whether devices wrote anything since the last `take_dma_writes`.
    pub fn has_dma_writes(&self) -> bool {
        self.dma_overflow || !self.dma_writes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_writes_are_recorded_and_coalesced() {
        let mut r = Ram::new(0x8000_0000, 1 << 20);
        assert!(!r.has_dma_writes());
        r.slice_mut(0x8000_1000, 16).unwrap().fill(1);
        r.dma_write::<4>(0x8000_1010, 7).unwrap();
        assert_eq!(r.take_dma_writes(), DmaWrites::Ranges(vec![(0x1000, 20)]));
        assert!(r.slice(0x800f_fff0, 32).is_err());
        assert!(r.dma_write::<8>(0x7fff_fffc, 0).is_err());
        for i in 0..2000u64 {
            r.dma_write::<1>(0x8000_0000 + i * 2, 0).unwrap();
        }
        assert_eq!(r.take_dma_writes(), DmaWrites::Everything);
        assert_eq!(r.take_dma_writes(), DmaWrites::Ranges(vec![]));
    }
}
