//! Every repository path the documentation cites exists.
//!
//! The documents are `README.md`, `ARCHITECTURE.md` and every `docs/*.md`. A citation is:
//!
//! - in a code span (text between backticks, outside fenced code blocks), each
//!   whitespace-separated word that contains a `/` and whose first segment is a top-level entry
//!   of the checkout that `.gitignore` does not ignore: `server/src/lib.rs`, `docker/nginx/`,
//!   `.ci/run`, the `docker/compose.yaml` in `docker compose -f docker/compose.yaml`; not `/readyz`,
//!   `target/site` (ignored), `host/relay` (no such entry);
//! - a Markdown link's target that is neither a URL (`scheme:`) nor an anchor in the page
//!   (`#...`), resolved from the citing file's folder (`../shared/tests/golden/`); it must stay
//!   inside the repository.
//!
//! Within a citation, `{a,b}` stands for each of `a` and `b` and every one must exist (braces
//! without a comma are literal: `{prefix}`); a segment holding `*` or a `<placeholder>` must match
//! at least one entry; a trailing `/` asks for a folder; a trailing `:123` (a line) and `#anchor`
//! are dropped. Nothing else is interpreted: a path a document means as a path but writes some
//! other way is not checked, and a word the rule takes for a path that is not one must be
//! written otherwise (`{server}/{socket}`, not `server/socket`).
//!
//! Std only, so that it builds with nothing of its own beyond the crate's dependencies.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// The documents whose citations are checked, as paths relative to the repository.
fn documents(repo: &Path) -> Vec<String> {
    let mut docs = vec!["README.md".to_owned(), "ARCHITECTURE.md".to_owned()];
    let mut more: Vec<String> = std::fs::read_dir(repo.join("docs"))
        .expect("docs/")
        .map(|e| {
            e.expect("an entry of docs/")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// The entries of the repository's root that a path may start with: all but `.git` and what
/// `.gitignore` ignores.
fn top_level(repo: &Path) -> BTreeSet<String> {
    let ignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap_or_default();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/'))
        .filter(|l| !l.contains('/'))
        .collect();
    std::fs::read_dir(repo)
        .expect("the repository")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != ".git" && !patterns.iter().any(|p| matches(p, name)))
        .collect()
}

/// One cited path as it is written, and the line it is on.
#[derive(Debug, PartialEq)]
struct Citation {
    line: usize,
    text: String,
    /// A link target (resolved from the document's folder) rather than a word in a code span.
    link: bool,
}

/// Every code-span word and link target of a Markdown text, before the path rule is applied.
fn citations(text: &str) -> Vec<Citation> {
    // Fenced blocks become empty lines, so that line numbers stay true.
    let mut prose = String::new();
    let mut fence: Option<(char, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (fence, marker) {
            (None, Some(c)) if run >= 3 => fence = Some((c, run)),
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None
            }
            (None, _) => prose.push_str(line),
            _ => {}
        }
        prose.push('\n');
    }

    let bytes = prose.as_bytes();
    let line_at = |i: usize| 1 + bytes[..i].iter().filter(|b| **b == b'\n').count();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let n = bytes[i..].iter().take_while(|b| **b == b'`').count();
            let body = i + n;
            match closing_run(bytes, body, n) {
                Some(end) => {
                    let mut offset = body;
                    for word in prose[body..end].split_whitespace() {
                        let at = offset + prose[offset..end].find(word).expect("the word");
                        found.push(Citation {
                            line: line_at(at),
                            text: word.to_owned(),
                            link: false,
                        });
                        offset = at + word.len();
                    }
                    i = end + n;
                }
                None => i = body,
            }
        } else if bytes[i..].starts_with(b"](") {
            let target: String = prose[i + 2..]
                .chars()
                .take_while(|c| *c != ')' && !c.is_whitespace())
                .collect();
            found.push(Citation {
                line: line_at(i),
                text: target,
                link: true,
            });
            i += 2;
        } else {
            i += 1;
        }
    }
    found
}

/// Where the run of exactly `n` backticks that closes a code span opened before `from` starts.
fn closing_run(bytes: &[u8], from: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < bytes.len() {
        if bytes[j] == b'`' {
            let run = bytes[j..].iter().take_while(|b| **b == b'`').count();
            if run == n {
                return Some(j);
            }
            j += run;
        } else {
            j += 1;
        }
    }
    None
}

/// `{a,b}` expanded, every brace group with a comma in it; other braces are kept as they are.
fn expand(text: &str) -> Vec<String> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|o| from + o) {
        let Some(close) = text[open..].find('}').map(|c| open + c) else {
            break;
        };
        let inside = &text[open + 1..close];
        if inside.contains(',') {
            let (head, tail) = (&text[..open], &text[close + 1..]);
            return inside
                .split(',')
                .flat_map(|alt| expand(&format!("{head}{alt}{tail}")))
                .collect();
        }
        from = close + 1;
    }
    vec![text.to_owned()]
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(after) = name.strip_prefix(head) else {
                return false;
            };
            (0..=after.len())
                .filter(|k| after.is_char_boundary(*k))
                .any(|k| matches(rest, &after[k..]))
        }
    }
}

/// A segment as a pattern: `<placeholder>` becomes `*`.
fn pattern(segment: &str) -> String {
    let mut out = String::new();
    let mut rest = segment;
    while let Some(open) = rest.find('<') {
        match rest[open..].find('>') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push('*');
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Whether `path` (relative, `/`-separated, lexically normal) names something under `root`.
fn exists(root: &Path, path: &str) -> bool {
    let folder = path.ends_with('/');
    let mut here = vec![root.to_owned()];
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let pat = pattern(segment);
        here = if pat.contains('*') {
            here.iter()
                .filter_map(|dir| std::fs::read_dir(dir).ok())
                .flatten()
                .filter_map(Result::ok)
                .filter(|e| matches(&pat, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        } else {
            here.iter().map(|dir| dir.join(segment)).collect()
        };
    }
    here.iter()
        .any(|p| if folder { p.is_dir() } else { p.exists() })
}

/// `path` without `.` and `..`, or `None` when it climbs above where it starts.
fn normal(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// The repository paths one citation in `doc` stands for (none when it is not a path by the
/// rule), or why it cannot be one.
fn paths(doc: &str, citation: &Citation, top: &BTreeSet<String>) -> Vec<Result<String, String>> {
    let mut text = citation.text.as_str();
    if citation.link {
        let scheme = text.split_once(':').map(|(s, _)| s);
        let url = scheme.is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
        if text.starts_with('#') || url {
            return Vec::new();
        }
        text = text.split('#').next().unwrap_or_default();
    } else {
        text = text.trim_end_matches([',', ';', ')']);
        if let Some((head, line)) = text.rsplit_once(':')
            && !line.is_empty()
            && line.bytes().all(|b| b.is_ascii_digit())
        {
            text = head;
        }
    }
    let mut out = Vec::new();
    for alternative in expand(text) {
        if citation.link {
            let folder = Path::new(doc).parent().unwrap_or(Path::new(""));
            let slash = if alternative.ends_with('/') { "/" } else { "" };
            match normal(&folder.join(&alternative)) {
                Some(p) if !p.is_empty() => out.push(Ok(format!("{p}{slash}"))),
                _ => out.push(Err(format!("{alternative} is outside the repository"))),
            }
        } else if alternative.contains('/')
            && top.contains(alternative.split('/').next().unwrap_or_default())
        {
            out.push(Ok(alternative));
        }
    }
    out
}

#[test]
fn every_path_the_documentation_cites_exists() {
    let repo = repo();
    let top = top_level(&repo);
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in documents(&repo) {
        let text = std::fs::read_to_string(repo.join(&doc)).expect("a document");
        for citation in citations(&text) {
            for path in paths(&doc, &citation, &top) {
                checked += 1;
                let problem = match path {
                    Ok(p) if exists(&repo, &p) => continue,
                    Ok(p) if p != citation.text => format!("`{}` ({p} is missing)", citation.text),
                    Ok(_) => format!("`{}`", citation.text),
                    Err(why) => format!("`{}` ({why})", citation.text),
                };
                missing.push(format!("  {doc}:{}: {problem}", citation.line));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of the {checked} paths the documentation cites do not exist:\n{}",
        missing.len(),
        missing.join("\n")
    );
    // The rule finds what it should: the documents cite well over a hundred paths.
    assert!(
        checked > 100,
        "only {checked} citations found: is the rule still finding them?"
    );
}

#[test]
fn code_spans_are_read_as_markdown_reads_them() {
    let text = "a `server/src/lib.rs` and `` a `tick` b/c ``\n\
                ```sh\nscripts/run `not/this`\n```\n\
                split `scripts/build-release x\ndocs/api.md` [t](../x/y.md#z) `open\n";
    let found: Vec<(usize, String, bool)> = citations(text)
        .into_iter()
        .map(|c| (c.line, c.text, c.link))
        .collect();
    let expected = [
        (1, "server/src/lib.rs", false),
        (1, "a", false),
        (1, "`tick`", false),
        (1, "b/c", false),
        (5, "scripts/build-release", false),
        (5, "x", false),
        (6, "docs/api.md", false),
        (6, "../x/y.md#z", true),
    ];
    let expected: Vec<(usize, String, bool)> = expected
        .iter()
        .map(|(l, t, k)| (*l, (*t).to_owned(), *k))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn the_rule_expands_braces_and_matches_globs_and_placeholders() {
    assert_eq!(
        expand("server/src/{a,b}.rs"),
        ["server/src/a.rs", "server/src/b.rs"]
    );
    assert_eq!(expand("x/{prefix}:{a,b}"), ["x/{prefix}:a", "x/{prefix}:b"]);
    assert!(matches("*.Dockerfile", "agent.Dockerfile"));
    assert!(!matches("*.Dockerfile", "compose.yaml"));
    let repo = repo();
    assert!(exists(&repo, "docker/*.Dockerfile"));
    assert!(exists(&repo, "docs/<name>.md"));
    assert!(exists(&repo, "docker/nginx/"));
    assert!(!exists(&repo, "docker/compose.yaml/"));
    assert!(!exists(&repo, "docker/*.nothing"));

    let top = top_level(&repo);
    assert!(top.contains("server") && top.contains(".ci") && !top.contains("target"));
    let cite = |text: &str, link: bool| Citation {
        line: 1,
        text: text.to_owned(),
        link,
    };
    let found = |c: Citation| paths("docs/turn.md", &c, &top);
    assert_eq!(found(cite("/readyz", false)), []);
    assert_eq!(found(cite("host/relay", false)), []);
    assert_eq!(found(cite("target/site", false)), []);
    assert_eq!(
        found(cite("server/src/lib.rs:12,", false)),
        [Ok("server/src/lib.rs".to_owned())]
    );
    assert_eq!(
        found(cite("../shared/tests/golden/#x", true)),
        [Ok("shared/tests/golden/".to_owned())]
    );
    assert!(found(cite("../../elsewhere", true))[0].is_err());
    assert_eq!(found(cite("https://example.org/a", true)), []);
    assert_eq!(found(cite("#limits", true)), []);
}
