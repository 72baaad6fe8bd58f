//! Goldfish RTC (`google,goldfish-rtc`, QEMU `virt` at 0x101000, IRQ 11): nanoseconds since the
//! Unix epoch plus one alarm. Behaviour follows QEMU's hw/rtc/goldfish_rtc.c, which Linux's
//! drivers/rtc/rtc-goldfish.c is written against. The alarm is checked when asked (`irq`), not
//! by a timer: the board polls `irq` and may sleep until `next_alarm_ns`.

use crate::MmioDevice;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SIZE: u64 = 0x1000;

const TIME_LOW: u64 = 0x00;
const TIME_HIGH: u64 = 0x04;
const ALARM_LOW: u64 = 0x08;
const ALARM_HIGH: u64 = 0x0c;
const IRQ_ENABLED: u64 = 0x10;
const CLEAR_ALARM: u64 = 0x14;
const ALARM_STATUS: u64 = 0x18;
const CLEAR_INTERRUPT: u64 = 0x1c;

/// Where the RTC's time comes from, in nanoseconds since the Unix epoch.
pub type TimeSource = Box<dyn Fn() -> u64>;

/// The host's wall clock. A host clock before 1970 reads as the epoch rather than failing.
/// On wasm32-unknown-unknown `SystemTime::now` is unavailable, so a board there injects its own
/// source (e.g. JavaScript's `Date.now`) through `with_time_source`.
pub fn host_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub struct GoldfishRtc {
    source: TimeSource,
    /// Guest time = source + offset. Guest writes to the time registers change only the offset,
    /// never the host clock.
    offset: u64,
    /// High half of the time, latched by reading TIME_LOW so a low/high pair is consistent.
    time_high: u32,
    alarm: u64,
    alarm_running: bool,
    irq_enabled: bool,
    /// The alarm fired and the guest has not written CLEAR_INTERRUPT. Kept apart from
    /// `irq_enabled`, as in QEMU, because Linux arms the alarm before enabling the interrupt: an
    /// alarm already in the past must still interrupt once enabled.
    irq_pending: bool,
}

impl Default for GoldfishRtc {
    fn default() -> Self {
        Self::new()
    }
}

impl GoldfishRtc {
    /// An RTC showing the host's wall-clock time.
    pub fn new() -> Self {
        Self::with_time_source(Box::new(host_now_ns))
    }

    /// An RTC reading its time from `source` (ns since the epoch): for tests, or for boards
    /// that derive time from something other than the host clock.
    pub fn with_time_source(source: TimeSource) -> Self {
        GoldfishRtc {
            source,
            offset: 0,
            time_high: 0,
            alarm: 0,
            alarm_running: false,
            irq_enabled: false,
            irq_pending: false,
        }
    }

    /// Guest time in nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        (self.source)().wrapping_add(self.offset)
    }

    /// Level of the interrupt line. Fires an alarm whose time has come.
    pub fn irq(&mut self) -> bool {
        self.check_alarm();
        self.irq_pending && self.irq_enabled
    }

    /// Guest time (ns since the epoch, comparable with `now_ns`) at which the armed alarm fires,
    /// or None if no alarm is armed.
    pub fn next_alarm_ns(&self) -> Option<u64> {
        self.alarm_running.then_some(self.alarm)
    }

    fn check_alarm(&mut self) {
        if self.alarm_running && self.now_ns() >= self.alarm {
            self.alarm_running = false;
            self.irq_pending = true;
        }
    }

    /// Moves guest time so that it reads `new` now.
    fn set_time(&mut self, new: u64) {
        self.offset = new.wrapping_sub((self.source)());
    }

    fn read32(&mut self, offset: u64) -> u32 {
        match offset {
            TIME_LOW => {
                let now = self.now_ns();
                self.time_high = (now >> 32) as u32;
                now as u32
            }
            TIME_HIGH => self.time_high,
            ALARM_LOW => self.alarm as u32,
            ALARM_HIGH => (self.alarm >> 32) as u32,
            IRQ_ENABLED => u32::from(self.irq_enabled),
            ALARM_STATUS => {
                self.check_alarm();
                u32::from(self.alarm_running)
            }
            _ => 0,
        }
    }

    fn write32(&mut self, offset: u64, value: u32) {
        let value = u64::from(value);
        match offset {
            // Linux writes TIME_HIGH then TIME_LOW; each replaces its half of the current time,
            // as in QEMU.
            TIME_LOW => self.set_time((self.now_ns() & !0xffff_ffff) | value),
            TIME_HIGH => self.set_time((self.now_ns() & 0xffff_ffff) | (value << 32)),
            ALARM_LOW => {
                self.alarm = (self.alarm & !0xffff_ffff) | value;
                self.alarm_running = true;
                self.check_alarm();
            }
            ALARM_HIGH => self.alarm = (self.alarm & 0xffff_ffff) | (value << 32),
            IRQ_ENABLED => self.irq_enabled = value & 1 != 0,
            CLEAR_ALARM => self.alarm_running = false,
            CLEAR_INTERRUPT => self.irq_pending = false,
            _ => {}
        }
    }
}

/// Registers are 32 bits wide. An aligned 64-bit access is split low word first (so a 64-bit
/// read at TIME_LOW latches then returns the matching high half); narrower or misaligned
/// accesses read 0 and write nothing.
impl MmioDevice for GoldfishRtc {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        match size {
            4 if offset.is_multiple_of(4) => u64::from(self.read32(offset)),
            8 if offset.is_multiple_of(8) => {
                let lo = self.read32(offset);
                let hi = self.read32(offset.wrapping_add(4));
                u64::from(lo) | (u64::from(hi) << 32)
            }
            _ => 0,
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        match size {
            4 if offset.is_multiple_of(4) => self.write32(offset, value as u32),
            8 if offset.is_multiple_of(8) => {
                self.write32(offset, value as u32);
                self.write32(offset.wrapping_add(4), (value >> 32) as u32);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// An RTC on a clock the test moves by hand.
    fn rtc(start: u64) -> (GoldfishRtc, Rc<Cell<u64>>) {
        let clock = Rc::new(Cell::new(start));
        let c = clock.clone();
        (
            GoldfishRtc::with_time_source(Box::new(move || c.get())),
            clock,
        )
    }

    fn read_time(r: &mut GoldfishRtc) -> u64 {
        let lo = r.read(TIME_LOW, 4);
        let hi = r.read(TIME_HIGH, 4);
        (hi << 32) | lo
    }

    fn set_alarm(r: &mut GoldfishRtc, t: u64) {
        r.write(ALARM_HIGH, 4, t >> 32);
        r.write(ALARM_LOW, 4, t & 0xffff_ffff);
    }

    #[test]
    fn time_low_latches_high() {
        let (mut r, clock) = rtc(0x1_ffff_fff0);
        assert_eq!(r.read(TIME_LOW, 4), 0xffff_fff0);
        // The low half wraps between the two reads: the latched high half stays consistent.
        clock.set(0x2_0000_0010);
        assert_eq!(r.read(TIME_HIGH, 4), 1);
        assert_eq!(read_time(&mut r), 0x2_0000_0010);
        assert_eq!(r.read(TIME_LOW, 8), 0x2_0000_0010);
    }

    #[test]
    fn host_clock_is_after_2020() {
        let r = GoldfishRtc::new();
        assert!(r.now_ns() > 1_577_836_800 * 1_000_000_000);
    }

    #[test]
    fn setting_time_is_an_offset() {
        let (mut r, clock) = rtc(1_000);
        let target = 1_700_000_000_000_000_000u64;
        // As Linux does: high half first, then low.
        r.write(TIME_HIGH, 4, target >> 32);
        r.write(TIME_LOW, 4, target & 0xffff_ffff);
        assert_eq!(read_time(&mut r), target);
        assert_eq!(clock.get(), 1_000, "the source is never changed");
        clock.set(1_500);
        assert_eq!(read_time(&mut r), target + 500);
        assert_eq!(r.now_ns(), target + 500);
    }

    #[test]
    fn alarm_fires_and_clears() {
        let (mut r, clock) = rtc(1_000);
        r.write(IRQ_ENABLED, 4, 1);
        set_alarm(&mut r, 0x1_0000_0000);
        assert_eq!(r.next_alarm_ns(), Some(0x1_0000_0000));
        assert_eq!(r.read(ALARM_STATUS, 4), 1);
        assert_eq!(r.read(ALARM_HIGH, 4), 1);
        assert_eq!(r.read(ALARM_LOW, 4), 0);
        assert!(!r.irq());
        clock.set(0x1_0000_0000);
        assert!(r.irq());
        assert_eq!(r.read(ALARM_STATUS, 4), 0);
        assert_eq!(r.next_alarm_ns(), None);
        assert!(r.irq(), "level until cleared");
        r.write(CLEAR_INTERRUPT, 4, 1);
        assert!(!r.irq());
        // A cancelled alarm never fires.
        set_alarm(&mut r, 0x2_0000_0000);
        r.write(CLEAR_ALARM, 4, 1);
        assert_eq!(r.read(ALARM_STATUS, 4), 0);
        assert_eq!(r.next_alarm_ns(), None);
        clock.set(0x3_0000_0000);
        assert!(!r.irq());
    }

    #[test]
    fn alarm_follows_guest_time() {
        let (mut r, clock) = rtc(0);
        r.write(TIME_HIGH, 4, 10);
        r.write(TIME_LOW, 4, 0);
        r.write(IRQ_ENABLED, 4, 1);
        set_alarm(&mut r, (10 << 32) + 100);
        clock.set(99);
        assert!(!r.irq());
        clock.set(100);
        assert!(r.irq());
    }

    #[test]
    fn irq_enable_gates_the_line() {
        let (mut r, clock) = rtc(0);
        set_alarm(&mut r, 50);
        clock.set(60);
        assert!(!r.irq(), "fired, but the interrupt is disabled");
        assert_eq!(r.read(ALARM_STATUS, 4), 0);
        // Enabling afterwards delivers the alarm that already fired, as Linux relies on.
        r.write(IRQ_ENABLED, 4, 1);
        assert_eq!(r.read(IRQ_ENABLED, 4), 1);
        assert!(r.irq());
        r.write(IRQ_ENABLED, 4, 0);
        assert!(!r.irq());
        r.write(CLEAR_INTERRUPT, 4, 1);
        r.write(IRQ_ENABLED, 4, 1);
        assert!(!r.irq());
        // An alarm set in the past fires at once.
        set_alarm(&mut r, 10);
        assert!(r.irq());
    }

    #[test]
    fn hostile_accesses_never_panic() {
        let (mut r, _clock) = rtc(u64::MAX);
        for o in [
            0,
            1,
            2,
            3,
            0x1c,
            0x20,
            0xffc,
            SIZE,
            u64::MAX - 3,
            u64::MAX - 7,
            u64::MAX,
        ] {
            for size in [0, 1, 2, 3, 4, 8, 16, u32::MAX] {
                r.write(o, size, u64::MAX);
                let _ = r.read(o, size);
            }
        }
        let _ = r.irq();
        let _ = r.next_alarm_ns();
    }
}
