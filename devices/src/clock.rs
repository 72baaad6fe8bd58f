//! Guest time. Timers read "now" in ticks of a fixed frequency from a clock that is either the
//! host's monotonic clock (so `sleep 1` takes a second) or derived from the number of executed
//! instructions (so runs are reproducible).

use std::time::Instant;

#[derive(Debug, Clone)]
pub enum Clock {
    /// Host time since the machine started.
    Host { start: Instant, freq: u64 },
    /// `ticks = instructions / insns_per_tick`; the board feeds the instruction count in.
    Instructions { insns_per_tick: u64, insns: u64 },
}

impl Clock {
    pub fn host(freq: u64) -> Self {
        Clock::Host {
            start: Instant::now(),
            freq,
        }
    }

    pub fn instructions(insns_per_tick: u64) -> Self {
        Clock::Instructions {
            insns_per_tick: insns_per_tick.max(1),
            insns: 0,
        }
    }

    /// Current time in ticks.
    pub fn now(&self) -> u64 {
        match self {
            Clock::Host { start, freq } => {
                let d = start.elapsed();
                d.as_secs() * freq + (u64::from(d.subsec_nanos()) * freq) / 1_000_000_000
            }
            Clock::Instructions {
                insns_per_tick,
                insns,
            } => insns / insns_per_tick,
        }
    }

    /// Records how many instructions have retired in total (only the instruction clock uses it).
    pub fn set_instructions(&mut self, total: u64) {
        if let Clock::Instructions { insns, .. } = self {
            *insns = total;
        }
    }

    /// Moves time forward to at least `ticks`, used when every hart waits for an interrupt: an
    /// instruction clock would otherwise never reach the deadline.
    pub fn skip_to(&mut self, ticks: u64) {
        if let Clock::Instructions {
            insns_per_tick,
            insns,
        } = self
        {
            *insns = (*insns).max(ticks.saturating_mul(*insns_per_tick));
        }
    }

    pub fn is_host(&self) -> bool {
        matches!(self, Clock::Host { .. })
    }
}
