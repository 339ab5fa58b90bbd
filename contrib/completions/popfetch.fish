# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_popfetch_global_optspecs
    string join \n c/config= v/verbose q/quiet h/help V/version
end

function __fish_popfetch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_popfetch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_popfetch_using_subcommand
    set -l cmd (__fish_popfetch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c popfetch -n "__fish_popfetch_needs_command" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_needs_command" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_needs_command" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popfetch -n "__fish_popfetch_needs_command" -s V -l version -d 'Print version'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "run" -d 'Poll every account once and exit (the default; for cron)'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "daemon" -d 'Poll each account on its own interval until stopped (SIGTERM); SIGUSR1 polls now, SIGHUP reloads'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "check" -d 'Validate the configuration and what it names (password and CA files, password_command, state_dir) and exit; with --connect, also try each account\'s server and the MTA without changing anything'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "filter" -d 'Run the header pipeline on a local message offline and print the result'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "auth" -d 'Authorize popfetch once for an OAuth 2.0 account (auth = "xoauth2" or "oauthbearer") and store the refresh token in state_dir'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "import" -d 'Convert another fetcher\'s configuration (fetchmail, getmail, mpop) or record the UIDs it delivered'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "status" -d 'Show each account\'s last poll, health and counters from the status files (no lock, works beside a running daemon); exit 0 when every account is healthy, 1 when one needs attention'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish'
complete -c popfetch -n "__fish_popfetch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l account -d 'Poll only this account (repeatable; default: every account)' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l stop-grace -d 'At SIGINT (Ctrl-C) or SIGTERM, wait at most this long for the messages in flight before exiting anyway (default: 660, as for the daemon); a second signal exits at once' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l retry-rejected -d 'Try messages the MTA rejected permanently again'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l dry-run -d 'Fetch the new messages and print what would be done with each (envelope, header edits), changing nothing: no SMTP connection, no DELE, no state write'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l diff -d 'Print each message\'s header block before and after the header pipeline as a unified diff on stdout, each changed line annotated with the rule that changed it'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -l mark-seen -d 'Record every message now on the server as already delivered, without fetching or deleting anything (keep = true accounts only): the migration step from another fetcher, and the answer to a state refused because the server\'s UIDs all changed'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand run" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -l account -d 'Poll only this account (repeatable; default: every account)' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -l stop-grace -d 'At SIGTERM, wait at most this long for the messages in flight before exiting anyway (default: 660, the 10-minute SMTP end-of-DATA timeout plus a minute)' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -l log -d 'Where log lines go: stderr (default), journald (falls back to stderr when there is no journal socket), or syslog (facility mail)' -r -f -a "stderr\t'Standard error, each line stamped with its RFC 3339 time in UTC, unless standard error is the systemd journal (JOURNAL_STREAM), which stamps lines itself'
journald\t'The systemd journal, with priorities (falls back to stderr when there is no journal socket)'
syslog\t'syslog(3), facility mail, with the pid'"
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -l account -d 'With --connect, try only this account (repeatable; default: every account)' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -l connect -d 'Also connect (like fetchmail -c): for each account, concurrently, log in to the POP3 server (printing the certificate\'s SHA-256 fingerprint) and count the new messages with UIDL, then ask the MTA whether it takes mail for the target (MAIL FROM:<>, RCPT TO, RSET); nothing is fetched, deleted, queued or recorded. One line per account; the exit status is the one a run would give'
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand check" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -l account -d 'Apply this account\'s settings (target, strip_delivered_to, ...; default: the first account)' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -l diff -d 'Also print the header diff (before/after, each change annotated with its rule) on standard error'
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand filter" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand auth" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand auth" -l imap -d 'Authorize the login of the account\'s IMAP destination ([account.imap] with auth = "xoauth2" or "oauthbearer") instead of its POP3 login; the token is stored apart'
complete -c popfetch -n "__fish_popfetch_using_subcommand auth" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand auth" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand auth" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -f -a "fetchmailrc" -d 'Convert a fetchmail run control file (default: ~/.fetchmailrc) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -f -a "getmailrc" -d 'Convert getmail rc files (INI; POP3 retrievers only) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -f -a "mpoprc" -d 'Convert an mpop configuration (default: ~/.mpoprc, else $XDG_CONFIG_HOME/mpop/config)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -f -a "uids" -d 'Record the UIDs another fetcher already delivered as delivered in an account\'s state, so that popfetch\'s first run fetches exactly what that fetcher would have fetched next'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and not __fish_seen_subcommand_from fetchmailrc getmailrc mpoprc uids help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -s o -l output -d 'Write the configuration here (created with mode 0600) instead of standard output; password files are written beside it' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -l force -d 'Replace an existing output file (and password files)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -l inline-passwords -d 'Put passwords into the configuration itself instead of password files beside it'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from fetchmailrc" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -s o -l output -d 'Write the configuration here (created with mode 0600) instead of standard output; password files are written beside it' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -l force -d 'Replace an existing output file (and password files)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -l inline-passwords -d 'Put passwords into the configuration itself instead of password files beside it'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from getmailrc" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -s o -l output -d 'Write the configuration here (created with mode 0600) instead of standard output; password files are written beside it' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -l force -d 'Replace an existing output file (and password files)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -l inline-passwords -d 'Put passwords into the configuration itself instead of password files beside it'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from mpoprc" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -l account -d 'The popfetch account (in the configuration) the UIDs belong to; its host and user select the lines' -r
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -l merge -d 'Add to an account that already has state (otherwise refused)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -l connect -d 'Also log in and list the mailbox: how many imported UIDs the server still has, and how many messages the first run will deliver'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from uids" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "fetchmailrc" -d 'Convert a fetchmail run control file (default: ~/.fetchmailrc) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "getmailrc" -d 'Convert getmail rc files (INI; POP3 retrievers only) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "mpoprc" -d 'Convert an mpop configuration (default: ~/.mpoprc, else $XDG_CONFIG_HOME/mpop/config)'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "uids" -d 'Record the UIDs another fetcher already delivered as delivered in an account\'s state, so that popfetch\'s first run fetches exactly what that fetcher would have fetched next'
complete -c popfetch -n "__fish_popfetch_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popfetch -n "__fish_popfetch_using_subcommand status" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand status" -l json -d 'Print JSON for scripts instead of the table (with -q: nothing, only the exit status)'
complete -c popfetch -n "__fish_popfetch_using_subcommand status" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand status" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand status" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand completions" -s c -l config -d 'Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG environment variable)' -r -F
complete -c popfetch -n "__fish_popfetch_using_subcommand completions" -s v -l verbose -d 'Log more: once for debug messages, twice for protocol traces, three times for the libraries\' internals too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)'
complete -c popfetch -n "__fish_popfetch_using_subcommand completions" -s q -l quiet -d 'Log only warnings and errors'
complete -c popfetch -n "__fish_popfetch_using_subcommand completions" -s h -l help -d 'Print help'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "run" -d 'Poll every account once and exit (the default; for cron)'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "daemon" -d 'Poll each account on its own interval until stopped (SIGTERM); SIGUSR1 polls now, SIGHUP reloads'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "check" -d 'Validate the configuration and what it names (password and CA files, password_command, state_dir) and exit; with --connect, also try each account\'s server and the MTA without changing anything'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "filter" -d 'Run the header pipeline on a local message offline and print the result'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "auth" -d 'Authorize popfetch once for an OAuth 2.0 account (auth = "xoauth2" or "oauthbearer") and store the refresh token in state_dir'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "import" -d 'Convert another fetcher\'s configuration (fetchmail, getmail, mpop) or record the UIDs it delivered'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "status" -d 'Show each account\'s last poll, health and counters from the status files (no lock, works beside a running daemon); exit 0 when every account is healthy, 1 when one needs attention'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and not __fish_seen_subcommand_from run daemon check filter auth import status completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "fetchmailrc" -d 'Convert a fetchmail run control file (default: ~/.fetchmailrc) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "getmailrc" -d 'Convert getmail rc files (INI; POP3 retrievers only) into a popfetch configuration'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "mpoprc" -d 'Convert an mpop configuration (default: ~/.mpoprc, else $XDG_CONFIG_HOME/mpop/config)'
complete -c popfetch -n "__fish_popfetch_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "uids" -d 'Record the UIDs another fetcher already delivered as delivered in an account\'s state, so that popfetch\'s first run fetches exactly what that fetcher would have fetched next'
