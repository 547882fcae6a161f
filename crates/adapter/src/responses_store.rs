//! Stored Responses (`store: true`): a finished Response and the input items it answered, kept per caller key, for `GET /responses/{id}`, its `input_items` and `previous_response_id`.
//!
//! Entries live in the persistent store of [`crate::store`] (redb under `DATA_DIR`, or Redis with
//! `REDIS_URL` so every replica can continue a conversation), without a memory tier: a response
//! deleted through one replica must be gone for all of them. The storage key holds the upstream
//! identity and the caller's key name, so no key ever reads another key's responses.

use std::sync::Arc;
use std::time::Duration;

use openai::responses::{InputContent, InputItem, ItemContent, MessageItem, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use translate::responses::StoredExchange;

use crate::store::{Entry, KvStore, StoreError, expires_in};

/// Prefix of every storage key; bump the version when the key or value format changes.
const KEY_PREFIX: &str = "gigachat-adapter:response:v1";

/// Most items one `input_items` page holds.
pub const MAX_PAGE: usize = 100;

/// Items an `input_items` page holds when the client names no `limit`.
pub const DEFAULT_PAGE: usize = 20;

/// How long stored responses are kept and how large one may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long a stored response stays retrievable (`RESPONSES_TTL_SECS`).
    pub ttl: Duration,
    /// The largest stored entry (the Response and its input items as JSON), in bytes
    /// (`RESPONSES_MAX_BYTES`); a larger one is not stored.
    pub max_bytes: usize,
}

/// What [`ResponsesStore::keep`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The response is stored.
    Stored,
    /// The entry is larger than [`Retention::max_bytes`]: nothing was stored.
    TooLarge {
        /// The entry's size, in bytes.
        bytes: usize,
    },
}

/// Stored responses, per upstream identity and caller key; cheap to clone.
#[derive(Clone)]
pub struct ResponsesStore {
    /// Where entries are kept.
    kv: Arc<dyn KvStore>,
    /// The upstream identity the adapter serves as (tenants sharing a Redis stay apart).
    scope: String,
    /// How long and how large.
    retention: Retention,
}

impl std::fmt::Debug for ResponsesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl ResponsesStore {
    /// Responses kept in `kv` for the upstream identity `scope`, as `retention` says.
    pub fn new(kv: Arc<dyn KvStore>, scope: &str, retention: Retention) -> Self {
        Self {
            kv,
            scope: scope.to_owned(),
            retention,
        }
    }

    /// How long and how large.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The storage key of response `id` stored by the caller whose key is named `owner` (`None`:
    /// no key is configured). Key names never hold a `:`, so no id can reach another owner's keys.
    fn key(&self, owner: Option<&str>, id: &str) -> String {
        format!(
            "{KEY_PREFIX}:{}:{}:{id}",
            self.scope,
            owner.unwrap_or_default()
        )
    }

    /// Keeps `exchange` (the response and its input items, history first) as a response of
    /// `owner` for [`Retention::ttl`], unless it is larger than [`Retention::max_bytes`]. Input
    /// items are kept as `input_items` lists them: with ids, message text as a part.
    pub async fn keep(
        &self,
        owner: Option<&str>,
        mut exchange: StoredExchange,
    ) -> Result<Kept, StoreError> {
        as_listed(&mut exchange.input);
        let id = exchange.response.id.clone();
        let value = serde_json::to_vec(&exchange)?;
        if value.len() > self.retention.max_bytes {
            return Ok(Kept::TooLarge { bytes: value.len() });
        }
        let entry = Entry {
            value: value.into(),
            expires_at: expires_in(self.retention.ttl),
        };
        self.kv.put(&self.key(owner, &id), &entry).await?;
        Ok(Kept::Stored)
    }

    /// Response `id` of `owner`, unless it is unknown, expired or another key's.
    pub async fn load(
        &self,
        owner: Option<&str>,
        id: &str,
    ) -> Result<Option<StoredExchange>, StoreError> {
        let Some(entry) = self.kv.get(&self.key(owner, id)).await? else {
            return Ok(None);
        };
        // Read as text, as request bodies are: the Responses types are then compiled for one reader.
        let text = std::str::from_utf8(&entry.value)
            .map_err(<serde_json::Error as serde::de::Error>::custom)?;
        Ok(Some(serde_json::from_str(text)?))
    }

    /// Deletes response `id` of `owner`; `false` when there was none to delete.
    pub async fn delete(&self, owner: Option<&str>, id: &str) -> Result<bool, StoreError> {
        let key = self.key(owner, id);
        if self.kv.get(&key).await?.is_none() {
            return Ok(false);
        }
        self.kv.remove(&key).await?;
        Ok(true)
    }
}

/// Puts `items` in the shape `input_items` lists them in: message text as one content part
/// (`output_text` for the assistant, `input_text` otherwise), a `status` on messages (`completed`,
/// which an assistant `OutputMessage` requires), and an id on every item that has
/// none (or an empty one), prefixed as OpenAI names its items (`msg_`, `fc_`, `fco_`, ...).
/// References and items of unserved kinds have no id to give.
fn as_listed(items: &mut [InputItem]) {
    for item in items {
        let (slot, prefix) = match item {
            InputItem::Message(message) => {
                text_as_part(message);
                message.status.get_or_insert_with(|| "completed".to_owned());
                (&mut message.id, "msg")
            }
            InputItem::FunctionCall(call) => (&mut call.id, "fc"),
            InputItem::FunctionCallOutput(output) => (&mut output.id, "fco"),
            InputItem::CustomToolCall(call) => (&mut call.id, "ctc"),
            InputItem::CustomToolCallOutput(output) => (&mut output.id, "ctco"),
            InputItem::Reasoning(reasoning) => (&mut reasoning.id, "rs"),
            InputItem::ItemReference { .. } | InputItem::Other { .. } => continue,
        };
        if slot.as_deref().is_none_or(str::is_empty) {
            *slot = Some(format!("{prefix}_{}", uuid::Uuid::now_v7().simple()));
        }
    }
}

/// A message's plain-text content as one text part.
fn text_as_part(message: &mut MessageItem) {
    let ItemContent::Text(text) = &mut message.content else {
        return;
    };
    let text = std::mem::take(text);
    let part = match message.role {
        Role::Assistant => InputContent::OutputText {
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        },
        Role::User | Role::System | Role::Developer => InputContent::InputText { text },
    };
    message.content = ItemContent::Parts(vec![part]);
}

/// The query of `GET /responses/{id}/input_items` (`include[]` is accepted and changes nothing).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ItemsQuery {
    /// Items per page, 1 to [`MAX_PAGE`] ([`DEFAULT_PAGE`] when absent).
    #[serde(default)]
    pub limit: Option<String>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[serde(default)]
    pub order: Option<String>,
    /// A cursor: the items after the one with this id, in the chosen order.
    #[serde(default)]
    pub after: Option<String>,
}

/// One page of `items` as `query` asks: `{object: "list", data, first_id, last_id, has_more}`.
/// An `after` id that is not among the items gives an empty page.
pub fn page(items: &[InputItem], query: &ItemsQuery) -> Result<Value, translate::TranslateError> {
    let ascending = translate::files::list_order(query.order.as_deref())?;
    let limit = translate::files::list_limit(query.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let mut ordered: Vec<Value> = items
        .iter()
        .map(|item| serde_json::to_value(item).unwrap_or(Value::Null))
        .collect();
    if !ascending {
        ordered.reverse();
    }
    if let Some(after) = &query.after {
        translate::files::skip_through(&mut ordered, after, |item| {
            item.get("id").and_then(Value::as_str)
        });
    }
    let has_more = ordered.len() > limit;
    ordered.truncate(limit);
    let id_of = |item: Option<&Value>| item.and_then(|item| item.get("id")).cloned();
    Ok(json!({
        "object": "list",
        "first_id": id_of(ordered.first()),
        "last_id": id_of(ordered.last()),
        "has_more": has_more,
        "data": ordered,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(value: Value) -> Vec<InputItem> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn items_keep_their_ids_and_get_missing_ones() {
        let mut input = items(json!([
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "42", "id": "fco_client"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": ""},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"},
            {"type": "item_reference", "id": "msg_earlier"},
        ]));
        as_listed(&mut input);
        let listed: Vec<Value> = input
            .iter()
            .map(|item| serde_json::to_value(item).unwrap())
            .collect();
        let id = |index: usize| listed[index]["id"].as_str().unwrap().to_owned();
        assert!(id(0).starts_with("msg_") && id(0).len() == 36, "{}", id(0));
        assert_eq!(id(1), "fco_client");
        assert!(id(2).starts_with("fc_"), "{}", id(2));
        assert!(id(3).starts_with("ctco_"), "{}", id(3));
        assert_eq!(id(4), "msg_earlier");
        let distinct: std::collections::HashSet<String> = (0..5).map(id).collect();
        assert_eq!(distinct.len(), 5);
    }

    #[test]
    fn message_text_becomes_one_part() {
        let mut input = items(json!([
            {"role": "user", "content": "Question"},
            {"role": "assistant", "content": "Answer", "id": "msg_a"},
            {"role": "developer", "content": [{"type": "input_text", "text": "Rules"}]},
        ]));
        as_listed(&mut input);
        let listed = serde_json::to_value(&input).unwrap();
        assert_eq!(
            listed[0]["content"],
            json!([{"type": "input_text", "text": "Question"}])
        );
        assert_eq!(
            listed[1]["content"],
            json!([{"type": "output_text", "text": "Answer", "annotations": [], "logprobs": []}])
        );
        assert_eq!(listed[1]["id"], "msg_a");
        assert_eq!(listed[1]["status"], "completed");
        assert_eq!(
            listed[2]["content"],
            json!([{"type": "input_text", "text": "Rules"}])
        );
    }

    fn numbered(count: usize) -> Vec<InputItem> {
        (1..=count)
            .map(|n| InputItem::ItemReference {
                id: format!("i{n}"),
            })
            .collect()
    }

    fn query(limit: Option<&str>, order: Option<&str>, after: Option<&str>) -> ItemsQuery {
        ItemsQuery {
            limit: limit.map(str::to_owned),
            order: order.map(str::to_owned),
            after: after.map(str::to_owned),
        }
    }

    fn ids(page: &Value) -> Vec<&str> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn pages_newest_first_by_default_twenty_at_a_time() {
        let items = numbered(25);
        let first = page(&items, &ItemsQuery::default()).unwrap();
        assert_eq!(first["object"], "list");
        assert_eq!(ids(&first).len(), 20);
        assert_eq!(
            (&first["first_id"], &first["last_id"]),
            (&json!("i25"), &json!("i6"))
        );
        assert_eq!(first["has_more"], true);
        let rest = page(&items, &query(None, None, Some("i6"))).unwrap();
        assert_eq!(ids(&rest), ["i5", "i4", "i3", "i2", "i1"]);
        assert_eq!(rest["has_more"], false);
    }

    #[test]
    fn pages_oldest_first_with_a_limit_and_cursor() {
        let items = numbered(5);
        let first = page(&items, &query(Some("2"), Some("asc"), None)).unwrap();
        assert_eq!(ids(&first), ["i1", "i2"]);
        assert_eq!(first["has_more"], true);
        let second = page(&items, &query(Some("2"), Some("asc"), Some("i2"))).unwrap();
        assert_eq!(ids(&second), ["i3", "i4"]);
        let last = page(&items, &query(Some("2"), Some("asc"), Some("i4"))).unwrap();
        assert_eq!(ids(&last), ["i5"]);
        assert_eq!(last["has_more"], false);
        // Exactly `limit` left: no more after them.
        let exact = page(&items, &query(Some("3"), Some("asc"), Some("i2"))).unwrap();
        assert_eq!(exact["has_more"], false);
    }

    #[test]
    fn an_unknown_cursor_or_no_items_give_an_empty_page() {
        for (items, after) in [(numbered(3), Some("nope")), (Vec::new(), None)] {
            let empty = page(&items, &query(None, None, after)).unwrap();
            assert_eq!(ids(&empty), Vec::<&str>::new());
            assert_eq!(empty["first_id"], Value::Null);
            assert_eq!(empty["last_id"], Value::Null);
            assert_eq!(empty["has_more"], false);
        }
    }

    #[test]
    fn bad_limits_and_orders_name_their_parameter() {
        let items = numbered(3);
        for (limit, order, param) in [
            (Some("0"), None, "limit"),
            (Some("101"), None, "limit"),
            (Some("ten"), None, "limit"),
            (None, Some("newest"), "order"),
        ] {
            let error = page(&items, &query(limit, order, None)).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{error:?}");
        }
        assert_eq!(
            ids(&page(&items, &query(Some("100"), None, None)).unwrap()).len(),
            3
        );
    }
}
