//! How Cordon shows text it did not write (tool names, arguments, paths, descriptions, diffs) to
//! a human: every character that a terminal, a notification daemon or a browser would interpret
//! instead of print is replaced by a visible escape.
//!
//! The reviewer must see what will happen. An agent controls the arguments of its calls, so a
//! file name can carry `\x1b[2K` (erase the line), `\n+++ b/harmless` (a fake diff line) or
//! U+202E (right-to-left override: `txt.exe` shown as `exe.txt`). One function owns that
//! escaping so every view (the CLI, the approval window, notifications, diff headers) agrees.
//!
//! No dependencies: the built-in tools, the gateway, the CLI and the desktop shell all use it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown as an escape rather than printed: C0 and C1 controls, DEL, the bidi
/// embedding/override/isolate marks, zero-width characters that hide text, the line and
/// paragraph separators, and the byte-order mark.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'          // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers (blank "letters")
            | '\u{180E}'        // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FEFF}'        // byte-order mark / zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
            | '\u{E0000}'..='\u{E007F}' // tag characters (invisible "ASCII smuggling")
        )
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_hidden(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        if is_hidden(c) && !keep(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of untrusted text made visible: newlines, tabs, ESC and every other hidden
/// character become escapes (`\n`, `\t`, `\x1b`, `\u{202e}`). Use it for names, paths,
/// targets, reasons and argument values: the result never spans two lines.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Multi-line untrusted text (a diff, a command's preview) made visible line by line: `\n`
/// and `\t` stay as layout, everything else hidden (including `\r`, which would let a line
/// overwrite itself on a terminal) becomes an escape. Only for text whose line structure Cordon
/// produced or that is content by nature; a *name* inside it must go through [`visible`] first.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["src/main.rs", "git push origin main", "café 🚀 日本語", ""] {
            assert!(matches!(visible(text), Cow::Borrowed(t) if t == text));
            assert!(matches!(visible_lines(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn ansi_escapes_and_newlines_are_shown_not_interpreted() {
        assert_eq!(visible("a\x1b[2Kb"), "a\\x1b[2Kb");
        assert_eq!(visible("x\n+++ b/fake"), "x\\n+++ b/fake");
        assert_eq!(visible("a\rb\tc\0d\x7f"), "a\\rb\\tc\\x00d\\x7f");
        assert_eq!(visible("c1\u{9b}31m"), "c1\\x9b31m");
    }

    #[test]
    fn bidi_overrides_and_invisible_characters_are_named() {
        assert_eq!(visible("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(visible("a\u{2066}b\u{2069}"), "a\\u{2066}b\\u{2069}");
        assert_eq!(visible("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(visible("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(visible("line\u{2028}sep"), "line\\u{2028}sep");
    }

    #[test]
    fn lines_keep_layout_but_not_carriage_returns_or_escapes() {
        assert_eq!(visible_lines("-old\n+new\tx\n"), "-old\n+new\tx\n");
        assert_eq!(
            visible_lines("+ok\r+fake\n+\x1b[31mred"),
            "+ok\\r+fake\n+\\x1b[31mred"
        );
    }

    #[test]
    fn the_output_never_contains_a_hidden_character() {
        // Every char up to U+3000 and the tag block, one at a time and together.
        let all: String = (0u32..0x3100)
            .chain(0xE0000..0xE0080)
            .filter_map(char::from_u32)
            .collect();
        let shown = visible(&all);
        assert!(!shown.chars().any(is_hidden), "{shown}");
        assert!(!shown.contains('\n'));
        let lines = visible_lines(&all);
        assert!(
            !lines
                .chars()
                .any(|c| is_hidden(c) && c != '\n' && c != '\t')
        );
    }
}
