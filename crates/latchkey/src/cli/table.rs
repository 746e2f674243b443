//! What the list commands print: a JSON array with `--json`, otherwise a table with a header, one
//! line per row and a sentence when there is nothing to list.
use std::borrow::Cow;

use serde_json::Value;

/// `text` as a terminal may show it: control characters (newlines and escape sequences among them)
/// and bidirectional formatting characters are written as `\u{…}`.
///
/// # Security
/// N-L7: the store holds text written by anonymous registrants (a client name, a redirect URI). Printed
/// raw, an escape sequence could erase lines and a newline could add forged ones to what an operator
/// reads.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if latchkey_core::types::is_display_safe(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match latchkey_core::types::is_display_safe(c.encode_utf8(&mut [0; 4])) {
            true => out.push(c),
            false => out.push_str(&c.escape_unicode().to_string()),
        }
    }
    Cow::Owned(out)
}

/// How a list command prints its rows as text.
pub(crate) struct Table<'a> {
    /// The sentence printed when there is nothing to list.
    pub(crate) empty: &'a str,
    /// Each column's header and the width its cells are padded to. The last column is given
    /// width 0, so lines carry no trailing spaces.
    pub(crate) columns: &'a [(&'a str, usize)],
}

impl Table<'_> {
    /// With `json`, one JSON array of `describe(row)`; otherwise `empty` when there are no rows, else
    /// the header and a line of `cells(row)` per row.
    pub(crate) fn print<T>(
        &self,
        json: bool,
        rows: &[T],
        describe: impl Fn(&T) -> Value,
        cells: impl Fn(&T) -> Vec<String>,
    ) {
        if json {
            println!("{}", Value::Array(rows.iter().map(describe).collect()));
        } else {
            self.print_text(rows, cells);
        }
    }

    /// The text alone, for a command whose JSON is not one array.
    pub(crate) fn print_text<T>(&self, rows: &[T], cells: impl Fn(&T) -> Vec<String>) {
        if rows.is_empty() {
            println!("{}", self.empty);
            return;
        }
        println!(
            "{}",
            self.line(self.columns.iter().map(|(name, _)| (*name).to_owned()))
        );
        for row in rows {
            println!("{}", self.line(cells(row)));
        }
    }

    fn line(&self, cells: impl IntoIterator<Item = String>) -> String {
        cells
            .into_iter()
            .zip(self.columns)
            .map(|(cell, (_, width))| format!("{:<width$}", printable(&cell)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_l7_control_characters_are_escaped_in_cells() {
        let table = Table {
            empty: "none",
            columns: &[("NAME", 0)],
        };
        let forged = "Acme\u{1b}[1A\u{1b}[2K\n2026-12-07T22:59:59.000Z  key.revoked\u{202e}";
        let line = table.line([forged.to_owned()]);
        assert!(!line.contains('\u{1b}') && !line.contains('\n') && !line.contains('\u{202e}'));
        assert_eq!(
            line,
            "Acme\\u{1b}[1A\\u{1b}[2K\\u{a}2026-12-07T22:59:59.000Z  key.revoked\\u{202e}"
        );
        assert_eq!(printable("Café"), "Café");
    }

    #[test]
    fn cells_are_padded_to_their_column_but_the_last() {
        let table = Table {
            empty: "none",
            columns: &[("KID", 5), ("ALG", 0)],
        };
        assert_eq!(
            table.line(["ab".to_owned(), "ES256".to_owned()]),
            "ab    ES256"
        );
        assert_eq!(
            table.line(["abcdefg".to_owned(), "x".to_owned()]),
            "abcdefg x"
        );
    }
}
