//! Boards: a CPU, its address map and devices, and the run loop that drives them.

pub mod pc_bare;
pub mod riscv_virt;

/// How guest time advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMode {
    /// Timers follow the host's clock.
    Host,
    /// Timers advance by one tick every this many instructions (reproducible runs).
    Instructions(u64),
}

/// When a run must end even if the guest does not end it.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub timeout: Option<std::time::Duration>,
    pub max_insns: Option<u64>,
    /// Set by the console when the user asks to quit (Ctrl-A x).
    pub exit: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The guest powered off with this status.
    Exit(u32),
    /// The guest asked for a reset.
    Reset,
    Timeout,
    InsnLimit,
    /// The user asked to quit from the console.
    UserExit,
}

/// Something the run loop polls between slices, beside the devices: an agent speaking to the
/// guest over a channel (`petrel run`). Returning an end stops the run.
pub trait Companion {
    fn poll(&mut self) -> Option<RunEnd>;
}

/// No companion.
impl Companion for () {
    fn poll(&mut self) -> Option<RunEnd> {
        None
    }
}

/// Copies what the guest's console produced to the run loop's sink (never blocks).
pub(crate) fn drain_console(rx: &crossbeam_channel::Receiver<u8>, out: &mut dyn std::io::Write) {
    let mut any = false;
    while let Ok(b) = rx.try_recv() {
        let _ = out.write_all(&[b]);
        any = true;
    }
    if any {
        let _ = out.flush();
    }
}
