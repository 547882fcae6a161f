//! Token ids back to text, and the token-counting helper route. GigaChat only takes text, while
//! OpenAI clients may send token ids (langchain-openai's `OpenAIEmbeddings` does by default), so
//! the ids are decoded with the tokenizer the client used to make them.
//!
//! Which tokenizer: tiktoken's own model table (the one `tiktoken.encoding_for_model` and
//! langchain-openai use) applied to the model name the client sent, before aliases: names of the
//! `o200k_base` family (`gpt-4o*`, `gpt-4.1*`, `gpt-5*`, `o1*`, `o3*`, `o4-mini*`, `gpt-oss-*`, ...)
//! decode with `o200k_base`; everything else (`text-embedding-3-*`, `text-embedding-ada-002`,
//! `gpt-4`, `gpt-3.5-turbo*`, GigaChat names, no name) with `cl100k_base`, which is also what
//! langchain-openai falls back to for a model tiktoken does not know. The vocabularies come from
//! the `tiktoken-rs` crate (nothing is downloaded), packed by `build.rs` into deflated id → bytes
//! tables (a third of the size tiktoken-rs's base64 text adds to the binary), inflated on first use.

use gigachat_types as gc;
use openai::embeddings::Input;
use openai::extensions::{TokensCount, TokensCountList};
use std::sync::OnceLock;

use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::TranslateError;
use crate::request::ChatDefaults;

/// A tokenizer token ids are decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// `cl100k_base`: `text-embedding-3-*`, `text-embedding-ada-002`, `gpt-4`, `gpt-3.5-turbo`; the default.
    Cl100kBase,
    /// `o200k_base`: `gpt-4o`, `gpt-4.1`, `gpt-5`, the `o` series.
    O200kBase,
}

impl Vocabulary {
    /// The vocabulary for the model name the client sent (see the module documentation).
    pub fn for_model(requested: Option<&str>) -> Self {
        match requested.map(str::trim).and_then(get_tokenizer) {
            Some(Tokenizer::O200kBase | Tokenizer::O200kHarmony) => Vocabulary::O200kBase,
            _ => Vocabulary::Cl100kBase,
        }
    }

    /// The tokenizer's name.
    pub fn name(self) -> &'static str {
        match self {
            Vocabulary::Cl100kBase => "cl100k_base",
            Vocabulary::O200kBase => "o200k_base",
        }
    }

    fn table(self) -> &'static Table {
        static CL100K_BASE: OnceLock<Table> = OnceLock::new();
        static O200K_BASE: OnceLock<Table> = OnceLock::new();
        match self {
            Vocabulary::Cl100kBase => CL100K_BASE.get_or_init(|| {
                Table::inflate(include_bytes!(concat!(
                    env!("OUT_DIR"),
                    "/cl100k_base.deflate"
                )))
            }),
            Vocabulary::O200kBase => O200K_BASE.get_or_init(|| {
                Table::inflate(include_bytes!(concat!(
                    env!("OUT_DIR"),
                    "/o200k_base.deflate"
                )))
            }),
        }
    }

    /// The text of `tokens`. Bytes that are not valid UTF-8 (a character split between two token
    /// lists) become U+FFFD; an id outside the vocabulary is the client's mistake, named at `param`.
    pub fn decode(self, tokens: &[u32], param: &str) -> Result<String, TranslateError> {
        let bytes = self.table().decode(tokens).map_err(|token| {
            TranslateError::invalid(
                param,
                format!(
                    "token id {token} is not in the {} vocabulary used for this model; send text instead",
                    self.name()
                ),
            )
        })?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
    }
}

/// One vocabulary's tokens by id (the layout `build.rs` describes), inflated.
struct Table {
    /// Each id's length byte followed by its bytes, ids in order.
    packed: Vec<u8>,
    /// Where each id's length byte sits in `packed`.
    starts: Vec<u32>,
}

impl Table {
    /// Unpacks a table `build.rs` wrote; one the build wrote cannot fail to inflate, and a corrupt
    /// one would decode nothing (every id unknown) rather than panic.
    fn inflate(deflated: &[u8]) -> Self {
        let packed = miniz_oxide::inflate::decompress_to_vec(deflated).unwrap_or_default();
        let mut starts = Vec::with_capacity(packed.len() / 8);
        let mut at = 0;
        while let Some(&len) = packed.get(at) {
            starts.push(u32::try_from(at).unwrap_or(u32::MAX));
            at += 1 + usize::from(len);
        }
        Self { packed, starts }
    }

    /// The bytes of `id`, when the vocabulary has it.
    fn token(&self, id: u32) -> Option<&[u8]> {
        let start = usize::try_from(*self.starts.get(usize::try_from(id).ok()?)?).ok()?;
        let len = usize::from(*self.packed.get(start)?);
        self.packed
            .get(start + 1..start + 1 + len)
            .filter(|bytes| !bytes.is_empty())
    }

    /// The bytes of `tokens` one after the other, or the first id the vocabulary does not have.
    fn decode(&self, tokens: &[u32]) -> Result<Vec<u8>, u32> {
        let mut bytes = Vec::with_capacity(tokens.len() * 4);
        for &id in tokens {
            bytes.extend_from_slice(self.token(id).ok_or(id)?);
        }
        Ok(bytes)
    }
}

/// Whether `input` carries token ids (decoding them may first load a vocabulary: slow, blocking work).
pub fn has_token_ids(input: &Input) -> bool {
    matches!(input, Input::Tokens(_) | Input::TokenLists(_))
}

/// The texts of `input` (a field named `param`), token ids decoded for the model name the client
/// sent. A string or a token-id list is one text; an empty list is an error.
pub fn input_texts(
    input: Input,
    requested_model: Option<&str>,
    param: &str,
) -> Result<Vec<String>, TranslateError> {
    let texts = match input {
        Input::Text(text) => vec![text],
        Input::Texts(texts) => texts,
        Input::Tokens(tokens) => {
            vec![Vocabulary::for_model(requested_model).decode(&tokens, param)?]
        }
        Input::TokenLists(lists) => {
            let vocabulary = Vocabulary::for_model(requested_model);
            lists
                .iter()
                .enumerate()
                .map(|(index, tokens)| vocabulary.decode(tokens, &format!("{param}[{index}]")))
                .collect::<Result<_, _>>()?
        }
    };
    if texts.is_empty() {
        return Err(TranslateError::invalid(
            param,
            format!("{param} must not be an empty list"),
        ));
    }
    Ok(texts)
}

/// `POST /v1/tokens/count` → GigaChat's `/tokens/count`: text only, the default chat model when
/// none is named, aliases applied.
pub fn tokens_count_request(
    request: openai::extensions::TokensCountRequest,
    defaults: &ChatDefaults,
) -> Result<gc::TokensCountRequest, TranslateError> {
    if has_token_ids(&request.input) {
        return Err(TranslateError::invalid(
            "input",
            "input must be a string or a list of strings: token ids are already counted",
        ));
    }
    Ok(gc::TokensCountRequest {
        model: defaults.resolve_model(request.model.as_deref()),
        input: input_texts(request.input, None, "input")?,
    })
}

/// GigaChat answered a different number of items than it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GigaChat answered {got} items for {sent} inputs")]
pub struct CountMismatch {
    /// Inputs sent.
    pub sent: usize,
    /// Items answered.
    pub got: usize,
}

/// GigaChat's bare array of counts → the indexed list.
pub fn tokens_count_response(
    model: String,
    sent: usize,
    counts: Vec<gc::TokensCount>,
) -> Result<TokensCountList, CountMismatch> {
    if counts.len() != sent {
        return Err(CountMismatch {
            sent,
            got: counts.len(),
        });
    }
    Ok(TokensCountList {
        object: "list".into(),
        model,
        data: counts
            .into_iter()
            .enumerate()
            .map(|(index, count)| TokensCount {
                object: "tokens".into(),
                index: u32::try_from(index).unwrap_or(u32::MAX),
                tokens: count.tokens,
                characters: count.characters,
            })
            .collect(),
    })
}

/// What GigaChat's token counter gets to count the input of a chat request (the Responses API's
/// `input_tokens`, Anthropic's `count_tokens`): the text of every message GigaChat would receive,
/// the arguments of the calls in history, and the function definitions. Files are left out: the
/// counter takes text only. Errors name the chat request's JSON paths.
pub fn chat_input_texts(
    chat: &openai::chat::ChatCompletionRequest,
    defaults: &ChatDefaults,
) -> Result<gc::TokensCountRequest, TranslateError> {
    use openai::chat::{ContentPart, MessageContent};
    let mut chat = chat.clone();
    for message in &mut chat.messages {
        if let Some(MessageContent::Parts(parts)) = &mut message.content {
            parts.retain(|part| {
                matches!(part, ContentPart::Text { .. } | ContentPart::Refusal { .. })
            });
        }
    }
    let upstream = crate::chat_request(&chat, defaults, &crate::ResolvedParts::new())?.upstream;
    let mut input: Vec<String> = Vec::with_capacity(upstream.messages.len());
    for message in &upstream.messages {
        if !message.content.is_empty() {
            input.push(message.content.clone());
        }
        if let Some(call) = &message.function_call {
            input.push(call.arguments.to_string());
        }
    }
    for function in upstream.functions.iter().flatten() {
        input.push(serde_json::to_string(function).unwrap_or_default());
    }
    Ok(gc::TokensCountRequest {
        model: upstream.model,
        input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tiktoken-rs's own tokenizer for `vocabulary`, which the packed tables must match.
    fn reference(vocabulary: Vocabulary) -> &'static tiktoken_rs::CoreBPE {
        match vocabulary {
            Vocabulary::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            Vocabulary::O200kBase => tiktoken_rs::o200k_base_singleton(),
        }
    }

    /// Every id, ordinary and special, and the ids around them decode exactly as tiktoken-rs
    /// decodes them, and an id it does not know is refused the same way.
    #[test]
    fn the_packed_tables_decode_every_id_as_tiktoken_does() {
        for vocabulary in [Vocabulary::Cl100kBase, Vocabulary::O200kBase] {
            let bpe = reference(vocabulary);
            let table = vocabulary.table();
            let last = u32::try_from(table.starts.len()).unwrap();
            assert!(last > 100_000, "{vocabulary:?} has {last} ids");
            for id in (0..last + 2048).chain([u32::MAX]) {
                let expected = bpe.decode_bytes(&[id]).map_err(|err| err.token);
                assert_eq!(table.decode(&[id]), expected, "{vocabulary:?} id {id}");
            }
            let ids = [0, 1, last / 2, last - 1, 0];
            assert_eq!(
                table.decode(&ids).unwrap(),
                bpe.decode_bytes(&ids).unwrap(),
                "{vocabulary:?}"
            );
        }
    }

    #[test]
    fn the_model_name_picks_the_vocabulary() {
        for (model, expected) in [
            (None, Vocabulary::Cl100kBase),
            (Some("text-embedding-3-small"), Vocabulary::Cl100kBase),
            (Some("text-embedding-ada-002"), Vocabulary::Cl100kBase),
            (Some("gpt-3.5-turbo-instruct"), Vocabulary::Cl100kBase),
            (Some("Embeddings"), Vocabulary::Cl100kBase),
            (Some("gpt-4o"), Vocabulary::O200kBase),
            (Some("gpt-4o-mini"), Vocabulary::O200kBase),
            (Some("o1-preview"), Vocabulary::O200kBase),
            (Some("gpt-5"), Vocabulary::O200kBase),
        ] {
            assert_eq!(Vocabulary::for_model(model), expected, "{model:?}");
        }
    }

    #[test]
    fn ids_decode_to_the_text_they_encode() {
        for vocabulary in [Vocabulary::Cl100kBase, Vocabulary::O200kBase] {
            let text = "Hello, world! Привет, мир!";
            let ids = reference(vocabulary).encode_ordinary(text);
            assert_eq!(vocabulary.decode(&ids, "input").unwrap(), text);
        }
        assert_eq!(
            Vocabulary::Cl100kBase
                .decode(&[15339, 1917], "input")
                .unwrap(),
            "hello world"
        );
    }

    #[test]
    fn unknown_ids_and_empty_lists_are_client_errors() {
        let err = input_texts(
            Input::TokenLists(vec![vec![1], vec![u32::MAX]]),
            None,
            "input",
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input[1]"));
        assert!(err.message.contains("cl100k_base"), "{}", err.message);
        let err = input_texts(Input::Texts(Vec::new()), None, "prompt").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("prompt"));
    }

    #[test]
    fn a_character_split_between_lists_is_replaced_not_rejected() {
        let ids = reference(Vocabulary::Cl100kBase).encode_ordinary("🦀");
        assert!(ids.len() > 1, "a multi-token character is needed: {ids:?}");
        let texts = input_texts(
            Input::TokenLists(vec![ids[..1].to_vec(), ids[1..].to_vec()]),
            None,
            "input",
        )
        .unwrap();
        assert!(texts.iter().all(|t| t.contains('\u{fffd}')), "{texts:?}");
    }
}
