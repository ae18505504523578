//! Every renderer: text and JSON for each command, and for a findings report (`check`, the
//! hook) also SARIF ([`sarif`]), GitHub workflow commands ([`github`]) and Markdown
//! ([`markdown`]), and the page of `report --html` ([`html`]), written to a stream whose colour
//! is decided once ([`use_color`]). Values reach this module already masked by [`crate::mask`].

pub mod check;
pub mod fix;
pub mod github;
pub mod hook;
pub mod html;
pub mod markdown;
pub mod migrate;
pub mod sarif;
pub mod show;

use std::io::{self, Write};

use serde::Serialize;

/// Colour stdout? `--color always|never` decide; `auto` follows the environment the way
/// clap does (`CLICOLOR_FORCE`, `NO_COLOR`, `TERM=dumb`, then whether stdout is a terminal).
pub fn use_color(choice: clap::ColorChoice) -> bool {
    match choice {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => {
            anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// Any report as pretty JSON and a final newline.
pub fn json<T: Serialize>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// `-v`: what was read, and how long it took (on stderr, so JSON on stdout stays clean).
pub fn verbose(
    read: &[String],
    started: std::time::Instant,
    out: &mut dyn Write,
) -> io::Result<()> {
    for line in read {
        writeln!(out, "read {line}")?;
    }
    writeln!(
        out,
        "took {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    )
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A finding for the renderers' tests, at the code's default severity.
#[cfg(test)]
pub(crate) fn test_finding(
    code: crate::finding::RuleCode,
    contour: Option<&str>,
    key: &str,
    message: &str,
    locs: &[(crate::model::Repo, &str, usize)],
) -> crate::finding::Finding {
    crate::finding::Finding {
        code,
        severity: code.default_severity(),
        contour: contour.map(str::to_string),
        key: Some(key.into()),
        message: message.into(),
        locations: locs
            .iter()
            .map(|&(repo, file, line)| crate::finding::Location {
                repo,
                file: file.into(),
                line,
            })
            .collect(),
    }
}
