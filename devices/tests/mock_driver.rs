//! The virtio device models driven from an independent driver side: rust-vmm's `virtio-queue`
//! mock driver (`MockSplitQueue`) lays out descriptor tables, available and used rings and
//! indirect tables in `vm-memory` guest memory, the constants come from `virtio-bindings`, and
//! results are checked through the mock's own view of the used ring. None of petrel's queue code
//! builds or reads a ring here, so a misreading of the spec shared by petrel's device and
//! petrel's own tests cannot hide.
//!
//! The bridge: guest memory is one `GuestMemoryMmap` region at `BASE`; before the device runs,
//! its bytes are copied into a petrel `Ram` at the same base, and back afterwards.

#![cfg(not(target_arch = "wasm32"))]

use crossbeam_channel::{bounded, Receiver, Sender};
use petrel_devices::mem::Ram;
use petrel_devices::virtio::blk::Blk;
use petrel_devices::virtio::mmio::MmioTransport;
use petrel_devices::virtio::net::Net;
use petrel_devices::virtio::rng::Rng;
use petrel_devices::virtio::{Queue, QueueError, VirtioDevice};
use petrel_devices::MmioDevice;
use std::path::{Path, PathBuf};
use virtio_bindings::virtio_blk::*;
use virtio_bindings::virtio_config::*;
use virtio_bindings::virtio_mmio::*;
use virtio_bindings::virtio_net::*;
use virtio_bindings::virtio_ring::*;
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::{DescriptorTable, MockSplitQueue};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

type Mem = GuestMemoryMmap;
type Mock<'a> = MockSplitQueue<'a, Mem>;

/// Guest RAM base. The mock allocates indirect tables from 0x3000_0000 up, so RAM starts there.
const BASE: u64 = 0x3000_0000;
const RAM_SIZE: usize = 2 << 20;
/// Queue n's descriptor table and rings start at `QUEUES + n * 0x1000`.
const QUEUES: u64 = BASE + 0x8_0000;
/// Buffers are allocated from here on.
const DATA: u64 = BASE + 0x10_0000;
const QSIZE: u16 = 32;
const SECTOR: usize = 512;

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;

fn guest_memory() -> Mem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(BASE), RAM_SIZE)]).unwrap()
}

/// The driver's queue `n`, laid out by the mock.
fn mock(mem: &Mem, n: u64) -> Mock<'_> {
    MockSplitQueue::create(mem, GuestAddress(QUEUES + n * 0x1000), QSIZE)
}

/// The device's view of a mock queue, as a transport would set it up.
fn device_queue(m: &Mock) -> Queue {
    let mut q = Queue::new(256);
    q.size = QSIZE;
    q.desc = m.desc_table_addr().0;
    q.avail = m.avail_addr().0;
    q.used = m.used_addr().0;
    q.indirect = true;
    q.ready = true;
    q
}

/// Runs `f` on a petrel `Ram` holding the guest memory's bytes, then copies RAM back.
fn with_ram<T>(mem: &Mem, f: impl FnOnce(&mut Ram) -> T) -> T {
    let mut ram = Ram::new(BASE, RAM_SIZE);
    mem.read_slice(&mut ram.data, GuestAddress(BASE)).unwrap();
    let r = f(&mut ram);
    mem.write_slice(&ram.data, GuestAddress(BASE)).unwrap();
    r
}

fn run(
    mem: &Mem,
    dev: &mut dyn VirtioDevice,
    queues: &mut [Queue],
    notified: Option<usize>,
) -> Result<bool, QueueError> {
    with_ram(mem, |ram| dev.process(queues, ram, notified))
}

/// One buffer of a chain.
#[derive(Debug, Clone, Copy)]
struct Buf {
    addr: u64,
    len: u32,
    write: bool,
}

fn rd(addr: u64, len: usize) -> Buf {
    Buf {
        addr,
        len: len as u32,
        write: false,
    }
}

fn wr(addr: u64, len: usize) -> Buf {
    Buf {
        addr,
        len: len as u32,
        write: true,
    }
}

/// A bump allocator for buffers in guest memory.
struct Alloc(u64);

impl Alloc {
    fn new() -> Self {
        Alloc(DATA)
    }
    fn take(&mut self, len: usize) -> u64 {
        let a = self.0;
        self.0 = (self.0 + len as u64 + 15) & !15;
        assert!(self.0 <= BASE + RAM_SIZE as u64);
        a
    }
    /// A buffer holding `data`.
    fn put(&mut self, mem: &Mem, data: &[u8]) -> u64 {
        let a = self.take(data.len());
        mem.write_slice(data, GuestAddress(a)).unwrap();
        a
    }
    /// A buffer filled with `fill` (so a device write is visible).
    fn filled(&mut self, mem: &Mem, len: usize, fill: u8) -> u64 {
        self.put(mem, &vec![fill; len])
    }
}

/// Offers chains through the mock: their descriptors go into the table from index `first` on,
/// linked with NEXT, and the mock puts each head into the available ring. Returns the heads.
fn offer(m: &Mock, first: u16, chains: &[&[Buf]]) -> Vec<u16> {
    let mut descs = Vec::new();
    let mut heads = Vec::new();
    let mut i = first;
    for chain in chains {
        heads.push(i);
        for (k, b) in chain.iter().enumerate() {
            let last = k + 1 == chain.len();
            let flags = if b.write { WRITE } else { 0 } | if last { 0 } else { NEXT };
            let next = if last { 0 } else { i + 1 };
            descs.push(RawDescriptor::from(Descriptor::new(
                b.addr, b.len, flags, next,
            )));
            i += 1;
        }
    }
    m.add_desc_chains(&descs, first).unwrap();
    heads
}

/// The used ring as the driver sees it: (id, len) of every element so far.
fn used(m: &Mock) -> Vec<(u32, u32)> {
    let idx = m.used().idx().load();
    (0..idx)
        .map(|i| {
            let e = m
                .used()
                .ring()
                .ref_at(usize::from(i % QSIZE))
                .unwrap()
                .load();
            (e.id(), e.len())
        })
        .collect()
}

fn read(mem: &Mem, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
    v
}

fn read_bufs(mem: &Mem, bufs: &[Buf]) -> Vec<u8> {
    bufs.iter()
        .flat_map(|b| read(mem, b.addr, b.len as usize))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// virtio-blk

/// A raw image of `sectors` sectors with a recognisable pattern, in the test's temp directory.
fn image(name: &str, sectors: usize) -> (PathBuf, Vec<u8>) {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}.img", std::process::id()));
    let data: Vec<u8> = (0..sectors * SECTOR)
        .map(|i| (i.wrapping_mul(131) >> 3) as u8 ^ (i / SECTOR) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// The expected GET_ID answer: the image's file name, cut to / padded to 20 bytes.
fn expected_id(path: &Path) -> Vec<u8> {
    let mut id = path.file_name().unwrap().as_encoded_bytes().to_vec();
    id.resize(VIRTIO_BLK_ID_BYTES as usize, 0);
    id
}

/// A block request: the 16-byte header (type, reserved, sector), then `data`, then a status
/// byte. Returns the chain and the status byte's address.
fn blk_req(mem: &Mem, a: &mut Alloc, kind: u32, sector: u64, data: &[Buf]) -> (Vec<Buf>, u64) {
    let mut hdr = [0u8; 16];
    hdr[0..4].copy_from_slice(&kind.to_le_bytes());
    hdr[8..16].copy_from_slice(&sector.to_le_bytes());
    let status = a.filled(mem, 1, 0xee);
    let mut chain = vec![rd(a.put(mem, &hdr), 16)];
    chain.extend_from_slice(data);
    chain.push(wr(status, 1));
    (chain, status)
}

fn status(mem: &Mem, addr: u64) -> u32 {
    u32::from(read(mem, addr, 1)[0])
}

#[test]
fn blk_read_write_flush_get_id() {
    let (path, mut disk) = image("blk-rw", 64);
    let mut blk = Blk::open(&path, false, false).unwrap();
    let mem = guest_memory();
    let m = mock(&mem, 0);
    let mut qs = [device_queue(&m)];
    let mut a = Alloc::new();

    // Read sectors 3 and 4 into two buffers of odd sizes.
    let (d1, d2) = (a.filled(&mem, 100, 0xaa), a.filled(&mem, 924, 0xaa));
    let data = [wr(d1, 100), wr(d2, 924)];
    let (chain, st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_IN, 3, &data);
    let heads = offer(&m, 0, &[&chain]);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m), vec![(u32::from(heads[0]), 1024 + 1)]);
    assert_eq!(status(&mem, st), VIRTIO_BLK_S_OK);
    assert_eq!(read_bufs(&mem, &data), &disk[3 * SECTOR..5 * SECTOR]);

    // Write sectors 10 and 11 from two readable buffers, one of them holding the header too.
    let new: Vec<u8> = (0..2 * SECTOR).map(|i| (i * 7 + 1) as u8).collect();
    let mut hdr = vec![0u8; 16];
    hdr[0..4].copy_from_slice(&VIRTIO_BLK_T_OUT.to_le_bytes());
    hdr[8..16].copy_from_slice(&10u64.to_le_bytes());
    hdr.extend_from_slice(&new[..300]);
    let st = a.filled(&mem, 1, 0xee);
    let chain = [
        rd(a.put(&mem, &hdr), hdr.len()),
        rd(a.put(&mem, &new[300..]), new.len() - 300),
        wr(st, 1),
    ];
    let heads = offer(&m, 4, &[&chain]);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m)[1], (u32::from(heads[0]), 1));
    assert_eq!(status(&mem, st), VIRTIO_BLK_S_OK);
    disk[10 * SECTOR..12 * SECTOR].copy_from_slice(&new);
    assert_eq!(std::fs::read(&path).unwrap(), disk);

    // Read it back, with the data and the status byte sharing one buffer (any layout).
    let buf = a.filled(&mem, 2 * SECTOR + 1, 0xaa);
    let (mut chain, _) = blk_req(&mem, &mut a, VIRTIO_BLK_T_IN, 10, &[]);
    *chain.last_mut().unwrap() = wr(buf, 2 * SECTOR + 1);
    let heads = offer(&m, 7, &[&chain]);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m)[2], (u32::from(heads[0]), 2 * SECTOR as u32 + 1));
    let got = read(&mem, buf, 2 * SECTOR + 1);
    assert_eq!(&got[..2 * SECTOR], &new[..]);
    assert_eq!(u32::from(got[2 * SECTOR]), VIRTIO_BLK_S_OK);

    // A flush and a GET_ID offered together, served in order.
    let (flush, flush_st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_FLUSH, 0, &[]);
    let id = a.filled(&mem, VIRTIO_BLK_ID_BYTES as usize, 0xaa);
    let id_buf = [wr(id, VIRTIO_BLK_ID_BYTES as usize)];
    let (get_id, id_st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_GET_ID, 0, &id_buf);
    let heads = offer(&m, 9, &[&flush, &get_id]);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(
        used(&m)[3..],
        [
            (u32::from(heads[0]), 1),
            (u32::from(heads[1]), VIRTIO_BLK_ID_BYTES + 1)
        ]
    );
    assert_eq!(status(&mem, flush_st), VIRTIO_BLK_S_OK);
    assert_eq!(status(&mem, id_st), VIRTIO_BLK_S_OK);
    assert_eq!(
        read(&mem, id, VIRTIO_BLK_ID_BYTES as usize),
        expected_id(&path)
    );

    // Nothing more available: nothing used.
    assert!(!run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m).len(), 5);
    assert_eq!(std::fs::read(&path).unwrap(), disk);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn blk_requests_beyond_the_disk_fail_with_ioerr() {
    let sectors = 16;
    let (path, disk) = image("blk-range", sectors);
    let mut blk = Blk::open(&path, false, false).unwrap();
    let mem = guest_memory();
    let m = mock(&mem, 0);
    let mut qs = [device_queue(&m)];
    let mut a = Alloc::new();
    let last = sectors as u64 - 1;

    let mut reqs = Vec::new();
    let mut expect = Vec::new();
    // (type, sector, data length, expected status)
    let cases = [
        (VIRTIO_BLK_T_IN, last, SECTOR, VIRTIO_BLK_S_OK), // the last sector: fine
        (VIRTIO_BLK_T_IN, last, 2 * SECTOR, VIRTIO_BLK_S_IOERR), // runs past the end
        (VIRTIO_BLK_T_IN, sectors as u64, SECTOR, VIRTIO_BLK_S_IOERR),
        (VIRTIO_BLK_T_OUT, last, 2 * SECTOR, VIRTIO_BLK_S_IOERR),
        (VIRTIO_BLK_T_OUT, sectors as u64, SECTOR, VIRTIO_BLK_S_IOERR),
        (VIRTIO_BLK_T_OUT, u64::MAX / 256, SECTOR, VIRTIO_BLK_S_IOERR), // sector * 512 overflows
        (VIRTIO_BLK_T_IN, u64::MAX, SECTOR, VIRTIO_BLK_S_IOERR),
        (0xdead, 0, 0, VIRTIO_BLK_S_UNSUPP),
    ];
    for &(kind, sector, len, st) in &cases {
        let data = if len == 0 {
            vec![]
        } else if kind == VIRTIO_BLK_T_IN {
            vec![wr(a.filled(&mem, len, 0xaa), len)]
        } else {
            vec![rd(a.filled(&mem, len, 0x55), len)]
        };
        let (chain, st_addr) = blk_req(&mem, &mut a, kind, sector, &data);
        reqs.push(chain);
        expect.push((st_addr, st, data));
    }
    let chains: Vec<&[Buf]> = reqs.iter().map(|c| c.as_slice()).collect();
    let heads = offer(&m, 0, &chains);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    let u = used(&m);
    assert_eq!(u.len(), cases.len());
    for (k, (st_addr, st, data)) in expect.iter().enumerate() {
        assert_eq!(u[k].0, u32::from(heads[k]), "request {k}");
        assert_eq!(status(&mem, *st_addr), *st, "request {k}: {:?}", cases[k]);
        let written: u32 = data.iter().filter(|b| b.write).map(|b| b.len).sum();
        assert_eq!(u[k].1, written + 1, "request {k}");
    }
    // The one good read returned the last sector.
    assert_eq!(read_bufs(&mem, &expect[0].2), &disk[15 * SECTOR..]);
    // No failed write touched the file.
    assert_eq!(std::fs::read(&path).unwrap(), disk);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn blk_read_only_refuses_writes_and_snapshot_keeps_the_file() {
    let (path, disk) = image("blk-ro", 8);
    let new = vec![0x5a; SECTOR];
    for snapshot in [false, true] {
        let (read_only, what) = if snapshot {
            (false, "snapshot")
        } else {
            (true, "read-only")
        };
        let mut blk = Blk::open(&path, read_only, snapshot).unwrap();
        assert_eq!(
            blk.features() & (1 << VIRTIO_BLK_F_RO) != 0,
            read_only,
            "{what}"
        );
        let mem = guest_memory();
        let m = mock(&mem, 0);
        let mut qs = [device_queue(&m)];
        let mut a = Alloc::new();
        let src = [rd(a.put(&mem, &new), SECTOR)];
        let (write, write_st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_OUT, 2, &src);
        let dst = [wr(a.filled(&mem, SECTOR, 0xaa), SECTOR)];
        let (readback, read_st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_IN, 2, &dst);
        let (flush, flush_st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_FLUSH, 0, &[]);
        offer(&m, 0, &[&write, &readback, &flush]);
        assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
        assert_eq!(used(&m).len(), 3);
        assert_eq!(status(&mem, read_st), VIRTIO_BLK_S_OK, "{what}");
        assert_eq!(status(&mem, flush_st), VIRTIO_BLK_S_OK, "{what}");
        if read_only {
            assert_eq!(status(&mem, write_st), VIRTIO_BLK_S_IOERR);
            assert_eq!(read_bufs(&mem, &dst), &disk[2 * SECTOR..3 * SECTOR]);
        } else {
            // The guest sees its write; the file does not get it.
            assert_eq!(status(&mem, write_st), VIRTIO_BLK_S_OK);
            assert_eq!(read_bufs(&mem, &dst), new);
        }
        assert_eq!(std::fs::read(&path).unwrap(), disk, "{what}");
    }
    let _ = std::fs::remove_file(&path);
}

/// Patches the mock's indirect table of chain `head` (built by `add_indirect_chain`, linked with
/// NEXT) to describe `bufs`.
fn fill_indirect(mem: &Mem, m: &Mock, head: u16, bufs: &[Buf]) {
    let h = Descriptor::from(m.desc_table().load(head).unwrap());
    assert!(h.refers_to_indirect_table());
    assert_eq!(h.len() as usize, 16 * bufs.len());
    let table = DescriptorTable::new(mem, h.addr(), bufs.len() as u16);
    for (i, b) in bufs.iter().enumerate() {
        let mut d = Descriptor::from(table.load(i as u16).unwrap());
        assert_eq!(d.has_next(), i + 1 < bufs.len());
        d.set_addr(b.addr);
        d.set_len(b.len);
        d.set_flags(d.flags() | if b.write { WRITE } else { 0 });
        table.store(i as u16, RawDescriptor::from(d)).unwrap();
    }
}

#[test]
fn blk_indirect_chains() {
    let (path, mut disk) = image("blk-indirect", 32);
    let mut blk = Blk::open(&path, false, false).unwrap();
    let mem = guest_memory();
    let mut m = mock(&mem, 0);
    let mut qs = [device_queue(&m)];
    let mut a = Alloc::new();

    // A read of 4 sectors into 8 half-sector buffers, through an indirect table of 10.
    let data: Vec<Buf> = (0..8)
        .map(|_| wr(a.filled(&mem, SECTOR / 2, 0xaa), SECTOR / 2))
        .collect();
    let (chain, st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_IN, 5, &data);
    m.add_indirect_chain(chain.len() as u16).unwrap();
    fill_indirect(&mem, &m, 0, &chain);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m), vec![(0, 4 * SECTOR as u32 + 1)]);
    assert_eq!(status(&mem, st), VIRTIO_BLK_S_OK);
    assert_eq!(read_bufs(&mem, &data), &disk[5 * SECTOR..9 * SECTOR]);

    // A write of 3 sectors from 3 buffers, through a second indirect table (the head descriptor
    // is reused, as the driver got it back).
    let new: Vec<u8> = (0..3 * SECTOR).map(|i| (i % 251) as u8).collect();
    let data: Vec<Buf> = new
        .chunks(SECTOR)
        .map(|c| rd(a.put(&mem, c), c.len()))
        .collect();
    let (chain, st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_OUT, 20, &data);
    m.add_indirect_chain(chain.len() as u16).unwrap();
    fill_indirect(&mem, &m, 0, &chain);
    assert!(run(&mem, &mut blk, &mut qs, Some(0)).unwrap());
    assert_eq!(used(&m)[1], (0, 1));
    assert_eq!(status(&mem, st), VIRTIO_BLK_S_OK);
    disk[20 * SECTOR..23 * SECTOR].copy_from_slice(&new);
    assert_eq!(std::fs::read(&path).unwrap(), disk);
    let _ = std::fs::remove_file(&path);
}

// ---------------------------------------------------------------------------------------------
// virtio-net

const HDR: usize = std::mem::size_of::<virtio_net_hdr_v1>();
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn bit(b: u32) -> u64 {
    1 << b
}

/// A virtio_net_hdr_v1 (little-endian fields).
fn net_hdr(flags: u32, gso: u32, csum_start: u16, csum_offset: u16) -> Vec<u8> {
    let mut h = vec![0u8; HDR];
    h[0] = flags as u8;
    h[1] = gso as u8;
    h[6..8].copy_from_slice(&csum_start.to_le_bytes());
    h[8..10].copy_from_slice(&csum_offset.to_le_bytes());
    h
}

/// The Internet checksum's running sum of big-endian 16-bit words (an odd last byte padded).
fn sum16(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

fn fold16(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

const ETH: usize = 14;
const IP: usize = 20;

/// An Ethernet + IPv4 frame carrying `l4` (protocol `proto`), with a valid IP header checksum.
fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (IP + l4.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    ip.extend_from_slice(&[10, 0, 2, 15, 10, 0, 2, 2]);
    let c = !fold16(sum16(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// The sum of the TCP/UDP pseudo-header of an IPv4 frame.
fn pseudo_sum(frame: &[u8]) -> u64 {
    let ip = &frame[ETH..ETH + IP];
    let len = frame.len() - ETH - IP;
    sum16(&ip[12..20]) + u64::from(ip[9]) + len as u64
}

/// A UDP (17) or TCP (6) segment's frame with the checksum field holding the pseudo-header sum,
/// as a driver leaves it for the device with NEEDS_CSUM; and the offset of the checksum field
/// within the L4 header.
fn partial_csum_frame(proto: u8, payload: &[u8]) -> (Vec<u8>, u16) {
    let (mut l4, field) = if proto == 17 {
        let mut u = vec![0x13, 0x88, 0x00, 0x35];
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        (u, 6)
    } else {
        let mut t = vec![
            0x13, 0x88, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
        ];
        t.extend_from_slice(&[0, 0, 0, 0]);
        (t, 16)
    };
    l4.extend_from_slice(payload);
    let mut frame = ipv4_frame(proto, &l4);
    let ps = fold16(pseudo_sum(&frame));
    let at = ETH + IP + field;
    frame[at..at + 2].copy_from_slice(&ps.to_be_bytes());
    (frame, field as u16)
}

/// Checks a frame's TCP/UDP checksum from scratch: the sent frame equals `partial` except for
/// the checksum field, which holds the RFC 768/793 checksum.
fn check_l4_checksum(sent: &[u8], partial: &[u8], field: usize) {
    let at = ETH + IP + field;
    assert_eq!(sent.len(), partial.len());
    assert_eq!(sent[..at], partial[..at]);
    assert_eq!(sent[at + 2..], partial[at + 2..]);
    // A receiver's check: pseudo-header plus the whole segment sums to all ones.
    assert_eq!(fold16(pseudo_sum(sent) + sum16(&sent[ETH + IP..])), 0xffff);
    // And the value computed with the field zeroed.
    let mut zeroed = sent.to_vec();
    zeroed[at..at + 2].fill(0);
    let mut want = !fold16(pseudo_sum(&zeroed) + sum16(&zeroed[ETH + IP..]));
    if want == 0 && sent[ETH + 9] == 17 {
        want = 0xffff; // UDP sends a computed zero as all ones
    }
    assert_eq!(u16::from_be_bytes([sent[at], sent[at + 1]]), want);
}

struct NetRig {
    net: Net,
    to_guest: Sender<Vec<u8>>,
    from_guest: Receiver<Vec<u8>>,
}

fn net_rig(features: u64, capacity: usize) -> NetRig {
    let (to_backend, from_guest) = bounded(capacity);
    let (to_guest, from_backend) = bounded(capacity);
    let mut net = Net::new(MAC, to_backend, from_backend, true);
    assert_eq!(net.device_id(), 1);
    net.activate(features);
    NetRig {
        net,
        to_guest,
        from_guest,
    }
}

#[test]
fn net_tx_sends_frames_and_fills_checksums() {
    let mut rig = net_rig(
        bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_MAC),
        8,
    );
    let mem = guest_memory();
    let (rxm, txm) = (mock(&mem, 0), mock(&mem, 1));
    let mut qs = [device_queue(&rxm), device_queue(&txm)];
    let mut a = Alloc::new();

    // UDP with an odd payload, header and frame start sharing the first buffer.
    let payload: Vec<u8> = (0..37u8).map(|i| i.wrapping_mul(29)).collect();
    let (udp, udp_field) = partial_csum_frame(17, &payload);
    let mut first = net_hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, (ETH + IP) as u16, udp_field);
    first.extend_from_slice(&udp[..5]);
    let udp_chain = [
        rd(a.put(&mem, &first), first.len()),
        rd(a.put(&mem, &udp[5..]), udp.len() - 5),
    ];
    // TCP with an even payload, header in a buffer of its own.
    let payload: Vec<u8> = (0..100u8).map(|i| i ^ 0xa5).collect();
    let (tcp, tcp_field) = partial_csum_frame(6, &payload);
    let hdr = net_hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, (ETH + IP) as u16, tcp_field);
    let tcp_chain = [
        rd(a.put(&mem, &hdr), HDR),
        rd(a.put(&mem, &tcp[..40]), 40),
        rd(a.put(&mem, &tcp[40..]), tcp.len() - 40),
    ];
    // A frame without offloads goes out byte for byte.
    let plain = ipv4_frame(253, b"no checksum offload here");
    let mut buf = net_hdr(0, 0, 0, 0);
    buf.extend_from_slice(&plain);
    let plain_chain = [rd(a.put(&mem, &buf), buf.len())];
    // Segmentation offload was not negotiated: the frame is dropped, the buffer still used.
    let mut buf = net_hdr(0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 0);
    buf.extend_from_slice(&tcp);
    let gso_chain = [rd(a.put(&mem, &buf), buf.len())];

    let heads = offer(&txm, 0, &[&udp_chain, &tcp_chain, &plain_chain, &gso_chain]);
    assert!(run(&mem, &mut rig.net, &mut qs, Some(1)).unwrap());
    let u = used(&txm);
    assert_eq!(
        u,
        heads.iter().map(|&h| (u32::from(h), 0)).collect::<Vec<_>>()
    );
    assert!(used(&rxm).is_empty());

    let sent: Vec<Vec<u8>> = rig.from_guest.try_iter().collect();
    assert_eq!(sent.len(), 3);
    check_l4_checksum(&sent[0], &udp, usize::from(udp_field));
    check_l4_checksum(&sent[1], &tcp, usize::from(tcp_field));
    assert_eq!(sent[2], plain);
    assert_eq!((rig.net.stats.tx_frames, rig.net.stats.tx_dropped), (3, 1));
}

#[test]
fn net_tx_waits_for_a_full_backend_without_dropping() {
    let mut rig = net_rig(bit(VIRTIO_F_VERSION_1), 1);
    let mem = guest_memory();
    let (rxm, txm) = (mock(&mem, 0), mock(&mem, 1));
    let mut qs = [device_queue(&rxm), device_queue(&txm)];
    let mut a = Alloc::new();
    let frames: Vec<Vec<u8>> = (0..4u8).map(|i| ipv4_frame(253, &[i; 30])).collect();
    let chains: Vec<Vec<Buf>> = frames
        .iter()
        .map(|f| {
            let mut b = net_hdr(0, 0, 0, 0);
            b.extend_from_slice(f);
            vec![rd(a.put(&mem, &b), b.len())]
        })
        .collect();
    let refs: Vec<&[Buf]> = chains.iter().map(|c| c.as_slice()).collect();
    offer(&txm, 0, &refs);
    let mut got = Vec::new();
    for _ in 0..8 {
        run(&mem, &mut rig.net, &mut qs, Some(1)).unwrap();
        got.extend(rig.from_guest.try_iter());
    }
    assert_eq!(got, frames);
    assert_eq!(used(&txm).len(), 4);
    assert_eq!((rig.net.stats.tx_frames, rig.net.stats.tx_dropped), (4, 0));
}

/// The receive buffers of the used ring entries `range`, as the driver reads them: the header
/// of the first and the frame bytes of all.
fn rx_frame(mem: &Mem, m: &Mock, bufs: &[Vec<Buf>], entries: std::ops::Range<usize>) -> Vec<u8> {
    let u = used(m);
    let mut bytes = Vec::new();
    for (id, len) in &u[entries] {
        let all = read_bufs(mem, &bufs[*id as usize]);
        bytes.extend_from_slice(&all[..*len as usize]);
    }
    bytes
}

/// Offers single-descriptor receive buffers of the given sizes at table index `first` on;
/// `bufs` is indexed by descriptor (head) index.
fn offer_rx(mem: &Mem, m: &Mock, a: &mut Alloc, bufs: &mut Vec<Vec<Buf>>, sizes: &[usize]) {
    let first = bufs.len() as u16;
    let new: Vec<Vec<Buf>> = sizes
        .iter()
        .map(|&n| vec![wr(a.filled(mem, n, 0xaa), n)])
        .collect();
    let refs: Vec<&[Buf]> = new.iter().map(|c| c.as_slice()).collect();
    offer(m, first, &refs);
    bufs.extend(new);
}

fn num_buffers(hdr: &[u8]) -> u16 {
    u16::from_le_bytes([hdr[10], hdr[11]])
}

#[test]
fn net_rx_merges_small_buffers() {
    let features = bit(VIRTIO_F_VERSION_1)
        | bit(VIRTIO_NET_F_MRG_RXBUF)
        | bit(VIRTIO_NET_F_GUEST_CSUM)
        | bit(VIRTIO_NET_F_MAC);
    let mut rig = net_rig(features, 8);
    let mem = guest_memory();
    let (rxm, txm) = (mock(&mem, 0), mock(&mem, 1));
    let mut qs = [device_queue(&rxm), device_queue(&txm)];
    let mut a = Alloc::new();

    // Three single buffers and one of two descriptors (100 + 156), 256 bytes each.
    let mut bufs: Vec<Vec<Buf>> = Vec::new();
    offer_rx(&mem, &rxm, &mut a, &mut bufs, &[256, 256]);
    let split = vec![
        wr(a.filled(&mem, 100, 0xaa), 100),
        wr(a.filled(&mem, 156, 0xaa), 156),
    ];
    offer(&rxm, 2, &[&split]);
    bufs.push(split);
    bufs.push(vec![]); // descriptor 3 is the split chain's second
    let last = [wr(a.filled(&mem, 256, 0xaa), 256)];
    offer(&rxm, 4, &[&last]);
    bufs.push(last.to_vec());

    // 600 bytes + the header need three of them.
    let big: Vec<u8> = (0..600u32).map(|i| (i * 13 % 256) as u8).collect();
    rig.to_guest.send(big.clone()).unwrap();
    assert!(run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert_eq!(used(&rxm), vec![(0, 256), (1, 256), (2, 612 - 512)]);
    let got = rx_frame(&mem, &rxm, &bufs, 0..3);
    assert_eq!(got[0], VIRTIO_NET_HDR_F_DATA_VALID as u8);
    assert_eq!(got[1], VIRTIO_NET_HDR_GSO_NONE as u8);
    assert_eq!(num_buffers(&got), 3);
    assert_eq!(got[HDR..], big);

    // A small frame fits the last buffer.
    let small = ipv4_frame(253, &[7; 46]);
    rig.to_guest.send(small.clone()).unwrap();
    assert!(run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert_eq!(used(&rxm)[3], (4, (HDR + small.len()) as u32));
    let got = rx_frame(&mem, &rxm, &bufs, 3..4);
    assert_eq!(num_buffers(&got), 1);
    assert_eq!(got[HDR..], small);
    assert_eq!((rig.net.stats.rx_frames, rig.net.stats.rx_dropped), (2, 0));
    assert!(used(&txm).is_empty());
}

#[test]
fn net_rx_keeps_frames_until_buffers_arrive() {
    let features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF);
    let mut rig = net_rig(features, 8);
    let mem = guest_memory();
    let (rxm, txm) = (mock(&mem, 0), mock(&mem, 1));
    let mut qs = [device_queue(&rxm), device_queue(&txm)];
    let mut a = Alloc::new();
    let mut bufs: Vec<Vec<Buf>> = Vec::new();

    let big: Vec<u8> = (0..600u32).map(|i| (i * 7 % 256) as u8).collect();
    let small = ipv4_frame(253, &[9; 46]);
    rig.to_guest.send(big.clone()).unwrap();
    rig.to_guest.send(small.clone()).unwrap();

    // No buffers at all: nothing happens, nothing is lost.
    assert!(!run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert!(used(&rxm).is_empty());
    // One buffer is not enough for the big frame, and the small one must not overtake it.
    offer_rx(&mem, &rxm, &mut a, &mut bufs, &[256]);
    assert!(!run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert!(used(&rxm).is_empty());
    assert_eq!(rig.net.stats.rx_dropped, 0);
    // Enough buffers: both arrive, in order.
    offer_rx(&mem, &rxm, &mut a, &mut bufs, &[256, 256, 256]);
    assert!(run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert_eq!(
        used(&rxm),
        vec![
            (0, 256),
            (1, 256),
            (2, 100),
            (3, (HDR + small.len()) as u32)
        ]
    );
    let got = rx_frame(&mem, &rxm, &bufs, 0..3);
    assert_eq!((got[0], num_buffers(&got)), (0, 3));
    assert_eq!(got[HDR..], big);
    let got = rx_frame(&mem, &rxm, &bufs, 3..4);
    assert_eq!(num_buffers(&got), 1);
    assert_eq!(got[HDR..], small);
    assert_eq!((rig.net.stats.rx_frames, rig.net.stats.rx_dropped), (2, 0));

    // Without MRG_RXBUF a frame waits for one buffer that holds it whole.
    let mut rig = net_rig(bit(VIRTIO_F_VERSION_1), 8);
    let mem = guest_memory();
    let (rxm, txm) = (mock(&mem, 0), mock(&mem, 1));
    let mut qs = [device_queue(&rxm), device_queue(&txm)];
    let mut a = Alloc::new();
    let mut bufs: Vec<Vec<Buf>> = Vec::new();
    rig.to_guest.send(big.clone()).unwrap();
    assert!(!run(&mem, &mut rig.net, &mut qs, None).unwrap());
    offer_rx(&mem, &rxm, &mut a, &mut bufs, &[1526]);
    assert!(run(&mem, &mut rig.net, &mut qs, None).unwrap());
    assert_eq!(used(&rxm), vec![(0, (HDR + big.len()) as u32)]);
    let got = rx_frame(&mem, &rxm, &bufs, 0..1);
    assert_eq!(num_buffers(&got), 1);
    assert_eq!(got[HDR..], big);
}

// ---------------------------------------------------------------------------------------------
// virtio-rng

#[test]
fn rng_fills_buffers() {
    let mem = guest_memory();
    let m = mock(&mem, 0);
    let mut qs = [device_queue(&m)];
    let mut a = Alloc::new();
    let one = [wr(a.filled(&mem, 64, 0), 64)];
    let two = [wr(a.filled(&mem, 16, 0), 16), wr(a.filled(&mem, 48, 0), 48)];
    let heads = offer(&m, 0, &[&one, &two]);
    let mut rng = Rng;
    assert!(run(&mem, &mut rng, &mut qs, Some(0)).unwrap());
    assert_eq!(
        used(&m),
        vec![(u32::from(heads[0]), 64), (u32::from(heads[1]), 64)]
    );
    let (x, y) = (read_bufs(&mem, &one), read_bufs(&mem, &two));
    // 64 random bytes are all zero, or equal to another 64, with probability 2^-512.
    assert!(x.iter().any(|&b| b != 0));
    assert!(y[..16].iter().any(|&b| b != 0) && y[16..].iter().any(|&b| b != 0));
    assert_ne!(x, y);
}

// ---------------------------------------------------------------------------------------------
// Hostile drivers

/// A device under attack and the queue its bad chains go to.
enum Target {
    Blk,
    NetTx,
    NetRx,
    Rng,
}

/// Ways a driver can get a chain wrong, built with the mock.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// The mock's default chain: buffers at 0x1000, far below RAM.
    OutsideRam,
    /// A buffer running past the end of RAM.
    PastTheEnd,
    /// Descriptor 1 leads back to 0.
    Loop,
    /// An indirect table whose buffers lie outside RAM.
    IndirectOutsideRam,
    /// An indirect table whose last descriptor leads back to the first.
    IndirectLoop,
    /// An indirect descriptor on a queue that did not negotiate them.
    IndirectNotNegotiated,
    /// An available ring entry naming a descriptor beyond the table.
    HeadOutOfRange,
    /// An available index further ahead than the ring is long.
    AvailIndexAhead,
}

fn attack(mem: &Mem, m: &mut Mock, q: &mut Queue, how: Attack) {
    let mut a = Alloc::new();
    let good = |a: &mut Alloc| wr(a.filled(mem, 64, 0), 64);
    match how {
        Attack::OutsideRam => m.add_chain(2).unwrap(),
        Attack::PastTheEnd => {
            let end = BASE + RAM_SIZE as u64;
            offer(m, 0, &[&[good(&mut a), wr(end - 8, 16)]]);
        }
        Attack::Loop => {
            let (b0, b1) = (good(&mut a), good(&mut a));
            let descs = [
                Descriptor::new(b0.addr, b0.len, WRITE | NEXT, 1),
                Descriptor::new(b1.addr, b1.len, WRITE | NEXT, 0),
            ];
            m.add_desc_chains(&descs.map(RawDescriptor::from), 0)
                .unwrap();
        }
        Attack::IndirectOutsideRam => m.add_indirect_chain(3).unwrap(),
        Attack::IndirectLoop | Attack::IndirectNotNegotiated => {
            m.add_indirect_chain(2).unwrap();
            let bufs = [good(&mut a), good(&mut a)];
            fill_indirect(mem, m, 0, &bufs);
            if let Attack::IndirectLoop = how {
                let h = Descriptor::from(m.desc_table().load(0).unwrap());
                let table = DescriptorTable::new(mem, h.addr(), 2);
                let mut d = Descriptor::from(table.load(1).unwrap());
                d.set_flags(d.flags() | NEXT);
                d.set_next(0);
                table.store(1, RawDescriptor::from(d)).unwrap();
            } else {
                q.indirect = false;
            }
        }
        Attack::HeadOutOfRange => {
            m.avail().ring().ref_at(0).unwrap().store(QSIZE + 3);
            m.avail().idx().store(1);
        }
        Attack::AvailIndexAhead => m.avail().idx().store(QSIZE + 1),
    }
}

#[test]
fn hostile_chains_are_errors_not_panics() {
    let (path, _) = image("blk-hostile", 8);
    let attacks = [
        Attack::OutsideRam,
        Attack::PastTheEnd,
        Attack::Loop,
        Attack::IndirectOutsideRam,
        Attack::IndirectLoop,
        Attack::IndirectNotNegotiated,
        Attack::HeadOutOfRange,
        Attack::AvailIndexAhead,
    ];
    for target in [Target::Blk, Target::NetTx, Target::NetRx, Target::Rng] {
        for how in attacks {
            let mem = guest_memory();
            let (mut rxm, mut txm) = (mock(&mem, 0), mock(&mem, 1));
            let mut qs = [device_queue(&rxm), device_queue(&txm)];
            let mut rig = net_rig(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF), 8);
            let mut blk = Blk::open(&path, false, false).unwrap();
            let mut rng = Rng;
            let (dev, m, qi, name): (&mut dyn VirtioDevice, _, _, _) = match target {
                Target::Blk => (&mut blk, &mut rxm, 0, "blk"),
                Target::Rng => (&mut rng, &mut rxm, 0, "rng"),
                Target::NetTx => (&mut rig.net, &mut txm, 1, "net tx"),
                Target::NetRx => {
                    rig.to_guest.send(vec![0x42; 100]).unwrap();
                    (&mut rig.net, &mut rxm, 0, "net rx")
                }
            };
            attack(&mem, m, &mut qs[qi], how);
            let queues = if name.starts_with("net") {
                &mut qs[..]
            } else {
                &mut qs[..1]
            };
            let r = run(&mem, dev, queues, Some(qi));
            let ok = match (how, &r) {
                (
                    Attack::OutsideRam | Attack::IndirectOutsideRam,
                    Err(QueueError::BadAddress(0x1000)),
                ) => true,
                (Attack::PastTheEnd, Err(QueueError::BadAddress(a))) => {
                    *a == BASE + RAM_SIZE as u64 - 8
                }
                (Attack::AvailIndexAhead, Err(QueueError::BadAvailIndex)) => true,
                (
                    Attack::Loop
                    | Attack::IndirectLoop
                    | Attack::IndirectNotNegotiated
                    | Attack::HeadOutOfRange,
                    Err(QueueError::BadChain(_)),
                ) => true,
                _ => false,
            };
            assert!(ok, "{name}, {how:?}: {r:?}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

// ---------------------------------------------------------------------------------------------
// Through the MMIO transport

fn reg_write(t: &mut MmioTransport, reg: u32, v: u32) {
    t.write(u64::from(reg), 4, u64::from(v));
}

fn reg_read(t: &mut MmioTransport, reg: u32) -> u32 {
    t.read(u64::from(reg), 4) as u32
}

#[test]
fn mmio_transport_negotiates_serves_and_fails_safely() {
    let (path, disk) = image("blk-mmio", 16);
    let mut t = MmioTransport::new(Box::new(Blk::open(&path, false, false).unwrap()));
    let mem = guest_memory();
    let mut m = mock(&mem, 0);
    let mut a = Alloc::new();

    assert_eq!(reg_read(&mut t, VIRTIO_MMIO_MAGIC_VALUE), 0x7472_6976);
    assert_eq!(reg_read(&mut t, VIRTIO_MMIO_VERSION), 2);
    assert_eq!(reg_read(&mut t, VIRTIO_MMIO_DEVICE_ID), 2);
    let s_ack = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    reg_write(&mut t, VIRTIO_MMIO_STATUS, 0);
    reg_write(&mut t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    reg_write(&mut t, VIRTIO_MMIO_STATUS, s_ack);
    let mut offered = 0u64;
    for sel in 0..2 {
        reg_write(&mut t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
        offered |= u64::from(reg_read(&mut t, VIRTIO_MMIO_DEVICE_FEATURES)) << (32 * sel);
    }
    let want = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_BLK_F_FLUSH);
    assert_eq!(offered & want, want);
    for sel in 0..2 {
        reg_write(&mut t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
        reg_write(
            &mut t,
            VIRTIO_MMIO_DRIVER_FEATURES,
            (want >> (32 * sel)) as u32,
        );
    }
    reg_write(
        &mut t,
        VIRTIO_MMIO_STATUS,
        s_ack | VIRTIO_CONFIG_S_FEATURES_OK,
    );
    assert_ne!(
        reg_read(&mut t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK,
        0
    );
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert!(reg_read(&mut t, VIRTIO_MMIO_QUEUE_NUM_MAX) >= u32::from(QSIZE));
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_NUM, u32::from(QSIZE));
    for (lo, addr) in [
        (VIRTIO_MMIO_QUEUE_DESC_LOW, m.desc_table_addr().0),
        (VIRTIO_MMIO_QUEUE_AVAIL_LOW, m.avail_addr().0),
        (VIRTIO_MMIO_QUEUE_USED_LOW, m.used_addr().0),
    ] {
        reg_write(&mut t, lo, addr as u32);
        reg_write(&mut t, lo + 4, (addr >> 32) as u32);
    }
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_READY, 1);
    reg_write(
        &mut t,
        VIRTIO_MMIO_STATUS,
        s_ack | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK,
    );

    // An indirect read of two sectors, kicked.
    let data = [wr(a.filled(&mem, 2 * SECTOR, 0xaa), 2 * SECTOR)];
    let (chain, st) = blk_req(&mem, &mut a, VIRTIO_BLK_T_IN, 4, &data);
    m.add_indirect_chain(chain.len() as u16).unwrap();
    fill_indirect(&mem, &m, 0, &chain);
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    with_ram(&mem, |ram| t.process(ram));
    assert!(t.irq());
    assert_eq!(
        reg_read(&mut t, VIRTIO_MMIO_INTERRUPT_STATUS),
        VIRTIO_MMIO_INT_VRING
    );
    reg_write(&mut t, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert!(!t.irq());
    assert_eq!(used(&m), vec![(0, 2 * SECTOR as u32 + 1)]);
    assert_eq!(status(&mem, st), VIRTIO_BLK_S_OK);
    assert_eq!(read_bufs(&mem, &data), &disk[4 * SECTOR..6 * SECTOR]);

    // A bad chain: the device stops and asks for a reset, without touching the used ring.
    m.add_chain(1).unwrap();
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    with_ram(&mem, |ram| t.process(ram));
    assert_ne!(
        reg_read(&mut t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET,
        0
    );
    assert_eq!(
        reg_read(&mut t, VIRTIO_MMIO_INTERRUPT_STATUS),
        VIRTIO_MMIO_INT_CONFIG
    );
    assert!(t.failure.is_some());
    assert_eq!(used(&m).len(), 1);
    // Further kicks do nothing until the driver resets the device.
    reg_write(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    with_ram(&mem, |ram| t.process(ram));
    assert_eq!(used(&m).len(), 1);
    reg_write(&mut t, VIRTIO_MMIO_STATUS, 0);
    assert_eq!(reg_read(&mut t, VIRTIO_MMIO_STATUS), 0);
    assert_eq!(reg_read(&mut t, VIRTIO_MMIO_QUEUE_READY), 0);
    assert!(!t.irq());
    let _ = std::fs::remove_file(&path);
}
