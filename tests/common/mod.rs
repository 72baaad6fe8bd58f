//! Helpers shared by the integration tests (`mod common;`).
//!
//! - [`rvgen`]: seeded random RISC-V program generator for the differential test
//!   (tests/riscv_diff.rs).
#![allow(dead_code)]

pub mod rvgen;
