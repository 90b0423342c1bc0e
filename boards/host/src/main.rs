//! `boards`: run the Source board (`qemu-system-arm -M microbit`) and the
//! Destination board (`-M mps2-an386`), join their UARTs through a relay on
//! 127.0.0.1 that can drop, corrupt and stall bytes, optionally reset the
//! Destination mid-handshake (QMP `system_reset`), decode both boards'
//! defmt logs and print them as one timeline ordered by host receive time,
//! then check that both boards ended with the same verdict.
//!
//! ```text
//! boards --source ELF --destination ELF [--scenario migrate|mismatch]
//!        [--drop N] [--corrupt N]     per mille of bytes, each direction
//!        [--stall AT_MS:FOR_MS]       hold both directions for a while
//!        [--reset-destination AT_MS]  QMP system_reset of the Destination
//!        [--after TEXT]               count AT_MS from the first timeline
//!                                     line containing TEXT
//!        [--seed N] [--timeout S] [--expect ok|CODE] [--within MS]
//! ```
//! AT_MS counts from the moment both boards' UARTs are connected, or with
//! `--after` from a point of the handshake (e.g. "Welcome sent"), which
//! keeps the faults where they are meant to be on a slow or busy host. Exit status
//! 0 when both boards exited, with no fault, the same verdict (and the
//! expected one, and the two verdicts at most `--within` ms apart).

mod relay;
mod timeline;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use relay::Faults;
use timeline::{Board, Line, What};

struct Args {
    source: PathBuf,
    destination: PathBuf,
    scenario: String,
    faults: Faults,
    reset_at: Option<u64>,
    timeout: u64,
    expect: Option<String>,
    within: Option<u64>,
    after: Option<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!("boards: {msg}\nsee the doc comment of boards/host/src/main.rs");
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        source: PathBuf::new(),
        destination: PathBuf::new(),
        scenario: "migrate".into(),
        faults: Faults::default(),
        reset_at: None,
        timeout: 30,
        expect: None,
        within: None,
        after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{k} needs a value")))
        };
        let num = |s: String| -> u64 {
            s.parse()
                .unwrap_or_else(|_| usage(&format!("bad number {s}")))
        };
        match k.as_str() {
            "--source" => a.source = v().into(),
            "--destination" => a.destination = v().into(),
            "--scenario" => a.scenario = v(),
            "--drop" => a.faults.drop = num(v()),
            "--corrupt" => a.faults.corrupt = num(v()),
            "--seed" => a.faults.seed = num(v()),
            "--stall" => {
                let s = v();
                let (at, len) = s
                    .split_once(':')
                    .unwrap_or_else(|| usage("--stall AT_MS:FOR_MS"));
                a.faults.stall = Some((num(at.into()), num(len.into())));
            }
            "--reset-destination" => a.reset_at = Some(num(v())),
            "--timeout" => a.timeout = num(v()),
            "--expect" => a.expect = Some(v()),
            "--within" => a.within = Some(num(v())),
            "--after" => a.after = Some(v()),
            _ => usage(&format!("unknown argument {k}")),
        }
    }
    if a.source.as_os_str().is_empty() || a.destination.as_os_str().is_empty() {
        usage("--source and --destination are required");
    }
    a
}

fn qemu(machine: &str, port: u16, args: &str, elf: &PathBuf, qmp: Option<&str>) -> Child {
    let mut c = Command::new("qemu-system-arm");
    c.args(["-M", machine, "-nographic", "-monitor", "none"]);
    if machine == "mps2-an386" {
        c.args(["-cpu", "cortex-m4"]);
    }
    c.args([
        "-chardev",
        &format!("socket,id=link,host=127.0.0.1,port={port},nodelay=on"),
    ]);
    c.args(["-serial", "chardev:link"]);
    c.args([
        "-semihosting-config",
        &format!("enable=on,target=native,{args}"),
    ]);
    if let Some(q) = qmp {
        c.args(["-qmp", &format!("unix:{q},server=on,wait=off")]);
    }
    c.arg("-kernel").arg(elf);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn()
        .unwrap_or_else(|e| usage(&format!("cannot run qemu-system-arm: {e}")))
}

fn main() {
    let a = parse();
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel::<Line>();
    let ls = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ld = TcpListener::bind("127.0.0.1:0").expect("bind");
    let qmp = std::env::temp_dir().join(format!("accord-boards-qmp-{}.sock", std::process::id()));
    let qmp_path = qmp.to_string_lossy().into_owned();
    let mut dst = qemu(
        "mps2-an386",
        ld.local_addr().expect("addr").port(),
        "arg=destination",
        &a.destination,
        Some(&qmp_path),
    );
    let mut src = qemu(
        "microbit",
        ls.local_addr().expect("addr").port(),
        &format!("arg=source,arg={}", a.scenario),
        &a.source,
        None,
    );
    timeline::follow(Board::Destination, &mut dst, &a.destination, t0, tx.clone());
    timeline::follow(Board::Source, &mut src, &a.source, t0, tx.clone());
    let (Some(s_conn), Some(d_conn)) = (connect(&ls, &mut src), connect(&ld, &mut dst)) else {
        let _ = src.kill();
        let _ = dst.kill();
        for line in rx.try_iter() {
            println!("{line}");
        }
        println!("FAIL: a board's UART did not connect to the relay within 10 s");
        std::process::exit(1)
    };
    // A UART sends byte by byte: no Nagle delays on the relay's side either.
    let _ = s_conn.set_nodelay(true);
    let _ = d_conn.set_nodelay(true);
    let relay_t0 = Instant::now();
    // Fault times count from here: now, or the `--after` line.
    let origin = Arc::new(AtomicU64::new(if a.after.is_some() { u64::MAX } else { 0 }));
    let _ = tx.send(Line::now(
        t0,
        Board::Relay,
        What::Text(format!("both UARTs connected; faults: {}", a.faults)),
    ));
    relay::start(
        s_conn,
        d_conn,
        a.faults,
        relay_t0,
        origin.clone(),
        t0,
        tx.clone(),
    );
    if let Some(at) = a.reset_at {
        let tx = tx.clone();
        let origin = origin.clone();
        std::thread::spawn(move || {
            while origin.load(Ordering::Relaxed) == u64::MAX {
                std::thread::sleep(Duration::from_millis(1));
            }
            let due = origin.load(Ordering::Relaxed) + at;
            let now = relay_t0.elapsed().as_millis() as u64;
            std::thread::sleep(Duration::from_millis(due.saturating_sub(now)));
            let r = relay::qmp_reset(&qmp_path);
            let msg = match r {
                Ok(()) => "QMP system_reset of the destination board".to_string(),
                Err(e) => format!("QMP system_reset failed: {e}"),
            };
            let _ = tx.send(Line::now(t0, Board::Relay, What::Text(msg)));
        });
    }
    drop(tx);

    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let mut verdicts: [Option<(String, Duration)>; 2] = [None, None];
    let mut status: [Option<i32>; 2] = [None, None];
    let mut hung = false;
    loop {
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(20)) {
            if let (Some(after), What::Log(t)) = (&a.after, &line.what) {
                if origin.load(Ordering::Relaxed) == u64::MAX && t.contains(after.as_str()) {
                    origin.store(relay_t0.elapsed().as_millis() as u64, Ordering::Relaxed);
                    println!(
                        "{:>9.1} ms  host      | fault clock starts: {after:?} seen",
                        t0.elapsed().as_secs_f64() * 1e3
                    );
                }
            }
            if let What::Text(t) = &line.what {
                if let Some(v) = t.strip_prefix("VERDICT=") {
                    if let Some(i) = line.board.index() {
                        verdicts[i] = Some((v.to_string(), line.at));
                    }
                }
            }
            println!("{line}");
        }
        for (i, c) in [&mut src, &mut dst].into_iter().enumerate() {
            if status[i].is_none() {
                if let Ok(Some(s)) = c.try_wait() {
                    status[i] = Some(s.code().unwrap_or(-1));
                }
            }
        }
        if status.iter().all(Option::is_some) {
            // Drain what the readers still hold.
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if let What::Text(t) = &line.what {
                    if let Some(v) = t.strip_prefix("VERDICT=") {
                        if let Some(i) = line.board.index() {
                            verdicts[i] = Some((v.to_string(), line.at));
                        }
                    }
                }
                println!("{line}");
            }
            break;
        }
        if Instant::now() > deadline {
            hung = true;
            let _ = src.kill();
            let _ = dst.kill();
            break;
        }
    }
    let _ = std::fs::remove_file(&qmp);
    std::process::exit(summary(&a, &verdicts, &status, hung, t0))
}

/// The board's UART connection, unless its QEMU exits or 10 s pass first.
fn connect(l: &TcpListener, board: &mut Child) -> Option<std::net::TcpStream> {
    l.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok((c, _)) = l.accept() {
            c.set_nonblocking(false).ok()?;
            return Some(c);
        }
        if let Ok(Some(_)) = board.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn summary(
    a: &Args,
    verdicts: &[Option<(String, Duration)>; 2],
    status: &[Option<i32>; 2],
    hung: bool,
    t0: Instant,
) -> i32 {
    println!();
    let mut fails = Vec::new();
    for (i, name) in ["source", "destination"].into_iter().enumerate() {
        match &verdicts[i] {
            Some((v, at)) => println!(
                "{name:<12} verdict at +{:>8.1} ms: {}  (exit status {})",
                at.as_secs_f64() * 1e3,
                timeline::explain(v),
                status[i].map_or("none".into(), |s| s.to_string())
            ),
            None => {
                println!("{name:<12} no verdict");
                fails.push(format!("{name} printed no verdict"));
            }
        }
    }
    if hung {
        fails.push(format!(
            "a board was still running after {} s: killed",
            a.timeout
        ));
    }
    if let [Some((s, st)), Some((d, dt))] = verdicts {
        if s.starts_with("fault") || d.starts_with("fault") {
            fails.push("a board faulted".into());
        }
        if s != d {
            fails.push(format!("verdicts differ: source {s:?}, destination {d:?}"));
        } else {
            let gap = st.abs_diff(*dt).as_millis() as u64;
            println!("same verdict on both boards, {gap} ms apart");
            if let Some(w) = a.within {
                if gap > w {
                    fails.push(format!("verdicts {gap} ms apart, more than {w} ms"));
                }
            }
        }
        if let Some(e) = &a.expect {
            let code = s.split_whitespace().nth(1).unwrap_or("");
            let ok = if e == "ok" { s == "ok" } else { code == e };
            if !ok {
                fails.push(format!("expected verdict {e}, got {s:?}"));
            }
        }
    }
    let total = t0.elapsed().as_secs_f64();
    if fails.is_empty() {
        println!("PASS ({total:.1} s)");
        0
    } else {
        for f in &fails {
            println!("FAIL: {f}");
        }
        1
    }
}
