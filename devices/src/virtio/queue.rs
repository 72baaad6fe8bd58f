//! The split virtqueue, read and written in guest RAM. The guest is hostile: every descriptor
//! address and length is checked against RAM, chains are bounded (a loop ends as an error),
//! indirect tables are checked and never nested, and sizes are capped. A bad chain is an error
//! the transport turns into DEVICE_NEEDS_RESET; it never reaches host memory outside RAM.

use crate::mem::Ram;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const DESC_F_INDIRECT: u16 = 4;
const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Upper bound on the bytes one chain may describe (well above any real request).
const MAX_CHAIN_BYTES: u64 = 256 << 20;
/// Upper bound on the descriptors of an indirect table (the spec's limit for split queues).
const MAX_INDIRECT: u32 = 32768;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// A ring or descriptor lies outside RAM.
    BadAddress(u64),
    /// A descriptor index is out of range, a chain loops, or it is malformed in another way.
    BadChain(&'static str),
    /// The driver made more buffers available than the queue holds.
    BadAvailIndex,
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::BadAddress(a) => write!(f, "virtqueue address {a:#x} is outside RAM"),
            QueueError::BadChain(why) => write!(f, "bad descriptor chain: {why}"),
            QueueError::BadAvailIndex => write!(f, "available index ran ahead of the queue"),
        }
    }
}

impl From<crate::mem::BadAddress> for QueueError {
    fn from(b: crate::mem::BadAddress) -> Self {
        QueueError::BadAddress(b.0)
    }
}

/// A buffer segment in guest RAM, already checked to lie inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub addr: u64,
    pub len: u32,
}

/// One available request: the driver-readable segments, then the device-writable ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub head: u16,
    pub readable: Vec<Segment>,
    pub writable: Vec<Segment>,
}

impl Chain {
    pub fn readable_len(&self) -> u64 {
        self.readable.iter().map(|s| u64::from(s.len)).sum()
    }

    pub fn writable_len(&self) -> u64 {
        self.writable.iter().map(|s| u64::from(s.len)).sum()
    }

    /// Gathers the readable bytes (at most `max`).
    pub fn read_all(&self, ram: &Ram, max: usize) -> Result<Vec<u8>, QueueError> {
        let mut out = Vec::with_capacity(self.readable_len().min(max as u64) as usize);
        for s in &self.readable {
            let take = (s.len as usize).min(max - out.len());
            out.extend_from_slice(ram.slice(s.addr, take)?);
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    /// Scatters `data` into the writable segments; returns how many bytes fit.
    pub fn write_all(&self, ram: &mut Ram, data: &[u8]) -> Result<usize, QueueError> {
        self.write_at(ram, 0, data)
    }

    /// Scatters `data` into the writable bytes from byte `skip` on; returns how many fit.
    pub fn write_at(
        &self,
        ram: &mut Ram,
        mut skip: usize,
        mut data: &[u8],
    ) -> Result<usize, QueueError> {
        let mut done = 0;
        for s in &self.writable {
            if data.is_empty() {
                break;
            }
            let len = s.len as usize;
            if skip >= len {
                skip -= len;
                continue;
            }
            let n = (len - skip).min(data.len());
            ram.slice_mut(s.addr + skip as u64, n)?
                .copy_from_slice(&data[..n]);
            skip = 0;
            data = &data[n..];
            done += n;
        }
        Ok(done)
    }
}

/// A split virtqueue's registers (as the transport sets them) and the device's ring positions.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub max_size: u16,
    pub size: u16,
    pub ready: bool,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    /// VIRTIO_F_RING_EVENT_IDX was negotiated.
    pub event_idx: bool,
    /// VIRTIO_F_RING_INDIRECT_DESC was negotiated.
    pub indirect: bool,
    next_avail: u16,
    next_used: u16,
    /// The used index when the driver was last notified (for EVENT_IDX suppression).
    signalled_used: Option<u16>,
}

impl Queue {
    pub fn new(max_size: u16) -> Self {
        Queue {
            max_size,
            size: max_size,
            ..Default::default()
        }
    }

    pub fn reset(&mut self) {
        *self = Queue::new(self.max_size);
    }

    /// Whether the queue was configured sanely and switched on.
    pub fn is_usable(&self) -> bool {
        self.ready && self.size > 0 && self.size.is_power_of_two() && self.size <= self.max_size
    }

    /// Takes the next available chain, if any.
    pub fn pop(&mut self, ram: &mut Ram) -> Result<Option<Chain>, QueueError> {
        if !self.is_usable() {
            return Ok(None);
        }
        let avail_idx = ram.dma_read::<2>(self.avail + 2)? as u16;
        let pending = avail_idx.wrapping_sub(self.next_avail);
        if pending == 0 {
            if self.event_idx {
                // Ask to be kicked when the next buffer arrives (avail_event in the used ring).
                let at = self.used + 4 + 8 * u64::from(self.size);
                ram.dma_write::<2>(at, u64::from(self.next_avail))?;
            }
            return Ok(None);
        }
        if pending > self.size {
            return Err(QueueError::BadAvailIndex);
        }
        let slot = u64::from(self.next_avail % self.size);
        let head = ram.dma_read::<2>(self.avail + 4 + 2 * slot)? as u16;
        self.next_avail = self.next_avail.wrapping_add(1);
        self.walk(ram, head).map(Some)
    }

    /// Gives back the last `n` chains taken with `pop`, unused: they are taken again later
    /// (a device that needs several buffers at once and found too few).
    pub fn rewind(&mut self, n: u16) {
        self.next_avail = self.next_avail.wrapping_sub(n);
    }

    fn read_desc(ram: &Ram, table: u64, i: u32) -> Result<(u64, u32, u16, u16), QueueError> {
        let d = table + 16 * u64::from(i);
        Ok((
            ram.dma_read::<8>(d)?,
            ram.dma_read::<4>(d + 8)? as u32,
            ram.dma_read::<2>(d + 12)? as u16,
            ram.dma_read::<2>(d + 14)? as u16,
        ))
    }

    fn walk(&self, ram: &Ram, head: u16) -> Result<Chain, QueueError> {
        if head >= self.size {
            return Err(QueueError::BadChain("head index out of range"));
        }
        let mut chain = Chain {
            head,
            ..Default::default()
        };
        let (mut table, mut table_len) = (self.desc, u32::from(self.size));
        let mut in_indirect = false;
        let mut i = u32::from(head);
        let mut count = 0u32;
        let mut total = 0u64;
        loop {
            count += 1;
            if count > table_len {
                return Err(QueueError::BadChain("descriptor chain loops"));
            }
            let (addr, len, flags, next) = Self::read_desc(ram, table, i)?;
            if flags & DESC_F_INDIRECT != 0 {
                if !self.indirect || in_indirect || flags & DESC_F_NEXT != 0 {
                    return Err(QueueError::BadChain("unexpected indirect descriptor"));
                }
                if len == 0 || len % 16 != 0 || len / 16 > MAX_INDIRECT {
                    return Err(QueueError::BadChain("bad indirect table length"));
                }
                ram.slice(addr, len as usize)?;
                (table, table_len, i, count, in_indirect) = (addr, len / 16, 0, 0, true);
                continue;
            }
            total += u64::from(len);
            if total > MAX_CHAIN_BYTES {
                return Err(QueueError::BadChain("chain too long"));
            }
            ram.slice(addr, len as usize)?;
            let seg = Segment { addr, len };
            if flags & DESC_F_WRITE != 0 {
                chain.writable.push(seg);
            } else if chain.writable.is_empty() {
                chain.readable.push(seg);
            } else {
                return Err(QueueError::BadChain(
                    "readable descriptor after a writable one",
                ));
            }
            if flags & DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            if u32::from(next) >= table_len {
                return Err(QueueError::BadChain("next index out of range"));
            }
            i = u32::from(next);
        }
    }

    /// Serves every available chain with `f`, which returns how many bytes it wrote into the
    /// chain, and hands each back to the driver. Returns whether any chain was used.
    pub fn serve(
        &mut self,
        ram: &mut Ram,
        mut f: impl FnMut(&Chain, &mut Ram) -> Result<u32, QueueError>,
    ) -> Result<bool, QueueError> {
        let mut used = false;
        while let Some(chain) = self.pop(ram)? {
            let written = f(&chain, ram)?;
            self.push_used(ram, chain.head, written)?;
            used = true;
        }
        Ok(used)
    }

    /// Returns a finished chain to the driver with `len` bytes written.
    pub fn push_used(&mut self, ram: &mut Ram, head: u16, len: u32) -> Result<(), QueueError> {
        let slot = u64::from(self.next_used % self.size);
        let e = self.used + 4 + 8 * slot;
        ram.dma_write::<4>(e, u64::from(head))?;
        ram.dma_write::<4>(e + 4, u64::from(len))?;
        self.next_used = self.next_used.wrapping_add(1);
        // The index is published after the element (the single-threaded host orders them).
        ram.dma_write::<2>(self.used + 2, u64::from(self.next_used))?;
        Ok(())
    }

    /// Whether the driver wants an interrupt for the used buffers added since the last one.
    pub fn should_notify(&mut self, ram: &Ram) -> Result<bool, QueueError> {
        if !self.event_idx {
            let flags = ram.dma_read::<2>(self.avail)? as u16;
            return Ok(flags & AVAIL_F_NO_INTERRUPT == 0);
        }
        let used_event = ram.dma_read::<2>(self.avail + 4 + 2 * u64::from(self.size))? as u16;
        let new = self.next_used;
        let old = self.signalled_used.unwrap_or(new.wrapping_sub(1));
        self.signalled_used = Some(new);
        // vring_need_event: the event index lies in (old, new].
        Ok(new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x8000_0000;
    const DESC: u64 = BASE;
    const AVAIL: u64 = BASE + 0x1000;
    const USED: u64 = BASE + 0x2000;
    const DATA: u64 = BASE + 0x10000;

    fn setup(size: u16) -> (Ram, Queue) {
        let ram = Ram::new(BASE, 1 << 20);
        let mut q = Queue::new(size);
        (q.desc, q.avail, q.used, q.ready, q.indirect) = (DESC, AVAIL, USED, true, true);
        (ram, q)
    }

    fn desc(ram: &mut Ram, table: u64, i: u64, addr: u64, len: u32, flags: u16, next: u16) {
        let d = table + 16 * i;
        ram.dma_write::<8>(d, addr).unwrap();
        ram.dma_write::<4>(d + 8, u64::from(len)).unwrap();
        ram.dma_write::<2>(d + 12, u64::from(flags)).unwrap();
        ram.dma_write::<2>(d + 14, u64::from(next)).unwrap();
    }

    fn offer(ram: &mut Ram, q: &Queue, heads: &[u16]) {
        let idx = ram.dma_read::<2>(AVAIL + 2).unwrap() as u16;
        for (k, h) in heads.iter().enumerate() {
            let slot = u64::from(idx.wrapping_add(k as u16) % q.size);
            ram.dma_write::<2>(AVAIL + 4 + 2 * slot, u64::from(*h))
                .unwrap();
        }
        ram.dma_write::<2>(AVAIL + 2, u64::from(idx.wrapping_add(heads.len() as u16)))
            .unwrap();
    }

    #[test]
    fn walks_a_chain_and_returns_it_used() {
        let (mut ram, mut q) = setup(8);
        desc(&mut ram, DESC, 0, DATA, 16, DESC_F_NEXT, 1);
        desc(&mut ram, DESC, 1, DATA + 16, 100, DESC_F_WRITE, 0);
        offer(&mut ram, &q, &[0]);
        let c = q.pop(&mut ram).unwrap().unwrap();
        assert_eq!((c.readable_len(), c.writable_len()), (16, 100));
        q.push_used(&mut ram, c.head, 42).unwrap();
        assert_eq!(ram.dma_read::<2>(USED + 2).unwrap(), 1);
        assert_eq!(ram.dma_read::<4>(USED + 8).unwrap(), 42);
        assert_eq!(q.pop(&mut ram).unwrap(), None);
    }

    #[test]
    fn hostile_chains_are_errors_not_panics() {
        // A loop: 0 -> 1 -> 0.
        let (mut ram, mut q) = setup(8);
        desc(&mut ram, DESC, 0, DATA, 8, DESC_F_NEXT, 1);
        desc(&mut ram, DESC, 1, DATA, 8, DESC_F_NEXT, 0);
        offer(&mut ram, &q, &[0]);
        assert!(matches!(q.pop(&mut ram), Err(QueueError::BadChain(_))));
        // A buffer outside RAM, and one that wraps the address space.
        for (addr, len) in [(0x1000, 8), (BASE + (1 << 20) - 4, 8), (u64::MAX - 2, 8)] {
            let (mut ram, mut q) = setup(8);
            desc(&mut ram, DESC, 0, addr, len, 0, 0);
            offer(&mut ram, &q, &[0]);
            assert!(
                matches!(q.pop(&mut ram), Err(QueueError::BadAddress(_))),
                "{addr:#x}"
            );
        }
        // Head and next indexes out of range.
        let (mut ram, mut q) = setup(8);
        offer(&mut ram, &q, &[9]);
        assert!(q.pop(&mut ram).is_err());
        let (mut ram, mut q) = setup(8);
        desc(&mut ram, DESC, 0, DATA, 8, DESC_F_NEXT, 200);
        offer(&mut ram, &q, &[0]);
        assert!(q.pop(&mut ram).is_err());
        // Readable after writable.
        let (mut ram, mut q) = setup(8);
        desc(&mut ram, DESC, 0, DATA, 8, DESC_F_WRITE | DESC_F_NEXT, 1);
        desc(&mut ram, DESC, 1, DATA, 8, 0, 0);
        offer(&mut ram, &q, &[0]);
        assert!(q.pop(&mut ram).is_err());
        // The driver claims more available buffers than the ring holds.
        let (mut ram, mut q) = setup(8);
        ram.dma_write::<2>(AVAIL + 2, 100).unwrap();
        assert_eq!(q.pop(&mut ram), Err(QueueError::BadAvailIndex));
        // Chains describing more than the cap.
        let (mut ram, mut q) = setup(8);
        for i in 0..8 {
            desc(
                &mut ram,
                DESC,
                i,
                DATA,
                u32::MAX,
                DESC_F_NEXT,
                (i + 1) as u16,
            );
        }
        offer(&mut ram, &q, &[0]);
        assert!(q.pop(&mut ram).is_err());
    }

    #[test]
    fn indirect_tables_are_checked() {
        let table = BASE + 0x4000;
        // A good indirect chain of two.
        let (mut ram, mut q) = setup(8);
        desc(&mut ram, table, 0, DATA, 4, DESC_F_NEXT, 1);
        desc(&mut ram, table, 1, DATA + 4, 4, DESC_F_WRITE, 0);
        desc(&mut ram, DESC, 0, table, 32, DESC_F_INDIRECT, 0);
        offer(&mut ram, &q, &[0]);
        let c = q.pop(&mut ram).unwrap().unwrap();
        assert_eq!((c.readable.len(), c.writable.len()), (1, 1));
        // Not negotiated.
        let (mut ram, mut q) = setup(8);
        q.indirect = false;
        desc(&mut ram, DESC, 0, table, 32, DESC_F_INDIRECT, 0);
        offer(&mut ram, &q, &[0]);
        assert!(q.pop(&mut ram).is_err());
        // Nested, looping, badly sized.
        for (len, inner_flags, inner_next) in [
            (32, DESC_F_INDIRECT, 0),
            (32, DESC_F_NEXT, 0),
            (33, 0, 0),
            (0, 0, 0),
        ] {
            let (mut ram, mut q) = setup(8);
            desc(&mut ram, table, 0, table, 32, inner_flags, inner_next);
            desc(&mut ram, DESC, 0, table, len, DESC_F_INDIRECT, 0);
            offer(&mut ram, &q, &[0]);
            assert!(q.pop(&mut ram).is_err(), "len {len} flags {inner_flags}");
        }
    }

    #[test]
    fn event_idx_suppresses_interrupts_until_asked() {
        let (mut ram, mut q) = setup(8);
        q.event_idx = true;
        for i in 0..4 {
            desc(&mut ram, DESC, i, DATA, 8, DESC_F_WRITE, 0);
        }
        // used_event = 1: the driver wants an interrupt once the used index passes 1.
        ram.dma_write::<2>(AVAIL + 4 + 2 * 8, 1).unwrap();
        offer(&mut ram, &q, &[0, 1, 2]);
        let c = q.pop(&mut ram).unwrap().unwrap();
        q.push_used(&mut ram, c.head, 8).unwrap();
        assert!(!q.should_notify(&ram).unwrap()); // used idx 1: not past used_event yet
        let c = q.pop(&mut ram).unwrap().unwrap();
        q.push_used(&mut ram, c.head, 8).unwrap();
        assert!(q.should_notify(&ram).unwrap()); // used idx 2
        let c = q.pop(&mut ram).unwrap().unwrap();
        q.push_used(&mut ram, c.head, 8).unwrap();
        assert!(!q.should_notify(&ram).unwrap());
        // With the ring empty, the device asks to be kicked at the next index.
        assert_eq!(q.pop(&mut ram).unwrap(), None);
        assert_eq!(ram.dma_read::<2>(USED + 4 + 8 * 8).unwrap(), 3);
    }
}
