//! Every checked-in input through its harness, without libFuzzer: the seed
//! corpus (corpus/<target>/) and every crash the fuzzers ever found
//! (regressions/<target>/). Also checks the seeds are the ones
//! src/seeds.rs generates; `ACCORD_WRITE_SEEDS=1` rewrites them.
use std::fs;
use std::path::{Path, PathBuf};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

fn files(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(p)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn seeds_are_generated_from_real_encodings_and_current() {
    let write = std::env::var_os("ACCORD_WRITE_SEEDS").is_some();
    for (target, name, bytes) in accord_fuzz::seeds::all() {
        let p = dir("corpus", target).join(format!("seed-{name}"));
        if write {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, &bytes).unwrap();
        } else {
            let have = fs::read(&p).unwrap_or_else(|_| panic!("missing seed {}", p.display()));
            assert_eq!(
                have,
                bytes,
                "stale seed {} (ACCORD_WRITE_SEEDS=1 rewrites)",
                p.display()
            );
        }
    }
}

#[test]
fn every_seed_and_every_past_crash_passes_its_harness() {
    for (target, harness) in accord_fuzz::TARGETS {
        let seeds = files(&dir("corpus", target));
        assert!(!seeds.is_empty(), "target {target} has no seed corpus");
        for p in seeds
            .iter()
            .chain(files(&dir("regressions", target)).iter())
        {
            let data = fs::read(p).unwrap();
            println!("{target}: {}", p.display());
            harness(&data);
        }
    }
}

#[test]
fn session_scripts_encode_and_decode_back() {
    use accord_fuzz::session::Script;
    for (name, s) in accord_fuzz::seeds::session_scripts() {
        assert_eq!(Script::decode(&s.encode()).as_ref(), Some(&s), "{name}");
    }
}

#[test]
fn session_seeds_reach_the_ends_they_are_named_after() {
    for (name, s) in accord_fuzz::seeds::session_scripts() {
        let [(src, se), (dst, de)] = accord_fuzz::session::run_script(&s).unwrap();
        let codes = (se.map(|e| e.code), de.map(|e| e.code));
        println!("{name}: {src} {dst} {codes:?}");
        match name {
            "happy-path" | "revoke-and-reack" | "lost-channel-reattached" => {
                assert_eq!(
                    (src.as_str(), dst.as_str()),
                    ("SwitchedOver", "SwitchedOver"),
                    "{name}"
                )
            }
            _ => assert_eq!((src.as_str(), dst.as_str()), ("Failed", "Failed"), "{name}"),
        }
    }
}

#[test]
fn every_fuzz_target_has_a_harness_entry() {
    let mut bins: Vec<String> = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut names: Vec<String> = accord_fuzz::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    bins.sort();
    names.sort();
    assert_eq!(bins, names);
}
