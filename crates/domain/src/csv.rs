//! CSV fields as spreadsheets read them safely: the reports' download and the
//! conversation export write every field through [`field`].

/// A CSV field: quoted when it must be, and never read as a formula by a spreadsheet
/// (a leading `=`, `+`, `-`, `@`, tab or carriage return gets a `'` before it).
pub fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One CSV line of these fields, ended with CRLF as RFC 4180 has it.
pub fn line<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = fields.into_iter().map(field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        assert_eq!(field("Won"), "Won");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(line(["a", "b,c"]), "a,\"b,c\"\r\n");
    }
}
