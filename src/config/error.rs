//! [`ConfigError`] and its [`Problem`] list. Problems are collected while parsing with byte spans ([`Issue`]) and
//! turned into line and column only once, against the text they came from.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Why the configuration cannot be used. `Display` is complete on its own (one line per problem, each prefixed
/// with the file path), so callers print it once and need not walk a source chain.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the configuration: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is larger than any sane configuration.
    #[error("{}: the configuration is {size} bytes, more than the limit of {limit}", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// Permissions or ownership would expose a password or let others change what popfetch runs.
    #[error("{}: {problem} (mode {mode:04o}); {fix}", path.display())]
    Unsafe {
        path: PathBuf,
        /// `st_mode & 0o7777`.
        mode: u32,
        /// What is wrong, e.g. "holds a password and is readable by group or others".
        problem: String,
        /// The command that fixes it, e.g. "run `chmod 600 /etc/popfetch/config.toml`".
        fix: String,
    },
    /// No `-c` was given and none of the default locations holds a file.
    #[error("{}", DisplayNotFound(tried, example.as_deref()))]
    NotFound {
        /// Every path tried, in order.
        tried: Vec<PathBuf>,
        /// The installed annotated example, when one was found.
        example: Option<PathBuf>,
    },
    /// A command named an account (`--account NAME`, `auth NAME`, ...) the file does not have.
    #[error("{}: no account named {name:?} (popfetch check lists the file's problems)", path.display())]
    NoSuchAccount { path: PathBuf, name: String },
    /// The content is not a valid configuration; every problem found is listed.
    #[error("{}", DisplayProblems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One problem in the file, located by 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// Where in the file: empty for the top level, `[smtp]`, `account "isp"`, or `account[2]` for an account
    /// without a usable name.
    pub section: String,
    /// The key concerned, if any.
    pub key: Option<String>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl Problem {
    /// The key path, e.g. `account "isp".target`, `smtp.port`, `state_dir`; the section alone when no key applies.
    pub fn key_path(&self) -> String {
        let section = self.section.trim_start_matches('[').trim_end_matches(']');
        match (&self.key, section.is_empty()) {
            (Some(k), true) => k.clone(),
            (Some(k), false) => format!("{section}.{k}"),
            (None, _) => section.to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if !self.section.is_empty() {
            write!(f, "{}: ", self.section)?;
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

struct DisplayNotFound<'a>(&'a [PathBuf], Option<&'a std::path::Path>);

impl fmt::Display for DisplayNotFound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no configuration file found; tried ")?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        let first = self
            .0
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match self.1 {
            Some(example) => write!(
                f,
                "; copy the annotated example {} to {first}",
                example.display()
            )?,
            None => write!(
                f,
                "; create {first} from config.example.toml in popfetch's source"
            )?,
        }
        f.write_str(" (every key is in man 5 popfetch.toml), or name a file with -c")
    }
}

struct DisplayProblems<'a>(&'a PathBuf, &'a [Problem]);

impl fmt::Display for DisplayProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{p}", self.0.display())?;
        }
        Ok(())
    }
}

/// A problem located by byte span, before line and column are known.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub span: Range<usize>,
    pub section: String,
    pub key: Option<String>,
    pub message: String,
}

impl Issue {
    pub fn new(
        span: Range<usize>,
        section: &str,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            span,
            section: section.to_owned(),
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Resolve the span against `text` into a [`Problem`].
    pub fn locate(self, text: &str) -> Problem {
        let (line, column) = line_col(text, self.span.start);
        Problem {
            line,
            column,
            section: self.section,
            key: self.key,
            message: self.message,
        }
    }
}

/// 1-based line and column (counted in characters) of byte offset `at`; offsets past the end or inside a
/// character are clamped, so a bad span cannot panic.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
