//! The README's first command: `gigachat-adapter --emulator` prints a base URL and a key that work
//! with no GigaChat credentials, prints them only once it is really serving, keeps the key across
//! restarts, says how to choose another port when its own is taken, and writes logs a file can hold.
//! Needs the `emulator` feature (on by default); `lean.rs` covers the build without it.
#![cfg(feature = "emulator")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/process.rs"]
mod process;
use process::{Running, free_port};

/// Starts the binary with `--emulator` and nothing else configured but the address.
fn spawn_demo(port: u16) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let child = demo_command(port, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running::new(child, dir)
}

/// `gigachat-adapter --emulator` in `dir` with a clean environment but the address.
fn demo_command(port: u16, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gigachat-adapter"));
    command
        .arg("--emulator")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string());
    command
}

/// The banner's lines (heading, base URL, key, where the key is kept), or fewer if `stdout`
/// closed first.
fn banner(demo: &mut Running) -> Vec<String> {
    let stdout = demo.child.stdout.take().unwrap();
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take(4)
        .collect()
}

/// The banner of a demo started on `port`, waited for (at most 30 s) off the async workers.
async fn started_banner(mut demo: Running) -> (Vec<String>, Running) {
    let lines = tokio::task::spawn_blocking(move || {
        let lines = banner(&mut demo);
        (lines, demo)
    });
    tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("the demo printed nothing within 30 s")
        .unwrap()
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
    let (lines, _demo) = started_banner(spawn_demo(port)).await;
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
    // The error says which settings choose another address.
    let mut stderr = String::new();
    demo.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    for setting in ["--port", "PORT", "--host", "HOST"] {
        assert!(stderr.contains(setting), "{setting} not named: {stderr}");
    }
}

#[tokio::test]
async fn the_generated_key_is_kept_in_the_data_directory_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let dir = tempfile::tempdir().unwrap();
        let child = demo_command(free_port(), dir.path())
            .env("DATA_DIR", data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Running::new(child, dir)
    };
    let (first, demo) = started_banner(start()).await;
    // One process at a time owns the data directory's store.
    drop(demo);
    let (second, _demo) = started_banner(start()).await;
    let key = value(&first, "OPENAI_API_KEY");
    assert!(key.starts_with("sk-emulator-"), "{key}");
    assert_eq!(
        key,
        value(&second, "OPENAI_API_KEY"),
        "{first:?} {second:?}"
    );

    let file = data.path().join("demo-key");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    let note = first.last().unwrap();
    assert!(
        note.contains(&file.display().to_string()) && note.contains("BEARER_TOKEN"),
        "the banner says where the key is kept: {first:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner may read the key");
    }
}

#[tokio::test]
async fn logs_written_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("adapter.log");
    let port = free_port();
    let child = demo_command(port, dir.path())
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Running::new(child, dir);
    // The start-up record is there once the adapter listens.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("listening") {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no start-up record: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(log.contains("INFO"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
}

#[tokio::test]
async fn the_docs_at_the_printed_address_describe_this_gateway() {
    let (lines, _demo) = started_banner(spawn_demo(free_port())).await;
    let base = value(&lines, "OPENAI_BASE_URL");
    let root = base.trim_end_matches("/v1");
    let document = reqwest::get(format!("{root}/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(document.contains("GigaChat"));
    // OpenAI's own blurbs and links into its site (which 404 from here) are gone.
    for unwanted in [
        "We recommend trying Responses",
        "platform.openai.com",
        "](/docs/",
    ] {
        assert!(!document.contains(unwanted), "{unwanted:?} is served");
    }
}
