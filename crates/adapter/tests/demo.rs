//! The README's first command: `gigachat-adapter --emulator` prints a base URL and a key that work
//! with no GigaChat credentials, and prints them only once it is really serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/process.rs"]
mod process;
use process::{Running, free_port};

/// Starts the binary with `--emulator` and nothing else configured but the address.
fn spawn_demo(port: u16) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gigachat-adapter"))
        .arg("--emulator")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running::new(child, dir)
}

/// The `NAME=value` lines the demo printed before `stdout` closed or the banner ended.
fn banner(demo: &mut Running) -> Vec<String> {
    let stdout = demo.child.stdout.take().unwrap();
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take(3)
        .collect()
}

fn value<'a>(lines: &'a [String], name: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.trim().strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[tokio::test]
async fn the_printed_url_and_key_answer_a_chat() {
    let port = free_port();
    let mut demo = spawn_demo(port);
    let lines = tokio::task::spawn_blocking(move || {
        let lines = banner(&mut demo);
        (lines, demo)
    });
    let (lines, _demo) = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("the demo printed nothing within 30 s")
        .unwrap();
    let base = value(&lines, "OPENAI_BASE_URL").to_owned();
    let key = value(&lines, "OPENAI_API_KEY").to_owned();
    assert_eq!(base, format!("http://127.0.0.1:{port}/v1"));
    assert!(key.starts_with("sk-emulator-"), "{key}");

    let http = reqwest::Client::new();
    let request = json!({"messages": [{"role": "user", "content": "Привет"}]});
    let answer = http
        .post(format!("{base}/chat/completions"))
        .bearer_auth(&key)
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.is_empty(), "{body}");

    let anonymous = http
        .post(format!("{base}/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the printed key is required");
}

#[tokio::test]
async fn a_demo_that_cannot_serve_prints_no_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut demo = spawn_demo(port);
    let lines = banner(&mut demo);
    let status = demo.child.wait().unwrap();
    assert!(!status.success());
    assert!(
        lines.iter().all(|line| !line.contains("OPENAI_BASE_URL")),
        "{lines:?}"
    );
}
