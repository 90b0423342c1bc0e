//! Allocates through a global allocator that forwards to C `malloc`/`free`.
#![no_std]
extern crate alloc;

use alloc::boxed::Box;
use core::alloc::{GlobalAlloc, Layout};

extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

struct CAlloc;

// SAFETY: forwards to the C allocator, which meets GlobalAlloc's contract
// for the alignments this canary uses (never linked into a program).
unsafe impl GlobalAlloc for CAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C call.
        unsafe { malloc(layout.size()) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `malloc` above.
        unsafe { free(ptr) }
    }
}

#[global_allocator]
static ALLOCATOR: CAlloc = CAlloc;

/// Box a value: the allocation the check must find.
#[no_mangle]
pub extern "C" fn canary_box(x: u32) -> *mut u32 {
    Box::into_raw(Box::new(x))
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
