//! The real `latchkey` binary, run as an operator runs it: a clean environment with the tests' master
//! key, no standard input; and the checks every CLI test makes of what it printed.
use std::process::{Command, Output, Stdio};

use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::harness::MASTER_KEY;

/// `latchkey ARGS`.
pub(crate) fn latchkey_args(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `latchkey ARGS --database URL` on `db`.
pub(crate) fn latchkey(db: &TestDatabase, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--database", db.url()]);
    latchkey_args(&all)
}

/// What a successful command printed.
pub(crate) fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The JSON a successful command printed.
pub(crate) fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout_of(output)).unwrap()
}

/// Asserts a failed command printed exactly one line to stderr, starting `error: `, and returns it.
pub(crate) fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "the command succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}
