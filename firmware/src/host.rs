//! Text to the host over semihosting, without `core::fmt` and without a
//! panic path.
//!
//! `cortex_m_semihosting::hprintln!` keeps its stdout handle in a
//! `RefCell` and borrows it with `borrow_ref_mut`, which panics when the
//! cell is already borrowed. LLVM cannot prove that never happens, so the
//! `core::cell::panic_already_borrowed` path survives optimisation and the
//! release link fails (see the panic handler in main.rs). This module keeps
//! the handle in a `Cell` instead (`HostStream` is `Copy`), writes through
//! `HostStream::write_all` (panic-free) and formats integers itself, which
//! also keeps `core::fmt` (about 2.5 KiB) out of the image.

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m_semihosting::hio::{self, HostStream};

static STDOUT: Mutex<Cell<Option<HostStream>>> = Mutex::new(Cell::new(None));

/// The host's stdout, opened on first use; `None` if the host refused.
fn stdout() -> Option<HostStream> {
    interrupt::free(|cs| {
        let cell = STDOUT.borrow(cs);
        if cell.get().is_none() {
            cell.set(hio::hstdout().ok());
        }
        cell.get()
    })
}

/// Write `s` to the host's stdout. Output is best effort: a host that
/// refuses it loses the text, and the exit status still tells the result.
pub fn text(s: &str) {
    if let Some(mut out) = stdout() {
        let _ = out.write_all(s.as_bytes());
    }
}

/// Write `v` in decimal.
pub fn number(v: usize) {
    let mut buf = [0u8; 20];
    let mut v = v;
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
        if v == 0 {
            break;
        }
    }
    let digits = buf.get(buf.len() - len..).unwrap_or(&[]);
    if let Some(mut out) = stdout() {
        let _ = out.write_all(digits);
    }
}

/// One parseable `KEY=VALUE` line.
pub fn line(key: &str, value: usize) {
    text(key);
    text("=");
    number(value);
    text("\n");
}

/// Leave QEMU with status 0 (`ok`) or 1 through semihosting `SYS_EXIT`.
pub fn exit(ok: bool) -> ! {
    cortex_m_semihosting::debug::exit(if ok {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    });
    // Only reached if no debugger/host is attached to take the exit.
    loop {
        cortex_m::asm::wfi();
    }
}
