//! What the list commands print: a JSON array with `--json`, otherwise a table with a header, one
//! line per row and a sentence when there is nothing to list.
use serde_json::Value;

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
            .map(|(cell, (_, width))| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
