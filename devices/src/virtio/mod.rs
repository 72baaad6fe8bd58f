//! virtio 1.x device core: the interface every device model implements, feature bits, and the
//! split virtqueue (queue.rs). Transports (MMIO now, PCI later) own the status/feature state
//! machine and queue registers, and call devices only through `VirtioDevice`, so a device never
//! knows which transport carries it.

pub mod blk;
pub mod console;
pub mod mmio;
pub mod net;
pub mod p9dev;
pub mod queue;
pub mod rng;

use crate::mem::Ram;
pub use queue::{Chain, Queue, QueueError};

pub const F_VERSION_1: u64 = 1 << 32;
pub const F_RING_INDIRECT_DESC: u64 = 1 << 28;
pub const F_RING_EVENT_IDX: u64 = 1 << 29;

pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_NEEDS_RESET: u32 = 0x40;
pub const STATUS_FAILED: u32 = 0x80;

pub const ID_NET: u32 = 1;
pub const ID_BLOCK: u32 = 2;
pub const ID_CONSOLE: u32 = 3;
pub const ID_RNG: u32 = 4;
pub const ID_9P: u32 = 9;

/// A virtio device model. Queues live in the transport; the device sees them when it works.
pub trait VirtioDevice {
    fn device_id(&self) -> u32;
    /// Device-specific features offered (the transport adds VERSION_1 and the ring features).
    fn features(&self) -> u64;
    fn num_queues(&self) -> usize;
    fn queue_max_size(&self) -> u16 {
        256
    }
    /// Reads device configuration space (bytes past its end read as 0).
    fn read_config(&self, offset: u64, data: &mut [u8]);
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver accepted `features` and set DRIVER_OK.
    fn activate(&mut self, _features: u64) {}
    /// The driver reset the device: forget all in-flight state.
    fn reset(&mut self) {}
    /// Processes what is available on the queues (`notified` is the queue the driver kicked, if
    /// any; devices with outside input also do their work here when polled). Returns whether a
    /// used buffer was added, i.e. whether the driver may need an interrupt.
    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        notified: Option<usize>,
    ) -> Result<bool, QueueError>;
}

/// Copies a little-endian config structure's bytes into `data` from `offset` on.
pub fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(i))
            .and_then(|o| config.get(o))
            .copied()
            .unwrap_or(0);
    }
}
