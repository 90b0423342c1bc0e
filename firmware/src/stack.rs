//! Stack measurement by painting.
//!
//! cortex-m-rt's `paint-stack` feature fills the whole stack region, from
//! `_stack_end` (just above the statics) up to `_stack_start` (the top of
//! RAM), with `STACK_PAINT_VALUE` in the reset handler, before `main` runs.
//! The stack grows down; the lowest word that no longer holds the paint
//! marks the deepest the stack has been since it was painted.
//!
//! [`step`] measures one call on its own: it paints the free part of the
//! stack again (everything below the current stack pointer, which is dead),
//! notes the stack pointer, runs the call through a trampoline that cannot
//! be inlined, and reports how far below that stack pointer the paint was
//! disturbed. The figure is the stack *that call* needs: its frames and
//! everything they call, not the caller's frames nor state kept in statics.
//! Before each repaint the whole-run high-water mark is folded into a
//! running maximum, so [`stack_high_water`] still reports the deepest the
//! stack has been since reset.
//!
//! Caveat of the method: a frame that reserves stack it never writes (an
//! uninitialised array) is under-counted by the unwritten part.

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::STACK_PAINT_VALUE;

use crate::host;

extern "C" {
    // Both provided by cortex-m-rt's link.x; only their addresses matter.
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Deepest whole-run stack use seen before the last repaint.
static MAX_SEEN: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));
/// Deepest single handshake step and deepest setup call (bytes).
static STEP_MAX: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));
static SETUP_MAX: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));

/// Bounds of the stack region, `(lowest address, one past the highest)`.
fn region() -> (usize, usize) {
    // Taking the address of an extern static is safe; nothing is read.
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    (bottom, top)
}

/// Lowest stack address whose word lost the paint (`top` if none did).
fn lowest_used() -> usize {
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
    addr
}

fn bump(max: &Mutex<Cell<usize>>, v: usize) {
    interrupt::free(|cs| {
        let c = max.borrow(cs);
        if v > c.get() {
            c.set(v);
        }
    });
}

fn get(max: &Mutex<Cell<usize>>) -> usize {
    interrupt::free(|cs| max.borrow(cs).get())
}

/// Bytes of stack in use at the deepest point since reset.
pub fn stack_high_water() -> usize {
    let (_, top) = region();
    bump(&MAX_SEEN, top - lowest_used());
    get(&MAX_SEEN)
}

/// Bytes the stack region holds in total.
pub fn stack_size() -> usize {
    let (bottom, top) = region();
    top - bottom
}

/// Whether the stack has reached the bottom of its region at any point: its
/// lowest word lost the paint, so it may have overflowed into the statics.
pub fn stack_exhausted() -> bool {
    stack_high_water() >= stack_size()
}

/// The deepest single handshake step measured by [`step`].
pub fn step_max() -> usize {
    get(&STEP_MAX)
}

/// The deepest setup call (constructors, device lists) measured by [`setup`].
pub fn setup_max() -> usize {
    get(&SETUP_MAX)
}

/// Paint `[bottom, sp)` again, after folding the high-water mark so far into
/// the whole-run maximum. Everything below the stack pointer is dead stack.
#[inline(never)]
fn repaint() {
    stack_high_water();
    let (bottom, _) = region();
    let sp = cortex_m::register::msp::read() as usize & !3;
    let mut addr = bottom;
    while addr < sp {
        // SAFETY: `[bottom, sp)` lies inside the stack region (the stack
        // pointer is in it, and `bottom` is its lower end) and below the
        // stack pointer of this function, so no live frame, borrow or
        // object is there; interrupts that could push frames meanwhile are
        // never enabled in this firmware. The address is word-aligned.
        unsafe { core::ptr::write_volatile(addr as *mut u32, STACK_PAINT_VALUE) };
        addr += 4;
    }
}

/// Run `f` in a frame of its own, so that everything it needs is below the
/// stack pointer noted by the caller (inlining it would hide its locals in
/// the caller's frame).
#[inline(never)]
fn trampoline<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Run `f` and return what it returns and the bytes of stack it needed.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize) {
    repaint();
    let sp = cortex_m::register::msp::read() as usize;
    let r = trampoline(f);
    let low = lowest_used();
    (r, sp.saturating_sub(low))
}

/// Measure one handshake step, a single call into accord-core, and report
/// it as `STACK_STEP=<name> BYTES=<n>`.
pub fn step<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let (r, used) = measured(f);
    bump(&STEP_MAX, used);
    report("STACK_STEP=", name, used);
    r
}

/// Measure a setup call (building a machine, listing devices): reported as
/// `STACK_SETUP=<name> BYTES=<n>`, kept out of the handshake-step maximum.
pub fn setup<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let (r, used) = measured(f);
    bump(&SETUP_MAX, used);
    report("STACK_SETUP=", name, used);
    r
}

fn report(key: &str, name: &str, used: usize) {
    host::text(key);
    host::text(name);
    host::text(" BYTES=");
    host::number(used);
    host::text("\n");
}

/// Report the whole-run high-water mark after a phase, as
/// `STACK_PHASE=<name> BYTES=<n>` (used by the baseline build).
pub fn checkpoint(name: &str) -> usize {
    let used = stack_high_water();
    report("STACK_PHASE=", name, used);
    used
}
