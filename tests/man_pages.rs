//! Keeps the documentation in step with the code:
//! - `man/popfetch.1` must begin with exactly what clap_mangen renders from `src/cli.rs` (run with `UPDATE_MAN=1`
//!   to rewrite that part; the hand-written sections after the marker are kept);
//! - every config key (`popfetch::config::known_keys`) must be described in `man/popfetch.toml.5` and shown in
//!   `config.example.toml`, each under its own table;
//! - every exit status must be listed in the EXIT STATUS section.

use std::path::PathBuf;

use clap::CommandFactory;
use popfetch::cli::Cli;
use popfetch::config::known_keys;
use popfetch::error::ExitClass;

/// Separates the generated part of `man/popfetch.1` from the hand-written rest.
const MARKER: &str = ".\\\" ---- end of the part generated from src/cli.rs (UPDATE_MAN=1 cargo test --test man_pages); \
hand-written below ----\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn render(
    man: &clap_mangen::Man,
    f: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> String {
    let mut out = Vec::new();
    f(man, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    // Each section rendered on its own repeats the roff preamble; the page carries it once, at the top.
    text.strip_prefix(PREAMBLE)
        .map(str::to_owned)
        .unwrap_or(text)
}

/// What clap_mangen's roff writer puts before every rendering (defines the apostrophe string `Aq`).
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The clap-derived part: title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS, then a COMMANDS section with each
/// subcommand's synopsis, description and options (the global options are listed once, above).
fn generated() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = String::from(PREAMBLE);
    page += &render(&man, clap_mangen::Man::render_title);
    page += &render(&man, clap_mangen::Man::render_name_section);
    page += &render(&man, clap_mangen::Man::render_synopsis_section);
    page += &render(&man, clap_mangen::Man::render_description_section);
    page += &render(&man, clap_mangen::Man::render_options_section);
    page += ".SH COMMANDS\n";
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut sub = sub.clone();
        for global in ["config", "verbose", "quiet", "help"] {
            sub = sub.mut_arg(global, |a| a.hide(true));
        }
        let sub_man = clap_mangen::Man::new(sub.clone());
        let name = format!("{} {}", cmd.get_name(), sub.get_name());
        page += &format!(".SS \"{name}\"\n");
        let synopsis = render(&sub_man, clap_mangen::Man::render_synopsis_section);
        page += synopsis
            .strip_prefix(".SH SYNOPSIS\n")
            .expect("synopsis header");
        let about = render(&sub_man, clap_mangen::Man::render_description_section);
        page += ".PP\n";
        page += about
            .strip_prefix(".SH DESCRIPTION\n")
            .expect("description header");
        page += &render(&sub_man, clap_mangen::Man::render_options_section)
            .replace(".SH OPTIONS\n", "");
    }
    page
}

#[test]
fn popfetch_1_starts_with_the_clap_rendering() {
    let path = root().join("man/popfetch.1");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let want = format!("{}{MARKER}", generated());
    if std::env::var_os("UPDATE_MAN").is_some_and(|v| v == "1") {
        let hand = current.split_once(MARKER).map_or("", |(_, h)| h);
        std::fs::write(&path, format!("{want}{hand}")).unwrap();
        return;
    }
    assert!(
        current.starts_with(&want),
        "man/popfetch.1 is out of step with src/cli.rs; run `UPDATE_MAN=1 cargo test --test man_pages`"
    );
    for section in [
        "EXIT STATUS",
        "FILES",
        "ENVIRONMENT",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(
            current.contains(&format!(".SH \"{section}\"\n"))
                || current.contains(&format!(".SH {section}\n")),
            "no {section}"
        );
    }
}

#[test]
fn popfetch_1_lists_every_exit_status() {
    let page = std::fs::read_to_string(root().join("man/popfetch.1")).unwrap();
    let section = page
        .split_once(".SH \"EXIT STATUS\"\n")
        .expect("EXIT STATUS section")
        .1;
    let section = section.split_once(".SH ").map_or(section, |(s, _)| s);
    for class in [
        ExitClass::Ok,
        ExitClass::Partial,
        ExitClass::Unavailable,
        ExitClass::Internal,
        ExitClass::State,
        ExitClass::TempFail,
        ExitClass::Protocol,
        ExitClass::Security,
        ExitClass::Config,
    ] {
        assert!(
            section.contains(&format!(".TP\n\\fB{}\\fR", class.code())),
            "exit status {} ({class:?}) missing",
            class.code()
        );
    }
}

/// The text of a document between the line `start` and the next line starting with `next_prefix`.
fn part<'a>(text: &'a str, start: &str, next_prefix: &str) -> &'a str {
    let from = if start.is_empty() {
        0
    } else {
        text.find(&format!("\n{start}\n"))
            .unwrap_or_else(|| panic!("no {start}"))
            + 1
    };
    let rest = &text[from + start.len()..];
    let end = rest
        .find(&format!("\n{next_prefix}"))
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// (section of known_keys, heading in popfetch.toml.5, table header in config.example.toml)
const SECTIONS: &[(&str, &str, &str)] = &[
    ("", ".SS \"Top level\"", ""),
    ("smtp", ".SS \"[smtp]\"", "[smtp]"),
    ("account", ".SS \"[[account]]\"", "[[account]]"),
    (
        "account.oauth2",
        ".SS \"[account.oauth2]\"",
        "[account.oauth2]",
    ),
    ("account.imap", ".SS \"[account.imap]\"", "[account.imap]"),
    (
        "account.imap.oauth2",
        ".SS \"[account.imap.oauth2]\"",
        "[account.imap.oauth2]",
    ),
    (
        "account.multidrop",
        ".SS \"[account.multidrop]\"",
        "[account.multidrop]",
    ),
];

fn keys_of(section: &str) -> Vec<&'static str> {
    known_keys()
        .iter()
        .filter_map(|k| match k.rsplit_once('.') {
            Some((s, key)) if s == section => Some(key),
            None if section.is_empty() => Some(*k),
            _ => None,
        })
        .collect()
}

#[test]
fn popfetch_toml_5_describes_every_key_in_its_section() {
    let page = std::fs::read_to_string(root().join("man/popfetch.toml.5")).unwrap();
    let mut count = 0;
    for (section, heading, _) in SECTIONS {
        let text = part(&page, heading, ".S");
        for key in keys_of(section) {
            assert!(
                text.contains(&format!(".TP\n\\fB{key}\\fR = ")),
                "popfetch.toml.5 {heading} lacks {key}"
            );
            count += 1;
        }
    }
    assert_eq!(count, known_keys().len());
    for topic in ["Delivered-To", "chmod 600", ".SH EXAMPLE"] {
        assert!(
            page.contains(topic),
            "popfetch.toml.5 does not mention {topic}"
        );
    }
}

#[test]
fn config_example_shows_every_key_in_its_table() {
    let example = std::fs::read_to_string(root().join("config.example.toml")).unwrap();
    let mut count = 0;
    for (section, _, header) in SECTIONS {
        let text = part(&example, header, "[");
        for key in keys_of(section) {
            let shown = text
                .lines()
                .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")));
            assert!(shown, "config.example.toml [{section}] lacks {key}");
            count += 1;
        }
    }
    assert_eq!(count, known_keys().len());
}
