//! Prints the capacities of this build and the sizes of the state machines,
//! as `KEY=VALUE` lines (scripts/footprint.sh records them in
//! bench/RESULTS.md):
//!
//!   cargo run --release -p accord-core --example sizes                     # firmware defaults
//!   cargo run --release -p accord-core --example sizes --features hosted   # libaccord.a's
use accord_core::{capacity, Destination, Source};

fn main() {
    let rows = [
        ("MAX_DEVICES", capacity::MAX_DEVICES),
        ("MAX_CHANNELS", capacity::MAX_CHANNELS),
        ("MAX_EARLY_CHANNELS", capacity::MAX_EARLY_CHANNELS),
        ("MAX_NAME_LEN", capacity::MAX_NAME_LEN),
        ("MAX_CAPABILITIES", capacity::MAX_CAPABILITIES),
        ("EVENT_QUEUE", capacity::EVENT_QUEUE),
        ("SIZE_SOURCE", core::mem::size_of::<Source>()),
        ("SIZE_DESTINATION", core::mem::size_of::<Destination>()),
    ];
    for (k, v) in rows {
        println!("{k}={v}");
    }
}
