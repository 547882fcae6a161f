//! A per-process cache of normalised tool lists: agents resend the same tools every turn, and
//! normalising their schemas is most of the work of planning a big request.
//!
//! An entry is found by a cheap fingerprint and served only when the request's functions equal
//! the cached ones exactly (names, descriptions, and schemas as written: byte for byte, so a
//! hit never reads a schema at all), and only for the same `legacy` flag and contract. It stores the expansion budget the list left, so a hit
//! charges the request exactly what normalising would have.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use gigachat_types::Contract;
use openai::chat::FunctionDefinition;

use crate::schema::ExpansionBudget;

/// Most tool lists kept (the least recently used goes first).
pub const CACHED_TOOL_LISTS: usize = 32;

/// Largest tool list kept, in bytes of compact JSON of what the client sent plus what normalising
/// it gave: bigger ones are normalised every time. The cache holds at most [`CACHED_TOOL_LISTS`] ×
/// this much JSON (4 MiB; a few times that as `Value` trees); an agent's 40 tools are ~50 KiB.
pub const CACHED_LIST_MAX_BYTES: usize = 128 * 1024;

/// One cached list: what the client sent, and what normalising it gave.
struct Cached<T: ?Sized> {
    fingerprint: u64,
    legacy: bool,
    contract: Contract,
    definitions: Vec<FunctionDefinition>,
    value: Arc<T>,
    budget_after: ExpansionBudget,
}

/// The normalised form `T` of tool lists, most recently used last.
pub(crate) struct ToolCache<T: ?Sized> {
    entries: Mutex<Vec<Cached<T>>>,
}

impl<T: ?Sized> ToolCache<T> {
    /// An empty cache.
    pub(crate) const fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The cached value for `definitions` and the budget normalising them left, if present.
    pub(crate) fn get(
        &self,
        definitions: &[&FunctionDefinition],
        legacy: bool,
        contract: Contract,
    ) -> Option<(Arc<T>, ExpansionBudget)> {
        let fingerprint = fingerprint(definitions, legacy, contract);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().rposition(|entry| {
            entry.fingerprint == fingerprint
                && entry.legacy == legacy
                && entry.contract == contract
                && entry.definitions.len() == definitions.len()
                && entry
                    .definitions
                    .iter()
                    .zip(definitions)
                    .all(|(cached, sent)| same_definition(cached, sent))
        })?;
        let entry = entries.remove(at);
        let found = (Arc::clone(&entry.value), entry.budget_after.clone());
        entries.push(entry);
        Some(found)
    }

    /// Keeps `value`, normalised from `definitions` leaving `budget_after` and taking
    /// `normalised_bytes` as compact JSON, unless the list is too big to keep.
    pub(crate) fn put(
        &self,
        definitions: &[&FunctionDefinition],
        legacy: bool,
        contract: Contract,
        value: Arc<T>,
        budget_after: ExpansionBudget,
        normalised_bytes: usize,
    ) {
        let sent_bytes: usize = definitions
            .iter()
            .map(|definition| {
                definition.name.len()
                    + definition.description.as_ref().map_or(0, String::len)
                    + definition
                        .parameters
                        .as_ref()
                        .map_or(0, |schema| schema.text().len())
            })
            .sum();
        if sent_bytes.saturating_add(normalised_bytes) > CACHED_LIST_MAX_BYTES {
            return;
        }
        let entry = Cached {
            fingerprint: fingerprint(definitions, legacy, contract),
            legacy,
            contract,
            definitions: definitions.iter().map(|&d| d.clone()).collect(),
            value,
            budget_after,
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHED_TOOL_LISTS {
            entries.remove(0);
        }
        entries.push(entry);
    }

    /// How many lists are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A cheap hash that tells most different lists apart: the flags, the names, and the lengths of
/// the descriptions and schemas. Equality decides.
fn fingerprint(definitions: &[&FunctionDefinition], legacy: bool, contract: Contract) -> u64 {
    let mut hasher = DefaultHasher::new();
    legacy.hash(&mut hasher);
    (contract == Contract::V2).hash(&mut hasher);
    definitions.len().hash(&mut hasher);
    for definition in definitions {
        definition.name.hash(&mut hasher);
        definition
            .description
            .as_ref()
            .map(String::len)
            .hash(&mut hasher);
        definition
            .parameters
            .as_ref()
            .map(|schema| schema.text().len())
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// Whether two definitions normalise alike: equal names, descriptions and schemas.
fn same_definition(cached: &FunctionDefinition, sent: &FunctionDefinition) -> bool {
    cached.name == sent.name
        && cached.description == sent.description
        && cached.parameters == sent.parameters
}

#[cfg(test)]
mod tests {
    use openai::RawJson;
    use serde_json::{Value, json};

    use super::*;

    fn definition(name: &str, description: &str, parameters: Value) -> FunctionDefinition {
        serde_json::from_value(json!({
            "name": name, "description": description, "parameters": parameters
        }))
        .unwrap()
    }

    fn list() -> Vec<FunctionDefinition> {
        vec![
            definition(
                "read",
                "Reads a file",
                json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            ),
            definition(
                "edit",
                "Edits a file",
                json!({"type": "object", "properties": {
                    "path": {"type": "string"},
                    "mode": {"type": "string", "enum": ["replace", "insert"]}
                }}),
            ),
        ]
    }

    fn refs(list: &[FunctionDefinition]) -> Vec<&FunctionDefinition> {
        list.iter().collect()
    }

    /// A budget that normalised `schemas` small schemas (distinct for each count).
    fn budget(schemas: usize) -> ExpansionBudget {
        let mut budget = ExpansionBudget::default();
        for _ in 0..schemas {
            let schema = json!({"properties": {"a": {"type": "string"}}});
            crate::schema::normalize(&schema, "p", &mut budget).unwrap();
        }
        budget
    }

    #[test]
    fn the_same_list_is_served_with_the_budget_it_left() {
        let cache = ToolCache::new();
        let sent = list();
        assert!(cache.get(&refs(&sent), false, Contract::V1).is_none());
        cache.put(
            &refs(&sent),
            false,
            Contract::V1,
            Arc::new(7),
            budget(1000),
            0,
        );
        let again = list();
        let (value, left) = cache.get(&refs(&again), false, Contract::V1).unwrap();
        assert_eq!(*value, 7);
        assert_eq!(left, budget(1000));
        assert_ne!(left, budget(999));
    }

    #[test]
    fn a_list_that_differs_anywhere_is_not_served() {
        let cache = ToolCache::new();
        let sent = list();
        cache.put(&refs(&sent), false, Contract::V1, Arc::new(1), budget(1), 0);
        let mut description = list();
        description[1].description = Some("Edits a file!".into());
        let mut schema = list();
        let mut edited = schema[1].parameters.as_ref().unwrap().to_value().unwrap();
        edited["properties"]["mode"]["enum"][1] = json!("append");
        schema[1].parameters = Some(RawJson::from(edited));
        let mut reordered = list();
        reordered[1].parameters = Some(RawJson::from(json!({"type": "object", "properties": {
            "mode": {"type": "string", "enum": ["replace", "insert"]},
            "path": {"type": "string"}
        }})));
        // The same schema written with spaces: served only as written (normalised afresh).
        let mut spaced = list();
        spaced[0].parameters = Some(
            serde_json::from_str(
                r#"{"type": "object", "properties": {"path": {"type": "string"}}}"#,
            )
            .unwrap(),
        );
        let mut no_schema = list();
        no_schema[0].parameters = None;
        let fewer = &list()[..1];
        for changed in [
            description,
            schema,
            reordered,
            spaced,
            no_schema,
            fewer.to_vec(),
        ] {
            assert!(
                cache.get(&refs(&changed), false, Contract::V1).is_none(),
                "{changed:?}"
            );
        }
        assert!(cache.get(&refs(&sent), false, Contract::V1).is_some());
    }

    #[test]
    fn contracts_and_legacy_functions_never_share_an_entry() {
        let cache = ToolCache::new();
        let sent = list();
        cache.put(&refs(&sent), false, Contract::V1, Arc::new(1), budget(1), 0);
        assert!(cache.get(&refs(&sent), false, Contract::V2).is_none());
        assert!(cache.get(&refs(&sent), true, Contract::V1).is_none());
        cache.put(&refs(&sent), true, Contract::V2, Arc::new(2), budget(2), 0);
        assert_eq!(*cache.get(&refs(&sent), true, Contract::V2).unwrap().0, 2);
        assert_eq!(*cache.get(&refs(&sent), false, Contract::V1).unwrap().0, 1);
        assert!(cache.get(&refs(&sent), true, Contract::V1).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let cache = ToolCache::new();
        let lists: Vec<Vec<FunctionDefinition>> = (0..CACHED_TOOL_LISTS + 10)
            .map(|i| vec![definition(&format!("f{i}"), "", json!({"type": "object"}))])
            .collect();
        for (i, sent) in lists.iter().enumerate() {
            cache.put(&refs(sent), false, Contract::V1, Arc::new(i), budget(1), 0);
            // The first list stays in use, so it is never the one dropped.
            assert!(cache.get(&refs(&lists[0]), false, Contract::V1).is_some());
        }
        assert_eq!(cache.len(), CACHED_TOOL_LISTS);
        assert!(cache.get(&refs(&lists[1]), false, Contract::V1).is_none());
        let last = &lists[CACHED_TOOL_LISTS + 9];
        assert!(cache.get(&refs(last), false, Contract::V1).is_some());
    }

    #[test]
    fn an_oversized_list_is_not_kept() {
        let cache = ToolCache::new();
        let big = vec![definition(
            "big",
            &"x".repeat(CACHED_LIST_MAX_BYTES + 1),
            json!({"type": "object"}),
        )];
        cache.put(&refs(&big), false, Contract::V1, Arc::new(1), budget(1), 0);
        let small = list();
        cache.put(
            &refs(&small),
            false,
            Contract::V1,
            Arc::new(2),
            budget(1),
            CACHED_LIST_MAX_BYTES,
        );
        assert_eq!(cache.len(), 0);
    }
}
