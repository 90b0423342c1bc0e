//! The one logging macro. With the `defmt` feature it forwards to defmt;
//! without it, it expands to nothing, so the core carries no formatting code.

#[cfg(feature = "defmt")]
macro_rules! trace {
    ($($arg:tt)*) => { defmt::trace!($($arg)*) };
}

#[cfg(not(feature = "defmt"))]
macro_rules! trace {
    ($($arg:tt)*) => {{}};
}

pub(crate) use trace;
