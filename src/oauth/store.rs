//! The token file of one account: `<state_dir>/<account>.oauth2`, JSON, mode 0600 in a 0700 directory. Written
//! atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves the old or the new tokens,
//! never a torn file: a provider that rotates refresh tokens invalidates the old one as soon as it issued the new
//! one, so losing the new one would mean `popfetch auth` again.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::secret::Secret;

/// Largest token file read; real ones are a few KiB (Microsoft access tokens are JWTs of 1 to 3 KiB).
const MAX_FILE: u64 = 256 * 1024;
const VERSION: u32 = 1;

/// What is stored for an account. `Debug` shows no token (they are [`Secret`]s).
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The token endpoint and client the tokens were issued for; a config naming others needs `popfetch auth`.
    pub token_url: String,
    pub client_id: String,
    pub refresh_token: Secret,
    /// The last access token and when it expires (Unix seconds); `None` when unknown or dropped.
    pub access: Option<(Secret, u64)>,
}

/// The file layout; private so that no `Debug` of it can exist.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    token_url: String,
    client_id: String,
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

/// Whose tokens: an account's POP3 login, or the login of its IMAP destination (issue 14). The two are often
/// different providers (an ISP's POP3 into Gmail), so each has its own token file and its own `popfetch auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    pub account: &'a str,
    /// The `[account.imap]` login rather than the POP3 one.
    pub imap: bool,
}

impl Holder<'_> {
    /// The command that (re)authorizes this holder.
    pub fn auth_command(&self) -> String {
        let flag = if self.imap { " --imap" } else { "" };
        format!("popfetch auth {}{flag}", self.account)
    }
}

impl std::fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "account {:?}", self.account)?;
        if self.imap {
            f.write_str(" (IMAP destination)")?;
        }
        Ok(())
    }
}

/// The token file of one account.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The store of `account` in `state_dir` (account names are validated by the config: no `/`).
    pub fn new(state_dir: &Path, account: &str) -> TokenStore {
        TokenStore::of(
            state_dir,
            Holder {
                account,
                imap: false,
            },
        )
    }

    /// The store of `holder`: `<account>.oauth2`, or `<account>.imap-oauth2` for the IMAP destination. Account
    /// names may contain `.` but the two suffixes end differently, so no name's file is another's.
    pub fn of(state_dir: &Path, holder: Holder<'_>) -> TokenStore {
        let suffix = if holder.imap { "imap-oauth2" } else { "oauth2" };
        TokenStore {
            path: state_dir.join(format!("{}.{suffix}", holder.account)),
        }
    }

    /// Where the tokens live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: impl Into<String>, source: Option<std::io::Error>) -> OAuthError {
        OAuthError::Store {
            path: self.path.clone(),
            what: what.into(),
            source,
        }
    }

    /// The stored tokens, `None` when there is no file.
    ///
    /// # Errors
    /// [`OAuthError::Store`]: unreadable, not a regular file, readable by others, too large or corrupt.
    pub fn load(&self) -> Result<Option<Tokens>, OAuthError> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("cannot open", Some(e))),
        };
        let meta = file
            .metadata()
            .map_err(|e| self.err("cannot stat", Some(e)))?;
        if !meta.is_file() {
            return Err(self.err("is not a regular file", None));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(self.err(
                format!(
                    "is accessible by group or others (mode {:04o}); run `chmod 600 {}`",
                    meta.mode() & 0o7777,
                    self.path.display()
                ),
                None,
            ));
        }
        let mut text = String::new();
        file.take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| self.err("cannot read", Some(e)))?;
        if text.len() as u64 > MAX_FILE {
            return Err(self.err("is too large", None));
        }
        decode(&text).map(Some).map_err(|what| {
            self.err(
                format!("{what}; move it away and run `popfetch auth`"),
                None,
            )
        })
    }

    /// Replace the stored tokens atomically.
    ///
    /// # Errors
    /// [`OAuthError::Store`] when the directory or file cannot be written; the old file is then unchanged.
    pub fn save(&self, t: &Tokens) -> Result<(), OAuthError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| self.err("cannot create its directory", Some(e)))?;
        }
        // The name plus `.tmp` (not `with_extension`, which would map `a.imap-oauth2` onto `a.oauth2`'s temp file).
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // A stale temp file from a crash is simply replaced; it is never read.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.err("cannot remove the old temp file", Some(e))),
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| self.err("cannot create the temp file", Some(e)))?;
        f.set_permissions(Permissions::from_mode(0o600))
            .and_then(|()| f.write_all(encode(t).as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(|e| self.err("cannot write the temp file", Some(e)))?;
        drop(f);
        fs::rename(&tmp, &self.path)
            .map_err(|e| self.err("cannot rename the temp file over", Some(e)))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err("cannot fsync its directory", Some(e)))
    }
}

/// `O_NOFOLLOW` on Linux (all architectures popfetch builds for): a symlink planted at the token path is refused.
const O_NOFOLLOW: i32 = 0o400000;

fn encode(t: &Tokens) -> String {
    let f = File {
        version: VERSION,
        token_url: t.token_url.clone(),
        client_id: t.client_id.clone(),
        refresh_token: t.refresh_token.expose().to_owned(),
        access_token: t.access.as_ref().map(|(a, _)| a.expose().to_owned()),
        expires_at: t.access.as_ref().map(|(_, e)| *e),
    };
    let mut s = serde_json::to_string_pretty(&f).unwrap_or_default();
    s.push('\n');
    s
}

/// Parse a token file. The error says what is wrong, never quoting the content.
fn decode(text: &str) -> Result<Tokens, &'static str> {
    let f: File = serde_json::from_str(text).map_err(|_| "is not a popfetch token file")?;
    if f.version != VERSION {
        return Err("has an unsupported version");
    }
    if f.refresh_token.is_empty() {
        return Err("has an empty refresh token");
    }
    let access = match (f.access_token, f.expires_at) {
        (Some(a), Some(e)) if !a.is_empty() => Some((Secret::new(a), e)),
        _ => None,
    };
    Ok(Tokens {
        token_url: f.token_url,
        client_id: f.client_id,
        refresh_token: Secret::new(f.refresh_token),
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            token_url: "https://t.example/token".into(),
            client_id: "cid".into(),
            refresh_token: Secret::new("r1"),
            access: Some((Secret::new("a1"), 1_700_000_000)),
        }
    }

    #[test]
    fn save_load_roundtrip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(&dir.path().join("state"), "acct");
        assert!(store.load().unwrap().is_none());
        store.save(&tokens()).unwrap();
        let mode = fs::metadata(store.path()).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("state")).unwrap().mode() & 0o7777;
        assert_eq!(dmode, 0o700);
        let t = store.load().unwrap().unwrap();
        assert_eq!(t.refresh_token.expose(), "r1");
        assert_eq!(t.access.as_ref().unwrap().0.expose(), "a1");
        assert_eq!(t.access.unwrap().1, 1_700_000_000);
        // A second save replaces the file and leaves no temp file behind.
        let mut t2 = tokens();
        t2.refresh_token = Secret::new("r2");
        t2.access = None;
        store.save(&t2).unwrap();
        let t = store.load().unwrap().unwrap();
        assert_eq!(t.refresh_token.expose(), "r2");
        assert!(t.access.is_none());
        let names: Vec<_> = fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("acct.oauth2")]);
    }

    #[test]
    fn unsafe_corrupt_and_symlinked_files_are_refused_without_quoting_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "acct");
        store.save(&tokens()).unwrap();
        fs::set_permissions(store.path(), Permissions::from_mode(0o644)).unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        fs::write(store.path(), "{\"refresh_token\": \"leaky\"").unwrap();
        fs::set_permissions(store.path(), Permissions::from_mode(0o600)).unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(
            e.contains("not a popfetch token file") && !e.contains("leaky"),
            "{e}"
        );
        fs::remove_file(store.path()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", store.path()).unwrap();
        assert!(store.load().is_err());
    }

    #[test]
    fn the_imap_destination_has_its_own_file_and_command() {
        let dir = tempfile::tempdir().unwrap();
        let pop = Holder {
            account: "a.imap",
            imap: false,
        };
        let imap = Holder {
            account: "a",
            imap: true,
        };
        let (p, i) = (
            TokenStore::of(dir.path(), pop),
            TokenStore::of(dir.path(), imap),
        );
        assert_eq!(p.path(), dir.path().join("a.imap.oauth2"));
        assert_eq!(i.path(), dir.path().join("a.imap-oauth2"));
        p.save(&tokens()).unwrap();
        assert!(
            i.load().unwrap().is_none(),
            "one holder's tokens are not the other's"
        );
        i.save(&tokens()).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.imap-oauth2", "a.imap.oauth2"]);
        assert_eq!(imap.auth_command(), "popfetch auth a --imap");
        assert_eq!(pop.auth_command(), "popfetch auth a.imap");
        assert_eq!(imap.to_string(), "account \"a\" (IMAP destination)");
    }
}
