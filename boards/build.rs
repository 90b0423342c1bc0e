//! One memory map per board, chosen by the target: the nRF51822 of the
//! micro:bit (256 KiB flash, 16 KiB RAM) for the Cortex-M0, and a 256 KiB /
//! 64 KiB window of the MPS2 AN386 for the Cortex-M4F.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();
    let memory: &[u8] = if target.starts_with("thumbv6m") {
        include_bytes!("memory-nrf51.x")
    } else {
        include_bytes!("memory-mps2.x")
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-nrf51.x");
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
