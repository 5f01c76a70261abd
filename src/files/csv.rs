//! CSV fields as spreadsheets read them.

/// `text` as one quoted CSV field (inner quotes doubled).
pub fn csv_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_doubled_inside_the_quoted_field() {
        assert_eq!(super::csv_quote(r#"a "b", c"#), r#""a ""b"", c""#);
    }
}
