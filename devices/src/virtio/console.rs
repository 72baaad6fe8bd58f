//! virtio-console with one port, offered with MULTIPORT so that the guest tells the device when
//! the port is open: Linux fills a port's receive queue before it marks the port connected and
//! throws away whatever arrives in between, so input for the guest is held until the driver's
//! PORT_OPEN. The port is announced as a console port (an hvc tty in the guest). Bytes the guest
//! writes go out on a channel; bytes for the guest come in on another and wait, bounded, until
//! the port is open and the driver offers receive buffers — nothing is dropped. A driver that
//! does not accept MULTIPORT gets the plain single-port device. A *named* port is announced as a
//! generic port instead (no tty: /dev/vportNpM in Linux, its name in
//! /sys/class/virtio-ports/*/name), a binary-clean channel for agents such as `petrel run`'s.

use super::*;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::collections::VecDeque;

const RX: usize = 0;
const TX: usize = 1;
const CTRL_RX: usize = 2;
const CTRL_TX: usize = 3;
pub const F_MULTIPORT: u64 = 1 << 1;
/// Input held while the guest takes none; beyond it the channel back-pressures.
const PENDING_MAX: usize = 64 << 10;

const DEVICE_READY: u16 = 0;
const DEVICE_ADD: u16 = 1;
const PORT_READY: u16 = 3;
const CONSOLE_PORT: u16 = 4;
const PORT_OPEN: u16 = 6;
const PORT_NAME: u16 = 7;

pub struct Console {
    out: Sender<Vec<u8>>,
    input: Receiver<u8>,
    pending: VecDeque<u8>,
    multiport: bool,
    /// The guest opened the port (always so without MULTIPORT: there is no way to know).
    guest_open: bool,
    /// Control messages for the driver, encoded.
    control_out: VecDeque<Vec<u8>>,
    /// A generic port's name; None for the console port.
    name: Option<String>,
}

fn control_msg(id: u32, event: u16, value: u16, extra: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + extra.len());
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&event.to_le_bytes());
    m.extend_from_slice(&value.to_le_bytes());
    m.extend_from_slice(extra);
    m
}

impl Console {
    pub fn new(out: Sender<Vec<u8>>, input: Receiver<u8>) -> Self {
        Console {
            out,
            input,
            pending: VecDeque::new(),
            multiport: false,
            guest_open: false,
            control_out: VecDeque::new(),
            name: None,
        }
    }

    /// A generic port called `name` (needs a MULTIPORT driver to be seen by that name).
    pub fn named(out: Sender<Vec<u8>>, input: Receiver<u8>, name: &str) -> Self {
        Console {
            name: Some(name.to_string()),
            ..Console::new(out, input)
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

    fn control(&mut self, queues: &mut [Queue], ram: &mut Ram) -> Result<bool, QueueError> {
        let mut msgs = Vec::new();
        let mut used = queues[CTRL_TX].serve(ram, |chain, ram| {
            let m = chain.read_all(ram, 8)?;
            if m.len() == 8 {
                let id = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
                msgs.push((
                    id,
                    u16::from_le_bytes([m[4], m[5]]),
                    u16::from_le_bytes([m[6], m[7]]),
                ));
            }
            Ok(0)
        })?;
        for (id, event, value) in msgs {
            match (event, id) {
                (DEVICE_READY, _) if value == 1 => {
                    self.control_out
                        .push_back(control_msg(0, DEVICE_ADD, 1, &[]))
                }
                (PORT_READY, 0) if value == 1 => {
                    match &self.name {
                        None => self
                            .control_out
                            .push_back(control_msg(0, CONSOLE_PORT, 1, &[])),
                        Some(n) => {
                            let m = control_msg(0, PORT_NAME, 1, n.as_bytes());
                            self.control_out.push_back(m);
                        }
                    }
                    // The host end is always connected.
                    self.control_out
                        .push_back(control_msg(0, PORT_OPEN, 1, &[]));
                }
                (PORT_OPEN, 0) => self.guest_open = value == 1,
                // Failed readiness, resizes, names: nothing for the device to do.
                _ => {}
            }
        }
        while let Some(m) = self.control_out.front() {
            let Some(chain) = queues[CTRL_RX].pop(ram)? else {
                break;
            };
            let n = chain.write_all(ram, m)?;
            queues[CTRL_RX].push_used(ram, chain.head, n as u32)?;
            self.control_out.pop_front();
            used = true;
        }
        Ok(used)
    }
}

impl VirtioDevice for Console {
    fn device_id(&self) -> u32 {
        ID_CONSOLE
    }
    fn features(&self) -> u64 {
        F_MULTIPORT
    }
    fn num_queues(&self) -> usize {
        4
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // cols, rows, max_nr_ports = 1, emerg_wr.
        let mut cfg = [0u8; 12];
        cfg[4..8].copy_from_slice(&1u32.to_le_bytes());
        read_config_bytes(&cfg, offset, data);
    }
    fn activate(&mut self, features: u64) {
        self.multiport = features & F_MULTIPORT != 0;
        self.guest_open = !self.multiport;
    }
    fn reset(&mut self) {
        self.multiport = false;
        self.guest_open = false;
        self.control_out.clear();
    }

    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        let mut used = if self.multiport {
            self.control(queues, ram)?
        } else {
            false
        };
        let out = &self.out;
        used |= queues[TX].serve(ram, |chain, ram| {
            let data = chain.read_all(ram, chain.readable_len().min(1 << 20) as usize)?;
            // A host side that went away is like an unplugged cable: the guest is not told.
            let _ = out.send(data);
            Ok(0)
        })?;
        self.pull_input();
        while self.guest_open && !self.pending.is_empty() {
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
