//! Helpers shared by the integration tests (`mod common;`).
//!
//! - [`rvgen`]: seeded random RISC-V program generator for the differential test
//!   (tests/riscv_diff.rs).
//! - [`net`]: guest DHCP, a loopback HTTP server, payloads (network and wasm tests).
//! - [`oci`]: container images (OCI layout, OCI archive, docker save) made from busybox.
#![allow(dead_code)]

pub mod net;
pub mod oci;
pub mod rvgen;
