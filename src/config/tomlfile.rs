//! Reading TOML files (`envsync.toml`, rules files) with errors that name file and line.
//!
//! Used by [`crate::config`] and its rules files: lines come from the spans the
//! `toml` parser records ([`toml::Spanned`] for values checked after parsing), never from a text
//! search.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem at a line of a TOML file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct Located {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// A TOML file's text, kept with its path so that spans can be turned into lines.
#[derive(Debug, Clone)]
pub struct TomlText<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl TomlText<'_> {
    /// Deserialize the whole text; a syntax error or unknown key names its line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Located> {
        toml::from_str(self.text).map_err(|e| {
            self.error_at(
                e.span().map_or(0, |s| s.start),
                e.message().trim().to_string(),
            )
        })
    }

    /// An error at a byte offset of the text.
    pub fn error_at(&self, offset: usize, message: String) -> Located {
        let end = offset.min(self.text.len());
        Located {
            file: self.file.to_path_buf(),
            line: 1 + self.text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            message,
        }
    }

    /// An error at the value a [`toml::Spanned`] was read from.
    pub fn error_for<T>(&self, at: &toml::Spanned<T>, message: String) -> Located {
        self.error_at(at.span().start, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        a: Option<u8>,
        list: Option<toml::Spanned<Vec<String>>>,
    }

    #[test]
    fn errors_name_the_line_of_the_span() {
        let t = TomlText {
            file: Path::new("x.toml"),
            text: "a = 1\n\n[t]\n",
        };
        let e = t.parse::<Doc>().unwrap_err();
        assert_eq!((e.line, e.file.as_path()), (3, Path::new("x.toml")));
        let t = TomlText {
            file: Path::new("x.toml"),
            text: "a = 1\nlist = []\n",
        };
        let doc: Doc = t.parse().unwrap();
        let e = t.error_for(doc.list.as_ref().unwrap(), "empty".into());
        assert_eq!(e.to_string(), "x.toml:2: empty");
    }
}
