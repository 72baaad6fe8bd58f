//! Bad input to `petrel boot`: each case must end with one clear line on stderr and a non-zero
//! exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn petrel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_petrel"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("petrel runs")
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guest-images/demo/demo.elf")
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("petrel-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts a failed run that printed exactly one line mentioning `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert_ne!(out.status.code(), Some(101), "petrel panicked: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "expected one line, got: {err}"
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(err.starts_with("petrel: "), "{err}");
}

/// File offset of the first PT_LOAD program header of an ELF64 file.
fn first_load_header(bytes: &[u8]) -> usize {
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(bytes[56..58].try_into().unwrap()) as usize;
    (0..phnum)
        .map(|i| phoff + i * 56)
        .find(|&h| u32::from_le_bytes(bytes[h..h + 4].try_into().unwrap()) == 1)
        .expect("a PT_LOAD header")
}

fn boot(kernel: &Path, extra: &[&str]) -> Output {
    let k = kernel.to_str().unwrap();
    let mut args = vec!["boot", "--arch", "riscv64", "--bios", "none", "--kernel", k];
    args.extend_from_slice(extra);
    petrel(&args)
}

#[test]
fn missing_kernel_file() {
    let out = boot(Path::new("/nonexistent/prog.elf"), &[]);
    assert_one_line_error(&out, "/nonexistent/prog.elf");
}

#[test]
fn not_an_elf() {
    let p = scratch("text.elf", b"hello, I am not an ELF file\n");
    assert_one_line_error(&boot(&p, &[]), "not an ELF file");
}

#[test]
fn truncated_elf() {
    let full = std::fs::read(demo()).unwrap();
    for len in [20, 64, 100, full.len() / 2] {
        let p = scratch(&format!("trunc{len}.elf"), &full[..len]);
        assert_one_line_error(&boot(&p, &[]), "truncated");
    }
}

#[test]
fn foreign_architecture() {
    let mut bytes = std::fs::read(demo()).unwrap();
    bytes[18] = 62; // e_machine = x86-64
    let p = scratch("x86.elf", &bytes);
    assert_one_line_error(&boot(&p, &[]), "not a 64-bit RISC-V ELF");
}

#[test]
fn segment_outside_ram() {
    // 8 MiB of RAM ends at 0x8080_0000; move the first segment's p_paddr far beyond it.
    let mut bytes = std::fs::read(demo()).unwrap();
    let ph = first_load_header(&bytes);
    bytes[ph + 24..ph + 32].copy_from_slice(&0x9000_0000u64.to_le_bytes());
    let p = scratch("far.elf", &bytes);
    assert_one_line_error(&boot(&p, &["--memory", "8"]), "outside RAM");
}

#[test]
fn memory_out_of_range() {
    assert_one_line_error(&boot(&demo(), &["--memory", "0"]), "out of range");
    assert_one_line_error(&boot(&demo(), &["--memory", "99999999"]), "out of range");
}

#[test]
fn unknown_flag_and_bad_values() {
    assert_one_line_error(&petrel(&["boot", "--frobnicate"]), "--frobnicate");
    assert_one_line_error(&petrel(&["boot", "--memory", "lots"]), "lots");
    assert_one_line_error(&petrel(&["boot", "--arch", "mips"]), "mips");
    let d = demo();
    assert_one_line_error(&boot(&d, &["--timeout=-1"]), "timeout");
}

#[test]
fn demo_runs_and_exits_zero() {
    let out = boot(&demo(), &["--timeout", "30"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("demo: done"), "{text}");
    assert!(text.contains("memory: 256 MiB"), "{text}");
}

#[test]
fn timeout_ends_a_guest_that_never_stops() {
    // `j .` at the entry point: the guest spins forever.
    let mut bytes = std::fs::read(demo()).unwrap();
    let ph = first_load_header(&bytes);
    let off = u64::from_le_bytes(bytes[ph + 8..ph + 16].try_into().unwrap()) as usize;
    bytes[off..off + 4].copy_from_slice(&0x0000_006fu32.to_le_bytes());
    let p = scratch("spin.elf", &bytes);
    let out = boot(&p, &["--timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(124));
    let out = boot(&p, &["--max-insns", "100000"]);
    assert_eq!(out.status.code(), Some(124));
}

fn boot_x86(kernel: &Path, extra: &[&str]) -> Output {
    let k = kernel.to_str().unwrap();
    let mut args = vec!["boot", "--arch", "x86_64", "--bios", "none", "--kernel", k];
    args.extend_from_slice(extra);
    petrel(&args)
}

/// A minimal Multiboot v1 image with the a.out kludge: header at file offset 0, loaded at
/// 1 MiB, entry right after the header running `code`.
fn multiboot_image(code: &[u8]) -> Vec<u8> {
    let load = 0x10_0000u32;
    let flags = 1u32 << 16;
    let mut v = Vec::new();
    for w in [
        0x1bad_b002u32,
        flags,
        0u32.wrapping_sub(0x1bad_b002).wrapping_sub(flags),
        load,      // header_addr
        load,      // load_addr
        0,         // load_end_addr: whole file
        0,         // bss_end_addr
        load + 32, // entry
    ] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(code);
    v
}

#[test]
fn x86_bad_kernels() {
    assert_one_line_error(
        &boot_x86(Path::new("/nonexistent/prog.elf"), &[]),
        "/nonexistent/prog.elf",
    );
    let p = scratch("x86-garbage.bin", &[0x55; 9000]);
    assert_one_line_error(&boot_x86(&p, &[]), "Multiboot");
    // The RISC-V demo is an ELF64 with no Multiboot header.
    assert_one_line_error(&boot_x86(&demo(), &[]), "Multiboot");
    // A header whose image does not fit in RAM.
    let mut img = multiboot_image(&[0xf4]);
    img[12..16].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    img[16..20].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    img[28..32].copy_from_slice(&0xfff0_0020u32.to_le_bytes());
    let p = scratch("x86-high.bin", &img);
    assert_one_line_error(&boot_x86(&p, &[]), "RAM");
    let p = scratch("x86-ok.bin", &multiboot_image(&[0xf4]));
    assert_one_line_error(&boot_x86(&p, &["--drive", "/dev/null"]), "--drive");
    assert_one_line_error(&boot_x86(&p, &["--memory", "1"]), "memory");
    assert_one_line_error(
        &petrel(&["boot", "--arch", "x86_64", "--kernel", p.to_str().unwrap()]),
        "--bios none",
    );
}

#[test]
fn x86_multiboot_exit_port_and_timeout() {
    // mov al, 'A'; out 0xe9, al; mov eax, 0x20; out 0xf4, eax  → prints A, exits (0x20<<1)|1
    let p = scratch(
        "x86-exit.bin",
        &multiboot_image(&[0xb0, b'A', 0xe6, 0xe9, 0xb8, 0x20, 0, 0, 0, 0xe7, 0xf4]),
    );
    let out = boot_x86(&p, &[]);
    assert_eq!(out.status.code(), Some(0x41), "{out:?}");
    assert_eq!(out.stdout, b"A");
    // cli; hlt: nothing wakes the CPU, so only the time limit ends the run.
    let p = scratch("x86-hlt.bin", &multiboot_image(&[0xfa, 0xf4]));
    let out = boot_x86(&p, &["--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(124), "{out:?}");
}
