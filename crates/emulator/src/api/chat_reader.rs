//! Reads a v1 chat request straight from the body in one pass: the fields the request model knows
//! are deserialised as the derived impl would, the others are checked as JSON (as the `Value`
//! route does) and dropped, so a successful read needs no second pass over the ~100 KB body.
//! History messages and the function list are taken as text first: a text seen in an earlier
//! request (agents resend both every turn) is not parsed again.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::chat::{ChatRequest, FunctionSpec, Functions, Message};
use crate::fragments::FragmentCache;
use crate::json_check::AnyJson;

/// The history messages and function lists of earlier chat bodies, by their text.
#[derive(Debug, Default)]
pub(crate) struct ChatFragments {
    messages: FragmentCache<Message>,
    functions: FragmentCache<Functions>,
}

impl ChatFragments {
    /// The message that starts `rest` (an element of `messages`) and its length: a kept one found
    /// by its text, else the element's text read and parsed.
    fn message_at(&self, rest: &[u8]) -> Option<(Arc<Message>, usize)> {
        if let Some(found) = self.messages.get_at(rest) {
            return Some(found);
        }
        let text = value_text_at(rest)?;
        Some((self.message(text).ok()?, text.len()))
    }

    /// The function list that starts `rest` and its length, as [`Self::message_at`].
    fn functions_at(&self, rest: &[u8]) -> Option<(Arc<Functions>, usize)> {
        if let Some(found) = self.functions.get_at(rest) {
            return Some(found);
        }
        let text = value_text_at(rest)?;
        Some((self.functions(text).ok()?, text.len()))
    }

    /// The message of `text` (one element of `messages`), parsed as in the body.
    fn message(&self, text: &str) -> Result<Arc<Message>, serde_json::Error> {
        self.messages.get_or_parse(text, |text| {
            // Two levels of nesting around it, as in the body (`{"messages":[…]}`), so the depth
            // limit counts as in a parse of the whole body.
            let [[message]] =
                serde_json::from_str::<[[MessageReader; 1]; 1]>(&format!("[[{text}]]"))?;
            Ok(message.0)
        })
    }

    /// The functions of `text` (the `functions` array), parsed as in the body.
    fn functions(&self, text: &str) -> Result<Arc<Functions>, serde_json::Error> {
        self.functions.get_or_parse(text, |text| {
            // One level of nesting around it, as in the body (`{"functions":…}`).
            let [list] =
                serde_json::from_str::<[Vec<FunctionSpecReader>; 1]>(&format!("[{text}]"))?;
            Ok(Functions::new(list.into_iter().map(|f| f.0).collect()))
        })
    }
}

/// The text of the JSON value `rest` starts with (its syntax and UTF-8 checked, nothing else).
fn value_text_at(rest: &[u8]) -> Option<&str> {
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<&RawValue>();
    values.next()?.ok().map(RawValue::get)
}

/// Reads a chat body whose history messages and function list were (mostly) seen before without
/// scanning their text: the top-level object is walked here, each message and the list are found
/// by their text in the fragments (or read and parsed when new), and the remaining fields are
/// read by [`ChatRequestReader`] from a small object made of their text. `None` for anything
/// unusual (an escaped or repeated key, bad syntax, a part that does not parse): then the
/// caller reads the body with [`ChatRequestReader`], whose outcome is the reference.
pub(crate) fn read_reusing_fragments(
    fragments: &ChatFragments,
    body: &[u8],
) -> Option<ChatRequest> {
    // UTF-8 is checked piece by piece: keys, the other fields' values and new messages here, the
    // kept messages and lists were checked when first read and are compared byte for byte.
    let mut walk = Walk { body, at: 0 };
    let mut messages = None;
    let mut functions = None;
    let mut others = String::from("{\"messages\":[]");
    walk.skip_space();
    walk.eat(b'{')?;
    walk.skip_space();
    if walk.peek() != Some(b'}') {
        loop {
            let key = walk.plain_key()?;
            walk.skip_space();
            walk.eat(b':')?;
            walk.skip_space();
            match key {
                "messages" if messages.is_none() => messages = Some(walk.messages(fragments)?),
                "functions" if functions.is_none() => functions = Some(walk.functions(fragments)?),
                "messages" | "functions" => return None,
                _ => {
                    let value = value_text_at(walk.rest())?;
                    walk.at += value.len();
                    others.push_str(",\"");
                    others.push_str(key);
                    others.push_str("\":");
                    others.push_str(value);
                }
            }
            walk.skip_space();
            if walk.peek() == Some(b',') {
                walk.at += 1;
                walk.skip_space();
                continue;
            }
            break;
        }
    }
    walk.eat(b'}')?;
    walk.skip_space();
    if walk.at != body.len() {
        return None;
    }
    others.push('}');
    let mut json = serde_json::Deserializer::from_str(&others);
    let mut request = ChatRequestReader(fragments).deserialize(&mut json).ok()?;
    json.end().ok()?;
    request.messages = messages?;
    request.functions = functions.flatten();
    Some(request)
}

/// A position in a body being walked by [`read_reusing_fragments`].
struct Walk<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Walk<'a> {
    fn rest(&self) -> &'a [u8] {
        self.body.get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// An object key without escapes or control characters.
    fn plain_key(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.rest();
        let end = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.get(end) != Some(&b'"') {
            return None;
        }
        self.at += end + 1;
        std::str::from_utf8(rest.get(..end)?).ok()
    }

    /// The `messages` array, each element from the fragments.
    fn messages(&mut self, fragments: &ChatFragments) -> Option<Vec<Arc<Message>>> {
        self.eat(b'[')?;
        self.skip_space();
        let mut messages = Vec::new();
        if self.eat(b']').is_some() {
            return Some(messages);
        }
        loop {
            let (message, length) = fragments.message_at(self.rest())?;
            messages.push(message);
            self.at += length;
            self.skip_space();
            if self.eat(b']').is_some() {
                return Some(messages);
            }
            self.eat(b',')?;
            self.skip_space();
        }
    }

    /// The `functions` field: `null` or a list from the fragments.
    fn functions(&mut self, fragments: &ChatFragments) -> Option<Option<Arc<Functions>>> {
        if self.rest().starts_with(b"null") {
            self.at += "null".len();
            return Some(None);
        }
        let (functions, length) = fragments.functions_at(self.rest())?;
        self.at += length;
        Some(Some(functions))
    }
}

/// Reads a [`ChatRequest`] for [`super::parse_checked_json`], sharing messages and function lists
/// with earlier requests through the fragments. Anything unusual (a repeated field, a missing one,
/// the array form of a struct) is an error, after which the `Value` route answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChatRequestReader<'a>(pub(crate) &'a ChatFragments);

impl<'de> DeserializeSeed<'de> for ChatRequestReader<'_> {
    type Value = ChatRequest;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ChatRequest, D::Error> {
        deserializer.deserialize_map(ChatRequestVisitor(self.0))
    }
}

const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "temperature",
    "top_p",
    "repetition_penalty",
    "max_tokens",
    "stream",
    "update_interval",
    "function_call",
    "functions",
    "response_format",
    "reasoning_effort",
    "reasoning_max_tokens",
];

const MESSAGE_FIELDS: &[&str] = &[
    "role",
    "content",
    "function_call",
    "name",
    "attachments",
    "functions_state_id",
];

const FUNCTION_FIELDS: &[&str] = &["name", "description", "parameters", "return_parameters"];

/// An object key matched against known field names without allocating: the name, or `None`.
struct FieldName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldName {
    type Value = Option<&'static str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|known| **known == name).copied())
    }
}

/// Reads the value of field `name` into `slot`; a field given twice is an error.
fn read_once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    read_once_with(map, slot, name, std::marker::PhantomData)
}

/// [`read_once`] with a seed.
fn read_once_with<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
    map: &mut A,
    slot: &mut Option<S::Value>,
    name: &'static str,
    seed: S,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value_seed(seed)?);
    Ok(())
}

/// The `messages` array: each element's text, shared through the fragments.
struct MessagesSeed<'a>(&'a ChatFragments);

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_> {
    type Value = Vec<Arc<Message>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_> {
    type Value = Vec<Arc<Message>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a sequence of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(text) = seq.next_element::<&'de RawValue>()? {
            messages.push(self.0.message(text.get()).map_err(de::Error::custom)?);
        }
        Ok(messages)
    }
}

/// The `functions` field: `null`, or the array's text, shared through the fragments.
struct FunctionsSeed<'a>(&'a ChatFragments);

impl<'de> DeserializeSeed<'de> for FunctionsSeed<'_> {
    type Value = Option<Arc<Functions>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Option::<&'de RawValue>::deserialize(deserializer)?
            .map(|text| self.0.functions(text.get()).map_err(de::Error::custom))
            .transpose()
    }
}

/// Reads an object field by field: `field` takes the known ones, the rest are checked and dropped.
fn read_object<'de, A: MapAccess<'de>>(
    mut map: A,
    names: &'static [&'static str],
    mut field: impl FnMut(&mut A, &'static str) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    while let Some(name) = map.next_key_seed(FieldName(names))? {
        match name {
            Some(name) => field(&mut map, name)?,
            None => {
                map.next_value::<AnyJson>()?;
            }
        }
    }
    Ok(())
}

struct ChatRequestVisitor<'a>(&'a ChatFragments);

impl<'de> Visitor<'de> for ChatRequestVisitor<'_> {
    type Value = ChatRequest;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a chat request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ChatRequest, A::Error> {
        let fragments = self.0;
        let mut model: Option<Option<String>> = None;
        let mut messages: Option<Vec<Arc<Message>>> = None;
        let mut temperature: Option<Option<f64>> = None;
        let mut top_p: Option<Option<f64>> = None;
        let mut repetition_penalty: Option<Option<f64>> = None;
        let mut max_tokens: Option<Option<i64>> = None;
        let mut stream: Option<Option<bool>> = None;
        let mut update_interval: Option<Option<f64>> = None;
        let mut function_call: Option<Option<Value>> = None;
        let mut functions: Option<Option<Arc<Functions>>> = None;
        let mut response_format: Option<Option<Value>> = None;
        let mut reasoning_effort: Option<Option<String>> = None;
        let mut reasoning_max_tokens: Option<Option<i64>> = None;
        read_object(map, CHAT_FIELDS, |map, name| match name {
            "model" => read_once(map, &mut model, name),
            "messages" => read_once_with(map, &mut messages, name, MessagesSeed(fragments)),
            "temperature" => read_once(map, &mut temperature, name),
            "top_p" => read_once(map, &mut top_p, name),
            "repetition_penalty" => read_once(map, &mut repetition_penalty, name),
            "max_tokens" => read_once(map, &mut max_tokens, name),
            "stream" => read_once(map, &mut stream, name),
            "update_interval" => read_once(map, &mut update_interval, name),
            "function_call" => read_once(map, &mut function_call, name),
            "functions" => read_once_with(map, &mut functions, name, FunctionsSeed(fragments)),
            "response_format" => read_once(map, &mut response_format, name),
            "reasoning_effort" => read_once(map, &mut reasoning_effort, name),
            _ => read_once(map, &mut reasoning_max_tokens, name),
        })?;
        let messages = messages.ok_or_else(|| de::Error::missing_field("messages"))?;
        Ok(ChatRequest {
            model: model.flatten(),
            messages,
            temperature: temperature.flatten(),
            top_p: top_p.flatten(),
            repetition_penalty: repetition_penalty.flatten(),
            max_tokens: max_tokens.flatten(),
            stream: stream.flatten(),
            update_interval: update_interval.flatten(),
            function_call: function_call.flatten(),
            functions: functions.flatten(),
            response_format: response_format.flatten(),
            reasoning_effort: reasoning_effort.flatten(),
            reasoning_max_tokens: reasoning_max_tokens.flatten(),
            regex: None,
            v2: None,
        })
    }
}

/// A history [`Message`] read the same way.
struct MessageReader(Message);

impl<'de> Deserialize<'de> for MessageReader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = MessageReader;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MessageReader, A::Error> {
        let mut role: Option<String> = None;
        let mut content: Option<Option<String>> = None;
        let mut function_call: Option<Option<Value>> = None;
        let mut name: Option<Option<String>> = None;
        let mut attachments: Option<Vec<String>> = None;
        let mut functions_state_id: Option<Option<String>> = None;
        read_object(map, MESSAGE_FIELDS, |map, field| match field {
            "role" => read_once(map, &mut role, field),
            "content" => read_once(map, &mut content, field),
            "function_call" => read_once(map, &mut function_call, field),
            "name" => read_once(map, &mut name, field),
            "attachments" => read_once(map, &mut attachments, field),
            _ => read_once(map, &mut functions_state_id, field),
        })?;
        Ok(MessageReader(Message::new(
            role.ok_or_else(|| de::Error::missing_field("role"))?,
            content.flatten(),
            function_call.flatten(),
            name.flatten(),
            attachments.unwrap_or_default(),
            functions_state_id.flatten(),
        )))
    }
}

/// A declared [`FunctionSpec`] read the same way.
struct FunctionSpecReader(FunctionSpec);

impl<'de> Deserialize<'de> for FunctionSpecReader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FunctionSpecVisitor)
    }
}

struct FunctionSpecVisitor;

impl<'de> Visitor<'de> for FunctionSpecVisitor {
    type Value = FunctionSpecReader;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a function object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FunctionSpecReader, A::Error> {
        let mut name: Option<String> = None;
        let mut description: Option<Option<String>> = None;
        let mut parameters: Option<Option<Value>> = None;
        let mut return_parameters: Option<Option<Value>> = None;
        read_object(map, FUNCTION_FIELDS, |map, field| match field {
            "name" => read_once(map, &mut name, field),
            "description" => read_once(map, &mut description, field),
            "parameters" => read_once(map, &mut parameters, field),
            _ => read_once(map, &mut return_parameters, field),
        })?;
        Ok(FunctionSpecReader(FunctionSpec {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            description: description.flatten(),
            parameters: parameters.flatten(),
            return_parameters: return_parameters.flatten(),
        }))
    }
}
