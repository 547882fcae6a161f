//! Files in messages: where uploaded parts go (GigaChat allows one image per message and ten per
//! request), and GigaChat's generated-image markup in answers.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use gigachat_types::{Message, Role};
use openai::chat::{ChatMessage, ContentPart, MessageContent};

use crate::TranslateError;

/// GigaChat's limit of images per request.
pub const MAX_IMAGES_PER_REQUEST: usize = 10;

/// Placeholder for an image dropped because of the per-request limit (the newest images are kept).
pub const OMITTED_IMAGE: &str =
    "[an earlier image was omitted: GigaChat accepts at most 10 images per request]";

/// What kind of file an uploaded part is; GigaChat limits images per message and per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A picture.
    Image,
    /// A sound recording.
    Audio,
    /// A text document (PDF, DOCX, TXT, ...).
    Document,
}

/// A content part already uploaded to GigaChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFile {
    /// GigaChat's file id.
    pub file_id: String,
    /// Its kind.
    pub kind: FileKind,
}

/// Uploaded parts keyed by (message index, part index); the adapter fills it before translating.
pub type ResolvedParts = HashMap<(usize, usize), ResolvedFile>;

/// One piece of a message, in order, borrowed from the request: a text is copied once, into
/// the message that carries it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    File(&'a ResolvedFile),
}

/// Whether a part is a file the adapter must upload.
pub fn is_file_part(part: &ContentPart) -> bool {
    matches!(
        part,
        ContentPart::ImageUrl { .. }
            | ContentPart::InputAudio { .. }
            | ContentPart::File { .. }
            | ContentPart::FileUrl { .. }
    )
}

/// The images to leave out so at most ten remain: the oldest ones.
pub(crate) fn images_to_drop(
    history: &[ChatMessage],
    resolved: &ResolvedParts,
) -> HashSet<(usize, usize)> {
    let mut images: Vec<(usize, usize)> = resolved
        .iter()
        .filter(|(_, file)| file.kind == FileKind::Image)
        .map(|(key, _)| *key)
        .filter(|(message, _)| *message < history.len())
        .collect();
    images.sort_unstable();
    let excess = images.len().saturating_sub(MAX_IMAGES_PER_REQUEST);
    images.into_iter().take(excess).collect()
}

/// The pieces of message `index`: its text parts and its uploaded files, in order.
pub(crate) fn pieces<'a>(
    message: &'a ChatMessage,
    index: usize,
    resolved: &'a ResolvedParts,
    dropped: &HashSet<(usize, usize)>,
) -> Result<Vec<Piece<'a>>, TranslateError> {
    match &message.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![Piece::Text(text)]),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (part_index, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.push(Piece::Text(text)),
                    ContentPart::Refusal { refusal } => out.push(Piece::Text(refusal)),
                    _ if dropped.contains(&(index, part_index)) => {
                        out.push(Piece::Text(OMITTED_IMAGE));
                    }
                    _ => match resolved.get(&(index, part_index)) {
                        Some(file) => out.push(Piece::File(file)),
                        None => {
                            return Err(TranslateError::invalid(
                                format!("messages[{index}].content[{part_index}]"),
                                "this file part could not be attached",
                            ));
                        }
                    },
                }
            }
            Ok(out)
        }
    }
}

/// The text of pieces, joined with newlines (files ignored); a lone text is borrowed as it is.
pub(crate) fn text_of<'a>(pieces: &[Piece<'a>]) -> Cow<'a, str> {
    let mut texts = pieces.iter().filter_map(|piece| match piece {
        Piece::Text(text) => Some(*text),
        Piece::File(_) => None,
    });
    let Some(first) = texts.next() else {
        return Cow::Borrowed("");
    };
    match texts.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut joined = [first, second].join("\n");
            for text in texts {
                joined.push('\n');
                joined.push_str(text);
            }
            Cow::Owned(joined)
        }
    }
}

/// GigaChat messages for one client message: one image per message, so a message with several
/// images becomes consecutive messages, each image with the text that precedes it, in order.
pub(crate) fn split(role: Role, pieces: Vec<Piece<'_>>) -> Vec<Message> {
    #[derive(Default)]
    struct Group<'a> {
        texts: Vec<&'a str>,
        files: Vec<String>,
        has_image: bool,
    }
    let mut groups: Vec<Group<'_>> = vec![Group::default()];
    for piece in pieces {
        // Text or another image after this group's image starts the next message.
        let starts_next = match &piece {
            Piece::Text(_) => true,
            Piece::File(file) => file.kind == FileKind::Image,
        };
        if starts_next && groups.last().is_some_and(|group| group.has_image) {
            groups.push(Group::default());
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        match piece {
            Piece::Text(text) => group.texts.push(text),
            Piece::File(file) => {
                group.has_image |= file.kind == FileKind::Image;
                group.files.push(file.file_id.clone());
            }
        }
    }
    let mut messages: Vec<Message> = groups
        .into_iter()
        .filter(|group| !group.texts.is_empty() || !group.files.is_empty())
        .map(|group| {
            let mut message = Message::new(role.clone(), group.texts.join("\n"));
            message.attachments = group.files;
            message
        })
        .collect();
    if messages.is_empty() {
        // An empty client message still counts as one.
        messages.push(Message::new(role, ""));
    }
    messages
}

/// An image GigaChat generated: `<img src="<file id>" fuse="true"/>` in the answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedImage {
    /// Byte range of the whole tag in the text.
    pub range: Range<usize>,
    /// GigaChat's file id of the picture.
    pub file_id: String,
}

/// Every generated-image tag in `text`.
pub fn generated_images(text: &str) -> Vec<GeneratedImage> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("<img") {
        let start = from + offset;
        let Some(close) = text[start..].find("/>").map(|end| start + end + 2) else {
            break;
        };
        let tag = &text[start..close];
        if tag.contains("fuse=\"true\"")
            && let Some(src) = attribute(tag, "src")
        {
            found.push(GeneratedImage {
                range: start..close,
                file_id: src.to_owned(),
            });
        }
        from = close;
    }
    found
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("{name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

/// `text` with each generated-image tag replaced by `replacement(file_id)`.
pub fn replace_generated_images(text: &str, mut replacement: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for image in generated_images(text) {
        out.push_str(&text[last..image.range.start]);
        out.push_str(&replacement(&image.file_id));
        last = image.range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, kind: FileKind) -> ResolvedFile {
        ResolvedFile {
            file_id: id.into(),
            kind,
        }
    }

    fn text(t: &str) -> Piece<'_> {
        Piece::Text(t)
    }

    fn shape(messages: &[Message]) -> Vec<(String, Vec<String>)> {
        messages
            .iter()
            .map(|m| (m.content.clone(), m.attachments.clone()))
            .collect()
    }

    #[test]
    fn several_images_become_consecutive_messages_in_order() {
        let (a, b) = (file("a", FileKind::Image), file("b", FileKind::Image));
        let messages = split(
            Role::User,
            vec![
                text("compare"),
                Piece::File(&a),
                text("with"),
                Piece::File(&b),
                text("please"),
            ],
        );
        assert_eq!(
            shape(&messages),
            [
                ("compare".into(), vec!["a".into()]),
                ("with".into(), vec!["b".into()]),
                ("please".into(), vec![])
            ]
        );
        let one = split(Role::User, vec![text("x"), Piece::File(&a), text("y")]);
        assert_eq!(one.len(), 2);
        let document = file("d", FileKind::Document);
        let documents = split(
            Role::User,
            vec![text("read"), Piece::File(&document), text("and summarise")],
        );
        assert_eq!(
            shape(&documents),
            [("read\nand summarise".into(), vec!["d".into()])]
        );
        assert_eq!(split(Role::User, vec![]).len(), 1);
    }

    #[test]
    fn generated_image_tags_are_found_and_replaced() {
        let text = "<img src=\"3727db23-aaaa\" fuse=\"true\"/> вот мой рисунок <img src=\"x\"/>";
        let images = generated_images(text);
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].file_id, "3727db23-aaaa");
        let replaced = replace_generated_images(text, |id| format!("![image](/f/{id})"));
        assert_eq!(
            replaced,
            "![image](/f/3727db23-aaaa) вот мой рисунок <img src=\"x\"/>"
        );
    }
}
