//! `traceql`: check, format and explain TraceQL queries.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use tempo_traceql::{ErrorKind, explain, format, parse};

const USAGE: &str = "\
traceql: check, format and explain TraceQL queries

Usage:
  traceql check QUERY     print the canonical form; exit 1 on a parse error,
                          2 on a validation error, 3 if unsupported
  traceql fmt             format queries read from stdin, one a line
  traceql explain QUERY   print the query as an indented tree
  traceql --help          print this help
";

fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Parse => 1,
        ErrorKind::Validation => 2,
        _ => 3,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `traceql check { .a = 1 }` without quotes: join the words back.
    let joined;
    let mut words: Vec<&str> = args.iter().map(String::as_str).collect();
    if words.len() > 2 && matches!(words[0], "check" | "explain") {
        joined = words[1..].join(" ");
        words = vec![words[0], joined.as_str()];
    }
    match words[..] {
        ["--help" | "-h" | "help"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["check", query] => match parse(query) {
            Ok(q) => {
                println!("{}", format(&q));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(exit_code(e.kind()))
            }
        },
        ["explain", query] => match parse(query) {
            Ok(q) => {
                print!("{}", explain(&q));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(exit_code(e.kind()))
            }
        },
        ["fmt"] => {
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let mut worst = 0u8;
            for (n, line) in stdin.lock().lines().enumerate() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("traceql: reading stdin: {e}");
                        return ExitCode::from(1);
                    }
                };
                if line.trim().is_empty() {
                    let _ = writeln!(out);
                    continue;
                }
                match parse(&line) {
                    Ok(q) => {
                        let _ = writeln!(out, "{}", format(&q));
                    }
                    Err(e) => {
                        eprintln!("line {}: {e}", n + 1);
                        let _ = writeln!(out, "{line}");
                        worst = worst.max(exit_code(e.kind()));
                    }
                }
            }
            ExitCode::from(worst)
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(64)
        }
    }
}
