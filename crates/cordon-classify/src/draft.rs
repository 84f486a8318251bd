//! The classifier's intermediate result: parts with short topics and paths that still carry
//! their access mode. `lib.rs` turns drafts into public [`crate::Part`]s, applying secret-path
//! detection and symlink resolution in one place.

use std::collections::BTreeSet;

use crate::topic::{self, topic_severity};

/// One path a part touches, and whether it is written (a read of a secret changes the topic;
/// a write to one only adds the `credentials` tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathUse {
    /// Lexically normalised path.
    pub path: String,
    /// True when the part writes, moves or removes it.
    pub write: bool,
    /// True when only the name or metadata is read, never the contents (`ls .env`,
    /// `git log -- .env`): a secret's name is not a secret.
    pub name_only: bool,
}

/// A part before secret detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    /// Short topic (`read.file`) or an unknown tool's `tool.<server>.<tool>`, or a custom
    /// mapping's topic without the prefix.
    pub topic: String,
    /// Risk tags.
    pub tags: BTreeSet<String>,
    /// Paths touched.
    pub paths: Vec<PathUse>,
    /// The simple command's argv, for shell parts.
    pub command: Option<Vec<String>>,
    /// The command expands a variable whose name looks like a secret (`$AWS_SECRET_KEY`).
    pub secret_vars: bool,
    /// The simple command's `NAME=value` prefixes (production targets such as `AWS_PROFILE`).
    pub assigns: Vec<String>,
}

impl Draft {
    /// A draft with the topic's default tags.
    pub(crate) fn new(topic: &str) -> Draft {
        Draft {
            topic: topic.to_owned(),
            tags: topic::default_tags(topic)
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            paths: Vec::new(),
            command: None,
            secret_vars: false,
            assigns: Vec::new(),
        }
    }

    /// Builder: add a tag.
    pub(crate) fn tag(mut self, t: &str) -> Draft {
        self.tags.insert(t.to_owned());
        self
    }

    /// Builder: add paths read.
    pub(crate) fn reads<I: IntoIterator<Item = String>>(mut self, paths: I) -> Draft {
        self.paths.extend(paths.into_iter().map(|path| PathUse {
            path,
            write: false,
            name_only: false,
        }));
        self
    }

    /// Builder: add paths whose name or metadata only is read.
    pub(crate) fn names<I: IntoIterator<Item = String>>(mut self, paths: I) -> Draft {
        self.paths.extend(paths.into_iter().map(|path| PathUse {
            path,
            write: false,
            name_only: true,
        }));
        self
    }

    /// Builder: add paths written.
    pub(crate) fn writes<I: IntoIterator<Item = String>>(mut self, paths: I) -> Draft {
        self.paths.extend(paths.into_iter().map(|path| PathUse {
            path,
            write: true,
            name_only: false,
        }));
        self
    }

    /// Raise the topic to `other` if `other` is stricter, keeping every tag of both.
    pub(crate) fn escalate(&mut self, other: &str) {
        if topic_severity(other) > topic_severity(&self.topic) {
            self.topic = other.to_owned();
        }
        for t in topic::default_tags(other) {
            self.tags.insert((*t).to_owned());
        }
    }
}
