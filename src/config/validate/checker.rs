//! [`Checker`]: collects the problems of one table, each located by the span of its value, and the checks of
//! value kinds every table shares (choices, ranges, ports, hosts, addresses, paths, pins).

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::values::{is_host_like, parse_sha256, validate_address};
use crate::config::error::Issue;
use crate::config::raw::Str;

/// Collects problems for one section.
pub(crate) struct Checker<'a> {
    pub(crate) issues: &'a mut Vec<Issue>,
    pub(super) label: String,
    /// Config file, to anchor relative paths.
    pub(super) source: &'a Path,
}

impl Checker<'_> {
    pub(crate) fn err(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.issues
            .push(Issue::new(span, &self.label, Some(key), message));
    }

    /// A required key; `whole` locates the table it is missing from.
    pub(crate) fn required<'v>(
        &mut self,
        v: &'v Option<Str>,
        whole: &Range<usize>,
        key: &str,
    ) -> Option<&'v Str> {
        if v.is_none() {
            self.err(whole.clone(), key, "missing (required)");
        }
        v.as_ref()
    }

    pub(crate) fn choice<T: Copy>(
        &mut self,
        v: &Option<Str>,
        key: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        self.choice_opt(v, key, choices).unwrap_or(default)
    }

    /// [`Checker::choice`] without a default: `None` when absent or invalid (recorded).
    pub(crate) fn choice_opt<T: Copy>(
        &mut self,
        v: &Option<Str>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = v.as_ref()?;
        match choices.iter().find(|(name, _)| *name == s.get_ref()) {
            Some((_, val)) => Some(*val),
            None => {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.err(
                    s.span(),
                    key,
                    format!("{:?} is not one of {}", s.get_ref(), names.join(", ")),
                );
                None
            }
        }
    }

    pub(crate) fn int_in(
        &mut self,
        v: &Option<Spanned<i64>>,
        key: &str,
        (lo, hi): (i64, i64),
        default: i64,
    ) -> i64 {
        let Some(n) = v else { return default };
        let n_val = *n.get_ref();
        if (lo..=hi).contains(&n_val) {
            n_val
        } else {
            self.err(
                n.span(),
                key,
                format!("{n_val} is out of range; it must be between {lo} and {hi}"),
            );
            default
        }
    }

    pub(crate) fn port(&mut self, v: &Option<Spanned<i64>>, key: &str, default: u16) -> u16 {
        u16::try_from(self.int_in(v, key, (1, 65535), i64::from(default))).unwrap_or(default)
    }

    pub(crate) fn host(&mut self, s: &Str, key: &str) -> String {
        if !is_host_like(s.get_ref()) {
            self.err(s.span(), key, "not a valid host name or IP address");
        }
        s.get_ref().clone()
    }

    pub(super) fn address(&mut self, s: &Str, key: &str) -> String {
        if let Err(why) = validate_address(s.get_ref()) {
            self.err(s.span(), key, format!("not a valid address ({why})"));
        }
        s.get_ref().clone()
    }

    /// A `cert_sha256` value: 64 hexadecimal digits, colons allowed; `None` when absent or invalid (recorded).
    pub(crate) fn pin(&mut self, v: &Option<Str>, key: &str) -> Option<[u8; 32]> {
        let p = v.as_ref()?;
        let pin = parse_sha256(p.get_ref());
        if pin.is_none() {
            self.err(
                p.span(),
                key,
                "must be 64 hexadecimal digits (colons allowed)",
            );
        }
        pin
    }

    /// A file path; relative paths are taken from the directory holding the config file, so that the meaning of
    /// the file does not depend on the directory cron happens to start popfetch in.
    pub(crate) fn path(&mut self, s: &Str, key: &str) -> PathBuf {
        let text = s.get_ref();
        if text.is_empty() {
            self.err(s.span(), key, "is empty");
        } else if text == "~" || text.starts_with("~/") {
            self.err(s.span(), key, "`~` is not expanded; write the full path");
        } else if text.contains('\0') {
            self.err(s.span(), key, "contains a NUL character");
        }
        let p = PathBuf::from(text);
        if p.is_absolute() {
            p
        } else {
            self.source.parent().unwrap_or(Path::new("")).join(p)
        }
    }

    /// A string that goes onto a POP3 command line: a CR or LF would inject a command (T-24).
    pub(crate) fn no_line_breaks(&mut self, s: &Str, key: &str) {
        if s.get_ref().contains(['\r', '\n', '\0']) {
            self.err(
                s.span(),
                key,
                "contains CR, LF or NUL, which cannot be sent in a POP3 command",
            );
        }
    }

    /// A login name: no line breaks ([`Checker::no_line_breaks`]) and 1 to `max` bytes, `max` being what the
    /// protocol's command line leaves for it.
    pub(crate) fn user(&mut self, u: &Str, key: &str, max: usize) -> String {
        self.no_line_breaks(u, key);
        if u.get_ref().is_empty() || u.get_ref().len() > max {
            self.err(u.span(), key, format!("must be 1 to {max} bytes long"));
        }
        u.get_ref().clone()
    }
}
