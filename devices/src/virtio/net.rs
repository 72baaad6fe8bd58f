//! virtio-net: Ethernet frames between the guest's queues and a backend, over two bounded
//! crossbeam channels (the backend owns the other ends). Nothing here blocks: a frame for the
//! guest waits in the device until the driver offers enough receive buffers (and the backend's
//! channel fills up behind it), and a frame from the guest waits while the backend's channel is
//! full (and the guest's TX queue fills up behind it). Frames are only dropped when they can
//! never be delivered: malformed, larger than any buffer the driver could offer, or segmentation
//! offloads the driver was not allowed to use.

use super::*;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use std::collections::VecDeque;

const RX: usize = 0;
const TX: usize = 1;

pub const F_CSUM: u64 = 1 << 0;
pub const F_GUEST_CSUM: u64 = 1 << 1;
pub const F_MAC: u64 = 1 << 5;
pub const F_HOST_TSO4: u64 = 1 << 11;
pub const F_HOST_TSO6: u64 = 1 << 12;
pub const F_MRG_RXBUF: u64 = 1 << 15;
pub const F_STATUS: u64 = 1 << 16;

/// struct virtio_net_hdr with num_buffers, as VERSION_1 always uses it.
pub const HDR_LEN: usize = 12;
const HDR_F_NEEDS_CSUM: u8 = 1;
const HDR_F_DATA_VALID: u8 = 2;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
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
    /// Guest frames waiting for room in the backend's channel (several: the segments of one
    /// TSO buffer, at most 64 KiB of them).
    tx_held: VecDeque<Vec<u8>>,
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
            tx_held: VecDeque::new(),
            stats: NetStats::default(),
        }
    }

    /// Hands held frames to the backend, oldest first; false while some still wait.
    fn send_held(&mut self) -> bool {
        while let Some(f) = self.tx_held.pop_front() {
            match self.to_backend.try_send(f) {
                Ok(()) => self.stats.tx_frames += 1,
                Err(TrySendError::Full(f)) => {
                    self.tx_held.push_front(f);
                    return false;
                }
                // No backend any more: like an unplugged cable, frames go nowhere.
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        true
    }

    fn transmit(&mut self, q: &mut Queue, ram: &mut Ram) -> Result<bool, QueueError> {
        if !self.send_held() {
            return Ok(false);
        }
        let mut used = false;
        while let Some(chain) = q.pop(ram)? {
            let too_long = chain.readable_len() > (HDR_LEN + MAX_FRAME) as u64;
            let data = chain.read_all(ram, HDR_LEN + MAX_FRAME)?;
            q.push_used(ram, chain.head, 0)?;
            used = true;
            match tx_frames(&data, self.features).filter(|_| !too_long) {
                Some(frames) => self.tx_held.extend(frames),
                None => self.stats.tx_dropped += 1,
            }
            if !self.send_held() {
                break;
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
                if i == 0 && c.write_all(ram, &hdr)? < HDR_LEN {
                    return Err(QueueError::BadChain(
                        "receive buffer smaller than the header",
                    ));
                }
                let n = c.write_at(ram, skip, rest)?;
                rest = &rest[n..];
                q.push_used(ram, c.head, (skip + n) as u32)?;
            }
            self.stats.rx_frames += 1;
            used = true;
        }
        Ok(used)
    }
}

/// The Ethernet frames of a guest TX buffer (header + frame): one, with a checksum the guest
/// left to the device filled in, or the MSS-sized segments of a TCP segmentation offload the
/// driver negotiated; None for buffers that cannot be sent.
pub fn tx_frames(data: &[u8], features: u64) -> Option<Vec<Vec<u8>>> {
    if data.len() < HDR_LEN + 14 {
        return None;
    }
    let (hdr, frame) = data.split_at(HDR_LEN);
    match hdr[1] & 0x7f {
        GSO_NONE => tx_frame(hdr, frame).map(|f| vec![f]),
        GSO_TCPV4 if features & F_HOST_TSO4 != 0 => segment_tcp(hdr, frame, false),
        GSO_TCPV6 if features & F_HOST_TSO6 != 0 => segment_tcp(hdr, frame, true),
        _ => None,
    }
}

/// Splits a TSO frame into segments of at most `gso_size` payload bytes, each with its own IP
/// length (and IPv4 id and header checksum), TCP sequence number, flags and full checksum.
fn segment_tcp(hdr: &[u8], frame: &[u8], v6: bool) -> Option<Vec<Vec<u8>>> {
    let mss = usize::from(u16::from_le_bytes([hdr[4], hdr[5]]));
    let l3 = if u16::from_be_bytes([frame[12], frame[13]]) == 0x8100 {
        18
    } else {
        14
    };
    // The transport header starts where the checksum coverage does.
    let l4 = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
    if mss == 0 || l4 < l3 + if v6 { 40 } else { 20 } || frame.len() < l4 + 20 {
        return None;
    }
    let ip = &frame[l3..];
    if ip[0] >> 4 != if v6 { 6 } else { 4 } || (!v6 && ip[9] != 6) {
        return None;
    }
    let th = usize::from(frame[l4 + 12] >> 4) * 4;
    if th < 20 || frame.len() < l4 + th {
        return None;
    }
    let (headers, payload) = frame.split_at(l4 + th);
    let seq = u32::from_be_bytes(headers[l4 + 4..l4 + 8].try_into().ok()?);
    let flags = headers[l4 + 13];
    let id = u16::from_be_bytes([ip[4], ip[5]]);
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(mss).collect()
    };
    let last = chunks.len() - 1;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut seg = Vec::with_capacity(headers.len() + chunk.len());
        seg.extend_from_slice(headers);
        seg.extend_from_slice(chunk);
        let tcp_len = th + chunk.len();
        if v6 {
            let plen = (l4 - l3 - 40 + tcp_len) as u16;
            seg[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let total = (l4 - l3 + tcp_len) as u16;
            seg[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            seg[l3 + 4..l3 + 6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            seg[l3 + 10..l3 + 12].fill(0);
            let ihl = usize::from(seg[l3] & 15) * 4;
            let c = !fold(ones_sum(&seg[l3..l3 + ihl]));
            seg[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let off = (i * mss) as u32;
        seg[l4 + 4..l4 + 8].copy_from_slice(&seq.wrapping_add(off).to_be_bytes());
        let mut f = flags;
        if i != last {
            f &= !0x09; // FIN, PSH: only on the last segment
        }
        if i != 0 {
            f &= !0x80; // CWR: only on the first
        }
        seg[l4 + 13] = f;
        seg[l4 + 16..l4 + 18].fill(0);
        let mut pseudo = Vec::with_capacity(40);
        if v6 {
            pseudo.extend_from_slice(&seg[l3 + 8..l3 + 40]);
            pseudo.extend_from_slice(&(tcp_len as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        } else {
            pseudo.extend_from_slice(&seg[l3 + 12..l3 + 20]);
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        }
        let sum = ones_sum(&pseudo) as u64 + ones_sum(&seg[l4..]) as u64;
        let c = !fold(((sum & 0xffff_ffff) + (sum >> 32)) as u32);
        seg[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        out.push(seg);
    }
    Some(out)
}

fn tx_frame(hdr: &[u8], frame: &[u8]) -> Option<Vec<u8>> {
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
        F_CSUM | F_GUEST_CSUM | F_MAC | F_MRG_RXBUF | F_STATUS | F_HOST_TSO4 | F_HOST_TSO6
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(sum_parts: &[&[u8]]) -> bool {
        let s: u64 = sum_parts.iter().map(|p| u64::from(ones_sum(p))).sum();
        fold(((s & 0xffff_ffff) + (s >> 32)) as u32) == 0xffff
    }

    /// A TSO buffer: virtio header, Ethernet, IPv4 or IPv6, TCP with FIN|PSH|ACK|CWR.
    fn tso_buffer(v6: bool, payload: &[u8], mss: u16) -> Vec<u8> {
        let mut f = vec![0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2];
        f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        if v6 {
            let mut ip = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
            ip.extend((0..32).map(|i| i as u8));
            f.extend_from_slice(&ip);
        } else {
            f.extend_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
        }
        let l4 = f.len();
        let mut tcp = vec![0x30, 0x39, 0, 80, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 1];
        tcp.extend_from_slice(&[0x50, 0x80 | 0x10 | 0x08 | 0x01, 0x10, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&tcp);
        f.extend_from_slice(payload);
        let mut hdr = [0u8; HDR_LEN];
        hdr[0] = HDR_F_NEEDS_CSUM;
        hdr[1] = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
        hdr[4..6].copy_from_slice(&mss.to_le_bytes());
        hdr[6..8].copy_from_slice(&(l4 as u16).to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        [&hdr[..], &f].concat()
    }

    #[test]
    fn tso_frames_are_split_into_valid_segments() {
        let payload: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
        for v6 in [false, true] {
            let buf = tso_buffer(v6, &payload, 1000);
            // Not negotiated: dropped, never sent as a giant frame.
            assert!(tx_frames(&buf, F_CSUM).is_none());
            let segs = tx_frames(&buf, F_CSUM | F_HOST_TSO4 | F_HOST_TSO6).unwrap();
            assert_eq!(segs.len(), 3);
            let l4 = if v6 { 54 } else { 34 };
            let mut joined = Vec::new();
            for (i, s) in segs.iter().enumerate() {
                let tcp = &s[l4..];
                let data = &tcp[20..];
                joined.extend_from_slice(data);
                let len = tcp.len();
                let pseudo = if v6 {
                    assert_eq!(usize::from(u16::from_be_bytes([s[18], s[19]])), len);
                    [&s[22..54], &(len as u32).to_be_bytes()[..], &[0, 0, 0, 6]].concat()
                } else {
                    assert_eq!(usize::from(u16::from_be_bytes([s[16], s[17]])), 20 + len);
                    assert_eq!(u16::from_be_bytes([s[18], s[19]]), 0x1234 + i as u16);
                    assert!(verify(&[&s[14..34]]), "IPv4 header checksum");
                    [&s[26..34], &[0, 6], &(len as u16).to_be_bytes()[..]].concat()
                };
                assert!(verify(&[&pseudo, tcp]), "TCP checksum of segment {i}");
                let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
                assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1000 * i as u32));
                let flags = tcp[13];
                assert_eq!(flags & 0x09 != 0, i == 2, "FIN/PSH only last");
                assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
                assert_eq!(flags & 0x10, 0x10);
            }
            assert_eq!(joined, payload);
        }
        // Hostile headers: a zero MSS, a transport offset past the frame.
        let mut bad = tso_buffer(false, &payload, 0);
        assert!(tx_frames(&bad, F_HOST_TSO4).is_none());
        bad = tso_buffer(false, &payload, 1000);
        bad[6..8].copy_from_slice(&60000u16.to_le_bytes());
        assert!(tx_frames(&bad, F_HOST_TSO4).is_none());
    }
}
