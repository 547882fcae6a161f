//! Where a value sat in a front door's request (`messages[3].content[2]`), kept as indexes and
//! written out only when an error names it: the Messages and Responses mappings remember a path
//! for every turn, block and call of a history, and formatting each one up front cost more than
//! the rest of the mapping.

use std::fmt;

/// A JSON path of up to three indexed steps under a top-level field: `system`, `input[5]`,
/// `messages[3].content[2].content[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonPath {
    field: &'static str,
    /// Each `name[index]` step; the first has no leading dot.
    steps: [Option<(&'static str, usize)>; 3],
}

impl JsonPath {
    /// A top-level field (`instructions`).
    pub const fn field(field: &'static str) -> Self {
        Self {
            field,
            steps: [None; 3],
        }
    }

    /// An element of a top-level list (`input[5]`).
    pub const fn item(field: &'static str, index: usize) -> Self {
        Self {
            field: "",
            steps: [Some((field, index)), None, None],
        }
    }

    /// This path's element `index` of its list `name` (`….content[2]`). Paths go three steps
    /// deep at most (the mappings need no more); a fourth step is not recorded.
    pub fn at(mut self, name: &'static str, index: usize) -> Self {
        if let Some(free) = self.steps.iter_mut().find(|step| step.is_none()) {
            *free = Some((name, index));
        }
        self
    }

    /// The path written out, followed by `rest` (`.call_id`).
    pub fn then(&self, rest: &str) -> String {
        format!("{self}{rest}")
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field)?;
        let mut first = self.field.is_empty();
        for (name, index) in self.steps.iter().flatten() {
            if !first {
                f.write_str(".")?;
            }
            first = false;
            write!(f, "{name}[{index}]")?;
        }
        Ok(())
    }
}

impl From<JsonPath> for String {
    fn from(path: JsonPath) -> Self {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_as_the_client_wrote_them() {
        assert_eq!(JsonPath::field("system").to_string(), "system");
        assert_eq!(JsonPath::item("input", 5).to_string(), "input[5]");
        assert_eq!(
            JsonPath::item("messages", 3)
                .at("content", 2)
                .at("content", 0)
                .to_string(),
            "messages[3].content[2].content[0]"
        );
        assert_eq!(
            JsonPath::item("input", 0).then(".call_id"),
            "input[0].call_id"
        );
    }
}
