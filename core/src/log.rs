//! The one logging macro. With the `defmt` feature it forwards to defmt;
//! without it, it expands to nothing, so the core carries no formatting code.
//!
//! Every log call of the core goes through `trace!` (scripts/firmware-test.sh
//! checks that no other file calls a logging macro), so a logging backend is
//! chosen here and only here. `defmt` is the only backend today, so no
//! feature combination can conflict. A second backend (a `log` feature for
//! hosted users, say) must be added here with
//! `#[cfg(all(feature = "defmt", feature = "log"))] compile_error!(...)`, so
//! that turning both on is a compile error rather than a silent choice.

#[cfg(feature = "defmt")]
macro_rules! trace {
    ($($arg:tt)*) => { defmt::trace!($($arg)*) };
}

#[cfg(not(feature = "defmt"))]
macro_rules! trace {
    ($($arg:tt)*) => {{}};
}

pub(crate) use trace;
