//! The decoded-block cache and the run loop. Code is decoded (by iced-x86) once into blocks of
//! instructions paired with their handlers; blocks are found by linear address and mode, and
//! dropped when their RAM page is written (the TLB never holds a write mapping for a page that
//! has decoded code, so every such write takes the slow path that notices).

use super::cpu::{Cpu, Exc, R};
use iced_x86::{Code, Decoder, DecoderOptions, FlowControl, Instruction};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

pub type Handler = fn(&mut Cpu, &Instruction) -> R<()>;

#[derive(Clone, Copy)]
pub struct DecodedInsn {
    pub ins: Instruction,
    pub handler: Handler,
}

struct Block {
    la: u64,
    ip: u64,
    pa: u64,
    bitness: u32,
    insns: Rc<[DecodedInsn]>,
}

const TABLE: usize = 1 << 14;
const MAX_BLOCK: usize = 64;
/// Past this many live blocks the cache starts over.
const MAX_BLOCKS: usize = 1 << 16;
const NONE: u32 = u32::MAX;

pub struct BlockCache {
    blocks: Vec<Option<Block>>,
    free: Vec<u32>,
    table: Vec<u32>,
    /// RAM page index → blocks decoded from it.
    by_page: HashMap<usize, Vec<u32>>,
    /// One bit per RAM page: does it hold decoded code?
    code: Vec<u64>,
}

impl BlockCache {
    pub fn new(ram_pages: u64) -> Self {
        BlockCache {
            blocks: Vec::new(),
            free: Vec::new(),
            table: vec![NONE; TABLE],
            by_page: HashMap::new(),
            code: vec![0; (ram_pages as usize).div_ceil(64).max(1)],
        }
    }

    /// Does the RAM page at offset `off` hold decoded code?
    #[inline(always)]
    pub fn is_code(&self, off: usize) -> bool {
        let p = off >> 12;
        self.code
            .get(p / 64)
            .is_some_and(|w| w & (1 << (p % 64)) != 0)
    }

    pub fn invalidate_page(&mut self, off: usize) {
        let p = off >> 12;
        if let Some(w) = self.code.get_mut(p / 64) {
            *w &= !(1 << (p % 64));
        }
        if let Some(list) = self.by_page.remove(&p) {
            for id in list {
                if let Some(b) = self.blocks[id as usize].take() {
                    let slot = slot_of(b.la, b.bitness);
                    if self.table[slot] == id {
                        self.table[slot] = NONE;
                    }
                    self.free.push(id);
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.free.clear();
        self.table.fill(NONE);
        self.by_page.clear();
        self.code.fill(0);
    }
}

#[inline(always)]
fn slot_of(la: u64, bitness: u32) -> usize {
    ((la ^ (la >> 14) ^ u64::from(bitness)) as usize) & (TABLE - 1)
}

fn handler_table() -> &'static [Handler] {
    static T: OnceLock<Vec<Handler>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Vec<Handler> = vec![undefined as Handler; Code::values().len()];
        for code in Code::values() {
            // System first: MOV/PUSH/POP with segment, control and debug registers share
            // mnemonics with integer instructions.
            let h = super::system::handler(code)
                .or_else(|| super::int::handler(code))
                .or_else(|| super::x87::handler(code))
                .or_else(|| super::sse::handler(code));
            if let Some(h) = h {
                t[code as usize] = h;
            }
        }
        t
    })
}

/// Instructions petrel does not implement (or that do not exist) raise #UD.
fn undefined(_: &mut Cpu, _: &Instruction) -> R<()> {
    Err(Exc::ud())
}

/// Whether petrel implements `code` (for tests that enumerate instructions).
pub fn implemented(code: Code) -> bool {
    handler_table()[code as usize] as usize != undefined as Handler as usize
}

impl Cpu {
    /// Decodes a block at the current CS:RIP. Faults on the first instruction are returned;
    /// later ones end the block early (they fault when reached).
    fn decode_block(&mut self, la: u64) -> R<(Rc<[DecodedInsn]>, u64, bool)> {
        let table = handler_table();
        let mut out: Vec<DecodedInsn> = Vec::with_capacity(16);
        // No block needs more bytes than MAX_BLOCK maximal instructions; copying the rest of
        // the page would be wasted work on every miss.
        const WANT: usize = MAX_BLOCK * 15;
        let mut buf = [0u8; WANT + 15];
        let page_rest = 4096 - (la & 0xfff) as usize;
        let (n, pa) = self.fetch_page_bytes(la, &mut buf[..WANT])?;
        let at_page_end = n == page_rest;
        let mut avail = n;
        let mut off = 0usize;
        let mut ip = self.rip;
        let mut cacheable = true;
        loop {
            let mut dec =
                Decoder::with_ip(self.bitness, &buf[off..avail], ip, DecoderOptions::NONE);
            let mut ins = Instruction::default();
            dec.decode_out(&mut ins);
            if ins.is_invalid() {
                if dec.last_error() == iced_x86::DecoderError::NoMoreBytes && avail == n {
                    if !out.is_empty() || !at_page_end {
                        break;
                    }
                    // The instruction continues on the next page: fetch it (this may fault)
                    // and do not cache what is decoded from two pages.
                    let next = (la & !0xfff).wrapping_add(4096);
                    let next = if self.bitness == 64 {
                        next
                    } else {
                        next & 0xffff_ffff
                    };
                    let mut more = [0u8; 15];
                    let (m, _) = self.fetch_page_bytes(next, &mut more)?;
                    buf[avail..avail + m.min(15)].copy_from_slice(&more[..m.min(15)]);
                    avail += m.min(15);
                    cacheable = false;
                    continue;
                }
                if out.is_empty() {
                    // Too long (> 15 bytes) → #GP, otherwise #UD.
                    if dec.last_error() == iced_x86::DecoderError::NoMoreBytes {
                        return Err(Exc::gp0());
                    }
                    out.push(DecodedInsn {
                        ins,
                        handler: undefined,
                    });
                }
                break;
            }
            let len = ins.len();
            out.push(DecodedInsn {
                ins,
                handler: table[ins.code() as usize],
            });
            off += len;
            ip = ip.wrapping_add(len as u64);
            if !cacheable
                || ins.flow_control() != FlowControl::Next
                || out.len() >= MAX_BLOCK
                || off >= n
            {
                break;
            }
        }
        Ok((out.into(), pa, cacheable))
    }

    /// The block at CS:RIP, from the cache or freshly decoded.
    #[inline]
    fn block(&mut self) -> R<Rc<[DecodedInsn]>> {
        let la = if self.long64() {
            self.rip
        } else {
            self.seg[super::cpu::CS].base.wrapping_add(self.rip) & 0xffff_ffff
        };
        let user = self.cpl == 3;
        let slot = slot_of(la, self.bitness);
        let id = self.blocks.table[slot];
        if id != NONE {
            if let Some(b) = &self.blocks.blocks[id as usize] {
                if b.la == la && b.ip == self.rip && b.bitness == self.bitness {
                    // The page's mapping may have changed since: compare physical addresses.
                    let pa = match self.tlb.lookup(la, 1, super::cpu::Acc::Fetch, user) {
                        Some(off) => Some(off as u64 + self.bus.ram.base),
                        None => None,
                    };
                    if pa == Some(b.pa) {
                        return Ok(b.insns.clone());
                    }
                }
            }
        }
        self.block_miss(la, slot)
    }

    #[inline(never)]
    fn block_miss(&mut self, la: u64, slot: usize) -> R<Rc<[DecodedInsn]>> {
        let (insns, pa, cacheable) = self.decode_block(la)?;
        let Some(ram_off) = self.bus.ram.offset(pa, 1) else {
            return Ok(insns);
        };
        if !cacheable {
            return Ok(insns);
        }
        let c = &mut self.blocks;
        if c.blocks.len() - c.free.len() >= MAX_BLOCKS {
            c.clear();
        }
        let id = match c.free.pop() {
            Some(id) => id,
            None => {
                c.blocks.push(None);
                (c.blocks.len() - 1) as u32
            }
        };
        // A block this replaces in the table stays registered with its page until that page
        // is invalidated; it is simply no longer found.
        c.blocks[id as usize] = Some(Block {
            la,
            ip: self.rip,
            pa,
            bitness: self.bitness,
            insns: insns.clone(),
        });
        c.table[slot] = id;
        let page = ram_off >> 12;
        c.by_page.entry(page).or_default().push(id);
        if let Some(w) = c.code.get_mut(page / 64) {
            if *w & (1 << (page % 64)) == 0 {
                *w |= 1 << (page % 64);
                self.tlb.drop_writes_to(page << 12);
            }
        }
        Ok(insns)
    }

    /// Runs up to `budget` instructions (faulting ones count). Returns early when the CPU
    /// halts, shuts down or a device asks the machine to stop.
    pub fn run(&mut self, budget: u64) -> u64 {
        let start = self.insns;
        let end = start.saturating_add(budget);
        while self.insns < end {
            if self.shutdown || self.stopped || self.bus.event.is_some() {
                break;
            }
            let shadow = std::mem::take(&mut self.irq_shadow);
            if !shadow && self.iflag() {
                if let Some(v) = self.irq_vector.take() {
                    self.halted = false;
                    self.next_rip = self.rip;
                    self.deliver(v, None, super::system::IntKind::External);
                    continue;
                }
            }
            if self.halted {
                break;
            }
            let blk = match self.block() {
                Ok(b) => b,
                Err(e) => {
                    self.insns += 1;
                    self.raise(e);
                    continue;
                }
            };
            self.block_exit = false;
            let limit = if shadow {
                1
            } else {
                (end - self.insns) as usize
            };
            let mask = match self.bitness {
                64 => u64::MAX,
                32 => 0xffff_ffff,
                _ => 0xffff,
            };
            for d in blk.iter().take(limit.max(1)) {
                let fall = self.rip.wrapping_add(d.ins.len() as u64) & mask;
                self.next_rip = fall;
                self.insns += 1;
                match (d.handler)(self, &d.ins) {
                    Ok(()) => {
                        self.rip = self.next_rip;
                        if self.block_exit || self.rip != fall {
                            break;
                        }
                    }
                    Err(e) => {
                        self.raise(e);
                        break;
                    }
                }
                if self.stopped {
                    break;
                }
            }
        }
        self.insns - start
    }

    /// Delivers an exception raised by the instruction at `rip` (faults restart it).
    pub fn raise(&mut self, e: Exc) {
        self.next_rip = self.rip;
        self.deliver(e.vector, e.error, super::system::IntKind::Exception);
    }
}
