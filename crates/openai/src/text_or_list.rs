//! Fields that hold either one text or a list of typed values (chat message content, a Responses
//! `input`, item content and tool output), read straight from the body: an untagged enum would
//! buffer the whole value as a JSON tree first (copying a large inline file twice) and lose the
//! path of an error inside the list. Public for the other wire crates (Anthropic's content and
//! `system` are such fields too).

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What such a field held.
pub enum TextOrList<T> {
    /// A string.
    Text(String),
    /// A list, each element read as `T`.
    List(Vec<T>),
}

/// Reads a string or a list of `T` (`expected` names it in errors).
pub fn read<'de, D, T>(deserializer: D, expected: &'static str) -> Result<TextOrList<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let read = deserializer.deserialize_any(TextOrListVisitor {
        expected,
        objects: false,
        element: std::marker::PhantomData,
    })?;
    read.ok_or_else(|| serde::de::Error::custom(expected))
}

/// Reads a string or a list of `T`, or an object (read and ignored; `None`).
pub fn read_or_object<'de, D, T>(
    deserializer: D,
    expected: &'static str,
) -> Result<Option<TextOrList<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(TextOrListVisitor {
        expected,
        objects: true,
        element: std::marker::PhantomData,
    })
}

/// The visitor behind [`read`] and [`read_or_object`].
struct TextOrListVisitor<T> {
    expected: &'static str,
    objects: bool,
    element: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrListVisitor<T> {
    type Value = Option<TextOrList<T>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(TextOrList::Text(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Some(TextOrList::Text(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
        while let Some(element) = seq.next_element()? {
            list.push(element);
        }
        Ok(Some(TextOrList::List(list)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.objects {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Map,
                &self,
            ));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}
