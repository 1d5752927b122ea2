//! The shape of the code, as the README's development section states it: no import runs in a
//! circle between modules (each dialect folder and each of `backend`, `ir` and `worker` counted as
//! one), no source file is much over 600 lines, and the orchestrator, the transcoder and the shell
//! name no dialect and no backend kind: they know them only through `Codec` and `Upstream`. And
//! the worker reads JSON text through one reader: each reader type serde_json is given is another
//! copy of every type's deserializer in the wasm module, so `&str` is read as its bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 620;
/// Folders whose files are one module for this purpose; the dialect folders are one each.
const GROUPED: [&str; 3] = ["backend", "ir", "worker"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file, or a `crate::` path, belongs to.
fn module_of(parts: &[&str]) -> String {
    match parts {
        ["dialect", folder, ..] if !folder.is_empty() && folder.chars().next().unwrap().is_lowercase() => {
            format!("dialect::{folder}")
        }
        [first, ..] if GROUPED.contains(first) => first.to_string(),
        [first, ..] => first.to_string(),
        [] => String::new(),
    }
}

fn file_module(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod").collect();
    module_of(&parts)
}

/// The code of a file without its test module (by convention, at its end).
fn code_of(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Every module a `crate::` path in `code` names, `use crate::{a, b::c}` groups included.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let paths: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            top_level_items(group)
        } else {
            vec![rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect()]
        };
        for path in paths {
            let parts: Vec<&str> = path.split("::").map(str::trim).filter(|p| !p.is_empty()).collect();
            let parts: Vec<&str> = parts.into_iter().take_while(|p| !p.starts_with('{')).collect();
            found.insert(module_of(&parts));
        }
    }
    found.remove("");
    found
}

/// The comma-separated items of a `{…}` group up to its closing brace, nested groups kept whole.
fn top_level_items(group: &str) -> Vec<String> {
    let (mut items, mut item, mut depth) = (Vec::new(), String::new(), 0);
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items.into_iter().map(|item| item.trim().to_string()).collect()
}

/// The modules a file declares (`mod name;`), which it depends on as on an import.
fn declared(root: &Path, file: &Path, code: &str) -> BTreeSet<String> {
    let parent = file.parent().unwrap().strip_prefix(root).unwrap();
    let parent: Vec<String> = parent.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    code.lines()
        .filter_map(|line| line.trim().trim_start_matches("pub ").strip_prefix("mod ")?.strip_suffix(';'))
        .map(|name| {
            let mut parts: Vec<&str> = parent.iter().map(String::as_str).collect();
            parts.push(name);
            module_of(&parts)
        })
        .collect()
}

/// Each module and the modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph, and every source file with its text.
fn graph() -> (Graph, Vec<(PathBuf, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut edges = Graph::new();
    let mut texts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let module = file_module(&root, &file);
        if !file.to_string_lossy().ends_with("_tests.rs") {
            let mut targets = imports(code_of(&text));
            targets.extend(declared(&root, &file, code_of(&text)));
            targets.remove(&module);
            edges.entry(module).or_default().extend(targets);
        }
        texts.push((file, text));
    }
    (edges, texts)
}

/// A circle of imports, if there is one.
fn cycle(edges: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, edges: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].iter().cloned().chain([node.to_string()]).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_runs_in_a_circle() {
    let (edges, _) = graph();
    assert!(edges.contains_key("dialect::gemini") && edges["proxy"].contains("backend"), "the graph is read");
    assert_eq!(cycle(&edges), None, "imports: {edges:#?}");
}

#[test]
fn the_cycle_check_finds_a_circle() {
    let edges = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(cycle(&edges), Some(vec!["a".into(), "b".into(), "a".into()]));
    assert_eq!(
        imports("use crate::{codec::{Codec, Call}, dialect::gemini::types};\nx = crate::ir::Part;"),
        BTreeSet::from(["codec".into(), "dialect::gemini".into(), "ir".into()])
    );
}

#[test]
fn no_source_file_is_much_over_600_lines() {
    let (_, texts) = graph();
    let long: Vec<_> =
        texts.iter().map(|(file, text)| (file, text.lines().count())).filter(|(_, lines)| *lines > MAX_LINES).collect();
    assert!(long.is_empty(), "{long:?}");
}

#[test]
fn the_orchestrator_transcoder_and_shell_name_no_dialect_and_no_backend_kind() {
    let (_, texts) = graph();
    let named = [
        "Dialect::OpenAiChat",
        "Dialect::Anthropic",
        "Dialect::OpenAiResponses",
        "Dialect::Gemini",
        "Dialect::BedrockConverse",
        "BackendKind::",
    ];
    for (file, text) in &texts {
        let path = file.to_string_lossy();
        if !(path.ends_with("src/proxy.rs") || path.ends_with("src/transcode.rs") || path.contains("src/worker/")) {
            continue;
        }
        for name in named {
            assert!(!code_of(text).contains(name), "{path} names {name}");
        }
    }
}

#[test]
fn the_worker_reads_json_through_one_reader() {
    let (_, texts) = graph();
    for (file, text) in &texts {
        // workers-rs' `Request::json` reads through a JS value, its `Response::json` from text.
        for reader in
            ["serde_json::from_str", "Deserializer::from_str", "serde_json::from_reader", ".json().await", ".json::<"]
        {
            assert!(!code_of(text).contains(reader), "{} reads JSON with {reader}", file.display());
        }
    }
}
