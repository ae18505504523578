//! How Kubernetes' YAML readers type a plain (unquoted) scalar, and what Helm prints for it.
//!
//! kubectl, Helm and the API machinery read YAML with go-yaml v2 (through `sigs.k8s.io/yaml`),
//! which follows YAML 1.1: `yes`, `on` and `y` are booleans, `0755` is octal, `1_000` is a
//! number. The result is converted to JSON, so:
//!
//! - in a manifest, a string field (an env `value`, a ConfigMap's `data`) written as a plain
//!   number or boolean is not a string, and the API server refuses the object;
//! - in a values file, Helm keeps numbers as JSON numbers, that is `float64`, and a template
//!   prints them with Go's `%v`: `1000000` becomes `1e+06`, `0755` becomes `493`, `yes` becomes
//!   `true`, and `null` removes the key. [`helm_text`] computes that text.

use crate::yaml::{Kind, Node, Style};

/// What go-yaml v2 makes of an untagged plain scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str,
    /// An integer, as decimal text (`0x1F` is `31`).
    Int(String),
    Float(f64),
    Bool(bool),
    Null,
    /// A date or time (`2001-12-14`), which becomes an RFC 3339 string.
    Timestamp,
}

impl Scalar {
    /// How messages name the type.
    pub fn name(&self) -> &'static str {
        match self {
            Scalar::Str => "a string",
            Scalar::Int(_) => "a YAML integer",
            Scalar::Float(_) => "a YAML number",
            Scalar::Bool(_) => "a YAML boolean",
            Scalar::Null => "null",
            Scalar::Timestamp => "a YAML date",
        }
    }
}

/// go-yaml v2's `resolve` for a plain scalar.
pub fn resolve(s: &str) -> Scalar {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'0'..=b'9' | b'+' | b'-' => {
            if crate::yaml::is_timestamp(s) {
                return Scalar::Timestamp;
            }
            let plain = s.replace('_', "");
            if let Some(i) = crate::yaml::go_parse_int(&plain) {
                return Scalar::Int(i);
            }
            if crate::yaml::is_yaml_float(&plain) {
                if let Ok(f) = plain.parse::<f64>() {
                    return Scalar::Float(f);
                }
            }
            Scalar::Str
        }
        // Go's ParseFloat on the text as it is: `.5`, `.5e3`.
        b'.' if crate::yaml::is_yaml_float(s) => {
            s.parse::<f64>().map_or(Scalar::Str, Scalar::Float)
        }
        _ => Scalar::Str,
    }
}

/// How a scalar node is typed: quoted and block scalars are strings.
pub fn type_of(node: &Node) -> Scalar {
    match &node.kind {
        Kind::Null => Scalar::Null,
        Kind::Scalar(s, Style::Plain) => resolve(s),
        Kind::Scalar(..) => Scalar::Str,
        _ => Scalar::Str,
    }
}

/// What `{{ .Values.x }}` (and `| quote`) prints for a values-file scalar: the text of a string,
/// Go's `%v` of a `float64` for a number, `true`/`false`; `None` when Helm drops the key (null)
/// or cannot read the value (a NaN or infinity has no JSON form; a date's text is not modelled).
pub fn helm_text(node: &Node) -> Option<String> {
    let text = node.as_str();
    match type_of(node) {
        Scalar::Str => text.map(str::to_string),
        Scalar::Int(i) => {
            let f: f64 = i.parse().ok()?;
            Some(crate::yaml::go_format_float(f))
        }
        Scalar::Float(f) if f.is_finite() => Some(crate::yaml::go_format_float(f)),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Float(_) | Scalar::Null | Scalar::Timestamp => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        crate::yaml::parse_documents(&format!("k: {text}\n"), crate::yaml::Typing::Raw)
            .unwrap()
            .remove(0)
            .get("k")
            .unwrap()
            .clone()
    }

    #[test]
    fn helm_prints_values_as_k8s_md_says() {
        for (written, printed) in [
            ("1000000", Some("1e+06")),
            ("0755", Some("493")),
            ("yes", Some("true")),
            ("on", Some("true")),
            ("No", Some("false")),
            ("null", None),
            ("~", None),
            ("3000", Some("3000")),
            ("900000", Some("900000")),
            ("1.4.2", Some("1.4.2")),
            ("0.0.0.0", Some("0.0.0.0")),
            ("'1000000'", Some("1000000")),
            ("\"yes\"", Some("yes")),
            ("1_000", Some("1000")),
            ("0x1F", Some("31")),
            ("1.50", Some("1.5")),
            ("12345678901234567890", Some("1.2345678901234567e+19")),
            ("15m", Some("15m")),
            ("2001-12-14", None),
            (".5", Some("0.5")),
            ("-x", Some("-x")),
        ] {
            assert_eq!(helm_text(&node(written)).as_deref(), printed, "{written}");
        }
    }

    #[test]
    fn yaml_1_1_types_are_not_strings() {
        assert_eq!(resolve("y"), Scalar::Bool(true));
        assert_eq!(resolve("0o17"), Scalar::Int("15".into()));
        assert_eq!(resolve("+12"), Scalar::Int("12".into()));
        assert_eq!(resolve("1e3"), Scalar::Float(1000.0));
        assert_eq!(resolve("postgres"), Scalar::Str);
        assert_eq!(resolve("1.2.3"), Scalar::Str);
        assert_eq!(type_of(&node("'0755'")), Scalar::Str);
        assert_eq!(type_of(&node("|\n  text")), Scalar::Str);
    }
}
