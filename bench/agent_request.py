#!/usr/bin/env python3
"""The ~116 KB coding-agent request of issue 20, in the three front doors' shapes.

Writes, deterministically (a fixed seed: the same bytes on every run and machine):
  chat.json       POST /v1/chat/completions: 40 tools with realistic JSON-Schema parameters
                  (nested objects, arrays, enums, descriptions, a few anyOf and $defs/$ref, all
                  inside what crates/translate/src/schema.rs normalises) and 92 messages (a system
                  prompt, user turns, assistant turns with tool_calls, tool results with JSON and
                  text output and long code snippets), ending with a user turn;
  messages.json   POST /v1/messages: the same conversation as Anthropic tools, tool_use and
                  tool_result blocks (consecutive tool results merged into one user turn);
  responses.json  POST /v1/responses: the same conversation as input items (message,
                  function_call, function_call_output), flat function tools, store: false;
  chat-peer.json  chat.json with one tool call per assistant turn and every tool result a JSON
                  object: the variant gpt2giga 0.3.0 can serve too (see one_call_json_results).

Run:  python3 bench/agent_request.py --out DIR [--stream]
None of the requests streams unless --stream is given. The last user turn asks a question without
a `call:` marker, so the emulator answers text (it calls a tool only when asked to).
"""

import argparse
import json
import os
import random

SEED = 20
MODEL = "GigaChat"
MESSAGE_COUNT = 92

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------

LANGUAGES = ["rust", "python", "typescript", "go", "java", "kotlin", "shell", "sql", "yaml", "toml"]
SEVERITIES = ["error", "warning", "info", "hint"]
ENCODINGS = ["utf-8", "utf-16", "latin-1", "base64"]


def string(description, **extra):
    return {"type": "string", "description": description, **extra}


def integer(description, minimum=None, maximum=None, **extra):
    schema = {"type": "integer", "description": description, **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean(description, default=None):
    schema = {"type": "boolean", "description": description}
    if default is not None:
        schema["default"] = default
    return schema


def enum(description, values, default=None):
    schema = {"type": "string", "description": description, "enum": values}
    if default is not None:
        schema["default"] = default
    return schema


def array(description, items, **extra):
    return {"type": "array", "description": description, "items": items, **extra}


def obj(properties, required=(), description=None):
    schema = {"type": "object", "properties": properties, "required": list(required)}
    if description:
        schema = {"description": description, **schema}
    return schema


def nullable(schema):
    """Pydantic's shape of an optional field: anyOf the type and null."""
    description = schema.pop("description", None)
    wrapped = {"anyOf": [schema, {"type": "null"}], "default": None}
    if description:
        wrapped["description"] = description
    return wrapped


RANGE = obj(
    {
        "start_line": integer("First line, 1-based, inclusive.", 1),
        "end_line": integer("Last line, 1-based, inclusive; -1 for the end of the file.", -1),
    },
    ["start_line", "end_line"],
    "A range of lines in a file.",
)

LOCATION_DEFS = {
    "Position": obj(
        {
            "line": integer("Line, 0-based.", 0),
            "character": integer("UTF-16 code unit offset in the line, 0-based.", 0),
        },
        ["line", "character"],
        "A position in a text document.",
    ),
    "Range": obj(
        {"start": {"$ref": "#/$defs/Position"}, "end": {"$ref": "#/$defs/Position"}},
        ["start", "end"],
        "A range between two positions.",
    ),
}


def with_location_defs(schema):
    return {"$defs": LOCATION_DEFS, **schema}


def tool_specs():
    """40 (name, description, parameters) triples, as a coding agent declares them."""
    path = string("Path relative to the workspace root, forward slashes, no `..` segments.")
    glob = string("A glob pattern such as `src/**/*.rs`; matched against workspace-relative paths.")
    specs = [
        ("read_file", "Reads a text file of the workspace, whole or a range of lines. Use it before editing a file; large files are returned in pages of at most 2,000 lines.",
         obj({"path": path, "range": nullable(dict(RANGE)), "encoding": enum("Text encoding of the file.", ENCODINGS, "utf-8")}, ["path"])),
        ("write_file", "Creates a file or replaces its whole content. Parent directories are created. Refuses to overwrite a file that changed on disk since it was last read.",
         obj({"path": path, "content": string("The complete new content of the file."), "create_only": boolean("Fail if the file exists.", False)}, ["path", "content"])),
        ("edit_file", "Replaces exact text in a file. Every edit's old_text must occur exactly once; edits apply in order and the whole call fails if one does not match.",
         obj({"path": path, "edits": array("The replacements, applied in order.", obj({"old_text": string("Exact text to find, including whitespace."), "new_text": string("Replacement text.")}, ["old_text", "new_text"]), minItems=1), "dry_run": boolean("Return the diff without writing.", False)}, ["path", "edits"])),
        ("list_directory", "Lists a directory's entries with their kind and size, optionally recursively up to a depth.",
         obj({"path": path, "depth": integer("How deep to recurse; 1 lists the directory only.", 1, 8), "include_hidden": boolean("Include dot-files.", False)}, ["path"])),
        ("glob_files", "Finds files whose path matches a glob, newest first, at most `limit` of them.",
         obj({"pattern": glob, "limit": integer("Most paths returned.", 1, 1000), "exclude": array("Globs to leave out.", string("A glob."))}, ["pattern"])),
        ("grep_search", "Searches file contents with a regular expression (Rust regex syntax) and returns matching lines with context.",
         obj({"pattern": string("The regular expression."), "include": glob, "case_sensitive": boolean("Match case.", True), "context_lines": integer("Lines of context around each match.", 0, 20), "max_results": integer("Most matches returned.", 1, 500), "output_mode": enum("What to return per match.", ["content", "files_with_matches", "count"], "content")}, ["pattern"])),
        ("run_shell_command", "Runs a command in a POSIX shell in the workspace and returns its exit status, stdout and stderr (each cut to 30,000 characters). Commands time out after `timeout_ms`.",
         obj({"command": string("The command line."), "cwd": string("Working directory relative to the workspace root."), "timeout_ms": integer("Timeout in milliseconds.", 1000, 600000), "env": obj({"variables": array("Extra environment variables.", obj({"name": string("Variable name."), "value": string("Value.")}, ["name", "value"]))}, [], "Environment changes."), "background": boolean("Start it and return at once with a job id.", False)}, ["command"])),
        ("read_job_output", "Reads new output of a background job started by run_shell_command.",
         obj({"job_id": string("The job id."), "wait_ms": integer("Wait up to this long for new output.", 0, 60000)}, ["job_id"])),
        ("kill_job", "Stops a background job and its children.",
         obj({"job_id": string("The job id."), "signal": enum("Signal to send.", ["TERM", "INT", "KILL"], "TERM")}, ["job_id"])),
        ("git_status", "Shows the working tree status: staged, unstaged and untracked files, and the branch's relation to its upstream.",
         obj({"porcelain": boolean("Machine-readable output.", True)})),
        ("git_diff", "Shows changes between the working tree, the index and commits.",
         obj({"target": enum("What to compare.", ["unstaged", "staged", "commit", "range"], "unstaged"), "revision": string("A commit or range such as `main..HEAD` for target commit/range."), "paths": array("Limit to these paths.", path), "context_lines": integer("Unified diff context.", 0, 50)}, ["target"])),
        ("git_log", "Lists commits, newest first.",
         obj({"revision": string("Start point; default HEAD."), "max_count": integer("Most commits.", 1, 500), "paths": array("Only commits touching these paths.", path), "format": enum("Detail per commit.", ["oneline", "short", "full"], "oneline")})),
        ("git_commit", "Records staged changes as a commit. Fails when nothing is staged unless `all` is set.",
         obj({"message": string("Commit message: a summary line, a blank line, then the body."), "all": boolean("Stage every tracked change first.", False), "paths": array("Stage these paths first.", path), "amend": boolean("Amend the last commit.", False)}, ["message"])),
        ("git_checkout", "Switches branches or restores files.",
         obj({"branch": string("Branch to switch to."), "create": boolean("Create the branch.", False), "paths": array("Restore these paths from the index instead.", path)})),
        ("cargo_command", "Runs cargo with structured options and returns diagnostics parsed from its JSON messages.",
         obj({"subcommand": enum("The cargo subcommand.", ["build", "check", "test", "clippy", "fmt", "bench", "doc"]), "packages": array("`-p` packages; empty for the default members.", string("A package name.")), "features": obj({"list": array("Features to enable.", string("A feature.")), "all": boolean("--all-features.", False), "no_default": boolean("--no-default-features.", False)}, [], "Feature selection."), "profile": enum("Build profile.", ["dev", "release", "dist"], "dev"), "test_filter": string("Only tests whose name contains this."), "extra_args": array("Arguments after `--`.", string("An argument."))}, ["subcommand"])),
        ("python_run", "Runs a Python snippet in the workspace's virtual environment and returns what it printed.",
         obj({"code": string("Python source."), "timeout_ms": integer("Timeout in milliseconds.", 100, 300000)}, ["code"])),
        ("pytest_run", "Runs pytest and returns a summary of failures with their tracebacks.",
         obj({"paths": array("Test files or node ids.", string("A path or node id.")), "keyword": string("`-k` expression."), "markers": string("`-m` expression."), "max_failures": integer("Stop after this many failures.", 1, 100), "verbose": boolean("`-v`.", False)})),
        ("web_search", "Searches the web and returns titles, URLs and snippets.",
         obj({"query": string("The search query."), "max_results": integer("Most results.", 1, 20), "recency_days": nullable(integer("Only pages newer than this many days.", 1)), "site": string("Restrict to a domain.")}, ["query"])),
        ("fetch_url", "Fetches a URL and returns its text as Markdown, cut to `max_chars`.",
         obj({"url": string("http or https URL.", format="uri"), "max_chars": integer("Most characters returned.", 100, 200000), "headers": array("Request headers.", obj({"name": string("Header name."), "value": string("Header value.")}, ["name", "value"]))}, ["url"])),
        ("lsp_definition", "Finds where the symbol at a position is defined, using the language server.",
         with_location_defs(obj({"path": path, "position": {"$ref": "#/$defs/Position"}, "language": enum("Language server to ask.", LANGUAGES)}, ["path", "position"]))),
        ("lsp_references", "Finds references to the symbol at a position.",
         with_location_defs(obj({"path": path, "position": {"$ref": "#/$defs/Position"}, "include_declaration": boolean("Include the declaration.", True)}, ["path", "position"]))),
        ("lsp_diagnostics", "Returns the language server's diagnostics for files, filtered by severity.",
         with_location_defs(obj({"paths": array("Files to check; empty for all open files.", path), "min_severity": enum("Lowest severity returned.", SEVERITIES, "warning"), "range": {"$ref": "#/$defs/Range", "description": "Only diagnostics inside this range."}}))),
        ("lsp_rename", "Renames a symbol across the workspace and returns the edits made.",
         with_location_defs(obj({"path": path, "position": {"$ref": "#/$defs/Position"}, "new_name": string("The new identifier.")}, ["path", "position", "new_name"]))),
        ("symbol_search", "Searches workspace symbols (functions, types, constants) by name.",
         obj({"query": string("Part of the symbol name."), "kinds": array("Symbol kinds.", enum("A kind.", ["function", "method", "struct", "enum", "trait", "constant", "module", "field"])), "limit": integer("Most symbols.", 1, 200)}, ["query"])),
        ("create_issue", "Opens an issue in the project's tracker.",
         obj({"title": string("One-line title.", maxLength=200), "body": string("Markdown body."), "labels": array("Labels.", enum("A label.", ["bug", "enhancement", "performance", "docs", "security", "question"])), "assignees": array("Logins.", string("A login.")), "priority": enum("Priority.", ["p0", "p1", "p2", "p3"], "p2")}, ["title", "body"])),
        ("comment_issue", "Adds a comment to an issue or pull request.",
         obj({"number": integer("Issue or pull request number.", 1), "body": string("Markdown body.")}, ["number", "body"])),
        ("list_issues", "Lists issues filtered by state, labels and text.",
         obj({"state": enum("State.", ["open", "closed", "all"], "open"), "labels": array("All of these labels.", string("A label.")), "search": string("Text in title or body."), "page": obj({"number": integer("Page, 1-based.", 1), "size": integer("Items per page.", 1, 100)}, ["number"], "Paging.")})),
        ("open_pull_request", "Opens a pull request from the current branch.",
         obj({"title": string("Title."), "body": string("Description in Markdown."), "base": string("Target branch."), "draft": boolean("Open as draft.", False), "reviewers": array("Requested reviewers.", string("A login."))}, ["title", "base"])),
        ("sql_query", "Runs a read-only SQL query on the development database and returns rows as JSON.",
         obj({"query": string("A SELECT statement."), "params": array("Positional parameters.", {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}), "max_rows": integer("Most rows.", 1, 10000)}, ["query"])),
        ("http_request", "Sends an HTTP request to a service of the local development stack.",
         obj({"method": enum("HTTP method.", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]), "url": string("URL on localhost."), "headers": array("Headers.", obj({"name": string("Name."), "value": string("Value.")}, ["name", "value"])), "body": nullable(string("Request body.")), "timeout_ms": integer("Timeout.", 100, 120000)}, ["method", "url"])),
        ("docker_command", "Runs a docker or docker compose command.",
         obj({"tool": enum("Which CLI.", ["docker", "compose"]), "args": array("Arguments.", string("An argument."), minItems=1), "project_dir": string("Compose project directory.")}, ["tool", "args"])),
        ("k8s_get", "Reads Kubernetes objects of the development cluster.",
         obj({"kind": enum("Object kind.", ["pod", "deployment", "service", "configmap", "secret", "ingress", "job"]), "namespace": string("Namespace."), "selector": string("Label selector."), "output": enum("Output.", ["summary", "yaml", "json"], "summary")}, ["kind"])),
        ("memory_store", "Saves a fact to the agent's long-term memory for this project.",
         obj({"key": string("Short key."), "fact": string("The fact, one or two sentences."), "tags": array("Tags.", string("A tag.")), "expires_in_days": nullable(integer("Forget after this many days.", 1, 3650))}, ["key", "fact"])),
        ("memory_recall", "Recalls facts from long-term memory by text similarity.",
         obj({"query": string("What to recall."), "limit": integer("Most facts.", 1, 50)}, ["query"])),
        ("todo_write", "Replaces the task list the agent keeps for the current job.",
         obj({"todos": array("The whole list.", obj({"id": string("Stable id."), "content": string("What to do."), "status": enum("State.", ["pending", "in_progress", "completed", "cancelled"]), "priority": enum("Priority.", ["high", "medium", "low"], "medium")}, ["id", "content", "status"]))}, ["todos"])),
        ("ask_user", "Asks the user a question and waits for the answer. Use only when the task cannot go on without it.",
         obj({"question": string("The question."), "options": array("Suggested answers.", string("An answer.")), "allow_free_text": boolean("Accept other answers.", True)}, ["question"])),
        ("apply_patch", "Applies a unified diff to the workspace; fails without changing anything if a hunk does not apply.",
         obj({"patch": string("The unified diff, with `---`/`+++` headers."), "strip": integer("Leading path components to strip (-p).", 0, 5), "check_only": boolean("Only check that it applies.", False)}, ["patch"])),
        ("format_code", "Formats files with the project's formatter for their language.",
         obj({"paths": array("Files.", path, minItems=1), "language": enum("Language; guessed from the extension if absent.", LANGUAGES), "check": boolean("Only report files that would change.", False)}, ["paths"])),
        ("benchmark_run", "Runs a benchmark script and returns its summary table.",
         obj({"script": string("Path of the bench script."), "env": obj({"rounds": integer("ROUNDS.", 1, 20), "duration": string("Duration per lane, e.g. `10s`.", pattern="^[0-9]+(ms|s|m)$"), "lanes": array("Lanes to run.", string("A lane name."))}, [], "Settings passed as environment variables."), "label": string("Label of the results file.")}, ["script"])),
        ("profile_process", "Samples a running process with perf for a while and returns the hottest stacks.",
         obj({"pid": integer("Process id.", 1), "seconds": integer("How long to sample.", 1, 120), "frequency_hz": integer("Sampling frequency.", 10, 10000), "call_graph": enum("Unwinding.", ["fp", "dwarf", "lbr"], "dwarf"), "top": integer("Stacks returned.", 1, 100)}, ["pid"])),
    ]
    assert len(specs) == 40, len(specs)
    return specs


# ---------------------------------------------------------------------------------------------
# Conversation
# ---------------------------------------------------------------------------------------------

WORDS = (
    "stream adapter request response upstream token header buffer chunk event schema tool message "
    "latency throughput allocation connection socket parser encoder window frame queue budget "
    "timeout retry session cache pool worker thread runtime future channel vector string slice "
    "benchmark profile memory resident binary feature crate module function struct field trait"
).split()

RUST_SNIPPET = '''\
/// Frames one translated chunk as an SSE event and writes it to the client's body.
pub(crate) async fn forward_{n}(
    mut upstream: impl Stream<Item = Result<ChatChunk, UpstreamError>> + Unpin,
    sender: &mut BodySender,
    plan: &ChatPlan,
) -> Result<Usage, StreamError> {{
    let mut translator = ChunkTranslator::new(plan);
    let mut frame = BytesMut::with_capacity({cap});
    let mut usage = Usage::default();
    while let Some(item) = upstream.next().await {{
        let chunk = item.map_err(StreamError::Upstream)?;
        if let Some(reported) = chunk.usage.as_ref() {{
            usage = reported.clone();
        }}
        for event in translator.push(chunk)? {{
            frame.clear();
            frame.extend_from_slice(b"data: ");
            serde_json::to_writer((&mut frame).writer(), &event)?;
            frame.extend_from_slice(b"\\n\\n");
            sender.send_data(frame.split().freeze()).await?;
        }}
    }}
    for event in translator.finish()? {{
        sender.send_data(sse_frame(&event)?).await?;
    }}
    sender.send_data(Bytes::from_static(b"data: [DONE]\\n\\n")).await?;
    Ok(usage)
}}
'''

PY_SNIPPET = '''\
def summarise_{n}(path: str, rounds: int = {cap}) -> dict:
    """Reads oha's JSON reports of every round and returns the medians per lane."""
    lanes: dict[str, list[float]] = {{}}
    for round_dir in sorted(Path(path).glob("round-*")):
        for report in round_dir.glob("*.json"):
            data = json.loads(report.read_text())
            summary = data["summary"]
            lanes.setdefault(report.stem, []).append(summary["requestsPerSec"])
    return {{
        lane: {{"median": statistics.median(values), "rounds": len(values)}}
        for lane, values in lanes.items()
        if len(values) >= min(rounds, 1)
    }}
'''

USER_TASKS = [
    "The streamed chat path allocates per event; find where and cut it.",
    "Run the adapter's stream tests and tell me which ones fail.",
    "Why does the Responses stream cost more CPU than the chat stream? Look at the translator.",
    "Add a regression test for the tool-call arguments that arrive in fragments.",
    "Check whether the h2 client windows are the defaults and what they cost per stream.",
    "Profile the adapter under 1,000 streams/s and show me the top stacks.",
    "The binary grew by 4 MB since last month; which crates weigh the most?",
    "Open an issue about the idle-timeout timer being re-created per event.",
    "Summarise what changed in crates/gigachat since the last release tag.",
    "Make the SSE decoder keep its data buffer's capacity between events.",
    "Does the schema normaliser handle nullable enums correctly? Write a test.",
    "Format the files you touched and run clippy on the crates.",
]


class Conversation:
    """Builds the chat-completions messages; the other shapes are derived from them."""

    def __init__(self, rng, tools):
        self.rng = rng
        self.tools = tools
        self.messages = []
        self.call_number = 0

    def words(self, count):
        return " ".join(self.rng.choice(WORDS) for _ in range(count))

    def sentence(self, count):
        text = self.words(count)
        return text[0].upper() + text[1:] + "."

    def arguments(self, name):
        rng = self.rng
        if name == "read_file":
            return {"path": f"crates/{rng.choice(['adapter', 'gigachat', 'translate'])}/src/{rng.choice(WORDS)}.rs"}
        if name == "grep_search":
            return {"pattern": rng.choice(WORDS) + r"\(", "include": "crates/**/*.rs", "context_lines": 2}
        if name == "run_shell_command":
            return {"command": f"cargo test -p {rng.choice(['translate', 'gigachat'])} {rng.choice(WORDS)} -- --nocapture", "timeout_ms": 120000}
        if name == "edit_file":
            return {"path": "crates/adapter/src/streaming.rs", "edits": [{"old_text": self.words(12), "new_text": self.words(14)}]}
        if name == "lsp_definition":
            return {"path": "crates/translate/src/stream.rs", "position": {"line": rng.randint(10, 900), "character": rng.randint(0, 60)}}
        if name == "todo_write":
            return {"todos": [{"id": str(i), "content": self.sentence(8), "status": rng.choice(["pending", "in_progress", "completed"])} for i in range(4)]}
        return {"query": self.words(4)} if "query" in self.tools[name]["properties"] else {}

    def output(self, name):
        rng = self.rng
        kind = rng.random()
        if name == "read_file" or kind < 0.4:
            template = rng.choice([RUST_SNIPPET, PY_SNIPPET])
            return "\n".join(template.format(n=self.call_number * 7 + i, cap=rng.choice([256, 512, 1024])) for i in range(rng.randint(2, 3)))
        if kind < 0.65:
            return json.dumps({
                "ok": True,
                "matches": [
                    {"path": f"crates/{rng.choice(['adapter', 'gigachat', 'translate'])}/src/{rng.choice(WORDS)}.rs",
                     "line": rng.randint(1, 1500), "text": self.words(rng.randint(6, 14))}
                    for _ in range(rng.randint(10, 20))
                ],
                "truncated": False,
            }, ensure_ascii=False)
        lines = [f"test {rng.choice(WORDS)}::{rng.choice(WORDS)}_{i} ... {rng.choice(['ok', 'ok', 'ok', 'FAILED'])}" for i in range(rng.randint(16, 40))]
        return "running tests\n" + "\n".join(lines) + f"\n\ntest result: ok. {len(lines)} passed; 0 failed; finished in 0.{rng.randint(10, 99)}s"

    def tool_step(self, calls):
        tool_calls = []
        for _ in range(calls):
            self.call_number += 1
            name = self.rng.choice(list(self.tools))
            tool_calls.append({
                "id": f"call_{self.call_number:04d}{self.rng.getrandbits(48):012x}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(self.arguments(name), ensure_ascii=False)},
            })
        content = self.sentence(self.rng.randint(8, 20)) if self.rng.random() < 0.5 else None
        self.messages.append({"role": "assistant", "content": content, "tool_calls": tool_calls})
        for call in tool_calls:
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": self.output(call["function"]["name"])})

    def cycle(self, steps):
        """A user turn, tool steps (1 or 2 calls each, the step lengths 2 or 3), an assistant answer."""
        self.messages.append({"role": "user", "content": self.rng.choice(USER_TASKS) + " " + self.sentence(self.rng.randint(5, 25))})
        for calls in steps:
            self.tool_step(calls)
        self.messages.append({"role": "assistant", "content": " ".join(self.sentence(self.rng.randint(10, 30)) for _ in range(self.rng.randint(2, 5)))})


def cycle_steps(rng, remaining):
    """Tool steps of a cycle that fit in `remaining` messages leaving 0 or ≥ 2 (never 1 or 3)."""
    while True:
        steps = [rng.choice([1, 1, 2]) for _ in range(rng.randint(1, 3))]
        length = 2 + sum(1 + calls for calls in steps)
        if length <= remaining and remaining - length not in (1, 3):
            return steps


def last_steps(remaining):
    """Tool steps that make a cycle exactly `remaining` (≥ 2, not 3) messages long."""
    steps = []
    left = remaining - 2
    if left % 2:
        steps.append(2)
        left -= 3
    steps += [1] * (left // 2)
    return steps


SYSTEM_PROMPT = (
    "You are a coding agent working in the gigachat-adapter repository, a Rust gateway that makes "
    "GigaChat look like the OpenAI API. Work in small verified steps: read the code before you change "
    "it, run the relevant tests after each change, and keep the diff minimal. Never invent file "
    "contents; use read_file. Prefer edit_file over write_file for existing files. Explain what you "
    "did in two or three sentences when a task is done. The workspace has the crates adapter, "
    "emulator, gigachat, gigachat-types, openai and translate; tests live beside the code and in "
    "tests/e2e. Follow the project's lints: no unwrap outside tests, no unsafe, rustfmt and clippy clean."
)


def build_chat(stream):
    rng = random.Random(SEED)
    specs = tool_specs()
    conversation = Conversation(rng, {name: parameters for name, _, parameters in specs})
    conversation.messages.append({"role": "system", "content": SYSTEM_PROMPT})
    # Everything but the final user turn is whole cycles.
    while True:
        remaining = MESSAGE_COUNT - 1 - len(conversation.messages)
        if remaining == 0:
            break
        if remaining <= 12:
            conversation.cycle(last_steps(remaining))
        else:
            conversation.cycle(cycle_steps(rng, remaining))
    conversation.messages.append({
        "role": "user",
        "content": "Good. Now summarise in a short paragraph what we changed today and what is left to measure.",
    })
    assert len(conversation.messages) == MESSAGE_COUNT
    tools = [{"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
             for name, description, parameters in specs]
    return {"model": MODEL, "messages": conversation.messages, "tools": tools, "tool_choice": "auto", "stream": stream}


def one_call_json_results(chat):
    """The chat request as GigaChat v1 takes it without help: one tool call per assistant turn
    (parallel calls become consecutive call/result pairs) and every tool result a JSON object
    (text wrapped as {"output": text}).

    The adapter does both itself; gpt2giga 0.3.0 forwards text results and joins parallel results
    into one function message, which GigaChat rejects (422). This variant is the one both serve, for
    a like-for-like figure."""
    results = {m["tool_call_id"]: m["content"] for m in chat["messages"] if m["role"] == "tool"}
    messages = []
    for message in chat["messages"]:
        if message["role"] == "tool":
            continue
        if message["role"] != "assistant" or not message.get("tool_calls"):
            messages.append(message)
            continue
        for index, call in enumerate(message["tool_calls"]):
            messages.append({"role": "assistant", "content": message["content"] if index == 0 else None, "tool_calls": [call]})
            content = results[call["id"]]
            try:
                json.loads(content)
            except ValueError:
                content = json.dumps({"output": content}, ensure_ascii=False)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    return {**chat, "messages": messages}


def to_messages(chat):
    """The Anthropic Messages shape of the same conversation."""
    system = None
    turns = []
    for message in chat["messages"]:
        role = message["role"]
        if role == "system":
            system = message["content"]
        elif role == "user":
            turns.append({"role": "user", "content": message["content"]})
        elif role == "assistant":
            blocks = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            for call in message.get("tool_calls") or []:
                blocks.append({"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
                               "input": json.loads(call["function"]["arguments"])})
            turns.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
            if turns and turns[-1]["role"] == "user" and isinstance(turns[-1]["content"], list):
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
    tools = [{"name": tool["function"]["name"], "description": tool["function"]["description"],
              "input_schema": tool["function"]["parameters"]} for tool in chat["tools"]]
    return {"model": MODEL, "max_tokens": 1024, "system": system, "messages": turns, "tools": tools,
            "tool_choice": {"type": "auto"}, "stream": chat["stream"]}


def to_responses(chat):
    """The Responses shape of the same conversation: input items, flat function tools."""
    instructions = None
    items = []
    for message in chat["messages"]:
        role = message["role"]
        if role == "system":
            instructions = message["content"]
        elif role == "user":
            items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": message["content"]}]})
        elif role == "assistant":
            if message.get("content"):
                items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": message["content"]}]})
            for call in message.get("tool_calls") or []:
                items.append({"type": "function_call", "call_id": call["id"], "name": call["function"]["name"],
                              "arguments": call["function"]["arguments"]})
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message["tool_call_id"], "output": message["content"]})
    tools = [{"type": "function", "name": tool["function"]["name"], "description": tool["function"]["description"],
              "parameters": tool["function"]["parameters"]} for tool in chat["tools"]]
    return {"model": MODEL, "instructions": instructions, "input": items, "tools": tools, "tool_choice": "auto",
            "store": False, "stream": chat["stream"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory to write chat.json, messages.json, responses.json")
    parser.add_argument("--stream", action="store_true", help="set stream: true in every request")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    chat = build_chat(args.stream)
    shapes = [("chat", chat), ("messages", to_messages(chat)), ("responses", to_responses(chat)),
              ("chat-peer", one_call_json_results(chat))]
    for name, body in shapes:
        path = os.path.join(args.out, f"{name}.json")
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        with open(path, "wb") as file:
            file.write(data)
        print(f"{path}\t{len(data)} bytes")


if __name__ == "__main__":
    main()
