//! Directory pre-opens that wasi-libc misses. Its start-up scan walks descriptors from 3 and
//! stops at the first that is not a pre-opened directory; the wasmtime CLI puts `-S tcplisten`
//! sockets first, so with a socket for `--net port,fd=3` every `--dir` after it went unseen and
//! shares failed to open (the reason container2wasm cannot have both under wasmtime). This
//! looks past such descriptors and registers the directories it finds with libc.

use std::ffi::CString;

extern "C" {
    /// wasi-libc: adds `fd` to the table that relative path lookups search.
    fn __wasilibc_register_preopened_fd(fd: i32, path: *const std::ffi::c_char) -> i32;
}

/// How many unused descriptors in a row end the search.
const GAP: u32 = 16;

pub fn recover() {
    let mut fd = 3u32;
    // Descriptors libc's own scan saw: the unbroken run of directories from 3.
    while dir_name(fd).is_some() {
        fd += 1;
    }
    let mut gap = 0;
    while gap < GAP {
        fd += 1;
        match dir_name(fd) {
            Some(name) => {
                gap = 0;
                if let Ok(c) = CString::new(name) {
                    // SAFETY: `c` is a valid NUL-terminated string for the call, which copies it.
                    unsafe { __wasilibc_register_preopened_fd(fd as i32, c.as_ptr()) };
                }
            }
            None => gap += 1,
        }
    }
}

/// The guest path of a pre-opened directory at `fd`.
fn dir_name(fd: u32) -> Option<Vec<u8>> {
    // SAFETY: plain WASI calls; the name buffer has the length the host reported.
    unsafe {
        let p = wasi::fd_prestat_get(fd).ok()?;
        if p.tag != wasi::PREOPENTYPE_DIR.raw() {
            return None;
        }
        let mut name = vec![0u8; p.u.dir.pr_name_len];
        wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()).ok()?;
        // Some hosts count a terminating NUL.
        while name.last() == Some(&0) {
            name.pop();
        }
        Some(name)
    }
}
