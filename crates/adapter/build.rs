//! Gzips the OpenAPI document (`openapi.json`, 328 KB) into `OUT_DIR` for `routes/docs.rs`, which
//! builds it in at a sixth of the size and sends it as it is to clients that take gzip.

use std::error::Error;
use std::io::Write;
use std::path::Path;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=openapi.json");
    let document = std::fs::read("openapi.json")?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&document)?;
    let out = std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR for build scripts")?;
    std::fs::write(Path::new(&out).join("openapi.json.gz"), gzip.finish()?)?;
    Ok(())
}
