//! Compiles the hand-written QEMU-style C baseline at -O2 (c/qemu_style.c).
fn main() {
    println!("cargo:rerun-if-changed=c/qemu_style.c");
    println!("cargo:rerun-if-changed=c/qemu_style.h");
    cc::Build::new()
        .file("c/qemu_style.c")
        .include("c")
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-std=c11")
        .compile("qemu_style");
}
