//! The `traceql` binary: exit codes, formatting from stdin, explain, help.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_traceql"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_prints_the_canonical_form() {
    let out = run(&["check", "{duration>1s}|count()>2"], "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "{ span:duration > 1s } | count() > 2\n");
}

#[test]
fn check_exit_codes_follow_the_error_kind() {
    for (query, code, word) in [
        ("{ .a = }", 1, "parse error"),
        ("{ status = 1.5 }", 2, "validation error"),
        ("({ } | count()) > ({ } | count())", 3, "unsupported error"),
    ] {
        let out = run(&["check", query], "");
        assert_eq!(out.status.code(), Some(code), "{query}");
        let err = text(&out.stderr);
        assert!(err.contains(word), "{err}");
        assert!(err.contains('^'), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn fmt_formats_each_line() {
    let out = run(&["fmt"], "{ }\n{name=\"a\"}\n\n{ } | rate()by(span.a)\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "{}\n{ span:name = \"a\" }\n\n{} | rate() by (span.a)\n"
    );
    let out = run(&["fmt"], "{ }\n{ .a = }\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "{}\n{ .a = }\n");
    assert!(text(&out.stderr).contains("line 2"));
}

#[test]
fn explain_prints_a_tree() {
    let out = run(&["explain", "{ .a = 1 } >> { .b = 2 }"], "");
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(
        t.starts_with("Query\n  Structural >>\n    SpansetFilter\n"),
        "{t}"
    );
}

#[test]
fn help_and_usage() {
    let out = run(&["--help"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("traceql check QUERY"));
    let out = run(&["frobnicate"], "");
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("Usage"));
}
