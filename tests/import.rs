//! `popfetch import` as a user meets it (issue 16): files written 0600 and never replaced without `--force`,
//! password files beside the config, a broken rc refused with its line and column and nothing written, the
//! written config accepted by `popfetch check`, and `import uids` refusing an account with state unless `--merge`.
//! The real fetchmail, getmail and mpop runs are in tests/interop/import_tools.rs.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::run::{Output, run_popfetch, write_private};

const RC: &str = "set daemon 600\n\
poll pop.example.jp proto pop3\n\
  user \"joe\" password \"rc-secret-1\" is joe@example.org here keep ssl\n\
  sslfingerprint \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\" batchlimit 5\n";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Assert `text` (a file or an output stream) holds every one of `needles`.
#[track_caller]
fn has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
}

/// `popfetch import fetchmailrc RC -o OUT` and `extra`, with OUT as the config too.
fn import_rc(rc: &Path, out: &Path, extra: &[&str]) -> Output {
    let (rc, out_s) = (rc.to_str().unwrap(), out.to_str().unwrap());
    run_popfetch(
        out,
        &[&["import", "fetchmailrc", rc, "-o", out_s], extra].concat(),
    )
}

#[test]
fn i16_fetchmailrc_to_a_private_config_that_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let rc = write_private(&dir.path().join("fetchmailrc"), RC.as_bytes());
    let out_path = dir.path().join("config.toml");
    let out = import_rc(&rc, &out_path, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains("rc-secret-1"));
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(mode(&out_path), 0o600);
    assert!(!text.contains("rc-secret-1"), "{text}");
    has(
        &text,
        &[
            "# came from rc lines 2-4: poll pop.example.jp",
            "not translated (line 4): sslfingerprint",
            "popfetch check --connect",
            "not translated (line 4): batchlimit 5",
        ],
    );
    let pw = dir.path().join("pop.example.jp.password");
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), "rc-secret-1\n");
    assert_eq!(mode(&pw), 0o600);

    let check = run_popfetch(&out_path, &["check"]);
    assert_eq!(check.code, 0, "{}\n{text}", check.all());

    // Never over an existing file without --force; with it, the files are replaced.
    std::fs::write(&pw, "changed\n").unwrap();
    let again = import_rc(&rc, &out_path, &[]);
    assert_eq!(again.code, 78, "{}", again.all());
    has(&again.stderr, &["exists; nothing was written"]);
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), "changed\n");
    let forced = import_rc(&rc, &out_path, &["--force"]);
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), "rc-secret-1\n");
}

#[test]
fn i16_broken_rc_exits_78_with_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rc = write_private(
        &dir.path().join("fetchmailrc"),
        b"poll a user b password c keep\n  proto pop3\n",
    );
    let out = import_rc(&rc, &dir.path().join("config.toml"), &[]);
    assert_eq!(out.code, 78, "{}", out.all());
    has(&out.stderr, &["fetchmailrc:2:3: server option `proto`"]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the rc is there"
    );
}

#[test]
fn i16_passwords_need_an_output_file_or_inline() {
    let dir = tempfile::tempdir().unwrap();
    let rc = write_private(&dir.path().join("fetchmailrc"), RC.as_bytes());
    let cfg = dir.path().join("unused.toml");
    let import = |extra: &[&str]| {
        run_popfetch(
            &cfg,
            &[&["import", "fetchmailrc", rc.to_str().unwrap()], extra].concat(),
        )
    };
    let out = import(&[]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(out.stdout.is_empty() && !out.all().contains("rc-secret-1"));
    let out = import(&["--inline-passwords"]);
    assert_eq!(out.code, 0, "{}", out.all());
    has(&out.stdout, &["password = \"rc-secret-1\""]);
}

/// A config with one account `isp` (joe at pop.example.jp) and its state under `dir`, and a fetchmail `.fetchids`
/// file beside it holding `ids`.
fn uid_setup(dir: &Path, ids: &str) -> (PathBuf, PathBuf) {
    let cfg = write_private(
        &dir.join("c.toml"),
        format!(
            "state_dir = {:?}\n[[account]]\nname = \"isp\"\nhost = \"pop.example.jp\"\nuser = \"joe\"\n\
             password = \"x\"\ntarget = \"joe@example.org\"\nkeep = true\n",
            dir.join("state").display().to_string()
        )
        .as_bytes(),
    );
    let file = dir.join("fetchids");
    std::fs::write(&file, ids).unwrap();
    (cfg, file)
}

/// `popfetch import uids fetchmail IDS --account isp` and `extra`.
fn import_uids(cfg: &Path, ids: &Path, extra: &[&str]) -> Output {
    let ids = ids.to_str().unwrap();
    let args = ["import", "uids", "fetchmail", ids, "--account", "isp"];
    run_popfetch(cfg, &[&args[..], extra].concat())
}

#[test]
fn i16_import_uids_records_then_refuses_existing_state_unless_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, ids) = uid_setup(
        dir.path(),
        "joe@pop.example.jp 0000000158a5d9d3\nJOE@POP.EXAMPLE.JP <odd@uid%41>\nann@pop.example.jp zzz\n",
    );
    let out = import_uids(&cfg, &ids, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    has(&out.stdout, &["recorded 2 UID(s)"]);
    let state = std::fs::read_to_string(dir.path().join("state/isp.state")).unwrap();
    assert!(state.contains("D 0000000158a5d9d3 0\n"), "{state}");
    assert!(
        state.contains("D <odd@uid%2541> 0\n"),
        "the odd UID is kept exactly:\n{state}"
    );
    assert!(!state.contains("zzz"), "{state}");

    let again = import_uids(&cfg, &ids, &[]);
    assert_eq!(again.code, 74, "{}", again.all());
    has(&again.stderr, &["--merge"]);
    let merged = import_uids(&cfg, &ids, &["--merge"]);
    assert_eq!(merged.code, 0, "{}", merged.all());
    has(&merged.stdout, &["recorded 0 UID(s)", "2 already recorded"]);
}

#[test]
fn i16_import_uids_for_another_account_names_what_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, ids) = uid_setup(dir.path(), "joe@other.example 1\nann@pop.example.jp 2\n");
    let out = import_uids(&cfg, &ids, &[]);
    assert_eq!(out.code, 78, "{}", out.all());
    has(&out.stderr, &["ann@pop.example.jp, joe@other.example"]);
    assert!(!dir.path().join("state/isp.state").exists());
}

/// The corpus (tests/data/fetchmailrc) read by the real fetchmail as the oracle: every file this parser accepts,
/// fetchmail accepts too, and every file with an expected error, fetchmail refuses as well.
#[test]
#[ignore = "ci: needs fetchmail (apt-get install fetchmail); CI runs it through .ci/ignored-tests.sh"]
fn i16_corpus_agrees_with_the_real_fetchmail() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fetchmailrc");
    let home = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rc") {
            continue;
        }
        // fetchmail insists on a private rc file.
        let rc = write_private(&home.path().join("rc"), &std::fs::read(&path).unwrap());
        let out = std::process::Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .arg("--configdump")
            .env("HOME", home.path())
            .env("FETCHMAILHOME", home.path())
            .output()
            .expect("run fetchmail (apt-get install fetchmail)");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let refused = !out.status.success();
        let expect_error = path.with_extension("err").exists();
        assert_eq!(
            refused,
            expect_error,
            "{}: fetchmail {} it, popfetch's corpus says it {}:\n{text}",
            path.display(),
            if refused { "refuses" } else { "accepts" },
            if expect_error { "fails" } else { "converts" }
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} corpus files");
}
