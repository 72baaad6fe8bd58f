//! virtio-rng (entropy device): fills each buffer the driver offers with host entropy
//! (getrandom natively, WASI random_get under wasm32-wasip1).

use super::*;

#[derive(Default)]
pub struct Rng;

/// Host entropy. On wasm32 without WASI (browsers) there is no source: the board must not
/// offer the device there.
pub fn host_entropy(buf: &mut [u8]) -> bool {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    {
        getrandom::getrandom(buf).is_ok()
    }
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        let _ = buf;
        false
    }
}

impl VirtioDevice for Rng {
    fn device_id(&self) -> u32 {
        ID_RNG
    }
    fn features(&self) -> u64 {
        0
    }
    fn num_queues(&self) -> usize {
        1
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        queues[0].serve(ram, |chain, ram| {
            // At most 64 KiB per buffer: a driver asking for more gets it in several rounds.
            let mut buf = vec![0u8; chain.writable_len().min(64 << 10) as usize];
            if !host_entropy(&mut buf) {
                return Ok(0);
            }
            Ok(chain.write_all(ram, &buf)? as u32)
        })
    }
}
