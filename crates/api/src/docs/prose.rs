//! Text from the document as pieces the templates escape: plain text, code spans, and
//! links within the page. Descriptions are the handlers' doc comments in Markdown; the
//! reference honours what they use (paragraphs and `code` spans) and shows the rest as
//! written.

/// How one piece of a line is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Code,
    /// A link to an anchor on the same page (never to another host).
    Link(String),
}

/// One piece of a line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub text: String,
    pub style: Style,
}

/// A line of text made of pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Line {
    pub pieces: Vec<Piece>,
}

impl Line {
    pub fn plain(text: impl Into<String>) -> Line {
        let mut line = Line::default();
        line.text(text);
        line
    }

    pub fn text(&mut self, text: impl Into<String>) -> &mut Line {
        self.push(text.into(), Style::Plain)
    }

    pub fn code(&mut self, text: impl Into<String>) -> &mut Line {
        self.push(text.into(), Style::Code)
    }

    pub fn link(&mut self, text: impl Into<String>, anchor: String) -> &mut Line {
        self.push(text.into(), Style::Link(anchor))
    }

    pub fn append(&mut self, other: Line) -> &mut Line {
        self.pieces.extend(other.pieces);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    fn push(&mut self, text: String, style: Style) -> &mut Line {
        if !text.is_empty() {
            self.pieces.push(Piece { text, style });
        }
        self
    }
}

/// Paragraphs of text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Prose {
    pub paragraphs: Vec<Line>,
}

impl Prose {
    pub fn is_empty(&self) -> bool {
        self.paragraphs.is_empty()
    }
}

/// Markdown as paragraphs: a blank line separates them, and the line breaks of wrapped doc
/// comments are spaces.
pub(super) fn prose(markdown: &str) -> Prose {
    let normalized = markdown.replace("\r\n", "\n");
    let paragraphs = normalized
        .split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| line(&paragraph))
        .collect();
    Prose { paragraphs }
}

/// One line of Markdown with its `code` spans; a backtick without a partner stays as typed.
pub(super) fn line(markdown: &str) -> Line {
    let parts: Vec<&str> = markdown.split('`').collect();
    let closed = if parts.len().is_multiple_of(2) {
        parts.len() - 1
    } else {
        parts.len()
    };
    let mut line = Line::default();
    for (index, part) in parts[..closed].iter().enumerate() {
        if index % 2 == 1 {
            line.code(*part);
        } else {
            line.text(*part);
        }
    }
    if closed < parts.len() {
        line.text(format!("`{}", parts[closed]));
    }
    line
}

/// Prose from an optional string field of the document.
pub(super) fn prose_of(value: Option<&serde_json::Value>) -> Prose {
    value
        .and_then(serde_json::Value::as_str)
        .map(prose)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(line: &Line) -> Vec<(&str, bool)> {
        line.pieces
            .iter()
            .map(|piece| (piece.text.as_str(), piece.style == Style::Code))
            .collect()
    }

    #[test]
    fn code_spans_are_pieces_of_their_own() {
        let line = line("Send `Authorization: Bearer <token>` on every call.");
        assert_eq!(
            shown(&line),
            [
                ("Send ", false),
                ("Authorization: Bearer <token>", true),
                (" on every call.", false),
            ]
        );
    }

    #[test]
    fn an_unpaired_backtick_stays_as_typed() {
        let line = line("a `b` c `d");
        assert_eq!(
            shown(&line),
            [("a ", false), ("b", true), (" c ", false), ("`d", false)]
        );
    }

    #[test]
    fn blank_lines_separate_paragraphs_and_wrapped_lines_join() {
        let prose = prose("First line\nwraps here.\n\n\nSecond paragraph.\r\n");
        let texts: Vec<Vec<(&str, bool)>> = prose.paragraphs.iter().map(shown).collect();
        assert_eq!(
            texts,
            [
                vec![("First line wraps here.", false)],
                vec![("Second paragraph.", false)]
            ]
        );
    }
}
