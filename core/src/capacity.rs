//! Compile-time capacities, set through `ACCORD_*` environment variables
//! when accord-core is built (`ACCORD_MAX_DEVICES=8 cargo build`); the
//! defaults and bounds are in docs/PROTOCOL.md §10. Frame size is not one of
//! them: it is a protocol constant ([`crate::wire::frame::MAX_FRAME`]) and the state
//! machines hold no frame buffer; the caller's buffer size is the knob.

include!(concat!(env!("OUT_DIR"), "/capacity.rs"));
