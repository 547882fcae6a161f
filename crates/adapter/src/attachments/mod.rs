//! Files in messages: decoding inline payloads, fetching URLs safely, classifying and converting,
//! uploading once per content (the dedup store), remembering Files API purposes, and rewriting
//! pictures GigaChat generates.

pub mod decode;
pub mod fetch;
pub mod generated;
pub mod media;
pub mod purposes;
pub mod resolve;
pub mod ssrf;
pub mod store;
