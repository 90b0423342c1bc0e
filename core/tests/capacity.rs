//! Compile-time capacities (docs/PROTOCOL.md §10): the spec's table matches
//! core/build.rs, and every limit holds at whatever values this build has.
use accord_core::capacity::*;
use accord_core::*;

/// (variable, default, min, max) from the §10 table.
fn spec_table() -> Vec<(String, usize, usize, usize)> {
    let spec = include_str!("../../docs/PROTOCOL.md");
    let section = spec.split("## 10. Capacities").nth(1).expect("§10 exists");
    section
        .lines()
        .filter(|l| l.starts_with("| `ACCORD_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let (lo, hi) = cells[3].split_once("..=").expect("bounds lo..=hi");
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].parse().unwrap(),
                lo.parse().unwrap(),
                hi.parse().unwrap(),
            )
        })
        .collect()
}

/// (variable, default, min, max) from core/build.rs's knob table.
fn build_rs_knobs() -> Vec<(String, usize, usize, usize)> {
    let src = include_str!("../build.rs");
    let field = |block: &str, name: &str| -> String {
        let at = block.find(&format!("{name}:")).unwrap() + name.len() + 1;
        block[at..].split(',').next().unwrap().trim().to_string()
    };
    src.split("Knob {")
        .skip(2) // the struct definition, then one block per knob
        .map(|b| {
            (
                field(b, "env").trim_matches('"').to_string(),
                field(b, "default").parse().unwrap(),
                field(b, "min").parse().unwrap(),
                field(b, "max").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_spec_table_matches_build_rs() {
    let spec = spec_table();
    assert_eq!(spec.len(), 6);
    assert_eq!(spec, build_rs_knobs());
}

#[test]
fn a_default_build_has_the_documented_defaults() {
    let values = [
        (
            "ACCORD_MAX_DEVICES",
            option_env!("ACCORD_MAX_DEVICES"),
            MAX_DEVICES,
        ),
        (
            "ACCORD_MAX_CHANNELS",
            option_env!("ACCORD_MAX_CHANNELS"),
            MAX_CHANNELS,
        ),
        (
            "ACCORD_MAX_EARLY_CHANNELS",
            option_env!("ACCORD_MAX_EARLY_CHANNELS"),
            MAX_EARLY_CHANNELS,
        ),
        (
            "ACCORD_MAX_NAME_LEN",
            option_env!("ACCORD_MAX_NAME_LEN"),
            MAX_NAME_LEN,
        ),
        (
            "ACCORD_MAX_CAPABILITIES",
            option_env!("ACCORD_MAX_CAPABILITIES"),
            MAX_CAPABILITIES,
        ),
        (
            "ACCORD_EVENT_QUEUE",
            option_env!("ACCORD_EVENT_QUEUE"),
            EVENT_QUEUE,
        ),
    ];
    for (var, set, value) in values {
        let (_, default, lo, hi) = spec_table().into_iter().find(|k| k.0 == var).unwrap();
        assert!((lo..=hi).contains(&value), "{var}={value}");
        if set.is_none() {
            assert_eq!(value, default, "{var} default");
        }
    }
}

#[test]
fn the_device_and_name_limits_hold_at_this_builds_values() {
    let mut s = Source::new(SourceConfig::default(), [7; 16]).unwrap();
    for i in 0..MAX_DEVICES as u32 {
        s.add_device("dev", i, false).unwrap();
    }
    let e = s.add_device("dev", MAX_DEVICES as u32, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::CapacityExceeded);

    let longest = "n".repeat(MAX_NAME_LEN);
    assert!(accord_core::name(&longest).is_ok());
    let e = accord_core::name(&format!("{longest}n")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}
