//! virtio-mmio (version 2, "modern") transport: the register file, the device-status state
//! machine and feature negotiation, in one place. Queue notifications are latched here and
//! processed by `process`, which the board calls from its event loop with RAM at hand.

use super::*;
use crate::MmioDevice;

pub const SIZE: u64 = 0x200;
const MAGIC: u32 = 0x7472_6976; // "virt"
const VENDOR: u32 = 0x4c52_5450; // "PTRL"
const INT_USED: u32 = 1;
const INT_CONFIG: u32 = 2;

pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    queues: Vec<Queue>,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    interrupt_status: u32,
    config_generation: u32,
    /// Queues kicked by the driver since the last `process` (bit per queue; more than 64
    /// queues are processed on every poll instead).
    notified: u64,
    /// Why the device stopped working, for the board's log (once).
    pub failure: Option<String>,
}

impl MmioTransport {
    pub fn new(device: Box<dyn VirtioDevice>) -> Self {
        let queues = (0..device.num_queues())
            .map(|_| Queue::new(device.queue_max_size()))
            .collect();
        MmioTransport {
            device,
            queues,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            interrupt_status: 0,
            config_generation: 0,
            notified: 0,
            failure: None,
        }
    }

    pub fn device_id(&self) -> u32 {
        self.device.device_id()
    }

    fn offered(&self) -> u64 {
        self.device.features() | F_VERSION_1 | F_RING_INDIRECT_DESC | F_RING_EVENT_IDX
    }

    /// The interrupt line (level).
    pub fn irq(&self) -> bool {
        self.interrupt_status != 0
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.interrupt_status = 0;
        self.notified = 0;
        self.queue_sel = 0;
        for q in &mut self.queues {
            q.reset();
        }
        self.device.reset();
    }

    fn set_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        let mut v = v & 0xff;
        if v & STATUS_FEATURES_OK != 0 && self.status & STATUS_FEATURES_OK == 0 {
            // Only a subset of what was offered, including VERSION_1, is acceptable.
            let ok = self.driver_features & !self.offered() == 0
                && self.driver_features & F_VERSION_1 != 0;
            if !ok {
                v &= !STATUS_FEATURES_OK;
            }
        }
        if v & STATUS_DRIVER_OK != 0 && self.status & STATUS_DRIVER_OK == 0 {
            let f = self.driver_features;
            for q in &mut self.queues {
                q.event_idx = f & F_RING_EVENT_IDX != 0;
                q.indirect = f & F_RING_INDIRECT_DESC != 0;
            }
            self.device.activate(f);
        }
        self.status = v | (self.status & STATUS_NEEDS_RESET);
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    /// Does the device's work (after a notification or on a periodic poll). A malformed queue
    /// puts the device into DEVICE_NEEDS_RESET and tells the driver through a config interrupt.
    pub fn process(&mut self, ram: &mut Ram) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_NEEDS_RESET != 0 {
            self.notified = 0;
            return;
        }
        let kicked = std::mem::take(&mut self.notified);
        let mut notify_any = false;
        let targets: Vec<Option<usize>> = if kicked == 0 {
            vec![None]
        } else {
            (0..64)
                .filter(|i| kicked & (1 << i) != 0)
                .map(Some)
                .collect()
        };
        for target in targets {
            match self.device.process(&mut self.queues, ram, target) {
                Ok(used) => notify_any |= used,
                Err(e) => {
                    self.failure.get_or_insert_with(|| e.to_string());
                    self.status |= STATUS_NEEDS_RESET;
                    self.interrupt_status |= INT_CONFIG;
                    return;
                }
            }
        }
        if notify_any {
            let mut want = false;
            for q in self.queues.iter_mut().filter(|q| q.is_usable()) {
                want |= q.should_notify(ram).unwrap_or(true);
            }
            if want {
                self.interrupt_status |= INT_USED;
            }
        }
    }
}

impl MmioDevice for MmioTransport {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        if offset >= 0x100 {
            let mut buf = [0u8; 8];
            let n = (size as usize).min(8);
            self.device.read_config(offset - 0x100, &mut buf[..n]);
            return u64::from_le_bytes(buf);
        }
        if size != 4 {
            return 0;
        }
        let q = self.queues.get(self.queue_sel as usize);
        let v: u32 = match offset {
            0x000 => MAGIC,
            0x004 => 2,
            0x008 => self.device.device_id(),
            0x00c => VENDOR,
            0x010 => match self.device_features_sel {
                0 => self.offered() as u32,
                1 => (self.offered() >> 32) as u32,
                _ => 0,
            },
            0x034 => q.map_or(0, |q| u32::from(q.max_size)),
            0x044 => q.map_or(0, |q| u32::from(q.ready)),
            0x060 => self.interrupt_status,
            0x070 => self.status,
            0x0fc => self.config_generation,
            _ => 0,
        };
        u64::from(v)
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        if offset >= 0x100 {
            let n = (size as usize).min(8);
            let bytes = value.to_le_bytes();
            self.device.write_config(offset - 0x100, &bytes[..n]);
            return;
        }
        if size != 4 {
            return;
        }
        let v = value as u32;
        // Queue layout may only change while the queue is not live.
        let set_addr = |q: &mut Queue, f: fn(&mut Queue) -> &mut u64, high: bool| {
            if !q.ready {
                let a = f(q);
                *a = if high {
                    (*a & 0xffff_ffff) | (u64::from(v) << 32)
                } else {
                    (*a & !0xffff_ffff) | u64::from(v)
                };
            }
        };
        match offset {
            0x014 => self.device_features_sel = v,
            0x020 => match self.driver_features_sel {
                0 => self.driver_features = (self.driver_features & !0xffff_ffff) | u64::from(v),
                1 => {
                    self.driver_features =
                        (self.driver_features & 0xffff_ffff) | (u64::from(v) << 32)
                }
                _ => {}
            },
            0x024 => self.driver_features_sel = v,
            0x030 => self.queue_sel = v,
            0x038 => {
                if let Some(q) = self.queue() {
                    if !q.ready {
                        q.size = v.min(u32::from(u16::MAX)) as u16;
                    }
                }
            }
            0x044 => {
                if let Some(q) = self.queue() {
                    q.ready = v & 1 == 1;
                }
            }
            0x050 if (v as usize) < self.queues.len() && v < 64 => self.notified |= 1 << v,
            0x064 => self.interrupt_status &= !v,
            0x070 => self.set_status(v),
            0x080 | 0x084 | 0x090 | 0x094 | 0x0a0 | 0x0a4 => {
                let high = offset & 4 != 0;
                let field: fn(&mut Queue) -> &mut u64 = match offset & !4 {
                    0x080 => |q| &mut q.desc,
                    0x090 => |q| &mut q.avail,
                    _ => |q| &mut q.used,
                };
                if let Some(q) = self.queue() {
                    set_addr(q, field, high);
                }
            }
            _ => {}
        }
    }
}
