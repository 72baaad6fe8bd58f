//! The `petrel` executable: a thin shim so the root package (which owns tests/ and benches/) can
//! name the binary; the command line itself lives in `petrel_emulator::cli`.
fn main() {
    std::process::exit(petrel_emulator::cli::main());
}
