//! Sleeping until the host has something for the machine: one of some descriptors becomes
//! readable, or the time is up. The one place that knows the host's wait primitive: ppoll
//! natively, WASI's poll_oneoff in petrel.wasm (which has no threads to block instead).

use std::time::Duration;

/// Waits at most `timeout` for one of `fds` to become readable; returns those that are.
#[cfg(unix)]
pub fn wait_readable(fds: &[i32], timeout: Duration) -> Vec<i32> {
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return Vec::new();
    }
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: pfds and ts are valid for the call; ppoll only writes revents.
    let n = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if n <= 0 {
        return Vec::new();
    }
    pfds.iter()
        .filter(|p| p.revents != 0)
        .map(|p| p.fd)
        .collect()
}

/// Waits at most `timeout` for one of `fds` to become readable; returns those that are.
#[cfg(target_os = "wasi")]
pub fn wait_readable(fds: &[i32], timeout: Duration) -> Vec<i32> {
    // userdata 0 marks the clock; descriptors are tagged fd + 1.
    let mut subs = Vec::with_capacity(fds.len() + 1);
    subs.push(wasi::Subscription {
        userdata: 0,
        u: wasi::SubscriptionU {
            tag: wasi::EVENTTYPE_CLOCK.raw(),
            u: wasi::SubscriptionUU {
                clock: wasi::SubscriptionClock {
                    id: wasi::CLOCKID_MONOTONIC,
                    timeout: timeout.as_nanos().min(u64::MAX as u128) as u64,
                    precision: 0,
                    flags: 0,
                },
            },
        },
    });
    for &fd in fds {
        subs.push(wasi::Subscription {
            userdata: fd as u64 + 1,
            u: wasi::SubscriptionU {
                tag: wasi::EVENTTYPE_FD_READ.raw(),
                u: wasi::SubscriptionUU {
                    fd_read: wasi::SubscriptionFdReadwrite {
                        file_descriptor: fd as u32,
                    },
                },
            },
        });
    }
    let mut events: Vec<wasi::Event> = Vec::with_capacity(subs.len());
    // SAFETY: `subs` holds subs.len() initialised subscriptions and `events` room for as many
    // events; poll_oneoff writes at most that many and says how many.
    let n = match unsafe { wasi::poll_oneoff(subs.as_ptr(), events.as_mut_ptr(), subs.len()) } {
        Ok(n) => n.min(subs.len()),
        Err(_) => {
            // A host that cannot poll these descriptors can still keep time.
            std::thread::sleep(timeout);
            return Vec::new();
        }
    };
    // SAFETY: the first n events were written by poll_oneoff.
    unsafe { events.set_len(n) };
    events
        .iter()
        .filter(|e| e.userdata != 0 && e.type_ == wasi::EVENTTYPE_FD_READ)
        .map(|e| (e.userdata - 1) as i32)
        .collect()
}

/// Elsewhere there are no descriptors to wait on.
#[cfg(not(any(unix, target_os = "wasi")))]
pub fn wait_readable(_fds: &[i32], timeout: Duration) -> Vec<i32> {
    std::thread::sleep(timeout);
    Vec::new()
}
