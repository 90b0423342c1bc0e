//! Sessions in caller-provided storage, and the checks every call makes
//! before touching it.
//!
//! `accord_source` and `accord_destination` are opaque arrays of `uint64_t`
//! whose length the header states (`ACCORD_SOURCE_STORAGE_WORDS`, ...). This
//! build reads those numbers from the checked-in include/accord.h (ffi/build.rs)
//! and refuses to compile if they are too small for its session types, so a C
//! caller that includes the header always gives enough room. The drift test
//! (ffi/tests/header.rs) keeps them exact; `bash scripts/gen-header.sh`
//! regenerates the header after a capacity or layout change.
//!
//! The first word of the storage is a magic number written by `accord_*_init`
//! and cleared by `accord_*_deinit`: any other call on zeroed or deinitialised
//! storage returns `ACCORD_ERR_NOT_INITIALIZED`, and a destination passed as a
//! source (or the reverse) `ACCORD_ERR_WRONG_ROLE`.
//!
//! Every exported function that can fail has one shape: a wrapper and a
//! body that returns `Result<_, Fail>`, whose pointers go through the checks
//! below (`in_ref`, `out_bytes`, `optional`, ...; NULL and alignment, with
//! the argument's position). The wrapper turns the result into the code and
//! records the failure where the function promises it: `with_mut` in the
//! handle (its last error, and the verdict when the call failed the
//! migration), `with_ref` nowhere (the handle is `const`), `call` (no
//! handle) in the caller's optional `accord_error_info`; `init`, `deinit`,
//! `last_error` and `verdict` are the handle's own lifecycle. Nothing in
//! a body panics (the crate denies unwrap, expect, panic and indexing), and
//! a panic could not cross into C anyway: `extern "C"` functions abort on it.

use core::ffi::c_char;
use core::mem::{align_of, size_of};

use accord_core::error::PeerName;
use accord_core::legacy::Classifier;
use accord_core::{capacity, Destination, Error, Source};

use crate::error::*;

include!(concat!(env!("OUT_DIR"), "/header_sizes.rs"));

/// Storage is given in whole multiples of this many words (256 bytes), so
/// that a small change in accord-core's types does not change the header.
pub const STORAGE_GRANULE_WORDS: usize = 32;

const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(8).div_ceil(STORAGE_GRANULE_WORDS) * STORAGE_GRANULE_WORDS
}

/// Small handles (the legacy classifier) round to 8 words (64 bytes).
const fn small_words_for(bytes: usize) -> usize {
    bytes.div_ceil(8).div_ceil(8) * 8
}

/// Storage words a source needs in this build (what the header generator writes).
pub const SOURCE_WORDS_NEEDED: usize = words_for(size_of::<Cell<Source>>());
/// Storage words a destination needs in this build.
pub const DESTINATION_WORDS_NEEDED: usize = words_for(size_of::<Cell<Destination>>());

/// Storage words a legacy classifier needs in this build.
pub const CLASSIFIER_WORDS_NEEDED: usize = small_words_for(size_of::<Cell<Classifier>>());

/// Length of `accord_legacy_classifier` in `uint64_t` words, as include/accord.h states it.
#[cfg(not(accord_regen))]
pub const ACCORD_LEGACY_CLASSIFIER_STORAGE_WORDS: usize = HEADER_CLASSIFIER_WORDS;
/// While regenerating the header: sized from the type itself.
#[cfg(accord_regen)]
pub const ACCORD_LEGACY_CLASSIFIER_STORAGE_WORDS: usize = CLASSIFIER_WORDS_NEEDED;

/// Length of `accord_source` in `uint64_t` words, as include/accord.h states it.
#[cfg(not(accord_regen))]
pub const ACCORD_SOURCE_STORAGE_WORDS: usize = HEADER_SOURCE_WORDS;
/// Length of `accord_destination` in `uint64_t` words, as include/accord.h states it.
#[cfg(not(accord_regen))]
pub const ACCORD_DESTINATION_STORAGE_WORDS: usize = HEADER_DESTINATION_WORDS;
/// While regenerating the header: sized from the types themselves.
#[cfg(accord_regen)]
pub const ACCORD_SOURCE_STORAGE_WORDS: usize = SOURCE_WORDS_NEEDED;
/// While regenerating the header: sized from the types themselves.
#[cfg(accord_regen)]
pub const ACCORD_DESTINATION_STORAGE_WORDS: usize = DESTINATION_WORDS_NEEDED;

/// Storage for one source session. Opaque: only accord functions touch it.
/// Zero it or pass it to `accord_source_init` before any other call. It holds
/// no pointers into itself, so it may be copied while no call is running.
#[repr(C)]
pub struct accord_source {
    opaque: [u64; ACCORD_SOURCE_STORAGE_WORDS],
}

/// Storage for one destination session. Opaque: only accord functions touch
/// it. Zero it or pass it to `accord_destination_init` before any other call.
/// It holds no pointers into itself, so it may be copied while no call is
/// running.
#[repr(C)]
pub struct accord_destination {
    opaque: [u64; ACCORD_DESTINATION_STORAGE_WORDS],
}

/// Storage for one legacy channel classifier (QEMU peers without accord).
/// Opaque; zero it or pass it to `accord_legacy_classifier_init` first.
#[repr(C)]
pub struct accord_legacy_classifier {
    opaque: [u64; ACCORD_LEGACY_CLASSIFIER_STORAGE_WORDS],
}

const _: () = assert!(
    size_of::<Cell<Classifier>>() <= size_of::<accord_legacy_classifier>(),
    "include/accord.h gives accord_legacy_classifier less storage than this build needs: \
     run `bash scripts/gen-header.sh`"
);
const _: () = assert!(align_of::<Cell<Classifier>>() <= align_of::<accord_legacy_classifier>());
const _: () = assert!(
    size_of::<Cell<Source>>() <= size_of::<accord_source>(),
    "include/accord.h gives accord_source less storage than this build needs \
     (ACCORD_* capacities or accord-core types changed): run `bash scripts/gen-header.sh`"
);
const _: () = assert!(
    size_of::<Cell<Destination>>() <= size_of::<accord_destination>(),
    "include/accord.h gives accord_destination less storage than this build needs \
     (ACCORD_* capacities or accord-core types changed): run `bash scripts/gen-header.sh`"
);
const _: () = assert!(align_of::<Cell<Source>>() <= align_of::<accord_source>());
const _: () = assert!(align_of::<Cell<Destination>>() <= align_of::<accord_destination>());

/// What lives in the storage: the magic word first (so that it can be read
/// without knowing the rest), the last error, and the state machine (or,
/// after an init that refused its configuration, that refusal: the
/// session's verdict).
#[repr(C)]
pub struct Cell<M> {
    magic: u64,
    /// The last error of a call on this handle (see `accord_*_last_error`).
    pub last: Fail,
    /// `last`'s device name whole, when it is a peer's name longer than
    /// the detail's copy (this build's `MAX_NAME_LEN`); empty otherwise.
    pub last_name: PeerName,
    /// The state machine, or why init refused to build one.
    pub machine: Result<M, Fail>,
}

/// A state machine that lives in a handle.
pub trait Machine: Sized {
    /// The C storage type.
    type Storage;
    /// Magic word of an initialised handle of this kind.
    const MAGIC: u64;
    /// Magic words of the other kinds of handle.
    const OTHER_MAGICS: [u64; 2];
    /// Why the migration failed, if it has.
    fn failure(&self) -> Option<&Error>;
    /// The device name of that failure's detail, whole (a peer's, up to 255 bytes).
    fn failure_name(&self) -> Option<&str>;
}

const SOURCE_MAGIC: u64 = u64::from_le_bytes(*b"acrdSRC1");
const DESTINATION_MAGIC: u64 = u64::from_le_bytes(*b"acrdDST1");
const CLASSIFIER_MAGIC: u64 = u64::from_le_bytes(*b"acrdLGC1");

impl Machine for Source {
    type Storage = accord_source;
    const MAGIC: u64 = SOURCE_MAGIC;
    const OTHER_MAGICS: [u64; 2] = [DESTINATION_MAGIC, CLASSIFIER_MAGIC];
    fn failure(&self) -> Option<&Error> {
        self.error()
    }
    fn failure_name(&self) -> Option<&str> {
        self.error_device_name()
    }
}

impl Machine for Destination {
    type Storage = accord_destination;
    const MAGIC: u64 = DESTINATION_MAGIC;
    const OTHER_MAGICS: [u64; 2] = [SOURCE_MAGIC, CLASSIFIER_MAGIC];
    fn failure(&self) -> Option<&Error> {
        self.error()
    }
    fn failure_name(&self) -> Option<&str> {
        self.error_device_name()
    }
}

impl Machine for Classifier {
    type Storage = accord_legacy_classifier;
    const MAGIC: u64 = CLASSIFIER_MAGIC;
    const OTHER_MAGICS: [u64; 2] = [SOURCE_MAGIC, DESTINATION_MAGIC];
    fn failure(&self) -> Option<&Error> {
        None
    }
    fn failure_name(&self) -> Option<&str> {
        None
    }
}

/// Whether `p` is aligned for `T`.
pub(crate) fn aligned<T>(p: *const T) -> bool {
    p.is_aligned()
}

/// The magic word at `p`, after the NULL and alignment checks.
fn magic<M: Machine>(p: *const M::Storage) -> Result<u64, accord_result> {
    if p.is_null() {
        return Err(ACCORD_ERR_NULL_POINTER);
    }
    if !aligned(p.cast::<Cell<M>>()) {
        return Err(ACCORD_ERR_MISALIGNED);
    }
    // SAFETY: non-null and aligned (checked above); the caller passes storage
    // of the handle type, whose first word is the magic (Cell is repr(C) with
    // `magic` first) and which is zeroed or initialised, as documented.
    Ok(unsafe { p.cast::<u64>().read() })
}

fn check<M: Machine>(p: *const M::Storage) -> Result<(), accord_result> {
    match magic::<M>(p)? {
        m if m == M::MAGIC => Ok(()),
        m if M::OTHER_MAGICS.contains(&m) => Err(ACCORD_ERR_WRONG_ROLE),
        _ => Err(ACCORD_ERR_NOT_INITIALIZED),
    }
}

/// The cell of an initialised handle, for reading.
pub(crate) fn cell_ref<'a, M: Machine>(p: *const M::Storage) -> Result<&'a Cell<M>, accord_result> {
    check::<M>(p)?;
    // SAFETY: the magic proves `init` wrote a Cell<M> here (and the storage
    // is large and aligned enough: const assertions above). The reference
    // lives only for the duration of the C call.
    Ok(unsafe { &*p.cast::<Cell<M>>() })
}

/// The cell of an initialised handle, for changing.
pub(crate) fn cell_mut<'a, M: Machine>(
    p: *mut M::Storage,
) -> Result<&'a mut Cell<M>, accord_result> {
    check::<M>(p)?;
    // SAFETY: as in cell_ref; the pointer is mutable and C calls on one
    // handle do not overlap (the API is not thread-safe per handle, as
    // documented), so this is the only reference.
    Ok(unsafe { &mut *p.cast::<Cell<M>>() })
}

/// Initialise the storage at `p` with the machine `make` builds. On failure
/// the handle is still initialised (so `accord_*_last_error` and
/// `accord_*_verdict` say why) but holds no machine: other calls return
/// `ACCORD_E_INVALID_STATE`. A live session (a handle whose init succeeded)
/// is replaced only by a successful init: a refused one leaves it as it was
/// and is recorded as the last error only.
pub(crate) fn init<M: Machine>(
    p: *mut M::Storage,
    make: impl FnOnce() -> Result<M, Fail>,
) -> accord_result {
    if p.is_null() {
        return ACCORD_ERR_NULL_POINTER;
    }
    if !aligned(p.cast::<Cell<M>>()) {
        return ACCORD_ERR_MISALIGNED;
    }
    let made = make();
    if let Err(f) = &made {
        if let Ok(cell) = cell_mut::<M>(p) {
            if cell.machine.is_ok() {
                cell.last = f.clone();
                return f.code;
            }
        }
    }
    let last = match &made {
        Ok(_) => Fail::NONE,
        Err(f) => f.clone(),
    };
    let code = last.code;
    // SAFETY: non-null and aligned (checked above); the storage type is at
    // least as large as Cell<M> (const assertion). `write` neither reads nor
    // drops the old contents, which may be anything: a machine owns no
    // resources (nothing is allocated), so overwriting one leaks nothing.
    unsafe {
        p.cast::<Cell<M>>().write(Cell {
            magic: M::MAGIC,
            last,
            last_name: PeerName::new(),
            machine: made,
        })
    };
    code
}

/// End a session: drop the machine and zero the storage.
pub(crate) fn deinit<M: Machine>(p: *mut M::Storage) -> accord_result {
    if let Err(code) = check::<M>(p) {
        return code;
    }
    // SAFETY: check() proved a Cell<M> written by init is here; after
    // drop_in_place it is not used again, and the whole storage (of the
    // handle type, non-null and aligned) is zeroed so its magic is gone.
    unsafe {
        core::ptr::drop_in_place(p.cast::<Cell<M>>());
        core::ptr::write_bytes(p, 0, 1);
    }
    ACCORD_OK
}

/// Run the body of a function that takes no session handle: the same shape
/// as [`with_mut`] for the rest of the API. A failure's detail goes to the
/// caller's optional `accord_error_info` (`report`: the pointer, may be
/// NULL, and its argument position); `None` for functions without one.
pub(crate) fn call(
    report: Option<(*mut accord_error_info, u16)>,
    body: impl FnOnce() -> Result<accord_result, Fail>,
) -> accord_result {
    match body() {
        Ok(code) => code,
        Err(f) => {
            if let Some((error, position)) = report {
                let _ = opt_out(error, position, f.to_info());
            }
            f.code
        }
    }
}

/// Run `f` on an initialised machine. A failure `f` returns is recorded as
/// the handle's last error; so is the machine's own error if the call made
/// it fail (a deadline, a Reject, an Abort).
pub(crate) fn with_mut<M: Machine>(
    p: *mut M::Storage,
    f: impl FnOnce(&mut M) -> Result<(), Fail>,
) -> accord_result {
    let cell = match cell_mut::<M>(p) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Ok(m) = cell.machine.as_mut() else {
        cell.last = Fail::code(accord_core::ErrorCode::InvalidState);
        return cell.last.code;
    };
    let failed_before = m.failure().is_some();
    let r = f(m);
    let verdict = match m.failure() {
        Some(e) if !failed_before => Some(e),
        _ => None,
    };
    // The verdict's device name whole, kept beside `last` (not in Fail,
    // which every call returns and should stay small).
    let mut last_name = PeerName::new();
    if let Some(name) = verdict.and_then(|_| m.failure_name()) {
        let _ = last_name.push_str(name);
    }
    let code = match (r, verdict) {
        (Ok(()), None) => return ACCORD_OK,
        (Ok(()), Some(v)) => {
            cell.last = Fail::from(v);
            ACCORD_OK
        }
        // The call failed the migration: the verdict is its error.
        (Err(fail), Some(v)) if fail.code == Fail::from(v).code => {
            cell.last = Fail::from(v);
            fail.code
        }
        (Err(fail), _) => {
            last_name.clear();
            let code = fail.code;
            cell.last = fail;
            code
        }
    };
    cell.last_name = last_name;
    code
}

/// Run `f` on an initialised machine without changing it. Errors are not
/// recorded (the handle is `const`); they are boundary codes or say all.
pub(crate) fn with_ref<M: Machine>(
    p: *const M::Storage,
    f: impl FnOnce(&M) -> Result<(), Fail>,
) -> accord_result {
    let cell = match cell_ref::<M>(p) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Ok(m) = cell.machine.as_ref() else {
        return i32::from(accord_core::ErrorCode::InvalidState.as_u16());
    };
    match f(m) {
        Ok(()) => ACCORD_OK,
        Err(fail) => fail.code,
    }
}

/// Fill `out` with what `info` reads from the handle's cell.
fn report<M: Machine>(
    p: *const M::Storage,
    out: *mut accord_error_info,
    info: impl FnOnce(&Cell<M>) -> accord_error_info,
) -> accord_result {
    let cell = match cell_ref::<M>(p) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match out_ref(out, 2) {
        Ok(o) => {
            *o = info(cell);
            ACCORD_OK
        }
        Err(f) => f.code,
    }
}

/// Fill `out` with the handle's last error.
pub(crate) fn last_error<M: Machine>(
    p: *const M::Storage,
    out: *mut accord_error_info,
) -> accord_result {
    report::<M>(p, out, |cell| {
        cell.last.to_info_named(Some(cell.last_name.as_str()))
    })
}

/// Fill `out` with the session's verdict: why init refused it, or why the
/// migration failed; `ACCORD_OK` while nothing has.
pub(crate) fn verdict<M: Machine>(
    p: *const M::Storage,
    out: *mut accord_error_info,
) -> accord_result {
    report::<M>(p, out, |cell| match &cell.machine {
        Ok(m) => m
            .failure()
            .map_or(Fail::NONE, Fail::from)
            .to_info_named(m.failure_name()),
        Err(refused) => refused.to_info(),
    })
}

/// A caller's output pointer (argument `position`), checked.
pub(crate) fn out_ref<'a, T>(p: *mut T, position: u16) -> Result<&'a mut T, Fail> {
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    if !aligned(p) {
        return Err(Fail::arg_value(
            ACCORD_ERR_MISALIGNED,
            position,
            align_of::<T>() as u32,
            0,
        ));
    }
    // SAFETY: non-null and aligned (checked above). Every T used here is a
    // plain-data repr(C) struct or integer, valid for any bit pattern, so a
    // reference to the caller's (possibly uninitialised) object is sound for
    // writing; the caller promises it is writable and not aliased.
    Ok(unsafe { &mut *p })
}

/// A caller's input pointer (argument `position`), checked.
pub(crate) fn in_ref<'a, T>(p: *const T, position: u16) -> Result<&'a T, Fail> {
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    if !aligned(p) {
        return Err(Fail::arg_value(
            ACCORD_ERR_MISALIGNED,
            position,
            align_of::<T>() as u32,
            0,
        ));
    }
    // SAFETY: non-null and aligned (checked above); the caller passes an
    // initialised object of the C type T (plain data: integers, arrays and
    // pointers, valid for any bit pattern), readable for the call.
    Ok(unsafe { &*p })
}

/// `len` bytes at `p` (argument `position`); NULL is allowed when `len` is 0.
pub(crate) fn in_bytes<'a>(p: *const u8, len: usize, position: u16) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    // SAFETY: non-null (checked above); the caller promises `len` readable
    // bytes at `p` that do not change during the call.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// `len` writable bytes at `p` (argument `position`); NULL is allowed when `len` is 0.
pub(crate) fn out_bytes<'a>(p: *mut u8, len: usize, position: u16) -> Result<&'a mut [u8], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    // SAFETY: non-null (checked above); the caller promises `len` writable
    // bytes at `p`, not aliased during the call.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// `n` elements at `p` (argument `position`) for writing; NULL is allowed when `n` is 0.
pub(crate) fn out_slice<'a, T>(p: *mut T, n: usize, position: u16) -> Result<&'a mut [T], Fail> {
    if n == 0 {
        return Ok(&mut []);
    }
    // Checks only: the slice comes from `p` itself, whose provenance covers
    // all `n` elements (a pointer taken back from the reference to the
    // first element covers that element alone: Miri reports the rest as
    // undefined behaviour).
    out_ref(p, position)?;
    // SAFETY: non-null and aligned (out_ref); the caller promises `n`
    // writable elements of plain-data type T at `p`, not aliased.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, n) })
}

/// `n` elements at `p` (argument `position`) for reading; NULL is allowed when `n` is 0.
pub(crate) fn in_slice<'a, T>(p: *const T, n: usize, position: u16) -> Result<&'a [T], Fail> {
    if n == 0 {
        return Ok(&[]);
    }
    // Checks only; the slice comes from `p` itself (see out_slice).
    in_ref(p, position)?;
    // SAFETY: non-null and aligned (in_ref); the caller promises `n`
    // initialised elements of plain-data type T at `p`.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// A NUL-terminated device name (argument `position`), read up to the
/// longest name this build allows. A longer string is refused without
/// reading past that bound.
pub(crate) fn in_name<'a>(p: *const c_char, position: u16) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    let max = capacity::MAX_NAME_LEN;
    let mut len = 0usize;
    loop {
        if len > max {
            return Err(Error::with(
                accord_core::ErrorCode::InvalidArgument,
                accord_core::Detail::Value {
                    expected: max as u32,
                    got: len as u32,
                },
            )
            .into());
        }
        // SAFETY: p is non-null; the caller passes a NUL-terminated string,
        // and bytes 0..len were not NUL, so byte `len` is still inside it.
        if unsafe { p.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read; they belong to
    // the caller's string, which does not change during the call.
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) };
    core::str::from_utf8(bytes)
        .map_err(|e| Fail::arg_value(ACCORD_ERR_INVALID_UTF8, position, 0, e.valid_up_to() as u32))
}

/// An optional pointer argument: `None` when `p` is NULL, else what
/// `check` (one of the checks above, on `p`) makes of it.
pub(crate) fn optional<T, R>(
    p: *const T,
    check: impl FnOnce() -> Result<R, Fail>,
) -> Result<Option<R>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    check().map(Some)
}

/// Write `v` to an optional output pointer (ignored when NULL).
pub(crate) fn opt_out<T>(p: *mut T, position: u16, v: T) -> Result<(), Fail> {
    if let Some(o) = optional(p, || out_ref(p, position))? {
        *o = v;
    }
    Ok(())
}

/// `len` writable chars for a NUL-terminated text at `p` (argument
/// `position`). NULL is refused even when `len` is 0.
pub(crate) fn out_text<'a>(
    p: *mut c_char,
    len: usize,
    position: u16,
) -> Result<&'a mut [c_char], Fail> {
    if p.is_null() {
        return Err(Fail::arg(ACCORD_ERR_NULL_POINTER, position));
    }
    // SAFETY: non-null (checked above); the caller promises `len` writable
    // chars at `p`, not aliased during the call.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}
