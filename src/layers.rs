//! The layering rule of `docs/design.md`, kept true by a test: every `crate::` path in a
//! module's code (comments aside) names a module of a strictly lower layer, or its own.
//!
//! Adding a top-level module means giving it a layer here; the test fails until it has one.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Top-level modules, lowest layer first. A module may use only modules of lower layers.
    const LAYERS: &[&[&str]] = &[
        &["model", "secret", "exit"],
        &["mask", "finding", "envfile", "fs"],
        &["dburl", "dialect", "yaml"],
        &["source", "compose", "k8s"],
        &["config"],
        &["load"],
        &["check"],
        &["fix", "migrate", "hook", "show", "report"],
        &["render"],
        &["cli", "error"],
        &["app"],
    ];

    /// `lib.rs` and `main.rs` wire the crate together; this file names every module.
    const ROOTS: &[&str] = &["lib", "main", "layers"];

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The top-level module a file of `src/` belongs to.
    fn module_of(src: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str();
        Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Every module `text` reaches through a `crate::` path or a `use crate::{a, b::{c}}` group
    /// (over several lines too), with the line it is on; comment lines are blanked first.
    fn uses(text: &str) -> Vec<(usize, String)> {
        let code: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let line_at = |at: usize| code[..at].matches('\n').count() + 1;
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(found) = code[from..].find("crate::") {
            let start = from + found + "crate::".len();
            from = start;
            let rest = &code[start..];
            let Some(group) = rest.strip_prefix('{') else {
                out.push((line_at(start), ident(rest)));
                continue;
            };
            // The group's top-level items: split at commas outside nested braces.
            let push = |out: &mut Vec<(usize, String)>, a: usize, b: usize| {
                let item = &group[a..b];
                let name = ident(item);
                if !name.is_empty() {
                    let lead = item.len() - item.trim_start().len();
                    out.push((line_at(start + 1 + a + lead), name));
                }
            };
            let (mut depth, mut item_start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        push(&mut out, item_start, i);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push(&mut out, item_start, i);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        out
    }

    #[test]
    fn every_module_has_a_layer_and_imports_only_lower_ones() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        let mut wrong = Vec::new();
        for file in &files {
            let from = module_of(&src, file);
            if ROOTS.contains(&from.as_str()) {
                continue;
            }
            let Some(own) = layer(&from) else {
                wrong.push(format!(
                    "{}: module `{from}` has no layer in src/layers.rs",
                    file.display()
                ));
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap();
            for (line, to) in uses(&text) {
                if to == from || to == "self" || to == "super" {
                    continue;
                }
                // Items of the crate root (`crate::run`, `crate::Error`) are the app's.
                let Some(theirs) = layer(&to).or_else(|| {
                    to.chars()
                        .next()
                        .is_some_and(char::is_uppercase)
                        .then_some(LAYERS.len() - 1)
                }) else {
                    wrong.push(format!(
                        "{}:{line}: `crate::{to}` is not a module with a layer",
                        file.display()
                    ));
                    continue;
                };
                if theirs >= own {
                    wrong.push(format!(
                        "{}:{line}: `{from}` (layer {own}) uses `{to}` (layer {theirs}): dependencies point down only",
                        file.display()
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_checker_sees_an_upward_edge() {
        let found = uses(
            "use crate::{fix::FixError, model::{Repo,\n PerRepo}};\n// crate::app\nuse crate::{\n    load::Workspace,\n};\nlet x = crate::render::json(r);",
        );
        assert_eq!(
            found,
            [
                (1, "fix".to_string()),
                (1, "model".to_string()),
                (5, "load".to_string()),
                (7, "render".to_string())
            ]
        );
        assert!(layer("render") > layer("fix") && layer("fix") > layer("load"));
    }
}
