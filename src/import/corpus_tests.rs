//! The fetchmailrc corpus (tests/data/fetchmailrc): each `NAME.rc` converts to exactly `NAME.toml` (which must pass
//! popfetch's own validation when it has a live account), and each `NAME.rc` with a `NAME.err` fails with exactly
//! that `LINE:COLUMN: message`.

use std::path::PathBuf;

use super::Invoker;
use super::fetchmail::parse;
use super::fetchmail::plan::plan;
use super::render::{Passwords, render};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fetchmailrc")
}

/// The whole conversion as the command runs it, with a fixed invoking user.
fn convert(name: &str, rc: &[u8]) -> Result<super::render::Rendered, String> {
    let rc = parse(rc).map_err(|e| format!("{}:{}: {}", e.line, e.col, e.message))?;
    let who = Invoker {
        login: "joe".into(),
    };
    Ok(render(
        &plan(&rc, &format!("fetchmailrc {name}.rc"), &who),
        Passwords::Files,
    ))
}

#[test]
fn corpus_converts_exactly_and_passes_check() {
    let update = std::env::var_os("UPDATE_CORPUS").is_some();
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rc"))
    {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let rc = std::fs::read(path).unwrap();
        let err_path = path.with_extension("err");
        let toml_path = path.with_extension("toml");
        seen += 1;
        match convert(&name, &rc) {
            Err(e) => {
                if update && !toml_path.exists() {
                    std::fs::write(&err_path, format!("{e}\n")).unwrap();
                }
                let want = std::fs::read_to_string(&err_path)
                    .unwrap_or_else(|_| panic!("{name}.rc fails ({e}) but has no {name}.err"));
                assert_eq!(e, want.trim_end(), "{name}.rc: error differs");
            }
            Ok(super::render::Rendered {
                text,
                password_files: files,
                live,
            }) => {
                if update && !err_path.exists() {
                    std::fs::write(&toml_path, &text).unwrap();
                }
                let want = std::fs::read_to_string(&toml_path).unwrap_or_else(|_| {
                    panic!("{name}.rc converts but has no {name}.toml:\n{text}")
                });
                assert_eq!(text, want, "{name}.rc: converted text differs");
                if live > 0 {
                    crate::config::parse_str(&text, &dir().join("config.toml")).unwrap_or_else(
                        |e| panic!("{name}.toml does not pass popfetch check:\n{e}"),
                    );
                }
                // No password ever reaches the text unless inline was asked for.
                for (_, p) in &files {
                    let p = String::from_utf8_lossy(p);
                    assert!(
                        !text.contains(p.as_ref()),
                        "{name}: a password is in the text"
                    );
                }
                // NAME.passwords, when present: each password file and its bytes, escaped.
                let shown: String = files
                    .iter()
                    .map(|(f, p)| format!("{f} {}\n", p.escape_ascii()))
                    .collect();
                let pw_path = path.with_extension("passwords");
                if update && pw_path.exists() {
                    std::fs::write(&pw_path, &shown).unwrap();
                }
                if let Ok(want) = std::fs::read_to_string(&pw_path) {
                    assert_eq!(shown, want, "{name}.rc: password files differ");
                }
            }
        }
    }
    assert!(seen >= 10, "the corpus has only {seen} files");
}
