//! Argument helpers shared by the command tables: option skipping, positionals, paths.

use crate::path::{is_globby, normalize_path, secret_kind};

/// The program's name as matched against the tables: basename, lower case (case-insensitive
/// disks run `/usr/bin/RM` as `rm`), without `.exe`.
pub(crate) fn program_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let lower = base.to_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_owned()
}

pub(crate) fn norm(p: &str) -> String {
    normalize_path(p, None)
}

pub(crate) fn norms<'a, I: IntoIterator<Item = &'a String>>(ps: I) -> Vec<String> {
    ps.into_iter().map(|p| norm(p)).collect()
}

/// Arguments that look like paths (or secrets): for commands whose argument meaning is unknown.
pub(crate) fn path_like(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        let value = if a.starts_with('-') {
            match a.split_once('=') {
                Some((_, v)) => v,
                None => continue,
            }
        } else {
            a.as_str()
        };
        if value.is_empty() {
            continue;
        }
        let n = norm(value);
        if value.contains('/')
            || value.starts_with('.')
            || value.starts_with('~')
            || is_globby(value)
            || secret_kind(&n).is_some()
        {
            out.push(n);
        }
    }
    out
}

/// Non-option arguments (everything after `--` counts).
pub(crate) fn positionals(args: &[String]) -> Vec<&String> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        if rest {
            out.push(a);
        } else if a == "--" {
            rest = true;
        } else if !(a.starts_with('-') && a.len() > 1) {
            out.push(a);
        }
    }
    out
}

/// Index of the first argument at or after `i` that is not an option of a wrapper; options in
/// `short_vals`/`long_vals` take the next argument as their value.
pub(crate) fn skip_opts(
    args: &[String],
    mut i: usize,
    short_vals: &[&str],
    long_vals: &[&str],
) -> usize {
    while let Some(a) = args.get(i) {
        if a == "--" {
            return i + 1;
        }
        if a.starts_with("--") {
            i += if !a.contains('=') && long_vals.contains(&a.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += if short_vals.contains(&a.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        return i;
    }
    i
}

pub(crate) fn has_any(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|a| flags.contains(&a.as_str()))
}

/// The value of `-x v`, `-xv`, `--long v` or `--long=v`, for each occurrence.
pub(crate) fn opt_values(args: &[String], short: &[&str], long: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        for l in long {
            if a == l {
                if let Some(v) = it.peek() {
                    out.push((*v).clone());
                }
            } else if let Some(v) = a.strip_prefix(&format!("{l}=")) {
                out.push(v.to_owned());
            }
        }
        for s in short {
            if a == s {
                if let Some(v) = it.peek() {
                    out.push((*v).clone());
                }
            } else if a.len() > s.len() && a.starts_with(s) && !a.starts_with("--") {
                out.push(a.get(s.len()..).unwrap_or("").to_owned());
            }
        }
    }
    out
}
