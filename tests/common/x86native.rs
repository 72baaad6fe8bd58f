//! Runs x86-64 code sequences natively on the host CPU, for the differential test of petrel's
//! x86-64 interpreter (tests/x86_diff.rs).
//!
//! The code runs in a forked child process, never in the test process. The child maps, with
//! `MAP_FIXED_NOREPLACE`, the same regions petrel's `UserMachine` provides: the code region at
//! `CODE` (64 KiB, read + execute; a memfd so the child can rewrite it through a second,
//! writable mapping), the data window at `DATA` (64 KiB, read/write) and one page at `STOP`
//! holding `jmp [rip+0]` to the exit stub. It also checks that the rest of the low 8 MiB is
//! free, so that every access outside the window faults as it does in petrel.
//!
//! Per case the child copies the code and the data window in, loads the whole register state
//! (entry stub, `global_asm!`: FXRSTOR64 of the image, POPFQ of the user-settable RFLAGS bits,
//! the 16 GPRs including RSP) and jumps to `state.rip`. The sequence ends with a jump to `STOP`;
//! the exit stub stores the GPRs, RFLAGS (PUSHFQ, on the host stack) and the FXSAVE64 image,
//! restores the host state and returns. A hardware exception becomes a signal: the handler
//! (SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP, on an alternate stack) takes the register state at
//! the fault from the signal frame (the vector and error code come from the kernel's
//! `trapno`/`err`, the fault address from `si_addr`), and returns into a resume stub that
//! unwinds back to the child's loop. Signals raised by the harness itself (not at a guest RIP)
//! are re-raised with the default action, so they kill the child rather than being mistaken
//! for guest exceptions.
//!
//! Cases are passed through a shared-memory queue (batches of [`BATCH`]); the child reports
//! progress in shared memory and answers on a pipe once the batch is done. A case that kills
//! the child (or makes no progress within the timeout) is recorded as [`NativeExit::Crashed`]
//! / [`NativeExit::Timeout`]; a new child continues with the next case. The child only calls
//! async-signal-safe functions (it was forked from a multi-threaded process) and dies with its
//! parent (`PR_SET_PDEATHSIG`).
//!
//! FS/GS bases are not loaded (the child's FS is its TLS): `fs_base`/`gs_base` are not part of
//! the native result (they are returned unchanged). RFLAGS.TF and RFLAGS.AC are never loaded
//! (only CF, PF, AF, ZF, SF, DF, OF, NT and ID are taken from the state; IF is always set).
#![allow(dead_code)]

use petrel_emulator::x86::user::{UserMachine, UserState};
use std::mem::{offset_of, size_of};
use std::ptr::{addr_of, addr_of_mut};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CODE: u64 = UserMachine::CODE;
pub const DATA: u64 = UserMachine::DATA;
pub const STOP: u64 = UserMachine::STOP;
pub const CODE_SIZE: usize = 0x1_0000;
pub const DATA_SIZE: usize = 0x1_0000;
/// Largest code sequence a case may have.
pub const MAX_CODE: usize = 8192;
/// Cases per batch (shared-memory slots).
pub const BATCH: usize = 64;

/// RFLAGS bits the runner loads: CF PF AF ZF SF DF OF NT ID. IF (and bit 1) are always set;
/// TF and AC are never set (single-stepping and alignment checks would hit the harness).
pub const LOADABLE_RFLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x400 | 0x800 | 0x4000 | 0x20_0000;

/// One case: the code (loaded at `CODE`, the rest of the region is zero), the initial state
/// (`rip` is usually `CODE`) and the initial 64 KiB data window.
pub struct NativeCase<'a> {
    pub code: &'a [u8],
    pub state: &'a UserState,
    pub data: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NativeExit {
    /// Reached `STOP`.
    Done,
    /// A hardware exception: `vector` and `error` are the kernel's trap number and error code
    /// (for #PF the kernel always sets the U bit, 4); `fault_addr` is CR2 for #PF, else 0.
    Exception {
        vector: u8,
        error: u32,
        fault_addr: u64,
        signal: i32,
        si_code: i32,
    },
    /// The child died while running the case (e.g. the code made a system call that exited).
    Crashed { status: String },
    /// No progress within the timeout; the child was killed.
    Timeout,
}

#[derive(Clone)]
pub struct NativeOutcome {
    pub exit: NativeExit,
    /// Final state (at `STOP`, or at the faulting instruction for `Exception`; the initial state
    /// for `Crashed`/`Timeout`). `fs_base`/`gs_base` are copied from the input.
    pub state: UserState,
    /// Final data window (the initial one for `Crashed`/`Timeout`).
    pub data: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// Layout shared with the assembly stubs and the child.

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct RawState {
    gpr: [u64; 16],
    rflags: u64,
    rip: u64,
    _pad: [u64; 2],
    fx: [u8; 512],
}

impl RawState {
    const ZERO: RawState = RawState {
        gpr: [0; 16],
        rflags: 0,
        rip: 0,
        _pad: [0; 2],
        fx: [0; 512],
    };
}

#[repr(C, align(64))]
struct Globals {
    input: RawState,
    output: RawState,
    host_fx: [u8; 512],
    host_rsp: u64,
    in_guest: u64,
    f_sig: i64,
    f_code: i64,
    f_trapno: i64,
    f_err: i64,
    f_addr: u64,
}

const G_IN: usize = offset_of!(Globals, input);
const G_OUT: usize = offset_of!(Globals, output);
const G_HOST_FX: usize = offset_of!(Globals, host_fx);
const G_HOST_RSP: usize = offset_of!(Globals, host_rsp);
const S_GPR: usize = offset_of!(RawState, gpr);
const S_FLAGS: usize = offset_of!(RawState, rflags);
const S_RIP: usize = offset_of!(RawState, rip);
const S_FX: usize = offset_of!(RawState, fx);
const _: () = assert!(
    S_FX.is_multiple_of(16)
        && G_IN.is_multiple_of(16)
        && G_OUT.is_multiple_of(16)
        && G_HOST_FX.is_multiple_of(16)
);

// Only touched by the forked child (the parent never calls the stubs).
static mut G: Globals = Globals {
    input: RawState::ZERO,
    output: RawState::ZERO,
    host_fx: [0; 512],
    host_rsp: 0,
    in_guest: 0,
    f_sig: 0,
    f_code: 0,
    f_trapno: 0,
    f_err: 0,
    f_addr: 0,
};

// Entry: saves the callee-saved registers and the host FP state, loads the guest state from
// G.input and jumps to G.input.rip. Returns 0 via the exit stub (reached from STOP) or 1 via
// the resume stub (the signal handler redirects there).
core::arch::global_asm!(
    ".pushsection .text.petrel_x86n,\"ax\",@progbits",
    ".p2align 4",
    ".globl petrel_x86n_enter",
    ".hidden petrel_x86n_enter",
    "petrel_x86n_enter:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov qword ptr [rip + {g} + {host_rsp}], rsp",
    "fxsave64 [rip + {g} + {host_fx}]",
    "fxrstor64 [rip + {g} + {inp} + {fx}]",
    "push qword ptr [rip + {g} + {inp} + {flags}]",
    "popfq",
    "mov rax, qword ptr [rip + {g} + {inp} + {gpr} + 0]",
    "mov rcx, qword ptr [rip + {g} + {inp} + {gpr} + 8]",
    "mov rdx, qword ptr [rip + {g} + {inp} + {gpr} + 16]",
    "mov rbx, qword ptr [rip + {g} + {inp} + {gpr} + 24]",
    "mov rbp, qword ptr [rip + {g} + {inp} + {gpr} + 40]",
    "mov rsi, qword ptr [rip + {g} + {inp} + {gpr} + 48]",
    "mov rdi, qword ptr [rip + {g} + {inp} + {gpr} + 56]",
    "mov r8, qword ptr [rip + {g} + {inp} + {gpr} + 64]",
    "mov r9, qword ptr [rip + {g} + {inp} + {gpr} + 72]",
    "mov r10, qword ptr [rip + {g} + {inp} + {gpr} + 80]",
    "mov r11, qword ptr [rip + {g} + {inp} + {gpr} + 88]",
    "mov r12, qword ptr [rip + {g} + {inp} + {gpr} + 96]",
    "mov r13, qword ptr [rip + {g} + {inp} + {gpr} + 104]",
    "mov r14, qword ptr [rip + {g} + {inp} + {gpr} + 112]",
    "mov r15, qword ptr [rip + {g} + {inp} + {gpr} + 120]",
    "mov rsp, qword ptr [rip + {g} + {inp} + {gpr} + 32]",
    "jmp qword ptr [rip + {g} + {inp} + {rip_}]",
    "",
    ".p2align 4",
    ".globl petrel_x86n_exit",
    ".hidden petrel_x86n_exit",
    "petrel_x86n_exit:",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 0], rax",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 8], rcx",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 16], rdx",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 24], rbx",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 32], rsp",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 40], rbp",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 48], rsi",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 56], rdi",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 64], r8",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 72], r9",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 80], r10",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 88], r11",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 96], r12",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 104], r13",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 112], r14",
    "mov qword ptr [rip + {g} + {out} + {gpr} + 120], r15",
    "mov rsp, qword ptr [rip + {g} + {host_rsp}]",
    "pushfq",
    "pop qword ptr [rip + {g} + {out} + {flags}]",
    "fxsave64 [rip + {g} + {out} + {fx}]",
    "fxrstor64 [rip + {g} + {host_fx}]",
    "push 0x202",
    "popfq",
    "xor eax, eax",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    "",
    ".p2align 4",
    ".globl petrel_x86n_resume",
    ".hidden petrel_x86n_resume",
    "petrel_x86n_resume:",
    "fxrstor64 [rip + {g} + {host_fx}]",
    "push 0x202",
    "popfq",
    "mov eax, 1",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    ".popsection",
    g = sym G,
    host_rsp = const G_HOST_RSP,
    host_fx = const G_HOST_FX,
    inp = const G_IN,
    out = const G_OUT,
    fx = const S_FX,
    flags = const S_FLAGS,
    gpr = const S_GPR,
    rip_ = const S_RIP,
);

extern "C" {
    fn petrel_x86n_enter() -> u32;
    fn petrel_x86n_exit();
    fn petrel_x86n_resume();
}

// Shared memory: control block, then BATCH input slots, BATCH output slots, BATCH input data
// windows, BATCH output data windows.
#[repr(C)]
struct Ctl {
    setup_stage: AtomicU32,
    setup_errno: AtomicI32,
    /// Number of cases of the current batch completed (the case being run is `completed`).
    completed: AtomicU32,
}

#[repr(C, align(64))]
struct SlotIn {
    state: RawState,
    code_len: u32,
    code: [u8; MAX_CODE],
}

#[repr(C, align(64))]
struct SlotOut {
    kind: u32, // 0 = done, 1 = exception
    signo: i32,
    si_code: i32,
    trapno: u32,
    err: u64,
    addr: u64,
    state: RawState,
}

const OFF_IN: usize = 4096;
const OFF_OUT: usize = OFF_IN + BATCH * size_of::<SlotIn>();
const OFF_DIN: usize = (OFF_OUT + BATCH * size_of::<SlotOut>() + 4095) & !4095;
const OFF_DOUT: usize = OFF_DIN + BATCH * DATA_SIZE;
const SHM_LEN: usize = OFF_DOUT + BATCH * DATA_SIZE;

const STAGES: &[&str] = &[
    "none",
    "prctl(PR_SET_PDEATHSIG)",
    "memfd_create",
    "ftruncate(memfd)",
    "mmap code region at CODE (MAP_FIXED_NOREPLACE)",
    "mmap writable alias of the code region",
    "mmap data window at DATA (MAP_FIXED_NOREPLACE)",
    "mmap STOP page (MAP_FIXED_NOREPLACE)",
    "mprotect STOP page",
    "low 8 MiB not free (MAP_FIXED_NOREPLACE probe failed)",
    "sigaltstack",
    "sigaction",
    "ready write",
    "parent died",
];

// ---------------------------------------------------------------------------------------------
// Child side (async-signal-safe only: no allocation, no locks, no panics).

unsafe fn child_fail(ctl: *const Ctl, stage: u32) -> ! {
    let e = *libc::__errno_location();
    (*ctl).setup_errno.store(e, Ordering::SeqCst);
    (*ctl).setup_stage.store(stage, Ordering::SeqCst);
    libc::_exit(3);
}

unsafe fn map_fixed(addr: u64, len: usize, prot: i32, flags: i32, fd: i32) -> bool {
    let p = libc::mmap(
        addr as *mut libc::c_void,
        len,
        prot,
        flags | libc::MAP_FIXED_NOREPLACE,
        fd,
        0,
    );
    if p == libc::MAP_FAILED {
        return false;
    }
    if p as u64 != addr {
        // Kernel without MAP_FIXED_NOREPLACE (< 4.17): it was only a hint.
        libc::munmap(p, len);
        *libc::__errno_location() = libc::EEXIST;
        return false;
    }
    true
}

/// Checks that [start, end) is unmapped: maps it with MAP_FIXED_NOREPLACE and unmaps it again.
unsafe fn range_free(start: u64, end: u64) -> bool {
    if end <= start {
        return true;
    }
    let len = (end - start) as usize;
    if !map_fixed(
        start,
        len,
        libc::PROT_NONE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
    ) {
        return false;
    }
    libc::munmap(start as *mut libc::c_void, len);
    true
}

const GREG_OF_GPR: [usize; 16] = [
    libc::REG_RAX as usize,
    libc::REG_RCX as usize,
    libc::REG_RDX as usize,
    libc::REG_RBX as usize,
    libc::REG_RSP as usize,
    libc::REG_RBP as usize,
    libc::REG_RSI as usize,
    libc::REG_RDI as usize,
    libc::REG_R8 as usize,
    libc::REG_R9 as usize,
    libc::REG_R10 as usize,
    libc::REG_R11 as usize,
    libc::REG_R12 as usize,
    libc::REG_R13 as usize,
    libc::REG_R14 as usize,
    libc::REG_R15 as usize,
];

unsafe extern "C" fn on_fault(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let uc = ctx as *mut libc::ucontext_t;
    let gregs = &mut (*uc).uc_mcontext.gregs;
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let g = addr_of_mut!(G);
    let at_guest =
        (CODE..CODE + CODE_SIZE as u64).contains(&rip) || (STOP..STOP + 4096).contains(&rip);
    if (*g).in_guest == 0 || !at_guest {
        // A fault in the harness itself: die with it (the parent reports the signal).
        libc::signal(sig, libc::SIG_DFL);
        return;
    }
    let out = addr_of_mut!((*g).output);
    for (i, &r) in GREG_OF_GPR.iter().enumerate() {
        (*out).gpr[i] = gregs[r] as u64;
    }
    (*out).rflags = gregs[libc::REG_EFL as usize] as u64;
    (*out).rip = rip;
    let fp = (*uc).uc_mcontext.fpregs as *const u8;
    if fp.is_null() {
        (*out).fx = [0; 512];
    } else {
        std::ptr::copy_nonoverlapping(fp, addr_of_mut!((*out).fx) as *mut u8, 512);
    }
    (*g).f_sig = sig as i64;
    (*g).f_code = (*info).si_code as i64;
    (*g).f_trapno = gregs[libc::REG_TRAPNO as usize];
    (*g).f_err = gregs[libc::REG_ERR as usize];
    (*g).f_addr = (*info).si_addr() as u64;
    gregs[libc::REG_RIP as usize] = petrel_x86n_resume as *const () as usize as i64;
    gregs[libc::REG_RSP as usize] = (*g).host_rsp as i64;
    gregs[libc::REG_EFL as usize] = 0x202;
}

unsafe fn child_main(
    shm: *mut u8,
    cmd_rd: i32,
    resp_wr: i32,
    parent: libc::pid_t,
    occupy_data: bool,
) -> ! {
    let ctl = shm as *const Ctl;
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
        child_fail(ctl, 1);
    }
    if libc::getppid() != parent {
        child_fail(ctl, 13);
    }
    // Drop every other descriptor (other runners' pipes must see EOF when their child dies).
    let (lo, hi) = if cmd_rd < resp_wr {
        (cmd_rd, resp_wr)
    } else {
        (resp_wr, cmd_rd)
    };
    for (a, b) in [(3, lo - 1), (lo + 1, hi - 1), (hi + 1, i32::MAX)] {
        if a <= b && libc::syscall(libc::SYS_close_range, a as u32, b as u32, 0u32) != 0 {
            let mut fd = a;
            while fd <= b && fd < 4096 {
                libc::close(fd);
                fd += 1;
            }
        }
    }
    let memfd = libc::memfd_create(c"petrel-x86n-code".as_ptr(), libc::MFD_CLOEXEC);
    if memfd < 0 {
        child_fail(ctl, 2);
    }
    if libc::ftruncate(memfd, CODE_SIZE as libc::off_t) != 0 {
        child_fail(ctl, 3);
    }
    if !map_fixed(
        CODE,
        CODE_SIZE,
        libc::PROT_READ | libc::PROT_EXEC,
        libc::MAP_SHARED,
        memfd,
    ) {
        child_fail(ctl, 4);
    }
    let alias = libc::mmap(
        std::ptr::null_mut(),
        CODE_SIZE,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        memfd,
        0,
    );
    if alias == libc::MAP_FAILED {
        child_fail(ctl, 5);
    }
    let alias = alias as *mut u8;
    if occupy_data {
        // self-test of the failure path: something already lives at DATA
        map_fixed(
            DATA,
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        );
    }
    if !map_fixed(
        DATA,
        DATA_SIZE,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    ) {
        child_fail(ctl, 6);
    }
    if !map_fixed(
        STOP,
        4096,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    ) {
        child_fail(ctl, 7);
    }
    // jmp qword ptr [rip+0]; dq petrel_x86n_exit
    let stub = STOP as *mut u8;
    let jmp = [0xFFu8, 0x25, 0, 0, 0, 0];
    std::ptr::copy_nonoverlapping(jmp.as_ptr(), stub, 6);
    std::ptr::write_unaligned(
        stub.add(6) as *mut u64,
        petrel_x86n_exit as *const () as usize as u64,
    );
    if libc::mprotect(
        STOP as *mut libc::c_void,
        4096,
        libc::PROT_READ | libc::PROT_EXEC,
    ) != 0
    {
        child_fail(ctl, 8);
    }
    // Everything else in the low 8 MiB must be unmapped, as in petrel.
    if !range_free(0x1_0000, CODE)
        || !range_free(CODE + CODE_SIZE as u64, DATA)
        || !range_free(DATA + DATA_SIZE as u64, STOP)
        || !range_free(STOP + 4096, 0x80_0000)
    {
        child_fail(ctl, 9);
    }
    let alt_len = 256 * 1024;
    let alt = libc::mmap(
        std::ptr::null_mut(),
        alt_len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if alt == libc::MAP_FAILED {
        child_fail(ctl, 10);
    }
    let ss = libc::stack_t {
        ss_sp: alt,
        ss_flags: 0,
        ss_size: alt_len,
    };
    if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
        child_fail(ctl, 10);
    }
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
    ] {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fault as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigfillset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            child_fail(ctl, 11);
        }
    }
    if libc::write(resp_wr, b"R".as_ptr() as *const libc::c_void, 1) != 1 {
        child_fail(ctl, 12);
    }

    let slots_in = shm.add(OFF_IN) as *const SlotIn;
    let slots_out = shm.add(OFF_OUT) as *mut SlotOut;
    let g = addr_of_mut!(G);
    let mut prev_len = 0usize;
    loop {
        let mut cmd = [0u32; 2];
        let mut got = 0usize;
        while got < 8 {
            let n = libc::read(
                cmd_rd,
                (cmd.as_mut_ptr() as *mut u8).add(got) as *mut libc::c_void,
                8 - got,
            );
            if n <= 0 {
                if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                libc::_exit(0);
            }
            got += n as usize;
        }
        let (start, end) = (cmd[0] as usize, (cmd[1] as usize).min(BATCH));
        let mut i = start;
        while i < end {
            let sin = slots_in.add(i);
            let sout = slots_out.add(i);
            let len = ((*sin).code_len as usize).min(MAX_CODE);
            std::ptr::copy_nonoverlapping(addr_of!((*sin).code) as *const u8, alias, len);
            if prev_len > len {
                std::ptr::write_bytes(alias.add(len), 0, prev_len - len);
            }
            prev_len = len;
            std::ptr::copy_nonoverlapping(
                shm.add(OFF_DIN + i * DATA_SIZE),
                DATA as *mut u8,
                DATA_SIZE,
            );
            std::ptr::copy_nonoverlapping(addr_of!((*sin).state), addr_of_mut!((*g).input), 1);
            (*g).f_sig = 0;
            (*g).in_guest = 1;
            let r = petrel_x86n_enter();
            (*g).in_guest = 0;
            std::ptr::copy_nonoverlapping(addr_of!((*g).output), addr_of_mut!((*sout).state), 1);
            if r == 0 {
                (*sout).kind = 0;
            } else {
                (*sout).kind = 1;
                (*sout).signo = (*g).f_sig as i32;
                (*sout).si_code = (*g).f_code as i32;
                (*sout).trapno = (*g).f_trapno as u32;
                (*sout).err = (*g).f_err as u64;
                (*sout).addr = (*g).f_addr;
            }
            std::ptr::copy_nonoverlapping(
                DATA as *const u8,
                shm.add(OFF_DOUT + i * DATA_SIZE),
                DATA_SIZE,
            );
            i += 1;
            (*ctl).completed.store(i as u32, Ordering::Release);
        }
        if libc::write(resp_wr, b"D".as_ptr() as *const libc::c_void, 1) != 1 {
            libc::_exit(0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

struct Child {
    pid: libc::pid_t,
    cmd_wr: i32,
    resp_rd: i32,
}

/// A forked native runner (see the module documentation).
pub struct NativeRunner {
    shm: *mut u8,
    child: Option<Child>,
    /// A case that makes no progress for this long is killed (`NativeExit::Timeout`).
    pub timeout: Duration,
    /// Number of children started so far.
    pub children_started: usize,
    /// Self-test of the setup failure path: the child maps something at DATA first.
    occupy_data: bool,
}

// The raw shared-memory pointer is only used through &mut self.
unsafe impl Send for NativeRunner {}

fn errno_str(e: i32) -> String {
    format!("{} (errno {e})", std::io::Error::from_raw_os_error(e))
}

fn wait_status(pid: libc::pid_t) -> String {
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != pid {
        return format!("waitpid failed: {}", std::io::Error::last_os_error());
    }
    if libc::WIFSIGNALED(status) {
        let s = libc::WTERMSIG(status);
        format!("killed by signal {s} ({})", signal_name(s))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("wait status {status:#x}")
    }
}

pub fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSYS => "SIGSYS",
        libc::SIGABRT => "SIGABRT",
        _ => "?",
    }
}

/// Waits until `fd` is readable or `ms` elapsed. Returns true if readable (or hung up).
fn poll_in(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}

impl NativeRunner {
    /// Starts the child. Fails (never silently) if the child cannot set up its mappings.
    pub fn new() -> Result<NativeRunner, String> {
        Self::new_with(false)
    }

    /// `occupy_data`: make the child's data-window mapping fail (tests the error path).
    pub fn new_with(occupy_data: bool) -> Result<NativeRunner, String> {
        if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            return Err("x86native needs x86-64 Linux".into());
        }
        let shm = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SHM_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if shm == libc::MAP_FAILED {
            return Err(format!(
                "x86native: mmap of {SHM_LEN} bytes of shared memory: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut r = NativeRunner {
            shm: shm as *mut u8,
            child: None,
            timeout: Duration::from_secs(20),
            children_started: 0,
            occupy_data,
        };
        r.spawn()?;
        Ok(r)
    }

    fn ctl(&self) -> &Ctl {
        unsafe { &*(self.shm as *const Ctl) }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = [0i32; 2];
        let mut resp = [0i32; 2];
        unsafe {
            if libc::pipe2(cmd.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return Err(format!(
                    "x86native: pipe2: {}",
                    std::io::Error::last_os_error()
                ));
            }
            if libc::pipe2(resp.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                libc::close(cmd[0]);
                libc::close(cmd[1]);
                return Err(format!(
                    "x86native: pipe2: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        self.ctl().setup_stage.store(0, Ordering::SeqCst);
        self.ctl().setup_errno.store(0, Ordering::SeqCst);
        let parent = unsafe { libc::getpid() };
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            unsafe {
                for fd in cmd.iter().chain(resp.iter()) {
                    libc::close(*fd);
                }
            }
            return Err(format!("x86native: fork: {e}"));
        }
        if pid == 0 {
            unsafe { child_main(self.shm, cmd[0], resp[1], parent, self.occupy_data) }
        }
        unsafe {
            libc::close(cmd[0]);
            libc::close(resp[1]);
        }
        self.children_started += 1;
        let child = Child {
            pid,
            cmd_wr: cmd[1],
            resp_rd: resp[0],
        };
        // Wait for the ready byte.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut b = [0u8; 1];
        loop {
            if poll_in(child.resp_rd, 200) {
                let n =
                    unsafe { libc::read(child.resp_rd, b.as_mut_ptr() as *mut libc::c_void, 1) };
                if n == 1 && b[0] == b'R' {
                    self.child = Some(child);
                    return Ok(());
                }
                if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // EOF: the child failed.
                let status = wait_status(child.pid);
                unsafe {
                    libc::close(child.cmd_wr);
                    libc::close(child.resp_rd);
                }
                let stage = self.ctl().setup_stage.load(Ordering::SeqCst) as usize;
                let e = self.ctl().setup_errno.load(Ordering::SeqCst);
                return Err(format!(
                    "x86native: the runner child could not set up ({status}): {}: {}",
                    STAGES.get(stage).copied().unwrap_or("?"),
                    errno_str(e)
                ));
            }
            if Instant::now() > deadline {
                Self::kill_child(child);
                return Err("x86native: the runner child did not become ready within 20 s".into());
            }
        }
    }

    fn kill_child(child: Child) -> String {
        unsafe {
            libc::kill(child.pid, libc::SIGKILL);
            libc::close(child.cmd_wr);
            libc::close(child.resp_rd);
        }
        wait_status(child.pid)
    }

    /// Runs the cases (in batches of [`BATCH`]); one outcome per case, in order. Errors only if
    /// the runner cannot continue (child cannot be restarted, case too large).
    pub fn run(&mut self, cases: &[NativeCase]) -> Result<Vec<NativeOutcome>, String> {
        let mut out = Vec::with_capacity(cases.len());
        for chunk in cases.chunks(BATCH) {
            self.run_batch(chunk, &mut out)?;
        }
        Ok(out)
    }

    /// Runs one case.
    pub fn run_one(
        &mut self,
        code: &[u8],
        state: &UserState,
        data: &[u8],
    ) -> Result<NativeOutcome, String> {
        let mut v = self.run(&[NativeCase { code, state, data }])?;
        Ok(v.pop().unwrap())
    }

    fn run_batch(
        &mut self,
        cases: &[NativeCase],
        out: &mut Vec<NativeOutcome>,
    ) -> Result<(), String> {
        let n = cases.len();
        assert!(n <= BATCH);
        for (i, c) in cases.iter().enumerate() {
            if c.code.len() > MAX_CODE {
                return Err(format!(
                    "x86native: case code is {} bytes (max {MAX_CODE})",
                    c.code.len()
                ));
            }
            if c.data.len() != DATA_SIZE {
                return Err(format!(
                    "x86native: data window must be {DATA_SIZE} bytes, not {}",
                    c.data.len()
                ));
            }
            let mut raw = RawState::ZERO;
            raw.gpr = c.state.gpr;
            raw.rflags = (c.state.rflags & LOADABLE_RFLAGS) | 0x202;
            raw.rip = c.state.rip;
            raw.fx = c.state.fxsave;
            // MXCSR reserved bits would make FXRSTOR64 fault in the entry stub.
            let mxcsr = u32::from_le_bytes(raw.fx[24..28].try_into().unwrap()) & 0xFFFF;
            raw.fx[24..28].copy_from_slice(&mxcsr.to_le_bytes());
            unsafe {
                let s = (self.shm.add(OFF_IN) as *mut SlotIn).add(i);
                std::ptr::write(addr_of_mut!((*s).state), raw);
                (*s).code_len = c.code.len() as u32;
                std::ptr::copy_nonoverlapping(
                    c.code.as_ptr(),
                    addr_of_mut!((*s).code) as *mut u8,
                    c.code.len(),
                );
                std::ptr::copy_nonoverlapping(
                    c.data.as_ptr(),
                    self.shm.add(OFF_DIN + i * DATA_SIZE),
                    DATA_SIZE,
                );
            }
        }
        let mut special: Vec<Option<NativeExit>> = vec![None; n];
        let mut next = 0usize;
        while next < n {
            if self.child.is_none() {
                self.spawn()?;
            }
            self.ctl().completed.store(next as u32, Ordering::SeqCst);
            let child = self.child.as_ref().unwrap();
            let cmd = [next as u32, n as u32];
            let w = unsafe { libc::write(child.cmd_wr, cmd.as_ptr() as *const libc::c_void, 8) };
            let mut died: Option<(usize, NativeExit)> = None;
            if w != 8 {
                let i = next;
                let status = Self::kill_child(self.child.take().unwrap());
                died = Some((
                    i,
                    NativeExit::Crashed {
                        status: format!("command write failed; child {status}"),
                    },
                ));
            } else {
                let mut last_progress = Instant::now();
                let mut last_completed = next as u32;
                loop {
                    let child = self.child.as_ref().unwrap();
                    if poll_in(child.resp_rd, 50) {
                        let mut b = [0u8; 1];
                        let r = unsafe {
                            libc::read(child.resp_rd, b.as_mut_ptr() as *mut libc::c_void, 1)
                        };
                        if r == 1 && b[0] == b'D' {
                            next = n;
                            break;
                        }
                        if r < 0
                            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                        {
                            continue;
                        }
                        // EOF: the child died during case `completed`.
                        let i = self.ctl().completed.load(Ordering::Acquire) as usize;
                        let child = self.child.take().unwrap();
                        let status = wait_status(child.pid);
                        unsafe {
                            libc::close(child.cmd_wr);
                            libc::close(child.resp_rd);
                        }
                        died = Some((i, NativeExit::Crashed { status }));
                        break;
                    }
                    let c = self.ctl().completed.load(Ordering::Acquire);
                    if c != last_completed {
                        last_completed = c;
                        last_progress = Instant::now();
                    } else if last_progress.elapsed() > self.timeout {
                        let i = c as usize;
                        Self::kill_child(self.child.take().unwrap());
                        died = Some((i, NativeExit::Timeout));
                        break;
                    }
                }
            }
            if let Some((i, exit)) = died {
                if i >= n {
                    return Err(format!(
                        "x86native: the child died after completing the batch: {exit:?}"
                    ));
                }
                special[i] = Some(exit);
                next = i + 1;
            }
        }
        for (i, c) in cases.iter().enumerate() {
            if let Some(exit) = special[i].take() {
                out.push(NativeOutcome {
                    exit,
                    state: c.state.clone(),
                    data: c.data.to_vec(),
                });
                continue;
            }
            let so = unsafe { &*(self.shm.add(OFF_OUT) as *const SlotOut).add(i) };
            let mut state = c.state.clone();
            state.gpr = so.state.gpr;
            state.rflags = so.state.rflags;
            state.rip = so.state.rip;
            state.fxsave = so.state.fx;
            let exit = if so.kind == 0 {
                state.rip = STOP;
                NativeExit::Done
            } else {
                // The kernel's trap number; the signal only as a fallback.
                let vector = if so.trapno < 32 {
                    so.trapno as u8
                } else {
                    vector_of_signal(so.signo, so.si_code).unwrap_or(255)
                };
                NativeExit::Exception {
                    vector,
                    error: so.err as u32,
                    fault_addr: if vector == 14 { so.addr } else { 0 },
                    signal: so.signo,
                    si_code: so.si_code,
                }
            };
            let data = unsafe {
                std::slice::from_raw_parts(self.shm.add(OFF_DOUT + i * DATA_SIZE), DATA_SIZE)
            }
            .to_vec();
            out.push(NativeOutcome { exit, state, data });
        }
        Ok(())
    }
}

impl Drop for NativeRunner {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            Self::kill_child(c);
        }
        unsafe {
            libc::munmap(self.shm as *mut libc::c_void, SHM_LEN);
        }
    }
}

/// The exception vector a signal would map to when the kernel's trap number is not available
/// (documentation of the mapping; the runner uses the trap number from the signal frame).
pub fn vector_of_signal(signal: i32, si_code: i32) -> Option<u8> {
    // si_code values from <asm-generic/siginfo.h>.
    const FPE_INTDIV: i32 = 1;
    const FPE_INTOVF: i32 = 2;
    const SI_KERNEL: i32 = 0x80;
    const BUS_ADRALN: i32 = 1;
    const TRAP_BRKPT: i32 = 1;
    match signal {
        libc::SIGFPE if si_code == FPE_INTDIV || si_code == FPE_INTOVF => Some(0),
        libc::SIGFPE => Some(19),
        libc::SIGILL => Some(6),
        libc::SIGSEGV if si_code == SI_KERNEL => Some(13),
        libc::SIGSEGV => Some(14),
        libc::SIGBUS if si_code == BUS_ADRALN => Some(17),
        libc::SIGBUS => Some(12),
        libc::SIGTRAP if si_code == TRAP_BRKPT => Some(3),
        libc::SIGTRAP => Some(1),
        _ => None,
    }
}
