//! The binary as a user runs it.

use std::io::Write;
use std::process::{Command, Stdio};

fn reminderd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reminderd"));
    // the caller's environment must not leak into these runs
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("REMINDERD_")) {
        c.env_remove(key);
    }
    c
}

#[test]
fn every_command_has_help() {
    for command in [
        "serve",
        "demo",
        "migrate",
        "check-config",
        "version",
        "hash-password",
        "simulate-tap",
        "preview",
        "plan",
        "explain",
        "templates",
        "reschedule",
        "consent",
        "forget",
        "morning-report",
    ] {
        let out = reminderd().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{command}");
    }
}

#[test]
fn version_prints_the_version() {
    let out = reminderd().arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("reminderd {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_config_names_the_key_and_the_file_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reminderd.toml");
    std::fs::write(&file, "[dispatch]\nbatch_size = \"many\"\n").unwrap();
    for command in ["check-config", "serve", "migrate"] {
        let out = reminderd().arg("--config").arg(&file).arg(command).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("batch_size") && err.contains("reminderd.toml"), "{command}: {err}");
    }
}

/// A config for a daemon keeping its state in `dir` and sending nothing (the `log`
/// channel), with the shipped rules.
fn log_channel_config(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("reminderd.toml");
    std::fs::write(
        &file,
        format!(
            "state_dir = \"{}\"\nrules_dir = \"{}\"\n[whatsapp]\nchannel = \"log\"\n\
             [security]\nsecret_key = \"a secret key long enough for the configuration\"\n",
            dir.display(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules"),
        ),
    )
    .unwrap();
    file
}

/// `plan` and `explain` read a daemon's database: they say what to do when there is
/// none yet, and what is missing when the appointment is unknown.
#[test]
fn plan_and_explain_read_the_database_of_the_configured_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let file = log_channel_config(dir.path());
    let run = |args: &[&str]| reminderd().arg("--config").arg(&file).args(args).output().unwrap();
    let out = run(&["plan"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reminderd migrate"));

    assert!(run(&["migrate"]).status.success());
    let out = run(&["plan", "--days", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("in the next 3 days (times in Europe/Amsterdam)") && text.contains("none")
    );
    let out = run(&["plan", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = run(&["templates", "status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("whatsapp.business_account_id"));
    let out = run(&["explain", "praktijk:uid-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no appointment `praktijk:uid-1`"));
}

/// The example config, with secrets from the environment as the systemd unit gives them.
#[test]
fn check_config_prints_the_config_without_its_secrets() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/reminderd.toml");
    let out = reminderd()
        .arg("--config")
        .arg(file)
        .arg("check-config")
        .env("REMINDERD_RULES_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules"))
        .env("REMINDERD_WHATSAPP__PHONE_NUMBER_ID", "106540352242922")
        .env("REMINDERD_WHATSAPP__ACCESS_TOKEN", "EAAG-very-secret-token")
        .env("REMINDERD_WHATSAPP__APP_SECRET", "app-secret-value")
        .env("REMINDERD_WHATSAPP__VERIFY_TOKEN", "verify-token-value")
        .env("REMINDERD_SECURITY__SECRET_KEY", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("phone_number_id = \"106540352242922\""), "{stdout}");
    for secret in
        ["EAAG-very-secret-token", "app-secret-value", "verify-token-value", "0123456789abcdef"]
    {
        assert!(!stdout.contains(secret), "{secret} printed");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("24-uur-ervoor"));
}

#[test]
fn hash_password_reads_stdin_and_prints_an_argon2_hash() {
    let mut child = reminderd()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"geheim\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let account = reminderd::report::session::StaffAccount {
        name: "x".into(),
        password_hash: hash,
        language: None,
    };
    assert!(reminderd::report::session::check_login(std::slice::from_ref(&account), "x", "geheim"));
}

/// The demo as the README starts it, with a shorter lead: a reminder goes out on the
/// log channel, the simulated tap comes back and is acknowledged; a second reminder is
/// cancelled with the `simulate-tap` command the demo prints; the landline and the
/// customer without a number are skipped with the reason.
#[test]
fn the_demo_shows_the_whole_loop() {
    use std::io::{BufRead, BufReader};
    let mut demo = reminderd()
        .args(["demo", "--port", "0", "--lead", "2s", "--for", "24s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    let mut reminders = 0;
    let mut tap_status = None;
    for line in BufReader::new(demo.stdout.take().unwrap()).lines().map_while(Result::ok) {
        stdout.push_str(&line);
        stdout.push('\n');
        if line.starts_with(">>> reminder ") {
            reminders += 1;
        }
        // the command the demo prints for the user, run as the user would
        if let Some(command) = line.trim().strip_prefix("cargo run -- ")
            && reminders == 2
            && tap_status.is_none()
        {
            let args: Vec<&str> = command
                .split_whitespace()
                .map(|a| if a == "confirm" { "cancel" } else { a })
                .collect();
            tap_status = Some(reminderd().args(&args).output().unwrap());
        }
    }
    assert!(demo.wait().unwrap().success(), "{stdout}");
    assert!(stdout.contains("\"name\": \"afspraak_herinnering\""), "a template printed: {stdout}");
    assert!(stdout.contains("\"to\": \"+31612345678\""), "{stdout}");
    assert!(stdout.contains("Sanne de Vries answered: confirmed"), "{stdout}");
    assert!(stdout.contains("is bevestigd"), "the acknowledgement printed: {stdout}");
    let tap = tap_status.expect("a second reminder with a simulate-tap command");
    assert!(tap.status.success(), "{}", String::from_utf8_lossy(&tap.stderr));
    assert!(stdout.contains("Daan Jansen answered: cancelled"), "{stdout}");
    assert!(stdout.contains("is geannuleerd"), "{stdout}");
    assert!(
        stdout.contains("no WhatsApp reminder for Emma Bakker")
            && stdout.contains("not a mobile number")
    );
    assert!(stdout.contains("no WhatsApp reminder for Lucas Smit: no phone number"), "{stdout}");
}

/// Every key of the embedded defaults, also the commented-out secrets, has a row in the
/// README's configuration tables with its environment variable.
#[test]
fn every_config_key_is_documented_in_the_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in reminderd::config::DEFAULTS.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        // `key = value`, or a documented secret `# key = ""` directly in a section
        let assignment = line.strip_prefix("# ").filter(|_| !section.is_empty()).unwrap_or(line);
        let Some((key, _)) = assignment.split_once(" = ") else { continue };
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            || line.starts_with("# ") && !line.ends_with("\"\"")
        {
            continue;
        }
        keys.push(if section.is_empty() { key.to_string() } else { format!("{section}.{key}") });
    }
    assert!(keys.len() > 30, "the defaults were read: {keys:?}");
    assert!(keys.contains(&"whatsapp.access_token".to_string()), "{keys:?}");
    for key in &keys {
        assert!(readme.contains(&format!("| `{key}` |")), "README lacks a row for `{key}`");
        if !["sources", "report.users", "reschedule.calendars"].contains(&key.as_str()) {
            let env = format!("REMINDERD_{}", key.to_uppercase().replace('.', "__"));
            assert!(readme.contains(&env), "README lacks {env}");
        }
    }
}

/// `serve` as systemd runs it: it starts, answers /healthz, and on SIGTERM stops
/// cleanly with exit code 0.
#[test]
fn serve_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reminderd.toml");
    std::fs::write(
        &file,
        format!(
            "state_dir = \"{}\"\nrules_dir = \"{}/reminder-rules\"\n[server]\nlisten = \"127.0.0.1:0\"\n\
             [whatsapp]\nchannel = \"log\"\n[security]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n",
            dir.path().display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let mut child = reminderd()
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .env("REMINDERD_LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(&line).ok()?;
            (v["fields"]["message"] == "listening")
                .then(|| v["fields"]["addr"].as_str().unwrap().to_string())
        })
        .expect("the daemon says where it listens");
    let health = std::net::TcpStream::connect(&addr).and_then(|mut s| {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut s, &mut text)?;
        Ok(text)
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));
    assert!(
        dir.path().join("reminderd.sqlite3").exists(),
        "the database was created on first start"
    );

    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("SIGTERM received")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("\"stopped\"")), "{rest:?}");
}

/// `preview --json` prints exactly the corpus format: for files from Google, Apple,
/// Exchange and library test suites, the whole array equals the oracle's (with
/// `contact` added).
#[test]
fn preview_json_is_the_conformance_format() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/ical");
    for file in [
        "node-ical__google-recurrence-order.ics",
        "node-ical__tentative-apple-calendar.ics",
        "recurring-ical-events__daylight_saving_time.ics",
        "recurring-ical-events__issue_18_cancel_status.ics",
        "node-ical__exchange_whole_day_moved_recurrence.ics",
    ] {
        let out = reminderd()
            .args(["preview", &format!("{corpus}/files/{file}")])
            .args(["--from", "2000-01-01", "--to", "2031-01-01", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let mut ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for o in ours.as_array_mut().unwrap() {
            let contact = o.as_object_mut().unwrap().remove("contact").expect("a contact object");
            for key in ["name", "phone", "phones", "email", "whatsapp_opt_in"] {
                assert!(contact.get(key).is_some(), "{file}: contact.{key}");
            }
        }
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{corpus}/expected/{file}.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(ours, expected, "{file}");
    }
}

#[test]
fn preview_of_a_broken_feed_fails_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ics");
    std::fs::write(
        &bad,
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:caf\xe9\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let cut = dir.path().join("cut.ics");
    std::fs::write(&cut, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n").unwrap();
    for (file, says) in [(&bad, "line 3: the feed is not UTF-8"), (&cut, "ends at line 3")] {
        let out = reminderd()
            .arg("preview")
            .arg(file)
            .args(["--from", "2026-01-01", "--to", "2027-01-01"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}

/// `preview --source` uses the configured feed and its contact rules; a database
/// source is refused with a reason.
#[test]
fn preview_reads_a_configured_source_with_its_contact_rules() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.ics");
    std::fs::write(
        &feed,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a@p\r\nDTSTART:20261020T080000Z\r\n\
         SUMMARY:Jan Jansen - controle\r\nX-KLANT-TEL:06 1234 5678\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let file = dir.path().join("reminderd.toml");
    std::fs::write(
        &file,
        format!(
            "[[sources]]\nname = \"praktijk\"\nurl = \"{}\"\n[sources.contact]\nphone_properties = [\"X-KLANT-TEL\"]\n\
             name_pattern = '^(?P<name>.+?) - '\n\
             [[sources]]\nname = \"db\"\nkind = \"sql\"\n[sources.sql]\nurl = \"sqlite://x.db\"\nquery = \"select 1\"\n\
             [whatsapp]\nchannel = \"log\"\n[security]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n",
            feed.display()
        ),
    )
    .unwrap();
    let run = |source: &str| {
        reminderd()
            .arg("--config")
            .arg(&file)
            .args([
                "preview",
                "--source",
                source,
                "--from",
                "2026-10-19",
                "--to",
                "2026-10-21",
                "--json",
            ])
            .output()
            .unwrap()
    };
    let out = run("praktijk");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["contact"]["name"], "Jan Jansen");
    assert_eq!(json[0]["contact"]["phone"], "+31612345678");
    let out = run("db");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("preview reads iCal feeds"));
}

/// `reschedule` lists the requests waiting for staff, and `accept` tells the customer
/// and says what staff still have to do; an unknown appointment is an error.
#[test]
fn reschedule_lists_waiting_requests_and_accepts_one() {
    use chrono::Duration;
    use reminderd::reschedule::{Conversation, Slot, State};
    use reminderd::store::{Store, StoredConversation};

    let dir = tempfile::tempdir().unwrap();
    let file = log_channel_config(dir.path());
    let run = |args: &[&str]| reminderd().arg("--config").arg(&file).args(args).output().unwrap();
    assert!(run(&["migrate"]).status.success());

    // a customer asked a minute ago to move their appointment in three days
    let now = reminderd::clock::Clock::system().now();
    let start = now + Duration::days(3);
    let wanted = now + Duration::days(4);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = format!("sqlite://{}", dir.path().join("reminderd.sqlite3").display());
        let store = Store::connect(&url, 1).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let input = crate::helpers::appointment_input("uid-1", start);
        let id = tx.upsert_appointment("praktijk", &input, now).await.unwrap();
        let slot = Slot { start: wanted, end: wanted + Duration::minutes(30), label: None };
        let conversation = Conversation {
            appointment_id: id,
            appointment_start: start,
            offered: vec![slot.clone()],
            expires_at: now + Duration::hours(24),
            state: State::Requested(slot),
        };
        let stored = StoredConversation { conversation, customer_at: now - Duration::minutes(1) };
        tx.save_conversation(&stored, None, now).await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
    });

    let out = run(&["reschedule"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Sanne de Vries") && text.contains("+316••••••78"), "{text}");
    assert!(text.contains("reminderd reschedule accept 1"), "{text}");
    assert!(!text.contains("612345678"), "never the whole number: {text}");

    let out = run(&["reschedule", "accept", "1", "--by", "anne"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Accepted: appointment #1 (Sanne de Vries)"), "{text}");
    assert!(text.contains("Move it in the calendar"), "{text}");
    assert!(
        text.contains("The customer is told by WhatsApp: \"Je afspraak is verzet naar"),
        "{text}"
    );

    let out = run(&["reschedule"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("none"));
    let out = run(&["reschedule", "decline", "1", "--by", "anne"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("staff already decided"));
    let out = run(&["reschedule", "accept", "7", "--by", "anne"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no appointment 7"));
}

/// `consent import` reports every rejected row with its line (and records nothing on a
/// dry run); `consent set` records a staff member's note; `consent show` prints the
/// ledger of one person with where they stand now.
#[test]
fn consent_import_set_and_show_keep_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let file = log_channel_config(dir.path());
    let run = |args: &[&str]| reminderd().arg("--config").arg(&file).args(args).output().unwrap();
    assert!(run(&["migrate"]).status.success());
    let csv = dir.path().join("toestemming.csv");
    std::fs::write(
        &csv,
        "phone;email;status;evidence\n06-12345678;;ja;intakeformulier\n020-1234567;;ja;\n\
         ;Sanne@Example.nl;opted_in;\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();

    let out = run(&["consent", "import", csv, "--dry-run", "--by", "anne"]);
    assert_eq!(out.status.code(), Some(1), "a rejected row fails the run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("toestemming.csv line 3: rejected"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rows would be recorded, 1 rejected"));
    let show = run(&["consent", "show", "0612345678"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("no records"),
        "a dry run records nothing"
    );

    let out = run(&["consent", "import", csv, "--by", "anne"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 recorded, 1 rejected"));
    let out = run(&[
        "consent",
        "set",
        "+31 6 1234 5678",
        "opted_out",
        "--evidence",
        "belde de balie",
        "--by",
        "anne",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run(&["consent", "show", "06-12345678"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Consent ledger for +31612345678"), "{text}");
    assert!(text.contains("opted_in  csv") && text.contains("(intakeformulier)"), "{text}");
    assert!(text.contains("opted_out staff") && text.contains("by anne"), "{text}");
    assert!(text.contains("Now, whatsapp: opted_out since"), "{text}");
    let out = run(&["consent", "show", "sanne@example.nl", "--json"]);
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records[0]["channel"], "email");
    assert_eq!(records[0]["evidence"], "toestemming.csv line 4");
    let out = run(&["consent", "show", "geen nummer"]);
    assert_eq!(out.status.code(), Some(1));

    // forget: first only says whom, then erases
    let out = run(&["forget", "06-12345678"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Would erase everything"));
    let show = run(&["consent", "show", "06-12345678"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("opted_out"), "nothing erased yet");
    let out = run(&["forget", "06-12345678", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Erased +31612345678: 0 appointments, 0 messages, 2 consent records"),
        "{text}"
    );
    let show = run(&["consent", "show", "06-12345678"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("no records"));
}
