//! Packs the two tiktoken vocabularies token-id decoding needs (`cl100k_base`, `o200k_base`) into
//! deflated byte tables in `OUT_DIR`, read from the `tiktoken-rs` crate itself, so the binary
//! embeds ~1.5 MB instead of tiktoken-rs's 5.3 MB of base64 text (see `src/tokens.rs`).
//!
//! Table layout, before deflate: for every id from 0 to the largest one the vocabulary decodes, one
//! length byte and then that many bytes of the token; length 0 marks an id the vocabulary does not
//! have (no token is empty). Special tokens (`<|endoftext|>` …) sit at their ids like any other.

use std::error::Error;
use std::path::Path;

/// Ids past the last ordinary token that are probed for special tokens (tiktoken's sit within 30).
const SPECIAL_TOKEN_SPAN: u32 = 1024;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR for build scripts")?;
    let out = Path::new(&out);
    pack(
        &tiktoken_rs::cl100k_base()?,
        &out.join("cl100k_base.deflate"),
    )?;
    pack(&tiktoken_rs::o200k_base()?, &out.join("o200k_base.deflate"))?;
    Ok(())
}

fn pack(bpe: &tiktoken_rs::CoreBPE, path: &Path) -> Result<(), Box<dyn Error>> {
    let token = |id: u32| bpe.decode_bytes(&[id]).ok();
    // Ordinary tokens are numbered 0..n without gaps; special tokens follow within the span.
    let ordinary = u32::try_from((0..).take_while(|&id| token(id).is_some()).count())?;
    let last = (ordinary..ordinary + SPECIAL_TOKEN_SPAN)
        .rfind(|&id| token(id).is_some())
        .unwrap_or(ordinary.saturating_sub(1));
    let mut table = Vec::new();
    for id in 0..=last {
        let bytes = token(id).unwrap_or_default();
        table.push(u8::try_from(bytes.len())?);
        table.extend_from_slice(&bytes);
    }
    std::fs::write(path, miniz_oxide::deflate::compress_to_vec(&table, 10))?;
    Ok(())
}
