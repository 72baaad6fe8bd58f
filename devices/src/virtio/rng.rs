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
        let q = &mut queues[0];
        let mut used = false;
        // At most 64 KiB per buffer: a driver asking for more gets it in several rounds.
        let mut buf = [0u8; 4096];
        while let Some(chain) = q.pop(ram)? {
            let want = chain.writable_len().min(64 << 10) as usize;
            let mut done = 0;
            let mut segs = chain.writable.iter();
            let mut cur = segs.next().copied();
            while done < want {
                let Some(seg) = cur.as_mut() else { break };
                let n = (seg.len as usize).min(buf.len()).min(want - done);
                if !host_entropy(&mut buf[..n]) {
                    break;
                }
                ram.slice_mut(seg.addr, n)?.copy_from_slice(&buf[..n]);
                done += n;
                seg.addr += n as u64;
                seg.len -= n as u32;
                if seg.len == 0 {
                    cur = segs.next().copied();
                }
            }
            q.push_used(ram, chain.head, done as u32)?;
            used = true;
        }
        Ok(used)
    }
}
