//! `translate` builds from GigaChat's wire types alone (`gigachat-types`), never from the client
//! crate with its TLS, HTTP and runtime (docs/architecture.md counts what each pulls in). Tests may
//! still use the client (its SSE decoder) as a dev-dependency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

/// The names declared in the `[dependencies]` table of this crate's manifest.
fn normal_dependencies() -> Vec<String> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read Cargo.toml");
    let mut in_table = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
        } else if in_table && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.push(name.to_owned());
        }
    }
    names
}

#[test]
fn only_the_wire_types_of_gigachat_are_a_dependency() {
    let names = normal_dependencies();
    assert!(
        names.iter().any(|name| name == "gigachat-types"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|name| name == "gigachat"),
        "translate must not depend on the gigachat client: {names:?}"
    );
}
