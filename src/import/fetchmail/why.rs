//! Why each fetchmail setting without a popfetch equivalent is left out: the texts of the "not translated" notes.

const MULTIDROP_ONLY: &str = "a multidrop setting without a popfetch equivalent: [account.multidrop] names the local \
                              domains and reads only the envelope header";
const BYTE_EXACT: &str = "popfetch delivers messages byte-exact (the only edits are Delivered-To and Received; line \
                          endings become CRLF for SMTP)";

/// Settings popfetch has no equivalent for, and why.
pub(super) const WHY: &[(&str, &str)] = &[
    (
        "fetchall",
        "popfetch never fetches a delivered message again; `popfetch run --retry-rejected` retries the \
                  messages the MTA refused",
    ),
    (
        "flush",
        "popfetch deletes only messages it delivered itself",
    ),
    (
        "limitflush",
        "popfetch never deletes a message it did not deliver; an oversized one stays on the server",
    ),
    ("folder", "POP3 has a single mailbox (folders are IMAP)"),
    (
        "fetchlimit",
        "popfetch fetches every new message in one session",
    ),
    (
        "batchlimit",
        "popfetch's limit of messages per SMTP connection is `[smtp] batch_limit`, one for all \
         accounts: set it there by hand",
    ),
    ("fetchsizelimit", "popfetch reads all sizes with one LIST"),
    ("fastuidl", "popfetch always reads the whole UIDL listing"),
    (
        "expunge",
        "popfetch ends each poll with one QUIT; each DELE follows the recorded delivery",
    ),
    (
        "warnings",
        "an oversized message is logged on every poll while it stays on the server",
    ),
    ("stripcr", BYTE_EXACT),
    ("forcecr", BYTE_EXACT),
    ("pass8bits", BYTE_EXACT),
    ("mimedecode", BYTE_EXACT),
    ("rewrite", BYTE_EXACT),
    ("dropstatus", BYTE_EXACT),
    (
        "idle",
        "IDLE is IMAP; `popfetch daemon` polls every `interval` seconds",
    ),
    (
        "preconnect",
        "popfetch runs no command around a poll (use a systemd ExecStartPre= or a cron wrapper)",
    ),
    (
        "postconnect",
        "popfetch runs no command around a poll (use a systemd ExecStartPost= or a cron wrapper)",
    ),
    ("plugin", "popfetch connects to the server directly"),
    ("plugout", "popfetch connects to the MTA directly"),
    ("envelope", MULTIDROP_ONLY),
    ("qvirtual", MULTIDROP_ONLY),
    ("localdomains", MULTIDROP_ONLY),
    ("aka", MULTIDROP_ONLY),
    ("dns", MULTIDROP_ONLY),
    ("checkalias", MULTIDROP_ONLY),
    ("fetchdomains", "ETRN/ODMR only"),
    ("principal", "Kerberos is not supported"),
    ("esmtpname", "popfetch does not authenticate to the MTA"),
    ("esmtppassword", "popfetch does not authenticate to the MTA"),
    (
        "interface",
        "popfetch does not check network interfaces before polling",
    ),
    ("monitor", "popfetch does not watch interfaces for activity"),
    (
        "tracepolls",
        "popfetch's Received field always names the server and the message's UID",
    ),
    (
        "bad-header",
        "popfetch delivers a message with a malformed header unchanged",
    ),
    (
        "antispam",
        "popfetch never bounces: a message the MTA refuses for good stays on the server and is recorded \
                  as rejected",
    ),
    ("properties", "fetchmail ignores it too"),
    ("sslkey", "client certificates are not supported"),
    ("sslcert", "client certificates are not supported"),
    (
        "sslcertpath",
        "popfetch reads the system's trust anchors or one PEM file: concatenate the directory's \
                     certificates into one file and set ca_file",
    ),
    (
        "sslcommonname",
        "popfetch checks the certificate against `host`; when the name differs, pin the certificate \
                       with cert_sha256 (`popfetch check --connect` prints its SHA-256 fingerprint)",
    ),
    (
        "sslfingerprint",
        "this is an MD5 fingerprint, which cannot become a SHA-256 pin: run `popfetch check \
                        --connect` to print the server's SHA-256 fingerprint, compare it over a trusted channel and \
                        set cert_sha256",
    ),
];
