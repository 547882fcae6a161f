//! The Files API between OpenAI and GigaChat: GigaChat's file objects in OpenAI's shapes, and the
//! checks OpenAI makes on an upload's form and a list's query (with OpenAI's messages).

use gigachat_types as gc;
use openai::files::{
    EXPIRY_SECONDS, FileDeleted, FileList, FileListQuery, FileObject, MAX_LIST_LIMIT,
    UPLOAD_PURPOSES,
};

use crate::TranslateError;

/// The purpose reported for files not uploaded through the adapter's Files API (GigaChat only
/// knows `general`).
pub const DEFAULT_PURPOSE: &str = "user_data";

/// GigaChat's `file` in OpenAI's shape, with the `purpose` and expiry it was uploaded with.
pub fn file_object(file: gc::FileObject, purpose: String, expires_at: Option<i64>) -> FileObject {
    FileObject {
        id: file.id,
        object: "file".into(),
        bytes: file.bytes,
        created_at: file.created_at,
        filename: file.filename,
        purpose,
        status: "processed".into(),
        expires_at,
    }
}

/// GigaChat's deletion answer in OpenAI's shape.
pub fn file_deleted(deleted: gc::DeletedFile) -> FileDeleted {
    FileDeleted {
        id: deleted.id,
        object: "file".into(),
        deleted: deleted.deleted,
    }
}

/// A page of `data` (`has_more`: files follow it).
pub fn file_list(data: Vec<FileObject>, has_more: bool) -> FileList {
    FileList {
        object: "list".into(),
        first_id: data.first().map(|f| f.id.clone()).unwrap_or_default(),
        last_id: data.last().map(|f| f.id.clone()).unwrap_or_default(),
        data,
        has_more,
    }
}

/// An upload form's `purpose`, which OpenAI requires and restricts to [`UPLOAD_PURPOSES`].
pub fn upload_purpose(purpose: Option<String>) -> Result<String, TranslateError> {
    let Some(purpose) = purpose else {
        return Err(TranslateError::invalid(
            "purpose",
            "Missing required parameter: 'purpose'.",
        ));
    };
    if UPLOAD_PURPOSES.contains(&purpose.as_str()) {
        return Ok(purpose);
    }
    Err(TranslateError::invalid(
        "purpose",
        format!(
            "Invalid value for 'purpose': {purpose:?}. Supported values are: {}.",
            UPLOAD_PURPOSES.join(", ")
        ),
    ))
}

/// An upload form's `expires_after[anchor]` (which must be `created_at`) and
/// `expires_after[seconds]`: the file's lifetime in seconds, or `None` when it does not expire.
pub fn expires_after(
    anchor: Option<&str>,
    seconds: Option<&str>,
) -> Result<Option<i64>, TranslateError> {
    match (anchor, seconds) {
        (None, None) => Ok(None),
        (Some("created_at"), Some(text)) => match text.trim().parse::<i64>() {
            Ok(seconds) if EXPIRY_SECONDS.contains(&seconds) => Ok(Some(seconds)),
            _ => Err(TranslateError::invalid(
                "expires_after.seconds",
                format!(
                    "Invalid value for 'expires_after.seconds': {text:?}. It must be an integer \
                     between {} and {}.",
                    EXPIRY_SECONDS.start(),
                    EXPIRY_SECONDS.end()
                ),
            )),
        },
        (Some("created_at"), None) => Err(TranslateError::invalid(
            "expires_after.seconds",
            "Missing required parameter: 'expires_after.seconds'.",
        )),
        (None, Some(_)) => Err(TranslateError::invalid(
            "expires_after.anchor",
            "Missing required parameter: 'expires_after.anchor'.",
        )),
        (Some(other), _) => Err(TranslateError::invalid(
            "expires_after.anchor",
            format!(
                "Invalid value for 'expires_after.anchor': {other:?}. Supported values are: created_at."
            ),
        )),
    }
}

/// A list query's `order`: `true` for `asc`, `false` for `desc` (the default); anything else is
/// a 400 naming `order`, as OpenAI answers.
pub fn list_order(order: Option<&str>) -> Result<bool, TranslateError> {
    match order {
        None | Some("desc") => Ok(false),
        Some("asc") => Ok(true),
        Some(other) => Err(TranslateError::invalid(
            "order",
            format!("Invalid value for 'order': {other:?}. Supported values are: asc, desc."),
        )),
    }
}

/// A list query's `limit`: `default` when absent, else an integer from 1 to `max`; anything else
/// is a 400 naming `limit`.
pub fn list_limit(
    limit: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, TranslateError> {
    let Some(text) = limit else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(TranslateError::invalid(
            "limit",
            format!(
                "Invalid value for 'limit': {text:?}. It must be an integer between 1 and {max}."
            ),
        )),
    }
}

/// Drops the items of a list up to and including the one whose id (`id_of`) is the cursor
/// `after`; all of them when none is.
pub fn skip_through<T>(items: &mut Vec<T>, after: &str, id_of: impl Fn(&T) -> Option<&str>) {
    let position = items.iter().position(|item| id_of(item) == Some(after));
    items.drain(..position.map_or(items.len(), |index| index + 1));
}

/// A checked `GET /v1/files` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileListing {
    /// Only files with this purpose.
    pub purpose: Option<String>,
    /// At most this many files.
    pub limit: usize,
    /// Oldest first (`order=asc`); newest first by default.
    pub ascending: bool,
    /// The files after this id in the chosen order.
    pub after: Option<String>,
}

impl FileListing {
    /// Checks `query` (`order`, then `limit`) as OpenAI does.
    pub fn new(query: FileListQuery) -> Result<Self, TranslateError> {
        let ascending = list_order(query.order.as_deref())?;
        let limit = list_limit(query.limit.as_deref(), MAX_LIST_LIMIT, MAX_LIST_LIMIT)?;
        Ok(Self {
            purpose: query.purpose,
            limit,
            ascending,
            after: query.after,
        })
    }

    /// GigaChat's `files` in the order asked for by `created_at`, starting after the cursor (none
    /// when the cursor is not among them). Files created in the same second keep GigaChat's
    /// (upload) order, reversed for newest first.
    pub fn arrange(&self, mut files: Vec<gc::FileObject>) -> Vec<gc::FileObject> {
        files.sort_by_key(|file| file.created_at);
        if !self.ascending {
            files.reverse();
        }
        if let Some(after) = &self.after {
            skip_through(&mut files, after, |file| Some(&file.id));
        }
        files
    }

    /// Whether `file` passes the `purpose` filter.
    pub fn wants(&self, file: &FileObject) -> bool {
        self.purpose.as_ref().is_none_or(|p| *p == file.purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(id: &str, created_at: i64) -> gc::FileObject {
        gc::FileObject {
            id: id.into(),
            object: "file".into(),
            bytes: 3,
            created_at,
            filename: format!("{id}.txt"),
            purpose: "general".into(),
            access_policy: Some("private".into()),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> FileListQuery {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        FileListQuery {
            purpose: get("purpose"),
            limit: get("limit"),
            order: get("order"),
            after: get("after"),
        }
    }

    fn ids(files: &[gc::FileObject]) -> Vec<&str> {
        files.iter().map(|file| file.id.as_str()).collect()
    }

    #[test]
    fn a_gigachat_file_reads_as_openais() {
        let file = file_object(upstream("f1", 100), "vision".into(), Some(3_700));
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            serde_json::json!({
                "id": "f1", "object": "file", "bytes": 3, "created_at": 100, "filename": "f1.txt",
                "purpose": "vision", "status": "processed", "expires_at": 3_700
            })
        );
        let file = file_object(upstream("f2", 100), DEFAULT_PURPOSE.into(), None);
        assert!(
            serde_json::to_value(&file)
                .unwrap()
                .get("expires_at")
                .is_none()
        );
        let deleted = file_deleted(gc::DeletedFile {
            id: "f1".into(),
            object: "file".into(),
            deleted: true,
        });
        assert_eq!(
            serde_json::to_value(deleted).unwrap(),
            serde_json::json!({"id": "f1", "object": "file", "deleted": true})
        );
    }

    #[test]
    fn a_list_names_its_ends_and_an_empty_one_has_empty_ids() {
        let files = vec![
            file_object(upstream("a", 1), "batch".into(), None),
            file_object(upstream("b", 2), "batch".into(), None),
        ];
        let list = file_list(files, true);
        assert_eq!((list.first_id.as_str(), list.last_id.as_str()), ("a", "b"));
        assert!(list.has_more);
        let empty = serde_json::to_value(file_list(Vec::new(), false)).unwrap();
        assert_eq!(
            empty,
            serde_json::json!({"object": "list", "data": [], "first_id": "", "last_id": "", "has_more": false})
        );
    }

    #[test]
    fn upload_purposes_are_openais() {
        assert_eq!(upload_purpose(Some("vision".into())).unwrap(), "vision");
        for (purpose, message) in [
            (None, "Missing required parameter: 'purpose'."),
            (
                Some("general"),
                "Invalid value for 'purpose': \"general\". Supported values are: assistants, batch, fine-tune, vision, user_data.",
            ),
        ] {
            let err = upload_purpose(purpose.map(str::to_owned)).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("purpose"));
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn expiry_needs_the_created_at_anchor_and_seconds_in_range() {
        assert_eq!(expires_after(None, None).unwrap(), None);
        assert_eq!(
            expires_after(Some("created_at"), Some(" 3600 ")).unwrap(),
            Some(3_600)
        );
        for (anchor, seconds, param) in [
            (Some("created_at"), Some("3599"), "expires_after.seconds"),
            (Some("created_at"), Some("2592001"), "expires_after.seconds"),
            (Some("created_at"), Some("soon"), "expires_after.seconds"),
            (Some("created_at"), None, "expires_after.seconds"),
            (None, Some("3600"), "expires_after.anchor"),
            (Some("last_used_at"), Some("3600"), "expires_after.anchor"),
        ] {
            let err = expires_after(anchor, seconds).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{anchor:?} {seconds:?}");
        }
    }

    #[test]
    fn list_queries_are_checked_order_first() {
        let listing = FileListing::new(query(&[])).unwrap();
        assert_eq!((listing.limit, listing.ascending), (MAX_LIST_LIMIT, false));
        let listing = FileListing::new(query(&[("order", "asc"), ("limit", "2")])).unwrap();
        assert_eq!((listing.limit, listing.ascending), (2, true));
        for (pairs, param) in [
            (&[("order", "up")][..], "order"),
            (&[("limit", "0")][..], "limit"),
            (&[("limit", "10001")][..], "limit"),
            (&[("limit", "x"), ("order", "sideways")][..], "order"),
        ] {
            let err = FileListing::new(query(pairs)).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{pairs:?}");
        }
    }

    #[test]
    fn files_are_arranged_by_creation_and_paged_after_the_cursor() {
        let files = || vec![upstream("b", 2), upstream("a", 1), upstream("c", 2)];
        let newest_first = FileListing::new(query(&[])).unwrap();
        // Same second: GigaChat's order, reversed for newest first.
        assert_eq!(ids(&newest_first.arrange(files())), ["c", "b", "a"]);
        let oldest_first = FileListing::new(query(&[("order", "asc"), ("after", "b")])).unwrap();
        assert_eq!(ids(&oldest_first.arrange(files())), ["c"]);
        let unknown_cursor = FileListing::new(query(&[("after", "gone")])).unwrap();
        assert!(unknown_cursor.arrange(files()).is_empty());
    }

    #[test]
    fn the_purpose_filter_keeps_matching_files() {
        let vision = file_object(upstream("a", 1), "vision".into(), None);
        assert!(FileListing::new(query(&[])).unwrap().wants(&vision));
        assert!(
            FileListing::new(query(&[("purpose", "vision")]))
                .unwrap()
                .wants(&vision)
        );
        assert!(
            !FileListing::new(query(&[("purpose", "batch")]))
                .unwrap()
                .wants(&vision)
        );
    }
}
