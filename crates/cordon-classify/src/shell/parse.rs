//! A bounded parser for the shell command language, enough to classify: words with bash quoting
//! (`'…'`, `"…"`, `$'…'`, `\`), expansions (`$VAR`, `${…}`, `$(…)`, backticks, `$((…))`, `<(…)`),
//! operators (`&&`, `||`, `;`, `|`, `&`, newlines), subshells and groups, redirections and
//! here-documents.
//!
//! The result is flat: every simple command that could run (including those inside
//! substitutions, subshells, loops and function bodies) becomes one [`SimpleCommand`], grouped
//! by pipeline. Compound syntax the parser does not model (`case`, `[[ a < b ]]`...) is reported
//! in [`Parsed::errors`]; the caller then classifies conservatively.
//!
//! Why not `brush-parser`: it was evaluated; its runtime dependency tree (insta, cached, bon,
//! peg) is heavy, and its recursive PEG parser has no nesting limit, so a hostile `((((…` could
//! overflow the stack, which aborts the whole gateway. This parser has explicit size, depth and
//! command-count limits and cannot panic (workspace lints forbid indexing and unwraps).

/// Longest command line parsed; longer input is classified conservatively without parsing.
pub(crate) const MAX_INPUT: usize = 64 * 1024;
/// Deepest nesting of subshells, substitutions and `sh -c` strings.
pub(crate) const MAX_DEPTH: usize = 16;
/// Most simple commands in one input.
const MAX_COMMANDS: usize = 2048;

/// One word after quote removal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text after quote removal; expansions appear as `$NAME` / `$(…)` placeholders,
    /// `$HOME` as `~`.
    pub text: String,
    /// Contains an expansion whose value is only known at run time.
    pub dynamic: bool,
    /// Names of the variables it expands.
    pub vars: Vec<String>,
    /// Position in `text` of the first quoted or escaped character, if any.
    pub first_quoted: Option<usize>,
}

impl Word {
    fn push_quoted(&mut self, c: char) {
        if self.first_quoted.is_none() {
            self.first_quoted = Some(self.text.len());
        }
        self.text.push(c);
    }

    fn mark_quoted(&mut self) {
        if self.first_quoted.is_none() {
            self.first_quoted = Some(self.text.len());
        }
    }

    /// `NAME=value` with an unquoted valid name: a variable assignment, not a program.
    pub(crate) fn is_assignment(&self) -> bool {
        let Some(eq) = self.text.find('=') else {
            return false;
        };
        if self.first_quoted.is_some_and(|q| q <= eq) {
            return false;
        }
        let name = self.text.get(..eq).unwrap_or("");
        let name = name.strip_suffix('+').unwrap_or(name);
        let name = name.split('[').next().unwrap_or("");
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

/// What a redirection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirKind {
    /// `< file`: the file is read.
    Read,
    /// `> file`, `>> file`, `&> file`, `<> file`: the file is written.
    Write,
    /// `<<< word`: the word is the command's standard input.
    HereString,
    /// `<< EOF`: the body (in `target.text`) is the command's standard input.
    HereDoc,
    /// `>&2`, `<&0`: file descriptor duplication, no file.
    Dup,
}

/// One redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redir {
    /// Its kind.
    pub kind: RedirKind,
    /// The target file, here-string or here-document body.
    pub target: Word,
}

/// One simple command: assignments, words, redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SimpleCommand {
    /// `NAME=value` prefixes.
    pub assigns: Vec<Word>,
    /// The program and its arguments.
    pub words: Vec<Word>,
    /// Redirections.
    pub redirs: Vec<Redir>,
    /// `for`/`case`/`select`/`function` headers: their words are not a command.
    pub not_a_command: bool,
}

impl SimpleCommand {
    fn is_empty(&self) -> bool {
        self.assigns.is_empty() && self.words.is_empty() && self.redirs.is_empty()
    }
}

/// Commands connected by `|`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pipeline {
    /// The commands, left to right.
    pub commands: Vec<SimpleCommand>,
}

/// The parse result: every pipeline, flattened, and what went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Every pipeline that could run.
    pub pipelines: Vec<Pipeline>,
    /// Syntax errors and limits hit; non-empty means "do not trust this to be complete".
    pub errors: Vec<String>,
}

/// Parse a command line at nesting depth `depth` (0 for a tool's `command` argument).
pub(crate) fn parse(src: &str, depth: usize) -> Parsed {
    let mut p = Parser::new(src, depth);
    if src.len() > MAX_INPUT {
        p.errors
            .push(format!("command longer than {MAX_INPUT} bytes: not parsed"));
        return Parsed {
            pipelines: Vec::new(),
            errors: p.errors,
        };
    }
    if depth > MAX_DEPTH {
        p.errors
            .push(format!("nesting deeper than {MAX_DEPTH}: not parsed"));
        return Parsed {
            pipelines: Vec::new(),
            errors: p.errors,
        };
    }
    p.parse_list(None);
    Parsed {
        pipelines: p.out,
        errors: p.errors,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    out: Vec<Pipeline>,
    errors: Vec<String>,
    heredoc_resume: Option<usize>,
    stop: bool,
    commands: usize,
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
    )
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "in",
    "esac", "coproc",
];

impl Parser {
    fn new(src: &str, depth: usize) -> Parser {
        Parser {
            chars: src.chars().collect(),
            pos: 0,
            depth,
            out: Vec::new(),
            errors: Vec::new(),
            heredoc_resume: None,
            stop: false,
            commands: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn error(&mut self, msg: impl Into<String>) {
        if self.errors.len() < 16 {
            self.errors.push(msg.into());
        }
    }

    fn halt(&mut self, msg: impl Into<String>) {
        self.error(msg);
        self.stop = true;
        self.pos = self.chars.len();
    }

    fn enter(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.halt(format!("nesting deeper than {MAX_DEPTH}: rest not parsed"));
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\r' {
                self.pos += 1;
            } else if c == '\\' && self.peek_at(1) == Some('\n') {
                self.pos += 2;
            } else {
                break;
            }
        }
    }

    fn finish_command(&mut self, cur: &mut SimpleCommand, pipe: &mut Pipeline) {
        if !cur.is_empty() {
            self.commands += 1;
            if self.commands > MAX_COMMANDS {
                self.halt(format!(
                    "more than {MAX_COMMANDS} commands: rest not parsed"
                ));
            }
            pipe.commands.push(std::mem::take(cur));
        }
        *cur = SimpleCommand::default();
    }

    fn finish_pipeline(&mut self, cur: &mut SimpleCommand, pipe: &mut Pipeline) {
        self.finish_command(cur, pipe);
        if !pipe.commands.is_empty() {
            self.out.push(std::mem::take(pipe));
        }
    }

    /// Parse commands until EOF or, when `close` is `Some(')')`, the matching `)`.
    fn parse_list(&mut self, close: Option<char>) {
        let mut pipe = Pipeline::default();
        let mut cur = SimpleCommand::default();
        loop {
            if self.stop {
                break;
            }
            self.skip_blanks();
            let Some(c) = self.peek() else {
                if close.is_some() {
                    self.error("unterminated '(' or '$(': missing ')'");
                }
                break;
            };
            match c {
                '#' => {
                    while let Some(ch) = self.peek() {
                        if ch == '\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                '\n' => {
                    self.pos += 1;
                    if let Some(r) = self.heredoc_resume.take()
                        && r > self.pos
                    {
                        self.pos = r;
                    }
                    self.finish_pipeline(&mut cur, &mut pipe);
                }
                ';' => {
                    self.pos += 1;
                    if matches!(self.peek(), Some(';' | '&')) {
                        self.pos += 1;
                    }
                    self.finish_pipeline(&mut cur, &mut pipe);
                }
                '&' => {
                    if self.peek_at(1) == Some('>') {
                        self.redirect(&mut cur);
                    } else {
                        self.pos += 1;
                        if self.peek() == Some('&') {
                            self.pos += 1;
                        }
                        self.finish_pipeline(&mut cur, &mut pipe);
                    }
                }
                '|' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('|') => {
                            self.pos += 1;
                            self.finish_pipeline(&mut cur, &mut pipe);
                        }
                        Some('&') => {
                            self.pos += 1;
                            self.finish_command(&mut cur, &mut pipe);
                        }
                        _ => self.finish_command(&mut cur, &mut pipe),
                    }
                }
                '(' => {
                    if cur.words.len() == 1 && cur.assigns.is_empty() && self.is_function_parens() {
                        // `name() body`: the body's commands are classified as if called.
                        cur = SimpleCommand::default();
                        continue;
                    }
                    if !cur.is_empty() && !cur.not_a_command {
                        self.error("unexpected '(' inside a command");
                    }
                    self.pos += 1;
                    self.finish_command(&mut cur, &mut pipe);
                    if self.enter() {
                        self.parse_list(Some(')'));
                    }
                    self.leave();
                }
                ')' => {
                    self.pos += 1;
                    if close == Some(')') {
                        break;
                    }
                    self.error("unexpected ')'");
                }
                '<' | '>' => {
                    if self.peek_at(1) == Some('(') {
                        self.pos += 2;
                        if self.enter() {
                            self.parse_list(Some(')'));
                        }
                        self.leave();
                        cur.words.push(Word {
                            text: "/dev/fd/63".to_owned(),
                            dynamic: true,
                            ..Word::default()
                        });
                    } else {
                        self.redirect(&mut cur);
                    }
                }
                _ => {
                    let w = self.lex_word();
                    let fd_redirect = !w.text.is_empty()
                        && w.first_quoted.is_none()
                        && w.text.chars().all(|c| c.is_ascii_digit())
                        && matches!(self.peek(), Some('<' | '>'));
                    if fd_redirect {
                        self.redirect(&mut cur);
                        continue;
                    }
                    let bare = w.first_quoted.is_none() && !w.dynamic;
                    if cur.words.is_empty() && cur.assigns.is_empty() && bare {
                        if RESERVED.contains(&w.text.as_str()) {
                            continue;
                        }
                        if matches!(w.text.as_str(), "for" | "case" | "select" | "function") {
                            cur.not_a_command = true;
                            cur.words.push(w);
                            continue;
                        }
                    }
                    if cur.not_a_command && bare && matches!(w.text.as_str(), "{" | "do") {
                        self.finish_pipeline(&mut cur, &mut pipe);
                        continue;
                    }
                    if cur.words.is_empty() && w.is_assignment() {
                        cur.assigns.push(w);
                    } else if !w.text.is_empty() || w.first_quoted.is_some() || w.dynamic {
                        cur.words.push(w);
                    }
                }
            }
        }
        self.finish_pipeline(&mut cur, &mut pipe);
    }

    fn is_function_parens(&mut self) -> bool {
        let mut i = self.pos + 1;
        while matches!(self.chars.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        if self.chars.get(i) == Some(&')') {
            self.pos = i + 1;
            true
        } else {
            false
        }
    }

    fn redirect(&mut self, cur: &mut SimpleCommand) {
        let kind = if self.peek() == Some('&') {
            // `&>` / `&>>`
            self.pos += 2;
            if self.peek() == Some('>') {
                self.pos += 1;
            }
            RedirKind::Write
        } else if self.peek() == Some('<') {
            self.pos += 1;
            match self.peek() {
                Some('<') => {
                    self.pos += 1;
                    if self.peek() == Some('<') {
                        self.pos += 1;
                        RedirKind::HereString
                    } else {
                        let strip = self.peek() == Some('-');
                        if strip {
                            self.pos += 1;
                        }
                        self.heredoc(cur, strip);
                        return;
                    }
                }
                Some('>') => {
                    self.pos += 1;
                    RedirKind::Write
                }
                Some('&') => {
                    self.pos += 1;
                    RedirKind::Dup
                }
                _ => RedirKind::Read,
            }
        } else {
            // '>'
            self.pos += 1;
            match self.peek() {
                Some('>') | Some('|') => {
                    self.pos += 1;
                    RedirKind::Write
                }
                Some('&') => {
                    self.pos += 1;
                    RedirKind::Dup
                }
                _ => RedirKind::Write,
            }
        };
        self.skip_blanks();
        if self
            .peek()
            .is_none_or(|c| is_meta(c) && c != '<' && c != '>')
        {
            self.error("redirection without a target");
            return;
        }
        let target = self.lex_word();
        let kind = if kind == RedirKind::Dup
            && !(target.text == "-" || target.text.chars().all(|c| c.is_ascii_digit()))
        {
            RedirKind::Write // `>&file` is `&>file`
        } else {
            kind
        };
        cur.redirs.push(Redir { kind, target });
    }

    fn heredoc(&mut self, cur: &mut SimpleCommand, strip_tabs: bool) {
        self.skip_blanks();
        let delim_word = self.lex_word();
        let delim = delim_word.text.clone();
        let quoted = delim_word.first_quoted.is_some();
        // The body starts on the line after the current one (or after a previous body).
        let line_end = self
            .chars
            .iter()
            .skip(self.pos)
            .position(|c| *c == '\n')
            .map(|i| i + self.pos);
        let Some(line_end) = line_end else {
            self.error("here-document without a body");
            return;
        };
        let mut i = self.heredoc_resume.unwrap_or(0).max(line_end + 1);
        let mut body = String::new();
        let mut resume = self.chars.len();
        while i < self.chars.len() {
            let end = self
                .chars
                .iter()
                .skip(i)
                .position(|c| *c == '\n')
                .map_or(self.chars.len(), |k| k + i);
            let line: String = self.chars.get(i..end).unwrap_or(&[]).iter().collect();
            let cmp = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line.as_str()
            };
            if cmp == delim {
                resume = end + 1;
                break;
            }
            body.push_str(&line);
            body.push('\n');
            i = end + 1;
        }
        self.heredoc_resume = Some(resume.min(self.chars.len()));
        let target = if quoted {
            Word {
                text: body,
                ..Word::default()
            }
        } else {
            self.scan_expansions(&body)
        };
        cur.redirs.push(Redir {
            kind: RedirKind::HereDoc,
            target,
        });
    }

    /// Lex `src` like the inside of double quotes (for here-document bodies, arithmetic and
    /// `${…}` operands), collecting its expansions and their commands.
    fn scan_expansions(&mut self, src: &str) -> Word {
        let mut sub = Parser::new(src, self.depth);
        sub.commands = self.commands;
        let mut w = Word::default();
        sub.lex_dquoted(&mut w, None);
        self.absorb(sub);
        w
    }

    /// Parse `src` as a nested script (backticks).
    fn sub_parse(&mut self, src: &str) {
        if !self.enter() {
            return;
        }
        let mut sub = Parser::new(src, self.depth);
        sub.commands = self.commands;
        sub.parse_list(None);
        self.absorb(sub);
        self.leave();
    }

    fn absorb(&mut self, sub: Parser) {
        self.out.extend(sub.out);
        for e in sub.errors {
            self.error(e);
        }
        self.commands = sub.commands;
        if sub.stop {
            self.stop = true;
            self.pos = self.chars.len();
        }
    }

    fn lex_word(&mut self) -> Word {
        let mut w = Word::default();
        while let Some(c) = self.peek() {
            if self.stop || is_meta(c) {
                break;
            }
            match c {
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(ch) => {
                            w.push_quoted(ch);
                            self.pos += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    self.pos += 1;
                    w.mark_quoted();
                    let mut closed = false;
                    while let Some(ch) = self.peek() {
                        self.pos += 1;
                        if ch == '\'' {
                            closed = true;
                            break;
                        }
                        w.text.push(ch);
                    }
                    if !closed {
                        self.error("unterminated single quote");
                    }
                }
                '"' => {
                    self.pos += 1;
                    w.mark_quoted();
                    self.lex_dquoted(&mut w, Some('"'));
                }
                '$' => self.lex_dollar(&mut w, false),
                '`' => self.lex_backtick(&mut w),
                _ => {
                    w.text.push(c);
                    self.pos += 1;
                }
            }
        }
        w
    }

    fn lex_dquoted(&mut self, w: &mut Word, end: Option<char>) {
        loop {
            if self.stop {
                return;
            }
            let Some(c) = self.peek() else {
                if end.is_some() {
                    self.error("unterminated double quote");
                }
                return;
            };
            if Some(c) == end {
                self.pos += 1;
                return;
            }
            match c {
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(ch @ ('$' | '`' | '"' | '\\')) => {
                            w.text.push(ch);
                            self.pos += 1;
                        }
                        Some(_) | None => w.text.push('\\'),
                    }
                }
                '$' => self.lex_dollar(w, true),
                '`' => self.lex_backtick(w),
                _ => {
                    w.text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn lex_backtick(&mut self, w: &mut Word) {
        self.pos += 1;
        let mut inner = String::new();
        let mut closed = false;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '`' => {
                    closed = true;
                    break;
                }
                '\\' => match self.peek() {
                    Some(ch @ ('`' | '\\' | '$')) => {
                        inner.push(ch);
                        self.pos += 1;
                    }
                    _ => inner.push('\\'),
                },
                _ => inner.push(c),
            }
        }
        if !closed {
            self.error("unterminated backtick");
        }
        self.sub_parse(&inner);
        w.text.push_str("$(…)");
        w.dynamic = true;
    }

    /// Raw text up to the `close` that balances `open`, skipping quoted parts; the cursor ends
    /// after `close`.
    fn balanced_raw(&mut self, open: char, close: char, need: usize) -> String {
        let mut depth = 0usize;
        let mut raw = String::new();
        let mut closes_seen = 0usize;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == open {
                depth += 1;
            } else if c == close {
                if depth == 0 {
                    closes_seen += 1;
                    if closes_seen == need {
                        return raw;
                    }
                    continue;
                }
                depth -= 1;
            } else if c == '\\' {
                raw.push(c);
                if let Some(n) = self.peek() {
                    raw.push(n);
                    self.pos += 1;
                }
                continue;
            }
            if closes_seen > 0 {
                raw.push(close);
                closes_seen = 0;
            }
            raw.push(c);
        }
        self.error(format!("unterminated expansion: missing '{close}'"));
        raw
    }

    fn lex_dollar(&mut self, w: &mut Word, in_dquote: bool) {
        let next = self.peek_at(1);
        match next {
            Some('\'') if !in_dquote => {
                self.pos += 2;
                w.mark_quoted();
                self.lex_ansi_c(w);
            }
            Some('"') if !in_dquote => {
                self.pos += 2;
                w.mark_quoted();
                self.lex_dquoted(w, Some('"'));
            }
            Some('(') if self.peek_at(2) == Some('(') => {
                self.pos += 3;
                let raw = self.balanced_raw('(', ')', 2);
                if self.enter() {
                    let inner = self.scan_expansions(&raw);
                    w.vars.extend(inner.vars);
                }
                self.leave();
                w.text.push_str("$((…))");
                w.dynamic = true;
            }
            Some('(') => {
                self.pos += 2;
                if self.enter() {
                    self.parse_list(Some(')'));
                }
                self.leave();
                w.text.push_str("$(…)");
                w.dynamic = true;
            }
            Some('{') => {
                self.pos += 2;
                let raw = self.balanced_raw('{', '}', 1);
                let trimmed = raw.trim_start_matches(['!', '#']);
                let name: String = trimmed
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let rest = trimmed.get(name.len()..).unwrap_or("");
                if !rest.is_empty() {
                    if self.enter() {
                        let inner = self.scan_expansions(rest);
                        w.vars.extend(inner.vars);
                    }
                    self.leave();
                }
                match (name.as_str(), rest.is_empty()) {
                    // `$HOME` and `$PWD` are known: `~` and `.` keep paths lexically checkable.
                    ("HOME", true) => w.text.push('~'),
                    ("PWD", true) => w.text.push('.'),
                    _ => {
                        w.text.push_str(&format!("${name}"));
                        w.dynamic = true;
                    }
                }
                if !name.is_empty() {
                    w.vars.push(name);
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                self.pos += 1;
                let mut name = String::new();
                while let Some(ch) = self.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        name.push(ch);
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                match name.as_str() {
                    "HOME" => w.text.push('~'),
                    "PWD" => w.text.push('.'),
                    _ => {
                        w.text.push('$');
                        w.text.push_str(&name);
                        w.dynamic = true;
                    }
                }
                w.vars.push(name);
            }
            Some(c) if c.is_ascii_digit() || "?$!#@*-".contains(c) => {
                self.pos += 2;
                w.text.push('$');
                w.text.push(c);
                w.dynamic = true;
            }
            _ => {
                self.pos += 1;
                w.text.push('$');
            }
        }
    }

    /// `$'…'` with C escapes; the cursor is after the opening quote.
    fn lex_ansi_c(&mut self, w: &mut Word) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\'' => return,
                '\\' => {
                    let Some(e) = self.peek() else { break };
                    self.pos += 1;
                    let decoded = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' => Some('\u{7}'),
                        'b' => Some('\u{8}'),
                        'e' | 'E' => Some('\u{1b}'),
                        'f' => Some('\u{c}'),
                        'v' => Some('\u{b}'),
                        '\\' | '\'' | '"' | '?' => Some(e),
                        'x' => self.hex_escape(2),
                        'u' => self.hex_escape(4),
                        'U' => self.hex_escape(8),
                        'c' => {
                            let ctl = self.peek().map(|x| char::from((x as u8) & 0x1f));
                            self.pos += 1;
                            ctl
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match self.peek().and_then(|d| d.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        self.pos += 1;
                                    }
                                    None => break,
                                }
                            }
                            char::from_u32(v & 0xff)
                        }
                        other => {
                            w.text.push('\\');
                            Some(other)
                        }
                    };
                    if let Some(ch) = decoded {
                        w.text.push(ch);
                    }
                }
                _ => w.text.push(c),
            }
        }
        self.error("unterminated $'…' quote");
    }

    fn hex_escape(&mut self, max: usize) -> Option<char> {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < max {
            match self.peek().and_then(|d| d.to_digit(16)) {
                Some(d) => {
                    v = v.saturating_mul(16).saturating_add(d);
                    self.pos += 1;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 { None } else { char::from_u32(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(src: &str) -> Vec<Vec<String>> {
        parse(src, 0)
            .pipelines
            .iter()
            .flat_map(|p| p.commands.iter())
            .map(|c| c.words.iter().map(|w| w.text.clone()).collect())
            .collect()
    }

    fn check(src: &str, expected: &[&[&str]]) {
        let got = argvs(src);
        let want: Vec<Vec<String>> = expected
            .iter()
            .map(|c| c.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        assert_eq!(got, want, "parsing {src:?}");
    }

    #[test]
    fn word_splitting_table() {
        check("ls -la", &[&["ls", "-la"]]);
        check("cat '.e'nv", &[&["cat", ".env"]]);
        check(r#"cat ".e"\n'v'"#, &[&["cat", ".env"]]);
        check(r"cat .e\nv", &[&["cat", ".env"]]);
        check("$'\\x72\\x6d' -rf /", &[&["rm", "-rf", "/"]]);
        check("$'\\162m' x", &[&["rm", "x"]]);
        check("cat $HOME/.ssh/id_rsa", &[&["cat", "~/.ssh/id_rsa"]]);
        check(
            "cat ${HOME}/.aws/credentials",
            &[&["cat", "~/.aws/credentials"]],
        );
        check(
            "a && b || c; d | e & f\ng",
            &[&["a"], &["b"], &["c"], &["d"], &["e"], &["f"], &["g"]],
        );
        check("(cd x && rm y)", &[&["cd", "x"], &["rm", "y"]]);
        check("{ a; b; }", &[&["a"], &["b"]]);
        check(
            "echo $(rm -rf /)",
            &[&["rm", "-rf", "/"], &["echo", "$(…)"]],
        );
        check("echo `rm x`", &[&["rm", "x"], &["echo", "$(…)"]]);
        check(
            "echo \"$(cat .env)\"",
            &[&["cat", ".env"], &["echo", "$(…)"]],
        );
        check(
            "diff <(cat a) b",
            &[&["cat", "a"], &["diff", "/dev/fd/63", "b"]],
        );
        check("X=1 Y=2 env", &[&["env"]]);
        check("if true; then rm x; fi", &[&["true"], &["rm", "x"]]);
        check(
            "for f in a b; do rm $f; done",
            &[&["for", "f", "in", "a", "b"], &["rm", "$f"]],
        );
        check("f() { rm -rf /; }; f", &[&["rm", "-rf", "/"], &["f"]]);
        check("echo hi # rm -rf /", &[&["echo", "hi"]]);
        check("echo a#b", &[&["echo", "a#b"]]);
        check(
            "echo $((1 + $(rm x)))",
            &[&["rm", "x"], &["echo", "$((…))"]],
        );
        check("echo ${X:-$(rm y)}", &[&["rm", "y"], &["echo", "$X"]]);
    }

    #[test]
    fn redirections_and_heredocs() {
        let p = parse("cat < in.txt > out.txt 2>&1 2>/dev/null", 0);
        let cmd = p.pipelines.first().and_then(|p| p.commands.first());
        let kinds: Vec<(RedirKind, String)> = cmd
            .map(|c| {
                c.redirs
                    .iter()
                    .map(|r| (r.kind, r.target.text.clone()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            kinds,
            vec![
                (RedirKind::Read, "in.txt".to_owned()),
                (RedirKind::Write, "out.txt".to_owned()),
                (RedirKind::Dup, "1".to_owned()),
                (RedirKind::Write, "/dev/null".to_owned()),
            ]
        );
        let p = parse("bash <<'EOF'\nrm -rf /\nEOF\necho done", 0);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let all: Vec<&SimpleCommand> = p.pipelines.iter().flat_map(|p| &p.commands).collect();
        assert_eq!(all.len(), 2);
        let body = all
            .first()
            .and_then(|c| c.redirs.first())
            .map(|r| r.target.text.clone());
        assert_eq!(body.as_deref(), Some("rm -rf /\n"));
        check("cat <<EOF\n$(rm x)\nEOF", &[&["rm", "x"], &["cat"]]);
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        for src in [
            "echo 'unterminated",
            "echo \"unterminated",
            "echo $(unterminated",
            "echo `unterminated",
            "a )",
            "case x in a) rm y;; esac",
            "echo >",
            "$'\\",
        ] {
            assert!(
                !parse(src, 0).errors.is_empty(),
                "{src:?} should report an error"
            );
        }
        let deep = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        assert!(!parse(&deep, 0).errors.is_empty());
        let deep = format!("{}x{}", "$(".repeat(100), ")".repeat(100));
        assert!(!parse(&deep, 0).errors.is_empty());
        let big = "a ".repeat(MAX_INPUT);
        assert!(!parse(&big, 0).errors.is_empty());
        let many = "a;".repeat(MAX_COMMANDS + 10);
        assert!(!parse(&many, 0).errors.is_empty());
    }
}
