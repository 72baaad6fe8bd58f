//! virtio-9p: each request chain carries one 9P2000.L message to the file server (p9.rs) and
//! its writable part receives the reply. The mount tag is in config space.

use super::*;
use crate::p9::P9Server;

const F_MOUNT_TAG: u64 = 1;

pub struct Virtio9p {
    server: P9Server,
    tag: String,
}

impl Virtio9p {
    pub fn new(server: P9Server, tag: &str) -> Result<Self, String> {
        if tag.is_empty() || tag.len() > 255 {
            return Err(format!("9p mount tag '{tag}' must be 1 to 255 bytes"));
        }
        Ok(Virtio9p {
            server,
            tag: tag.to_string(),
        })
    }
}

impl VirtioDevice for Virtio9p {
    fn device_id(&self) -> u32 {
        ID_9P
    }
    fn features(&self) -> u64 {
        F_MOUNT_TAG
    }
    fn num_queues(&self) -> usize {
        1
    }
    fn queue_max_size(&self) -> u16 {
        128
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut c = (self.tag.len() as u16).to_le_bytes().to_vec();
        c.extend_from_slice(self.tag.as_bytes());
        read_config_bytes(&c, offset, data);
    }

    fn process(
        &mut self,
        queues: &mut [Queue],
        ram: &mut Ram,
        _: Option<usize>,
    ) -> Result<bool, QueueError> {
        queues[0].serve(ram, |chain, ram| {
            // 9P messages state their size; more than 8 MiB is no request Linux sends.
            let request = chain.read_all(ram, chain.readable_len().min(8 << 20) as usize)?;
            let room = chain.writable_len().min(u64::from(u32::MAX)) as usize;
            let reply = self.server.handle(&request, room);
            Ok(chain.write_all(ram, &reply)? as u32)
        })
    }
}
