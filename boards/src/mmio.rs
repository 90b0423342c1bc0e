//! Device register access. Only the board modules call these, with the
//! fixed register addresses of their memory maps.

/// Read the 32-bit device register at `addr`.
pub(crate) fn read(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the register addresses named in nrf51.rs or
    // mps2.rs: a 4-byte aligned device register of this board, not memory
    // any Rust object lives in. A volatile read has no other effect than
    // the device's own (e.g. popping a receive FIFO), which the caller wants.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Write the 32-bit device register at `addr`.
pub(crate) fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`: a device register of this board, not memory of
    // any Rust object; the write's effect on the device is the intent.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}
