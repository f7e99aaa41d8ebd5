//! Printing results: tables for people, pretty JSON (the server's objects, unchanged) for scripts.
//!
//! In JSON mode stdout carries exactly one JSON document per command, so `| jq` always works;
//! messages meant for people then go to stderr.

use comfy_table::{Cell, ContentArrangement, Table, presets};
use serde_json::Value;

use super::config::Config;
use super::{Failure, Res};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Columns or fields: (label, key in the server's object).
pub type Fields<'a> = &'a [(&'a str, &'a str)];

pub struct Out {
    pub format: Format,
}

impl Out {
    /// `--output` wins, then `defaults.output_format`, then table.
    pub fn new(flag: Option<Format>, cfg: &Config) -> Res<Out> {
        let format = match flag {
            Some(f) => f,
            None => match cfg.get_str("defaults.output_format").as_deref() {
                None => Format::Table,
                Some(s) if s.eq_ignore_ascii_case("table") => Format::Table,
                Some(s) if s.eq_ignore_ascii_case("json") => Format::Json,
                Some(other) => {
                    return Err(Failure::Usage(format!(
                        "defaults.output_format is {other:?}; expected table or json"
                    )));
                }
            },
        };
        Ok(Out { format })
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn json(&self, v: &Value) {
        outln!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    }

    /// A list of objects: a table of the chosen columns, or the whole JSON array.
    pub fn list(&self, data: &Value, columns: Fields<'_>, title: &str) {
        if self.is_json() {
            return self.json(data);
        }
        let mut t = table();
        t.set_header(columns.iter().map(|(label, _)| Cell::new(label)));
        for item in data.as_array().map(Vec::as_slice).unwrap_or_default() {
            t.add_row(columns.iter().map(|(_, key)| cell(item.get(key))));
        }
        outln!("{title}");
        outln!("{t}");
    }

    /// One object: a field/value table of the chosen fields, or the whole JSON object.
    pub fn detail(&self, data: &Value, fields: Fields<'_>, title: &str) {
        if self.is_json() {
            return self.json(data);
        }
        let mut t = table();
        for (label, key) in fields {
            t.add_row(vec![Cell::new(label), cell(data.get(key))]);
        }
        outln!("{title}");
        outln!("{t}");
    }

    /// A result without a server object (deletions...): text for people, `json` for scripts.
    pub fn done(&self, text: &str, json: Value) {
        if self.is_json() {
            self.json(&json);
        } else {
            outln!("{text}");
        }
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// How a JSON value reads in a table cell.
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| text(Some(i)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

fn cell(v: Option<&Value>) -> Cell {
    Cell::new(text(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_naturally() {
        assert_eq!(text(None), "");
        assert_eq!(text(Some(&json!(null))), "");
        assert_eq!(text(Some(&json!("a"))), "a");
        assert_eq!(text(Some(&json!(true))), "true");
        assert_eq!(text(Some(&json!(["a", 1]))), "a, 1");
    }
}
