//! The server's modules form floors: no module reaches, directly or through others, back to
//! itself. A circle means neither side can be read, tested or moved without the other, and
//! circles grow; this test names one as soon as it appears.
//!
//! What counts as an arrow from module `a` to module `b` (`a` being a file of `server/src`,
//! `b` the deepest module *file* a path names):
//! - a path in a `use` line (`use crate::b::X`, `use super::{b::X, c}`, `pub use b::*`), and
//! - a path written in the code (`crate::b::f()`, `super::b::T`, `self::b::T`, and in a module
//!   with a child `b`, `b::T`), wherever it stands: function bodies, types, the module's unit
//!   tests (they are compiled in the module, and use what it may use).
//!
//! What does not:
//! - `mod b;`: a parent declaring its child contains it; it is no use of it. (A parent that
//!   re-exports or calls its child does have an arrow down to it, and a child that uses
//!   `super::X` an arrow up to its parent: those are real.)
//! - Comments, doc comments and their intra-doc links, and string literals: not compiled.
//! - Method calls and fields reached through a value (`state.hub.open(..)`): the arrow is the
//!   path that named the value's type, wherever that was written.
//! - `main.rs`: the binary is its own crate on top of the library (`mumu_server::..`).
//! - Paths into other crates (`std::`, `mumu_shared::`, ...).
//!
//! Which circles fail: every one but a folder talking to itself. A folder's `mod.rs` often
//! holds what its files share and fronts them (`presence/mod.rs` defines `Notice`, which
//! `presence/redis.rs` carries, and dispatches to `redis.rs`): a loop whose modules all sit in
//! one folder and pass through that folder's own `mod.rs` is one unit seen from outside, and is
//! allowed. A loop that leaves the folder, or runs between sibling files without their
//! `mod.rs`, fails.
//!
//! Plain std: it reads the files as text, strips comments and literals, and follows paths.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// A module, as its path from the crate root (`""` for `lib.rs`, `"signaling::hub"`).
type Module = String;

/// Where an arrow was first seen.
#[derive(Clone, Debug)]
struct Site {
    file: String,
    line: usize,
}

/// Arrows between modules, each with the first place it was written.
type Graph = BTreeMap<Module, BTreeMap<Module, Site>>;

#[test]
fn the_servers_modules_form_floors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = read_tree(&src);
    assert!(
        files.len() > 20,
        "read {} files from {}",
        files.len(),
        src.display()
    );
    let graph = build(&files);
    let arrows: usize = graph.values().map(BTreeMap::len).sum();
    assert!(
        arrows > 50,
        "only {arrows} arrows found: the reader is broken"
    );
    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "the server's modules have {} circle(s); break each so that one side no longer names the \
         other (a lower module owns a trait, callback or channel; the top wires it):\n{}",
        circles.len(),
        circles.join("\n")
    );
}

#[test]
fn a_planted_circle_is_found_and_named_with_its_places() {
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        ("b/mod.rs", "pub mod c;\npub struct Thing;\n"),
        (
            "b/c.rs",
            "// crate::a is only mentioned\nfn f() {\n    super::super::a::g();\n}\n",
        ),
    ];
    let graph = build(&owned(&files));
    // b/mod.rs declares c: no arrow; c names a; a names b. No circle yet.
    assert!(circles(&graph).is_empty(), "{:?}", circles(&graph));
    let mut files = owned(&files);
    files.insert(
        "b/mod.rs".into(),
        "pub mod c;\npub struct Thing;\npub use c::*;\n".into(),
    );
    let found = circles(&build(&files));
    assert_eq!(found.len(), 1, "{found:?}");
    for part in [
        "a -> b (a.rs:1)",
        "b -> b::c (b/mod.rs:3)",
        "b::c -> a (b/c.rs:3)",
    ] {
        assert!(found[0].contains(part), "{part} not in {}", found[0]);
    }
}

#[test]
fn a_folder_fronted_by_its_mod_rs_is_one_unit_but_not_its_sibling_files() {
    let mut files = owned(&[
        ("lib.rs", "mod bus;\nmod top;\n"),
        (
            "bus/mod.rs",
            "mod local;\npub struct Notice;\npub enum Bus { Local(local::Local) }\n",
        ),
        (
            "bus/local.rs",
            "use super::Notice;\npub struct Local(Notice);\n",
        ),
        ("top.rs", "use crate::bus::Bus;\n"),
    ]);
    assert!(circles(&build(&files)).is_empty());
    // Leaving the folder: bus/local.rs reaches up to the module that uses the folder.
    files.insert(
        "bus/local.rs".into(),
        "use super::Notice;\nuse crate::top::X;\n".into(),
    );
    let found = circles(&build(&files));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("3 modules: bus, bus::local, top"),
        "{}",
        found[0]
    );
    // Two siblings naming each other, without their mod.rs.
    let files = owned(&[
        ("lib.rs", "mod bus;\n"),
        ("bus/mod.rs", "mod a;\nmod b;\n"),
        ("bus/a.rs", "use super::b::B;\npub struct A;\n"),
        ("bus/b.rs", "use super::a::A;\npub struct B;\n"),
    ]);
    assert_eq!(circles(&build(&files)).len(), 1);
}

#[test]
fn unit_tests_calling_super_and_strings_naming_paths_are_no_arrows_out() {
    let files = [
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "/// See [`crate::b::X`].\nconst S: &str = \"crate::b::X\";\nconst C: char = '\"';\n\
             fn f<'x>(_: &'x str) {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::f(\"\"); }\n}\n",
        ),
        ("b.rs", "use crate::a::S;\n"),
    ];
    let graph = build(&owned(&files));
    assert!(!graph.contains_key("a"), "{graph:?}");
    assert_eq!(graph["b"].keys().collect::<Vec<_>>(), ["a"]);
}

fn owned(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// Every `.rs` file under `root` but the binary's `main.rs`, by its path from `root`.
fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable source folder") {
            let path: PathBuf = entry.expect("a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).expect("under root");
                let name = relative.to_string_lossy().replace('\\', "/");
                if name != "main.rs" {
                    let text = std::fs::read_to_string(&path).expect("a readable file");
                    files.insert(name, text);
                }
            }
        }
    }
    files
}

/// `signaling/hub.rs` -> `signaling::hub`, `signaling/mod.rs` -> `signaling`, `lib.rs` -> ``.
fn module_of(file: &str) -> Module {
    let stem = file.strip_suffix(".rs").expect("a .rs file");
    let stem = stem
        .strip_suffix("/mod")
        .or_else(|| (stem == "lib").then_some(""))
        .unwrap_or(stem);
    stem.replace('/', "::")
}

fn build(files: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<Module> = files.keys().map(|f| module_of(f)).collect();
    let mut graph = Graph::new();
    for (file, text) in files {
        let from = module_of(file);
        for (path, line) in paths(&from, &modules, text) {
            let to = deepest_module(&modules, &path);
            if to != from {
                let site = Site {
                    file: file.clone(),
                    line,
                };
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert(site);
            }
        }
    }
    graph
}

/// The longest leading part of `path` (segments from the crate root) that is a module file.
fn deepest_module(modules: &BTreeSet<Module>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Colons,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// The file's tokens with their lines; comments, strings and characters are dropped.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                loop {
                    if i >= chars.len() {
                        break;
                    } else if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(&chars, i + 1, &mut line),
            'r' | 'b' if raw_string_start(&chars, i).is_some() => {
                let (hashes, quote) = raw_string_start(&chars, i).expect("checked");
                i = quote + 1;
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !chars[i..].starts_with(&closing) {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
                i += closing.len();
            }
            'b' if at(i + 1) == '"' => i = skip_string(&chars, i + 2, &mut line),
            'b' if at(i + 1) == '\'' => i = skip_char(&chars, i + 1),
            '\'' => i = skip_char(&chars, i),
            ':' if at(i + 1) == ':' => {
                out.push((Token::Colons, line));
                i += 2;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let word = word.strip_prefix("r#").map(str::to_owned).unwrap_or(word);
                out.push((Token::Ident(word), line));
            }
            _ => {
                let token = match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    ',' => Token::Comma,
                    ';' => Token::Semi,
                    '*' => Token::Star,
                    _ => Token::Other,
                };
                if !c.is_whitespace() {
                    out.push((token, line));
                }
                i += 1;
            }
        }
    }
    out
}

/// Past the closing quote of a string whose text starts at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() && chars[i] != '"' {
        *line += usize::from(chars[i] == '\n');
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// `r"`, `r#"`, `br##"`, ...: the number of hashes and where the quote is.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i + usize::from(chars[i] == 'b');
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
}

/// Past a character literal at `i` (its opening quote), or past the quote of a lifetime.
fn skip_char(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        _ => i + 1,
    }
}

/// Every path the file of module `me` names into the crate, from the crate root, with its
/// line.
fn paths(me: &str, modules: &BTreeSet<Module>, text: &str) -> Vec<(Vec<String>, usize)> {
    let tokens = tokens(text);
    let file_module: Vec<String> = split(me);
    // Inline modules (`mod tests { .. }`) open at a brace depth; `super` inside them is
    // counted from where they stand.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let here: Vec<String> = file_module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(m, _)| m.clone()))
            .collect();
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Open, _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "use" => {
                let mut trees = Vec::new();
                i = use_tree(&tokens, i + 1, Vec::new(), &mut trees);
                for (path, line) in trees {
                    if let Some(path) = resolve(&here, modules, &path) {
                        found.push((path, line));
                    }
                }
                continue;
            }
            Token::Ident(_) if i == 0 || tokens[i - 1].0 != Token::Colons => {
                let line = tokens[i].1;
                let mut path = Vec::new();
                let mut j = i;
                while let Some((Token::Ident(word), _)) = tokens.get(j) {
                    path.push(word.clone());
                    if tokens.get(j + 1).map(|t| &t.0) != Some(&Token::Colons) {
                        break;
                    }
                    j += 2;
                }
                if path.len() > 1
                    && let Some(path) = resolve(&here, modules, &path)
                {
                    found.push((path, line));
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Reads a use tree from `i`, adding each full path under `prefix` to `out`; returns where
/// it ended (past `;`, or at the `,` / `}` closing a branch).
fn use_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    while let Some((token, line)) = tokens.get(i) {
        match token {
            Token::Ident(word) if word == "as" => i += 2,
            Token::Ident(word) => {
                prefix.push(word.clone());
                i += 1;
                if tokens.get(i).map(|t| &t.0) != Some(&Token::Colons) {
                    out.push((prefix.clone(), *line));
                }
            }
            Token::Colons => i += 1,
            Token::Star => {
                out.push((prefix.clone(), *line));
                i += 1;
            }
            Token::Open => {
                i += 1;
                loop {
                    i = use_tree(tokens, i, prefix.clone(), out);
                    match tokens.get(i).map(|t| &t.0) {
                        Some(Token::Comma) => i += 1,
                        Some(Token::Close) => {
                            i += 1;
                            break;
                        }
                        _ => return i,
                    }
                }
            }
            Token::Comma | Token::Close => return i,
            Token::Semi => return i + 1,
            Token::Other => i += 1,
        }
    }
    i
}

/// A path as written in module `here`, from the crate root; `None` when it leads outside
/// the crate (or is a plain item of this module).
fn resolve(here: &[String], modules: &BTreeSet<Module>, path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut base = here.to_vec();
            base.pop();
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            return Some(base.into_iter().chain(rest.iter().cloned()).collect());
        }
        _ => {
            // A child module of this one, named without `self::`.
            let child: Vec<String> = here.iter().chain(std::iter::once(first)).cloned().collect();
            if !modules.contains(&child.join("::")) {
                return None;
            }
            return Some(child.into_iter().chain(rest.iter().cloned()).collect());
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

fn split(module: &str) -> Vec<String> {
    module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Each circle, as its modules (the whole tangle) and one shortest loop through it with the
/// place each arrow was written.
fn circles(graph: &Graph) -> Vec<String> {
    let nodes: BTreeSet<&Module> = graph
        .iter()
        .flat_map(|(from, tos)| std::iter::once(from).chain(tos.keys()))
        .collect();
    let reach = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([from.clone()]);
        while let Some(m) = queue.pop_front() {
            for to in graph.get(&m).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(to.clone()) {
                    queue.push_back(to.clone());
                }
            }
        }
        seen
    };
    let reachable: HashMap<&Module, BTreeSet<Module>> =
        nodes.iter().map(|m| (*m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for &m in &nodes {
        if done.contains(m) || !reachable[m].contains(m) {
            continue;
        }
        let tangle: BTreeSet<Module> = reachable[m]
            .iter()
            .filter(|other| reachable[*other].contains(m))
            .cloned()
            .collect();
        done.extend(tangle.iter().cloned());
        if is_one_folder(&tangle) {
            continue;
        }
        found.push(format!(
            "- {} modules: {}\n  one loop: {}",
            tangle.len(),
            tangle
                .iter()
                .map(|m| shown(m))
                .collect::<Vec<_>>()
                .join(", "),
            shortest_loop(graph, m)
        ));
    }
    found
}

/// Whether every module of `tangle` sits in the folder of one of them, which is in it: the
/// folder's `mod.rs` and its own files.
fn is_one_folder(tangle: &BTreeSet<Module>) -> bool {
    let split: Vec<Vec<String>> = tangle.iter().map(|m| split(m)).collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    let common = (0..shortest)
        .take_while(|&i| split.iter().all(|m| m[i] == split[0][i]))
        .count();
    tangle.contains(&split[0][..common].join("::"))
}

/// The shortest way from `start` back to itself, each arrow with where it was written.
fn shortest_loop(graph: &Graph, start: &Module) -> String {
    let mut came_from: HashMap<Module, Module> = HashMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    'search: while let Some(m) = queue.pop_front() {
        for to in graph.get(&m).into_iter().flat_map(BTreeMap::keys) {
            if !came_from.contains_key(to) {
                came_from.insert(to.clone(), m.clone());
                if to == start {
                    break 'search;
                }
                queue.push_back(to.clone());
            }
        }
    }
    let mut steps = Vec::new();
    let mut to = start.clone();
    loop {
        let from = came_from[&to].clone();
        let site = &graph[&from][&to];
        steps.push(format!(
            "{} -> {} ({}:{})",
            shown(&from),
            shown(&to),
            site.file,
            site.line
        ));
        if &from == start {
            break;
        }
        to = from;
    }
    steps.reverse();
    steps.join(", ")
}

fn shown(module: &str) -> &str {
    if module.is_empty() { "crate" } else { module }
}
