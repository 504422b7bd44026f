//! The core's layers, bottom to top, and the check that keeps them one
//! way: a module may use its own layer and the layers below it, never one
//! above (README, Development). It reads `src/` as the compiler does,
//! following `mod` declarations from `src/lib.rs`, and looks at every
//! `crate::…` and `super::…` path: in `use`, in types and expressions, and
//! in macro calls. Test code (`#[cfg(test)]` items and the files they
//! declare) is not checked: a test may put several layers together, and
//! nothing depends on it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// Bottom to top. Each layer lists its modules in order too: a module may
/// use the ones before it in this list and its own, nothing after. A
/// module missing here fails the check, so each new one is placed on
/// purpose. An entry with `::` places one module apart from its folder.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "secret",
            "time",
            "request_url",
            "lenient",
            "isolate",
            "http",
            "outcome_log",
            "budget",
            "platform",
            "settings",
            // The one page layout and HTML escaping: the visitor's answers
            // (form/) and the admin refusals (auth/) use it too.
            "pages::layout",
        ],
    ),
    ("form", &["form"]),
    ("store", &["store", "retry"]),
    ("config", &["config"]),
    ("auth", &["auth"]),
    ("keap", &["keap"]),
    ("checks", &["alerts", "config_check"]),
    ("pages", &["pages"]),
    ("flows", &["flows"]),
    ("routes", &["routes"]),
    // The in-memory platform for native tests: a double of the shell,
    // never built for the worker, free to make any value a test needs.
    ("testing", &["testing"]),
    ("shell", &["shell"]),
];

/// Where a module path sits: its rank in the order, its entry and layer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    rank: usize,
    entry: &'static str,
    layer: &'static str,
}

/// The most specific entry that holds `path` (`["form", "lead"]`).
fn place(path: &[String]) -> Option<Place> {
    let joined = path.join("::");
    let mut rank = 0;
    let mut best: Option<Place> = None;
    for (layer, entries) in LAYERS {
        for entry in *entries {
            let holds = joined == *entry || joined.starts_with(&format!("{entry}::"));
            if holds && best.is_none_or(|b| entry.len() > b.entry.len()) {
                best = Some(Place { rank, entry, layer });
            }
            rank += 1;
        }
    }
    best
}

/// A path to another module found in a file, resolved from the crate root.
struct Reference {
    line: usize,
    target: Vec<String>,
}

/// Collects the references of one file's non-test code.
struct Collector {
    /// The module the visitor is in (the file's, then inline `mod`s).
    module: Vec<String>,
    found: Vec<Reference>,
    /// `mod name;` declarations outside test code: the files to read next.
    children: Vec<(Vec<String>, String)>,
}

impl Collector {
    fn add(&mut self, line: usize, segments: &[String]) {
        let target = match segments.first().map(String::as_str) {
            Some("crate") => segments[1..].to_vec(),
            Some("super") => {
                let mut base = self.module.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                base
            }
            _ => return,
        };
        if !target.is_empty() {
            self.found.push(Reference { line, target });
        }
    }

    /// `crate :: a :: b` (or `super :: …`) sequences inside macro tokens.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.scan_tokens(g.stream()),
                TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let line = id.span().start().line;
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while let [TokenTree::Punct(a), TokenTree::Punct(b), TokenTree::Ident(next), ..] =
                        &tokens[j.min(tokens.len())..]
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.add(line, &segments);
                    }
                    i = j - 1;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// Every path a `use` tree names, as segments.
fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) if n.ident == "self" => out.push(prefix.clone()),
        syn::UseTree::Name(n) => out.push([prefix.clone(), vec![n.ident.to_string()]].concat()),
        syn::UseTree::Rename(r) => out.push([prefix.clone(), vec![r.ident.to_string()]].concat()),
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| flatten(t, prefix, out)),
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|id| id == "test")
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_cfg_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.module.push(m.ident.to_string());
        match &m.content {
            Some((_, items)) => items.iter().for_each(|i| self.visit_item(i)),
            None => self
                .children
                .push((self.module.clone(), m.ident.to_string())),
        }
        self.module.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        flatten(&u.tree, &mut Vec::new(), &mut paths);
        for p in paths {
            self.add(u.use_token.span.start().line, &p);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = path.segments.first() {
            self.add(first.ident.span().start().line, &segments);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan_tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }
}

/// One file's module path and text.
struct SourceFile {
    file: PathBuf,
    module: Vec<String>,
    text: String,
}

/// What is wrong with `source`'s imports against [`LAYERS`]; the `mod`
/// declarations it makes go to `children`.
fn check_file(source: &SourceFile, children: &mut Vec<(Vec<String>, String)>) -> Vec<String> {
    let name = source.file.display();
    let parsed = match syn::parse_file(&source.text) {
        Ok(f) => f,
        Err(e) => return vec![format!("{name}: cannot be read as Rust: {e}")],
    };
    let mut c = Collector {
        module: source.module.clone(),
        found: Vec::new(),
        children: Vec::new(),
    };
    c.visit_file(&parsed);
    children.append(&mut c.children);
    // The crate root only declares the modules.
    if source.module.is_empty() {
        return Vec::new();
    }
    let Some(here) = place(&source.module) else {
        return vec![format!(
            "{name}: module {} is in no layer: place it in tests/layers.rs's LAYERS",
            source.module.join("::")
        )];
    };
    let line_text = |n: usize| source.text.lines().nth(n - 1).unwrap_or("").trim();
    let mut problems = Vec::new();
    let mut told = HashSet::new();
    for r in &c.found {
        let path = r.target.join("::");
        match place(&r.target) {
            // One problem per line and module used.
            Some(there) if !told.insert((r.line, there.entry)) => {}
            None => problems.push(format!(
                "{name}:{}: crate::{path} is in no layer: place `{}` in tests/layers.rs's LAYERS: {}",
                r.line,
                r.target[0],
                line_text(r.line)
            )),
            Some(there) if there.rank > here.rank => problems.push(format!(
                "{name}:{}: {} (layer {}) may not use {} (layer {}, above it): crate::{path} in `{}`",
                r.line,
                here.entry,
                here.layer,
                there.entry,
                there.layer,
                line_text(r.line)
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Checks every module of the crate in `root` (from its `src/lib.rs`).
fn check_crate(root: &Path) -> Vec<String> {
    let lib = root.join("src/lib.rs");
    let mut problems = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = vec![(lib, Vec::<String>::new())];
    while let Some((file, module)) = queue.pop() {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        seen.insert(module.join("::"));
        let mut children = Vec::new();
        let shown = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        let source = SourceFile {
            file: shown,
            module,
            text,
        };
        problems.extend(check_file(&source, &mut children));
        // `x.rs` and `x/mod.rs` declare children in `x/`; `lib.rs` beside it.
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "mod.rs") => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        for (child, name) in children {
            let inline = &child[source.module.len()..child.len() - 1];
            let base = inline.iter().fold(dir.clone(), |d, m| d.join(m));
            let flat = base.join(format!("{name}.rs"));
            let file = if flat.exists() {
                flat
            } else {
                base.join(&name).join("mod.rs")
            };
            queue.push((file, child));
        }
    }
    for entry in LAYERS
        .iter()
        .flat_map(|(_, e)| e.iter())
        .filter(|e| e.contains("::"))
    {
        if !seen
            .iter()
            .any(|m| m == entry || m.starts_with(&format!("{entry}::")))
        {
            problems.push(format!(
                "tests/layers.rs: the entry {entry} matches no module: remove it"
            ));
        }
    }
    problems
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let problems = check_crate(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// What `check_file` finds in `text`, as if it were `module`'s file.
fn problems_in(module: &str, text: &str) -> Vec<String> {
    let source = SourceFile {
        file: PathBuf::from(format!("src/{}.rs", module.replace("::", "/"))),
        module: module.split("::").map(String::from).collect(),
        text: text.into(),
    };
    check_file(&source, &mut Vec::new())
}

#[test]
fn an_upward_import_is_reported_with_its_file_line_and_path() {
    let problems = problems_in(
        "store::outbox",
        "use crate::form::lead::Lead;\n\
         use crate::keap::delivery::{DeliveryOutcome, Progress};\n",
    );
    assert_eq!(
        problems,
        vec![
            "src/store/outbox.rs:2: store (layer store) may not use keap (layer keap, above it): \
             crate::keap::delivery::DeliveryOutcome in \
             `use crate::keap::delivery::{DeliveryOutcome, Progress};`"
        ]
    );
}

#[test]
fn paths_in_code_groups_super_and_macros_count_and_test_code_does_not() {
    let text = "use crate::{time, flows};\n\
        fn f() -> crate::routes::Thing { todo!() }\n\
        fn g() { let _ = super::super::keap::x(); }\n\
        fn h() { assert!(matches!(1, crate::shell::ONE)); }\n\
        fn i() -> crate::store::kv_keys::Key { super::lead::x() }\n\
        #[cfg(test)]\n\
        mod tests { use crate::flows::drain; fn t() { crate::routes::x(); } }\n";
    let problems = problems_in("form::answer", text);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            "src/form/answer.rs:1",
            "src/form/answer.rs:2",
            "src/form/answer.rs:3",
            "src/form/answer.rs:4",
            "src/form/answer.rs:5",
        ],
        "{problems:#?}"
    );
    for (problem, target) in problems
        .iter()
        .zip(["flows", "routes", "keap", "shell", "store"])
    {
        assert!(
            problem.contains(&format!("may not use {target} ")),
            "{problem}"
        );
    }
}

#[test]
fn a_module_in_no_layer_is_an_error() {
    let problems = problems_in("store::outbox", "use crate::newthing::Helper;\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("src/store/outbox.rs:1: crate::newthing::Helper is in no layer")
    );
    let problems = problems_in("newthing", "use crate::time;\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("module newthing is in no layer"),
        "{problems:?}"
    );
}

#[test]
fn a_module_placed_apart_from_its_folder_takes_that_place() {
    // The page layout sits in the base: the visitor's answers may use it,
    // and it may not use the rest of pages/.
    assert!(problems_in("form::answer", "use crate::pages::layout;\n").is_empty());
    let problems = problems_in("pages::layout", "use crate::pages::admin::AdminState;\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("may not use pages (layer pages"),
        "{problems:?}"
    );
    assert!(!problems_in("form::answer", "use crate::pages::admin;\n").is_empty());
}

#[test]
fn within_the_base_layer_the_listed_order_holds() {
    assert!(problems_in("platform", "use crate::http::OutRequest;\n").is_empty());
    let problems = problems_in("http", "use crate::platform::Platform;\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
}
