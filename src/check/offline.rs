//! The offline part of `popfetch check`: files and programs the configuration names, looked at the way a run
//! would use them, before any network traffic: for the POP3 login and for an IMAP destination's login alike
//! (password sources, CA files, OAuth 2.0 token files and client secrets).

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Finding;
use crate::config::{Config, Delivery, ImapLogin, PasswordSource};
use crate::deliver::mda::mda_path;
use crate::error::ExitClass;
use crate::oauth::store::TokenStore;
use crate::oauth::{Holder, Settings, refresh};
use crate::poller::{imap_holder, pop3_holder};
use crate::tls::{self, TlsSettings};

/// Every problem found, in config order; empty when a run would get past its start. Reading a `password_file` is
/// exactly what a run does (the password is read and dropped, never shown); a `password_command` is not run; a
/// token file is read (never shown) and nothing is asked of the provider.
pub async fn offline(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    for acct in &config.accounts {
        let mut problem = |class, text: String| {
            found.push(Finding {
                account: Some(acct.name.clone()),
                class,
                text,
            })
        };
        if let Some(source) = &acct.password
            && let Some((class, text)) = password_problem(source, &acct.name).await
        {
            problem(class, text);
        }
        if let Some(settings) = &acct.oauth2 {
            for (class, text) in
                oauth_problems(settings, pop3_holder(acct), &config.state_dir).await
            {
                problem(class, text);
            }
        }
        match &acct.delivery {
            Delivery::Mda(mda) => {
                if let Some(program) = mda.argv.first()
                    && let Err(why) = executable(program, Some(mda_path().as_os_str()))
                {
                    problem(ExitClass::Config, format!("mda program {program:?} {why}"));
                }
            }
            Delivery::Maildir(root) => {
                // As for state_dir: a missing Maildir is created by the first delivery, so its nearest existing
                // ancestor must be writable.
                if let Err(why) = writable_dir(root) {
                    problem(
                        ExitClass::State,
                        format!("maildir {} {why}", root.display()),
                    );
                }
            }
            Delivery::Imap(imap) => {
                // The IMAP side's login and CA, as the POP3 side's; its texts say which side.
                let found = match &imap.login {
                    ImapLogin::Password(source) => password_problem(source, &acct.name)
                        .await
                        .into_iter()
                        .collect(),
                    ImapLogin::Bearer { oauth2, .. } => {
                        oauth_problems(oauth2, imap_holder(acct), &config.state_dir).await
                    }
                };
                for (class, text) in found.into_iter().chain(ca_problem(&imap.ca_file)) {
                    problem(class, format!("[account.imap] {text}"));
                }
            }
            Delivery::Smtp | Delivery::Lmtp(_) => {}
        }
        if let Some((class, text)) = ca_problem(&acct.ca_file) {
            problem(class, text);
        }
    }
    if let Err(why) = writable_dir(&config.state_dir) {
        found.push(Finding {
            account: None,
            class: ExitClass::State,
            text: format!("state_dir {} {why}", config.state_dir.display()),
        });
    }
    found
}

/// A password source a run could not use: an unreadable or unsafe `password_file` (read as a run reads it, the
/// password dropped), a `password_command` program that cannot start (never run here: it may prompt).
async fn password_problem(source: &PasswordSource, account: &str) -> Option<(ExitClass, String)> {
    match source {
        PasswordSource::Inline(_) => None,
        PasswordSource::File(_) => {
            let e = source.resolve(account).await.err()?;
            // The error already names the account; drop that prefix, the Finding adds it.
            let text = e.to_string();
            let prefix = format!("account {account:?}: ");
            Some((
                e.class(),
                text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
            ))
        }
        PasswordSource::Command(argv) => {
            let program = argv.first()?;
            let why = executable(program, std::env::var_os("PATH").as_deref()).err()?;
            Some((
                ExitClass::Config,
                format!("password_command program {program:?} {why}"),
            ))
        }
    }
}

/// A `ca_file` without a usable certificate.
fn ca_problem(ca_file: &Option<PathBuf>) -> Option<(ExitClass, String)> {
    let settings = TlsSettings {
        ca_file: Some(ca_file.clone()?),
        cert_sha256: None,
    };
    let e = tls::connector(&settings).err()?;
    Some((
        ExitClass::Config,
        format!("ca_file: {}", crate::poller::chain(&e)),
    ))
}

/// What would stop a run from getting an OAuth 2.0 access token before it asks the provider: no stored
/// authorization (or one for another client), an unsafe or corrupt token file, an unusable
/// `client_secret_file`. Whether the provider still honours the refresh token only `check --connect` can tell.
async fn oauth_problems(
    settings: &Settings,
    holder: Holder<'_>,
    state_dir: &Path,
) -> Vec<(ExitClass, String)> {
    let mut found = Vec::new();
    let store = TokenStore::of(state_dir, holder);
    if let Err(e) = refresh::stored_tokens(&store, settings, holder) {
        found.push((e.class(), format!("oauth2: {}", crate::poller::chain(&e))));
    }
    if let Err(e) = refresh::client_secret(settings, holder).await {
        found.push((e.class(), crate::poller::chain(&e)));
    }
    found
}

/// Whether `program` would start: a path is checked as it is, a bare name is looked up in `path` as execvp(3)
/// does. `Err` says why not, to follow the program's name.
fn executable(program: &str, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, String> {
    let is_exec = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return match p.metadata() {
            Err(e) => Err(format!("cannot be found: {e}")),
            Ok(m) if !m.is_file() => Err("is not a regular file".to_owned()),
            Ok(_) if !is_exec(&p) => Err("is not executable".to_owned()),
            Ok(_) => Ok(p),
        };
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if let Some(found) = dirs.iter().map(|d| d.join(program)).find(|p| is_exec(p)) {
        return Ok(found);
    }
    Err(if dirs.is_empty() {
        "is not a path and PATH is empty; write its full path".to_owned()
    } else {
        "is not an executable file in any PATH directory; install it or write its full path"
            .to_owned()
    })
}

/// Whether state files can be created in `dir`: proved by creating and removing a probe file (permission bits
/// alone cannot tell: root, ACLs, read-only mounts). A missing directory is created by the first run, so its
/// nearest existing ancestor must take it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut at = dir;
    while at.symlink_metadata().is_err() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => return Err("has no existing parent directory".to_owned()),
        }
    }
    if !at.is_dir() {
        return Err(format!(
            "cannot be created: {} is not a directory",
            at.display()
        ));
    }
    let probe = at.join(format!(".popfetch-check-{}", std::process::id()));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if at == dir => Err(format!("is not writable: {e}")),
        Err(e) => Err(format!(
            "does not exist and cannot be created in {}: {e}",
            at.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_by_path_or_in_path() {
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("pw-helper");
        std::fs::write(&prog, "#!/bin/sh\necho x\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = Some(dir.path().as_os_str());
        assert!(
            executable(prog.to_str().unwrap(), None)
                .unwrap_err()
                .contains("not executable")
        );
        assert!(executable("pw-helper", path).unwrap_err().contains("PATH"));
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(executable(prog.to_str().unwrap(), None).unwrap(), prog);
        assert_eq!(executable("pw-helper", path).unwrap(), prog);
        assert!(
            executable("pw-helper", None)
                .unwrap_err()
                .contains("PATH is empty")
        );
        assert!(
            executable("/nonexistent/x", path)
                .unwrap_err()
                .contains("cannot be found")
        );
        assert!(
            executable(dir.path().to_str().unwrap(), None)
                .unwrap_err()
                .contains("not a regular file")
        );
    }

    #[test]
    fn state_dir_is_probed_where_it_or_its_parent_exists() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable_dir(dir.path()), Ok(()));
        assert_eq!(writable_dir(&dir.path().join("a/b/c")), Ok(()));
        // The probe leaves nothing behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(
            writable_dir(&file.join("sub"))
                .unwrap_err()
                .contains("not a directory")
        );
    }
}
