//! Where the configuration file is looked for when `-c` is not given (issue 9, point 3): the XDG Base Directory
//! rule first, then the system-wide file. cron and many service managers set no `XDG_*` variable at all, so an unset
//! `XDG_CONFIG_HOME` must mean `$HOME/.config`, as the spec says, or the file the README shows is never found.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The system-wide file (root, the systemd unit).
pub const SYSTEM_PATH: &str = "/etc/popfetch/config.toml";

/// Where a package installs the annotated example (Debian's layout first).
const EXAMPLE_PATHS: &[&str] = &[
    "/usr/share/doc/popfetch/config.example.toml",
    "/usr/local/share/doc/popfetch/config.example.toml",
];

/// The files tried, in order: `$XDG_CONFIG_HOME/popfetch/config.toml` when that variable holds an absolute path
/// (the spec says relative values are invalid and must be ignored), else `$HOME/.config/popfetch/config.toml`
/// when `HOME` is absolute; then [`SYSTEM_PATH`]. Pure, so the rule is tested without touching the environment.
pub fn candidates(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Vec<PathBuf> {
    let user_dir = xdg_config_home
        .filter(|p| p.is_absolute())
        .or_else(|| home.filter(|p| p.is_absolute()).map(|h| h.join(".config")));
    user_dir
        .map(|d| d.join("popfetch/config.toml"))
        .into_iter()
        .chain([PathBuf::from(SYSTEM_PATH)])
        .collect()
}

/// The first of `candidates` that exists. A file that exists but cannot be read is still chosen, so that its
/// read error is reported instead of another file being used behind the user's back.
///
/// # Errors
/// [`ConfigError::NotFound`] listing every path tried and pointing at the example.
pub fn first_existing(candidates: Vec<PathBuf>) -> Result<PathBuf, ConfigError> {
    if let Some(found) = candidates
        .iter()
        .find(|p| p.symlink_metadata().is_ok())
        .cloned()
    {
        return Ok(found);
    }
    let example = EXAMPLE_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf);
    Err(ConfigError::NotFound {
        tried: candidates,
        example,
    })
}

/// [`first_existing`] of this process's [`candidates`].
///
/// # Errors
/// As [`first_existing`].
pub fn locate() -> Result<PathBuf, ConfigError> {
    first_existing(candidates(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_then_home_then_etc() {
        let home = Some(PathBuf::from("/home/taro"));
        assert_eq!(
            candidates(Some("/x/cfg".into()), home.clone()),
            [
                PathBuf::from("/x/cfg/popfetch/config.toml"),
                PathBuf::from(SYSTEM_PATH)
            ]
        );
        assert_eq!(
            candidates(None, home.clone()),
            [
                PathBuf::from("/home/taro/.config/popfetch/config.toml"),
                PathBuf::from(SYSTEM_PATH)
            ],
            "an unset XDG_CONFIG_HOME means $HOME/.config (cron sets no XDG variables)"
        );
        assert_eq!(
            candidates(Some("relative".into()), home)[0],
            PathBuf::from("/home/taro/.config/popfetch/config.toml"),
            "a relative XDG_CONFIG_HOME is ignored, as the spec says"
        );
        assert_eq!(candidates(None, None), [PathBuf::from(SYSTEM_PATH)]);
        assert_eq!(
            candidates(None, Some("rel".into())),
            [PathBuf::from(SYSTEM_PATH)]
        );
    }

    #[test]
    fn the_first_existing_file_wins_and_none_lists_every_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        std::fs::write(&b, "").unwrap();
        assert_eq!(first_existing(vec![a.clone(), b.clone()]).unwrap(), b);
        std::fs::write(&a, "").unwrap();
        assert_eq!(first_existing(vec![a.clone(), b.clone()]).unwrap(), a);
        let missing = vec![dir.path().join("x.toml"), dir.path().join("y.toml")];
        let err = first_existing(missing.clone()).unwrap_err();
        let shown = err.to_string();
        for p in &missing {
            assert!(shown.contains(&p.display().to_string()), "{shown}");
        }
        assert!(shown.contains("popfetch.toml"), "{shown}");
        assert!(matches!(err, ConfigError::NotFound { ref tried, .. } if *tried == missing));
    }
}
