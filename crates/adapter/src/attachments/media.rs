//! What a file is, judged from its bytes: GigaChat's accepted types and size limits, and the
//! conversion of pictures GigaChat rejects (WebP, GIF) to PNG.

use translate::FileKind;

/// GigaChat's per-file limits (reference §2.3, October 2025).
pub const IMAGE_LIMIT: usize = 15 * 1024 * 1024;
/// Audio files up to 35 MB.
pub const AUDIO_LIMIT: usize = 35 * 1024 * 1024;
/// Documents up to 40 MB.
pub const DOCUMENT_LIMIT: usize = 40 * 1024 * 1024;

/// A file ready for upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The bytes (converted when GigaChat would not take the original).
    pub bytes: Vec<u8>,
    /// Its kind.
    pub kind: FileKind,
    /// A MIME type GigaChat accepts.
    pub mime: &'static str,
    /// The file name to upload under.
    pub filename: String,
}

/// Why a file cannot go to GigaChat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// A type GigaChat does not read.
    #[error("unsupported file type{}: GigaChat reads JPEG, PNG, TIFF and BMP images (WebP and GIF are converted), MP3/WAV/OGG/OPUS/M4A/WEBM audio, and PDF, DOC(X), PPT(X), EPUB and plain-text documents", .0.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Unsupported(Option<String>),
    /// Larger than GigaChat accepts for this kind.
    #[error(
        "the {kind} is {size} bytes; GigaChat accepts at most {limit} bytes for this kind of file"
    )]
    TooLarge {
        /// image, audio or document.
        kind: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A picture that could not be converted.
    #[error("the image could not be decoded for conversion to PNG")]
    Conversion,
    /// The part was expected to be of another kind (e.g. a PDF in `image_url`).
    #[error("expected {expected}, got {got}")]
    WrongKind {
        /// What the part type requires.
        expected: &'static str,
        /// What the bytes are.
        got: &'static str,
    },
    /// Nothing to upload.
    #[error("the file is empty")]
    Empty,
}

/// Classifies `bytes` (sniffed, never trusting the declared type beyond plain text), converts
/// pictures GigaChat rejects, and checks the size limit.
pub fn prepare(
    bytes: Vec<u8>,
    declared_type: Option<&str>,
    filename: Option<&str>,
) -> Result<Media, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let sniffed = infer::get(&bytes).map(|kind| kind.mime_type());
    let (bytes, kind, mime, extension) = match sniffed {
        Some("image/jpeg") => (bytes, FileKind::Image, "image/jpeg", "jpg"),
        Some("image/png") => (bytes, FileKind::Image, "image/png", "png"),
        Some("image/tiff") => (bytes, FileKind::Image, "image/tiff", "tiff"),
        Some("image/bmp") => (bytes, FileKind::Image, "image/bmp", "bmp"),
        Some("image/webp" | "image/gif") => (to_png(&bytes)?, FileKind::Image, "image/png", "png"),
        Some("audio/mpeg") => (bytes, FileKind::Audio, "audio/mp3", "mp3"),
        Some("audio/x-wav" | "audio/wav") => (bytes, FileKind::Audio, "audio/wav", "wav"),
        Some("audio/ogg") => (bytes, FileKind::Audio, "audio/x-ogg", "ogg"),
        Some("audio/opus") => (bytes, FileKind::Audio, "audio/opus", "opus"),
        Some("audio/m4a" | "audio/x-m4a" | "video/mp4" | "audio/mp4") => {
            (bytes, FileKind::Audio, "audio/mp4", "m4a")
        }
        Some("video/webm" | "audio/webm") => (bytes, FileKind::Audio, "audio/webm", "weba"),
        Some("application/pdf") => (bytes, FileKind::Document, "application/pdf", "pdf"),
        Some("application/msword") => (bytes, FileKind::Document, "application/msword", "doc"),
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document") => (
            bytes,
            FileKind::Document,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "docx",
        ),
        Some("application/vnd.ms-powerpoint") => {
            (bytes, FileKind::Document, "application/ppt", "ppt")
        }
        Some("application/vnd.openxmlformats-officedocument.presentationml.presentation") => {
            (bytes, FileKind::Document, "application/pptx", "pptx")
        }
        Some("application/epub+zip") => (bytes, FileKind::Document, "application/epub", "epub"),
        None if looks_like_text(&bytes, declared_type, filename) => {
            (bytes, FileKind::Document, "text/plain", "txt")
        }
        other => return Err(MediaError::Unsupported(other.map(str::to_owned))),
    };
    let (limit, kind_name) = match kind {
        FileKind::Image => (IMAGE_LIMIT, "image"),
        FileKind::Audio => (AUDIO_LIMIT, "audio file"),
        FileKind::Document => (DOCUMENT_LIMIT, "document"),
    };
    if bytes.len() > limit {
        return Err(MediaError::TooLarge {
            kind: kind_name,
            size: bytes.len(),
            limit,
        });
    }
    let filename = upload_name(filename, extension);
    Ok(Media {
        bytes,
        kind,
        mime,
        filename,
    })
}

/// The kind's name for messages.
pub fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Image => "an image",
        FileKind::Audio => "audio",
        FileKind::Document => "a document",
    }
}

/// UTF-8 text declared as text (type or `.txt`/`.md`/`.csv` name): GigaChat takes it as a document.
fn looks_like_text(bytes: &[u8], declared_type: Option<&str>, filename: Option<&str>) -> bool {
    let declared_text = declared_type.is_some_and(|t| t.starts_with("text/"))
        || filename.is_some_and(|name| {
            let lower = name.to_ascii_lowercase();
            [".txt", ".md", ".csv", ".json", ".log"]
                .iter()
                .any(|ext| lower.ends_with(ext))
        });
    declared_text && std::str::from_utf8(bytes).is_ok()
}

/// A safe upload name with the right extension.
fn upload_name(filename: Option<&str>, extension: &str) -> String {
    let stem = filename
        .and_then(|name| std::path::Path::new(name).file_stem())
        .and_then(|stem| stem.to_str())
        .map(|stem| {
            stem.chars()
                .filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"'))
                .take(100)
                .collect::<String>()
        })
        .filter(|stem| !stem.trim().is_empty())
        .unwrap_or_else(|| "file".to_owned());
    format!("{stem}.{extension}")
}

/// Re-encodes a picture (the first frame of an animation) as PNG.
fn to_png(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    let picture = image::load_from_memory(bytes).map_err(|_| MediaError::Conversion)?;
    let mut out = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|_| MediaError::Conversion)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(format: image::ImageFormat) -> Vec<u8> {
        let picture = image::RgbaImage::from_pixel(4, 3, image::Rgba([200, 10, 10, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(picture)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn accepted_images_pass_through() {
        let png = encode(image::ImageFormat::Png);
        let media = prepare(png.clone(), Some("text/plain"), Some("photo.bin")).unwrap();
        assert_eq!((media.kind, media.mime), (FileKind::Image, "image/png"));
        assert_eq!(media.bytes, png);
        assert_eq!(media.filename, "photo.png");
    }

    #[test]
    fn webp_and_gif_become_png() {
        for format in [image::ImageFormat::WebP, image::ImageFormat::Gif] {
            let media = prepare(encode(format), None, None).unwrap();
            assert_eq!(media.mime, "image/png");
            assert_eq!(infer::get(&media.bytes).unwrap().mime_type(), "image/png");
            assert_eq!(media.filename, "file.png");
        }
    }

    #[test]
    fn documents_audio_and_text() {
        let pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n".to_vec();
        assert_eq!(
            prepare(pdf, None, Some("report.pdf")).unwrap().kind,
            FileKind::Document
        );
        let mut wav = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
        wav.extend_from_slice(&[0; 32]);
        assert_eq!(prepare(wav, None, None).unwrap().mime, "audio/wav");
        let text = prepare("привет".as_bytes().to_vec(), None, Some("notes.txt")).unwrap();
        assert_eq!(text.mime, "text/plain");
        assert!(matches!(
            prepare(b"just bytes".to_vec(), None, None),
            Err(MediaError::Unsupported(None))
        ));
        assert_eq!(prepare(Vec::new(), None, None), Err(MediaError::Empty));
    }

    #[test]
    fn limits_are_checked_before_upload() {
        let mut big = encode(image::ImageFormat::Png);
        big.resize(IMAGE_LIMIT + 1, 0);
        assert!(matches!(
            prepare(big, None, None),
            Err(MediaError::TooLarge { kind: "image", .. })
        ));
    }
}
