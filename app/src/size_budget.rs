//! The code keeps away from what made the app big (docs/browsers.md, "The app's size"); the
//! budget itself is measured on what a running server sends (server/tests/operations.rs).

use std::path::Path;

/// Whether `word` is in `code` as a whole word (`Children`, not `TypedChildren`).
fn has_word(code: &str, word: &str) -> bool {
    let part_of_word = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(part_of_word) && !after.is_some_and(part_of_word)
    })
}

/// Each type made into an `AnyView` (`into_any`, `Children`, leptos's `<Show>` fallback,
/// leptos_router's routes) costs the WASM its own copy of the rendering and hydration
/// functions: removing them all took 57 KB off the gzip.
#[test]
fn no_view_is_type_erased() {
    let banned = [
        "into_any",
        "AnyView",
        "Children",
        "ChildrenFn",
        "ViewFn",
        "leptos_router",
    ];
    let mut found = Vec::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        // lazy.rs erases each split page at its chunk's boundary, which is what keeps the
        // page's code out of the first load.
        if path.ends_with("size_budget.rs")
            || path.ends_with("lazy.rs")
            || path.extension().is_none_or(|e| e != "rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for word in banned.iter().filter(|w| has_word(code, w)) {
                found.push(format!("{}:{}: {word}", path.display(), n + 1));
            }
            // Leptos's own <Show> takes its fallback as an AnyView; components::show has one
            // without.
            if code.contains("<Show") && !text.contains("components::show::") {
                found.push(format!("{}:{}: leptos's <Show>", path.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "type-erased views:\n{}", found.join("\n"));
}

#[test]
fn words_are_whole() {
    assert!(has_word("children: Children,", "Children"));
    assert!(!has_word("children: TypedChildren<C>,", "Children"));
    assert!(!has_word("children: TypedChildrenFn<C>,", "ChildrenFn"));
    assert!(has_word("x.into_any()", "into_any"));
}
