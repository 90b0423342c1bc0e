//! A defmt global logger for the `defmt` feature: rzCOBS frames go to the
//! host's **stderr** through semihosting, so the text report on stdout stays
//! parseable. Decode them with `defmt-print -e <elf>` if wanted.
//!
//! Why not `defmt-semihosting`: its logger `panic!`s on re-entrant use,
//! which leaves panic paths in the image (the no-panic proof would fail),
//! and it writes to stdout. This one drops a nested frame instead.
//!
//! Frames are not held under one critical section from `acquire` to
//! `release`; each call takes a short one. A log call from an interrupt in
//! the middle of a frame sees `depth > 0` and is dropped whole (its
//! `write`s are ignored because only depth 1 writes).

use core::cell::{Cell, RefCell};

use cortex_m::interrupt::{self, Mutex};
use cortex_m_semihosting::hio::{self, HostStream};

struct State {
    /// Open `acquire`s: 0 idle, 1 one frame, more: nested (dropped).
    depth: Cell<u8>,
    encoder: RefCell<defmt::Encoder>,
    stderr: Cell<Option<HostStream>>,
}

static STATE: Mutex<State> = Mutex::new(State {
    depth: Cell::new(0),
    encoder: RefCell::new(defmt::Encoder::new()),
    stderr: Cell::new(None),
});

fn emit(stderr: Option<HostStream>, bytes: &[u8]) {
    if let Some(mut h) = stderr {
        let _ = h.write_all(bytes);
    }
}

/// Run `f` on the encoder and the host stream if this is the outer frame.
fn with_outer_frame(f: impl FnOnce(&mut defmt::Encoder, Option<HostStream>)) {
    interrupt::free(|cs| {
        let s = STATE.borrow(cs);
        if s.depth.get() != 1 {
            return;
        }
        if s.stderr.get().is_none() {
            s.stderr.set(hio::hstderr().ok());
        }
        // `try_borrow_mut` rather than `borrow_mut`: no panic path.
        if let Ok(mut enc) = s.encoder.try_borrow_mut() {
            f(&mut enc, s.stderr.get());
        }
    });
}

#[defmt::global_logger]
struct Logger;

// SAFETY: defmt requires `acquire`/`release` to bracket each frame and
// `write` to be called only in between; frames from different contexts must
// not interleave. The depth counter gives only the outermost context the
// encoder, and all state is touched inside `interrupt::free` on this
// single-core part, so frames never interleave.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        interrupt::free(|cs| {
            let d = &STATE.borrow(cs).depth;
            d.set(d.get().saturating_add(1));
        });
        with_outer_frame(|enc, out| enc.start_frame(|b| emit(out, b)));
    }

    unsafe fn flush() {
        // Semihosting writes are synchronous: nothing is buffered here.
    }

    unsafe fn release() {
        with_outer_frame(|enc, out| enc.end_frame(|b| emit(out, b)));
        interrupt::free(|cs| {
            let d = &STATE.borrow(cs).depth;
            d.set(d.get().saturating_sub(1));
        });
    }

    unsafe fn write(bytes: &[u8]) {
        with_outer_frame(|enc, out| enc.write(bytes, |b| emit(out, b)));
    }
}
