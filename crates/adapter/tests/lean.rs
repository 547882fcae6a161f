//! A lean build (`cargo build --no-default-features`) has no built-in emulator: asking for it by
//! flag or by environment fails at once with an error saying how the binary was built, instead of
//! serving against a GigaChat that is not there. Runs only in that build
//! (`cargo test -p gigachat-adapter --no-default-features --test lean`).
#![cfg(not(feature = "emulator"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The lean binary in a clean environment (only an ephemeral loopback address and `extra` set),
/// run to its end; fails the test if it is still running after 30 s (it would be serving).
fn run_lean(args: &[&str], extra: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gigachat-adapter"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after 30 s: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_refused(output: &Output) {
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("built without the built-in GigaChat emulator")
            && stderr.contains("--no-default-features"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("OPENAI_BASE_URL"), "{stdout}");
}

#[test]
fn the_emulator_flag_is_refused_with_the_reason() {
    assert_refused(&run_lean(&["--emulator"], &[]));
}

#[test]
fn the_emulator_variable_is_refused_with_the_reason() {
    assert_refused(&run_lean(&[], &[("GIGACHAT_ADAPTER_EMULATOR", "true")]));
}

#[test]
fn missing_credentials_do_not_suggest_the_absent_emulator() {
    let output = run_lean(&[], &[("BEARER_TOKEN", "sk-test")]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no GigaChat credentials"), "{stderr}");
    assert!(!stderr.contains("--emulator"), "{stderr}");
}
