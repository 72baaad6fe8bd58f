//! Helpers shared by the integration tests (`mod common;`).
//!
//! - [`rvgen`]: seeded random RISC-V program generator for the differential test
//!   (tests/riscv_diff.rs).
//! - [`net`]: guest DHCP, a loopback HTTP server, payloads (network and wasm tests).
#![allow(dead_code)]

pub mod net;
pub mod rvgen;
