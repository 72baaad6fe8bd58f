//! virtio-net: Ethernet frames between the guest's queues and a backend, over two bounded
//! crossbeam channels (the backend owns the other ends). Nothing here blocks: a frame for the
//! guest waits in the device until the driver offers enough receive buffers (and the backend's
//! channel fills up behind it), and a frame from the guest waits while the backend's channel is
//! full (and the guest's TX queue fills up behind it). Frames are only dropped when they can
//! never be delivered: malformed, larger than any buffer the driver could offer, or segmentation
//! offloads the driver was not allowed to use.

use super::*;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

const RX: usize = 0;
const TX: usize = 1;

pub const F_CSUM: u64 = 1 << 0;
pub const F_GUEST_CSUM: u64 = 1 << 1;
pub const F_MAC: u64 = 1 << 5;
pub const F_MRG_RXBUF: u64 = 1 << 15;
pub const F_STATUS: u64 = 1 << 16;

/// struct virtio_net_hdr with num_buffers, as VERSION_1 always uses it.
pub const HDR_LEN: usize = 12;
const HDR_F_NEEDS_CSUM: u8 = 1;
const HDR_F_DATA_VALID: u8 = 2;
const GSO_NONE: u8 = 0;
const S_LINK_UP: u16 = 1;
/// The largest frame carried either way: a 64 KiB IP packet plus an Ethernet and VLAN header.
pub const MAX_FRAME: usize = 65535 + 18;

/// Counters a user (or a test) can read to see what happened to frames.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetStats {
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Guest frames dropped as malformed or using offloads it did not negotiate.
    pub tx_dropped: u64,
    /// Backend frames dropped because no buffer the driver could offer would hold them.
    pub rx_dropped: u64,
}

pub struct Net {
    mac: [u8; 6],
    to_backend: Sender<Vec<u8>>,
    from_backend: Receiver<Vec<u8>>,
    /// The backend's frames carry correct checksums (it built them itself), so the guest may
    /// skip verifying them when it accepted GUEST_CSUM.
    backend_checksums_valid: bool,
    features: u64,
    /// A frame for the guest waiting for receive buffers.
    rx_pending: Option<Vec<u8>>,
    /// A guest frame waiting for room in the backend's channel.
    tx_pending: Option<Vec<u8>>,
    pub stats: NetStats,
}

impl Net {
    pub fn new(
        mac: [u8; 6],
        to_backend: Sender<Vec<u8>>,
        from_backend: Receiver<Vec<u8>>,
        backend_checksums_valid: bool,
    ) -> Self {
        Net {
            mac,
            to_backend,
            from_backend,
            backend_checksums_valid,
            features: 0,
            rx_pending: None,
            tx_pending: None,
            stats: NetStats::default(),
        }
    }

    /// Hands a guest frame to the backend; false if the channel is full (the frame is kept).
    fn send(&mut self, frame: Vec<u8>) -> bool {
        match self.to_backend.try_send(frame) {
            Ok(()) => {
                self.stats.tx_frames += 1;
                true
            }
            Err(TrySendError::Full(f)) => {
                self.tx_pending = Some(f);
                false
            }
            // No backend any more: like an unplugged cable, frames go nowhere.
            Err(TrySendError::Disconnected(_)) => true,
        }
    }

    fn transmit(&mut self, q: &mut Queue, ram: &mut Ram) -> Result<bool, QueueError> {
        if let Some(f) = self.tx_pending.take() {
            if !self.send(f) {
                return Ok(false);
            }
        }
        let mut used = false;
        while let Some(chain) = q.pop(ram)? {
            let too_long = chain.readable_len() > (HDR_LEN + MAX_FRAME) as u64;
            let data = chain.read_all(ram, HDR_LEN + MAX_FRAME)?;
            q.push_used(ram, chain.head, 0)?;
            used = true;
            match tx_frame(&data).filter(|_| !too_long) {
                Some(frame) => {
                    if !self.send(frame) {
                        break;
                    }
                }
                None => self.stats.tx_dropped += 1,
            }
        }
        Ok(used)
    }

    fn receive(&mut self, q: &mut Queue, ram: &mut Ram) -> Result<bool, QueueError> {
        let mut used = false;
        loop {
            let frame = match self.rx_pending.take() {
                Some(f) => f,
                None => match self.from_backend.try_recv() {
                    Ok(f) => f,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                },
            };
            if frame.len() > MAX_FRAME || frame.is_empty() {
                self.stats.rx_dropped += 1;
                continue;
            }
            let mut hdr = [0u8; HDR_LEN];
            if self.features & F_GUEST_CSUM != 0 && self.backend_checksums_valid {
                hdr[0] = HDR_F_DATA_VALID;
            }
            let need = (HDR_LEN + frame.len()) as u64;
            let mut chains = Vec::new();
            let mut room = 0u64;
            let merge = self.features & F_MRG_RXBUF != 0;
            while room < need && (merge || chains.is_empty()) {
                match q.pop(ram)? {
                    Some(c) => {
                        room += c.writable_len();
                        chains.push(c);
                    }
                    None => break,
                }
            }
            if room < need {
                let whole_ring = chains.len() == usize::from(q.size);
                q.rewind(chains.len() as u16);
                if whole_ring || (!merge && !chains.is_empty()) {
                    // No buffer the driver can offer would ever hold it.
                    self.stats.rx_dropped += 1;
                    continue;
                }
                self.rx_pending = Some(frame);
                break;
            }
            hdr[10..12].copy_from_slice(&(chains.len() as u16).to_le_bytes());
            let mut rest: &[u8] = &frame;
            for (i, c) in chains.iter().enumerate() {
                let skip = if i == 0 { HDR_LEN } else { 0 };
                if i == 0 && write_from(c, ram, 0, &hdr)? < HDR_LEN {
                    return Err(QueueError::BadChain(
                        "receive buffer smaller than the header",
                    ));
                }
                let n = write_from(c, ram, skip, rest)?;
                rest = &rest[n..];
                q.push_used(ram, c.head, (skip + n) as u32)?;
            }
            self.stats.rx_frames += 1;
            used = true;
        }
        Ok(used)
    }
}

/// Writes `data` into the chain's writable bytes from byte `skip` on; returns how many fit.
fn write_from(
    c: &Chain,
    ram: &mut Ram,
    mut skip: usize,
    mut data: &[u8],
) -> Result<usize, QueueError> {
    let mut done = 0;
    for s in &c.writable {
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

/// The Ethernet frame of a guest TX buffer (header + frame), with a checksum the guest left to
/// the device filled in; None for buffers that cannot be sent.
pub fn tx_frame(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HDR_LEN + 14 {
        return None;
    }
    let (hdr, frame) = data.split_at(HDR_LEN);
    if hdr[1] != GSO_NONE {
        // Segmentation offloads are never offered.
        return None;
    }
    let mut frame = frame.to_vec();
    if hdr[0] & HDR_F_NEEDS_CSUM != 0 {
        let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
        let at = start.checked_add(usize::from(u16::from_le_bytes([hdr[8], hdr[9]])))?;
        if at.checked_add(2)? > frame.len() {
            return None;
        }
        // The field holds the pseudo-header sum; the device adds the rest and complements. A
        // zero result goes out as 0xffff, as UDP needs and as Linux does in software.
        let sum = !fold(ones_sum(&frame[start..]));
        let sum = if sum == 0 { 0xffff } else { sum };
        frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }
    Some(frame)
}

/// The 32-bit one's-complement accumulation of big-endian 16-bit words (RFC 1071).
pub fn ones_sum(data: &[u8]) -> u32 {
    let mut sum = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u64::from(*b) << 8;
    }
    while sum > 0xffff_ffff {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

impl VirtioDevice for Net {
    fn device_id(&self) -> u32 {
        ID_NET
    }
    fn features(&self) -> u64 {
        F_CSUM | F_GUEST_CSUM | F_MAC | F_MRG_RXBUF | F_STATUS
    }
    fn num_queues(&self) -> usize {
        2
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut cfg = [0u8; 10];
        cfg[..6].copy_from_slice(&self.mac);
        cfg[6..8].copy_from_slice(&S_LINK_UP.to_le_bytes());
        cfg[8..10].copy_from_slice(&1u16.to_le_bytes());
        read_config_bytes(&cfg, offset, data);
    }
    fn activate(&mut self, features: u64) {
        self.features = features;
    }
    fn reset(&mut self) {
        self.features = 0;
        // A frame already taken from the guest still goes out; one for the guest is dropped
        // with the buffers the reset took away.
        self.rx_pending = None;
    }
    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        let (rx, tx) = queues.split_at_mut(TX);
        let sent = self.transmit(&mut tx[0], ram)?;
        let received = self.receive(&mut rx[RX], ram)?;
        Ok(sent | received)
    }
}
