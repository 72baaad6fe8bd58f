//! virtio-console with one port (no multiport): a byte channel between the guest (/dev/hvcN)
//! and the host. Bytes the guest writes go out on a channel; bytes for the guest come in on
//! another and wait, bounded, until the driver offers receive buffers — nothing is dropped.

use super::*;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::collections::VecDeque;

const RX: usize = 0;
const TX: usize = 1;
/// Input held while the guest offers no receive buffer; beyond it the channel back-pressures.
const PENDING_MAX: usize = 64 << 10;

pub struct Console {
    out: Sender<Vec<u8>>,
    input: Receiver<u8>,
    pending: VecDeque<u8>,
}

impl Console {
    pub fn new(out: Sender<Vec<u8>>, input: Receiver<u8>) -> Self {
        Console {
            out,
            input,
            pending: VecDeque::new(),
        }
    }

    fn pull_input(&mut self) {
        while self.pending.len() < PENDING_MAX {
            match self.input.try_recv() {
                Ok(b) => self.pending.push_back(b),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
    }
}

impl VirtioDevice for Console {
    fn device_id(&self) -> u32 {
        ID_CONSOLE
    }
    fn features(&self) -> u64 {
        0
    }
    fn num_queues(&self) -> usize {
        2
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&[0u8; 12], offset, data);
    }
    fn reset(&mut self) {
        self.pending.clear();
    }

    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        let out = &self.out;
        let mut used = queues[TX].serve(ram, |chain, ram| {
            let data = chain.read_all(ram, chain.readable_len().min(1 << 20) as usize)?;
            // A host side that went away is like an unplugged cable: the guest is not told.
            let _ = out.send(data);
            Ok(0)
        })?;
        self.pull_input();
        while !self.pending.is_empty() {
            let Some(chain) = queues[RX].pop(ram)? else {
                break;
            };
            let n = (chain.writable_len() as usize).min(self.pending.len());
            let bytes: Vec<u8> = self.pending.drain(..n).collect();
            let written = chain.write_all(ram, &bytes)?;
            queues[RX].push_used(ram, chain.head, written as u32)?;
            used = true;
        }
        Ok(used)
    }
}
