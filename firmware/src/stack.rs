//! Stack measurement by painting.
//!
//! cortex-m-rt's `paint-stack` feature fills the whole stack region, from
//! `_stack_end` (just above the statics) up to `_stack_start` (the top of
//! RAM), with `STACK_PAINT_VALUE` in the reset handler, before `main` runs.
//! The stack grows down; the lowest word that no longer holds the paint
//! marks the deepest the stack has ever been. Paint is never renewed, so
//! [`stack_high_water`] is the maximum since reset, whenever it is called.
//!
//! Caveat of the method: a frame that reserves stack it never writes (an
//! uninitialised array) is under-counted by the unwritten part.

use cortex_m_rt::STACK_PAINT_VALUE;

use crate::host;

extern "C" {
    // Both provided by cortex-m-rt's link.x; only their addresses matter.
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Bounds of the stack region, `(lowest address, one past the highest)`.
fn region() -> (usize, usize) {
    // Taking the address of an extern static is safe; nothing is read.
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    (bottom, top)
}

/// Bytes of stack in use at the deepest point since reset.
pub fn stack_high_water() -> usize {
    let (bottom, top) = region();
    let mut addr = bottom;
    while addr < top {
        // SAFETY: `addr` is word-aligned (cortex-m-rt aligns `_stack_end`
        // to 4 and we step by 4) and inside `[_stack_end, _stack_start)`,
        // the RAM the linker script reserves for the stack, so it is mapped
        // and readable. No Rust object is borrowed there except live stack
        // frames, and a volatile word read does not disturb them.
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}

/// Bytes the stack region holds in total.
pub fn stack_size() -> usize {
    let (bottom, top) = region();
    top - bottom
}

/// Whether the stack has reached the bottom of its region: its lowest word
/// lost the paint, so it may have overflowed into the statics below.
pub fn stack_exhausted() -> bool {
    stack_high_water() >= stack_size()
}

/// Report the high-water mark after a handshake step, as
/// `STACK_STEP=<step> BYTES=<n>`, and return it.
pub fn checkpoint(step: &str) -> usize {
    let used = stack_high_water();
    host::text("STACK_STEP=");
    host::text(step);
    host::text(" BYTES=");
    host::number(used);
    host::text("\n");
    used
}
