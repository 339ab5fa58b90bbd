//! A [`Plan`] → popfetch TOML text, with the provenance of each account ("came from rc lines …") and every
//! "not translated: why" as comments; passwords either inline or as separate password files. Pure: the files are
//! returned, [`super::run`](fn@super::run) writes them.

use super::{AccountPlan, Note, Plan, Value};

/// Where the passwords of the source file go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passwords {
    /// `password = "…"` in the config itself (`--inline-passwords`).
    Inline,
    /// `password_file = "NAME.password"`, a file beside the config (relative paths are read from the config's
    /// directory).
    Files,
}

/// The rendered configuration and the password files it names (file name, contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub text: String,
    pub password_files: Vec<(String, Vec<u8>)>,
    /// Accounts written live (not commented out).
    pub live: usize,
}

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A comment line's text: control characters escaped, so no comment can end early or inject a key.
fn comment(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_debug().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn note_line(n: &Note) -> String {
    let at = n.line.map(|l| format!(" (line {l})")).unwrap_or_default();
    if n.translated {
        format!("# note{at}: {}\n", comment(&n.text))
    } else {
        format!("# not translated{at}: {}\n", comment(&n.text))
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => quote(s),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::List(l) => format!(
            "[{}]",
            l.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Render `plan`. Passwords that are not UTF-8 always go to a file (TOML strings are UTF-8).
pub(crate) fn render(plan: &Plan, passwords: Passwords) -> Rendered {
    let mut out = String::new();
    out.push_str(&format!(
        "# popfetch configuration converted by `popfetch import` from {}.\n\
         # Check it with `popfetch check`; each account says where it came from, and every setting that has no\n\
         # popfetch equivalent is listed as \"not translated\" with the reason.\n",
        comment(&plan.source)
    ));
    for n in &plan.notes {
        out.push_str(&note_line(n));
    }
    if let Some(smtp) = &plan.smtp {
        out.push_str("\n[smtp]\n");
        out.push_str(&format!("host = {}\n", quote(&smtp.host)));
        if let Some(p) = smtp.port {
            out.push_str(&format!("port = {p}\n"));
        }
    }
    let mut files = Vec::new();
    let mut live = 0;
    for a in &plan.accounts {
        out.push('\n');
        account(a, passwords, &mut out, &mut files);
        if a.disabled.is_none() {
            live += 1;
        }
    }
    if plan.accounts.is_empty() {
        out.push_str("\n# no account was found to convert\n");
    }
    Rendered {
        text: out,
        password_files: files,
        live,
    }
}

fn account(
    a: &AccountPlan,
    passwords: Passwords,
    out: &mut String,
    files: &mut Vec<(String, Vec<u8>)>,
) {
    out.push_str(&format!("# came from {}\n", comment(&a.origin)));
    for n in &a.notes {
        out.push_str(&note_line(n));
    }
    let prefix = match &a.disabled {
        Some(why) => {
            out.push_str(&format!(
                "# not translated: the whole account, written commented out: {}\n",
                comment(why)
            ));
            "# "
        }
        None => "",
    };
    let mut body = vec![format!("[[account]]")];
    let has_source = a
        .keys
        .iter()
        .any(|(k, _)| *k == "password_file" || *k == "password_command");
    for (key, v) in &a.keys {
        body.push(format!("{key} = {}", value(v)));
        if *key != "user" || has_source {
            continue;
        }
        // The password source goes right after `user`.
        let file = format!("{}.password", a.name);
        match (&a.password, passwords) {
            (Some(p), Passwords::Inline) if std::str::from_utf8(p).is_ok() => {
                body.push(format!(
                    "password = {}",
                    quote(std::str::from_utf8(p).unwrap_or_default())
                ));
            }
            (Some(p), _) => {
                body.push(format!("password_file = {}", quote(&file)));
                // Also for an account written commented out, so that removing the `# ` is all it takes.
                files.push((file, p.clone()));
            }
            (None, _) => {
                body.push(format!(
                    "# fetchmail had no password here (it asked, or read ~/.netrc): write it into {file} (mode 0600)"
                ));
                body.push(format!("password_file = {}", quote(&file)));
            }
        }
    }
    for line in body {
        out.push_str(prefix);
        out.push_str(&line);
        out.push('\n');
    }
}
