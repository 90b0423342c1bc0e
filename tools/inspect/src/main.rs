//! `accord-inspect`: decode captured migration bytes.
//!
//! ```text
//! accord-inspect [--json] [--kind KIND] [FILE|-]...
//! ```
//!
//! Exit codes: 0 decoded (possibly truncated or partly undecoded, as the
//! last line says), 1 malformed input (accord's decoders refused it; the
//! message names the offset and the error code), 2 usage or unreadable
//! input.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use accord_inspect::{inspect, End, StreamKind};

const USAGE: &str = "\
usage: accord-inspect [--json] [--kind KIND] [FILE|-]...

Decode captured migration bytes: accord preambles and frames, QEMU's main
stream (header, sections, commands), multifd channels (MultiFDInit_t and
packets), the return path, the postcopy-preempt page stream.

  --json         one JSON object per line: a \"stream\" line, one line per
                 decoded item, an \"end\" line
  --kind KIND    auto (default: by the first bytes: ACRD accord, QEVM
                 qemu-main, 11223344 multifd, a RAM page naming its
                 RAMBlock preempt, anything else return-path),
                 accord, qemu-main, multifd, return-path, preempt
  FILE           a capture; '-' or no FILE reads standard input
  -h, --help     this text

exit status: 0 decoded (the last line says complete, truncated or
undecoded from an offset), 1 malformed input (offset and accord error
code on the last line and on stderr), 2 usage or unreadable input
";

struct Args {
    json: bool,
    kind: Option<StreamKind>,
    files: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        json: false,
        kind: None,
        files: Vec::new(),
    };
    let mut only_files = false;
    while let Some(arg) = args.next() {
        if only_files {
            a.files.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" if inline.is_none() => a.json = true,
            "--kind" => {
                let v = match inline {
                    Some(v) => v,
                    None => args.next().ok_or("--kind needs a value")?,
                };
                a.kind = match v.as_str() {
                    "auto" => None,
                    other => Some(StreamKind::from_name(other).ok_or_else(|| {
                        format!("unknown kind {other:?} (auto, accord, qemu-main, multifd, return-path, preempt)")
                    })?),
                };
            }
            "--" => only_files = true,
            "-" => a.files.push(arg),
            f if f.starts_with('-') => return Err(format!("unknown option {arg:?}")),
            _ => a.files.push(arg),
        }
    }
    if a.files.is_empty() {
        a.files.push("-".into());
    }
    Ok(Some(a))
}

fn read_input(path: &str) -> io::Result<Vec<u8>> {
    if path == "-" {
        let mut v = Vec::new();
        io::stdin().lock().read_to_end(&mut v)?;
        Ok(v)
    } else {
        std::fs::read(path)
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("accord-inspect: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut status = 0u8;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for path in &args.files {
        let source = if path == "-" {
            "<stdin>"
        } else {
            path.as_str()
        };
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("accord-inspect: {source}: {e}");
                status = status.max(2);
                continue;
            }
        };
        let report = inspect(&bytes, args.kind);
        let text = if args.json {
            let mut s = String::new();
            for line in report.to_json_lines(source) {
                s.push_str(&line.to_string());
                s.push('\n');
            }
            s
        } else {
            report.to_text(source)
        };
        // A closed pipe (`| head`) is not an error of the input.
        let _ = out.write_all(text.as_bytes());
        if let End::Malformed {
            offset,
            error,
            what,
        } = &report.end
        {
            let _ = out.flush();
            eprintln!("accord-inspect: {source}: malformed at offset {offset}: {error} ({what})");
        }
        status = status.max(report.end.exit_code() as u8);
    }
    let _ = out.flush();
    ExitCode::from(status)
}
