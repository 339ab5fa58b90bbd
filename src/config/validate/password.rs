//! The password source of a table: exactly one of `password`, `password_file`, `password_command`.

use std::ops::Range;

use toml::Spanned;

use super::Checker;
use crate::config::PasswordSource;
use crate::config::raw::Str;
use crate::secret::Secret;

/// The three password keys of a table: the account's, or `[account.imap]`'s (`prefix` = `"imap."`).
pub(crate) struct PasswordKeys<'a> {
    pub prefix: &'a str,
    pub password: &'a Option<Str>,
    pub file: &'a Option<Str>,
    pub command: &'a Option<Spanned<Vec<Str>>>,
}

/// Exactly one of `password`, `password_file`, `password_command`.
pub(crate) fn password_source(
    k: PasswordKeys<'_>,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> Option<PasswordSource> {
    let key = |name: &str| format!("{}{name}", k.prefix);
    let mut given: Vec<(&str, Range<usize>)> = [
        ("password", k.password.as_ref().map(Spanned::span)),
        ("password_file", k.file.as_ref().map(Spanned::span)),
        ("password_command", k.command.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(k, s)| Some((k, s?)))
    .collect();
    given.sort_by_key(|(_, span)| span.start);
    match given.as_slice() {
        [] => {
            c.err(
                whole.clone(),
                &key("password"),
                "missing: set one of password, password_file or password_command",
            );
            return None;
        }
        [_] => {}
        [(first, _), rest @ ..] => {
            for (name, span) in rest {
                c.err(
                    span.clone(),
                    &key(name),
                    format!("{first} is set already; set only one of password, password_file or password_command"),
                );
            }
            return None;
        }
    }
    if let Some(p) = k.password {
        c.no_line_breaks(p, &key("password"));
        if p.get_ref().is_empty() {
            c.err(p.span(), &key("password"), "is empty");
        }
        return Some(PasswordSource::Inline(Secret::new(p.get_ref().clone())));
    }
    if let Some(p) = k.file {
        return Some(PasswordSource::File(c.path(p, &key("password_file"))));
    }
    let argv = k.command.as_ref()?;
    let args: Vec<String> = argv.get_ref().iter().map(|a| a.get_ref().clone()).collect();
    if args.first().is_none_or(String::is_empty) {
        c.err(
            argv.span(),
            &key("password_command"),
            "must be a non-empty array: [\"program\", \"arg\", ...]",
        );
    } else if args.iter().any(|a| a.contains('\0')) {
        c.err(
            argv.span(),
            &key("password_command"),
            "contains a NUL character",
        );
    }
    Some(PasswordSource::Command(args))
}
