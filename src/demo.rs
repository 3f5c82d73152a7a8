//! `reminderd demo`: the real daemon on a bundled sample feed whose appointments lie
//! just ahead of now, sending through the `log` channel (it prints the JSON it would
//! POST to Meta). It narrates what happens, simulates one customer tapping Confirm
//! through the real signed webhook, and tells the user how to tap the others.
//!
//! Everything lives in a temporary directory that is removed at the end.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Format, Toml};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::cli::{DemoArgs, webhook_url};
use crate::clock::Clock;
use crate::config::{DEFAULTS, Settings};
use crate::domain::{Action, OutboxKind, OutboxState, PayloadKey, Reply};
use crate::simulate::{Tap, post_signed};
use crate::store::Store;

const FEED: &str = include_str!("../examples/demo/feed.ics");
const RULE_NAME: &str = "24-uur-ervoor.toml";
const RULE: &str = include_str!("../reminder-rules/24-uur-ervoor.toml");
const PHONE_NUMBER_ID: &str = "106540352242922";
const ZONE: Tz = chrono_tz::Europe::Amsterdam;

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::ops::telemetry::init(false, "warn,reminderd=info");
    let dir = tempfile::Builder::new()
        .prefix("reminderd-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let now = Clock::system().now();
    std::fs::create_dir(dir.path().join("rules"))?;
    std::fs::write(dir.path().join("rules").join(RULE_NAME), demo_rule())?;
    let feed = dir.path().join("feed.ics");
    std::fs::write(&feed, render_feed(FEED, now, args.lead)?)?;

    let secrets = Secrets::random();
    let listen = free_address(args.port);
    let toml = demo_config(dir.path(), &feed, listen, &secrets)?;
    let settings = Settings::from_figment(
        Figment::new().merge(Toml::string(DEFAULTS)).merge(Toml::string(&toml)),
    )
    .context("the demo configuration is invalid (a bug)")?
    .settings;
    let app = Application::build(&settings, Clock::system()).await?;
    let addr = app.local_addr();
    // the file the user's `simulate-tap` reads: the same settings, with the real port
    let config_file = dir.path().join("reminderd-demo.toml");
    std::fs::write(&config_file, demo_config(dir.path(), &feed, addr, &secrets)?)?;
    let store = app.services().store.clone();

    let shutdown = CancellationToken::new();
    crate::ops::shutdown::cancel_on_signal(shutdown.clone());
    if let Some(limit) = args.run_for {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.cancel();
        });
    }
    banner(addr, &config_file, args.lead, now);
    let narrator = Narrator {
        store,
        addr,
        config_file: config_file.display().to_string(),
        secrets,
        webhook: webhook_url(addr),
        auto_tap: !args.no_auto_tap,
    };
    let stop = shutdown.clone();
    let narration = tokio::spawn(async move { narrator.run(stop).await });
    app.run_until_stopped(shutdown).await?;
    narration.abort();
    println!("\ndemo stopped; its temporary directory is removed.");
    Ok(ExitCode::SUCCESS)
}

/// The shipped rule, made to send at once and at any hour: the demo's appointments are
/// booked moments before their reminder is due, and it may run late in the evening.
fn demo_rule() -> String {
    RULE.replacen(
        "\n[template]",
        "\ngrace = \"0s\"\nquiet_hours = { from = \"00:00\", to = \"00:00\" }\n[template]",
        1,
    )
    .replace("\ngrace = \"10m\"\n", "\n")
    .replace("\nquiet_hours = { from = \"21:00\", to = \"08:00\", move = \"later\" }\n", "\n")
}

/// Random secrets for one demo run.
struct Secrets {
    app_secret: String,
    secret_key: String,
    verify_token: String,
}

impl Secrets {
    fn random() -> Secrets {
        let text = |n| rand::rng().sample_iter(Alphanumeric).take(n).map(char::from).collect();
        Secrets { app_secret: text(32), secret_key: text(48), verify_token: text(24) }
    }
}

/// Replaces `{{stamp}}` with now and `{{in:<duration>}}` with the moment `lead +
/// duration` from now, both in UTC (a local time could fall in the autumn's repeated
/// hour): a reminder 24 hours before an appointment at `{{in:24h}}` is due `lead` from
/// now.
pub fn render_feed(template: &str, now: DateTime<Utc>, lead: Duration) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").context("unclosed {{ in the demo feed")?;
        let token = &after[..close];
        if token == "stamp" {
            out.push_str(&now.format("%Y%m%dT%H%M%SZ").to_string());
        } else if let Some(offset) = token.strip_prefix("in:") {
            let offset = humantime::parse_duration(offset)
                .with_context(|| format!("bad offset `{offset}` in the demo feed"))?;
            let at = now + chrono::Duration::from_std(lead + offset)?;
            out.push_str(&at.format("%Y%m%dT%H%M%SZ").to_string());
        } else {
            anyhow::bail!("unknown token {{{{{token}}}}} in the demo feed");
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The demo's configuration file: the log channel, a staff login demo/demo, a feed
/// re-read every 15 s (edit it while the demo runs), and fresh secrets.
fn demo_config(
    dir: &Path,
    feed: &Path,
    listen: SocketAddr,
    secrets: &Secrets,
) -> anyhow::Result<String> {
    let hash = crate::report::session::hash_password("demo")
        .map_err(|e| anyhow::anyhow!("cannot hash the demo password: {e}"))?;
    let quote = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    Ok(format!(
        r#"# reminderd demo configuration (temporary)
state_dir = {state}
rules_dir = {rules}

[[sources]]
name = "praktijk"
url = {feed}
poll_interval = "15s"
location = "Praktijk De Linde"

[server]
listen = "{listen}"

[business]
name = "Praktijk De Linde"

[whatsapp]
channel = "log"
phone_number_id = "{PHONE_NUMBER_ID}"
app_secret = "{app_secret}"
verify_token = "{verify_token}"

[dispatch]
poll_interval = "1s"
min_notice = "10m"

[security]
secret_key = "{secret_key}"

[report]
secure_cookie = false
users = [{{ name = "demo", password_hash = "{hash}" }}]
"#,
        state = quote(dir),
        rules = quote(&dir.join("rules")),
        feed = quote(feed),
        app_secret = secrets.app_secret,
        verify_token = secrets.verify_token,
        secret_key = secrets.secret_key,
    ))
}

/// `127.0.0.1:port` when it is free, otherwise a port the system picks.
fn free_address(port: u16) -> SocketAddr {
    let wanted = SocketAddr::from(([127, 0, 0, 1], port));
    match std::net::TcpListener::bind(wanted) {
        Ok(_) => wanted,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

fn banner(addr: SocketAddr, config: &Path, lead: Duration, now: DateTime<Utc>) {
    let tomorrow = (now + chrono::Duration::days(1)).with_timezone(&ZONE).date_naive();
    println!(
        r#"
reminderd demo
==============
A sample calendar (four appointments and a weekly series, placed just after this time
tomorrow) is imported now. Reminders go out 24 hours before each appointment, so the
first one goes out in about {lead}. Nothing reaches WhatsApp: the `log` channel prints
the exact JSON it would POST to Meta's Cloud API.

  staff report   http://{addr}/report?date={tomorrow}   (login: demo / demo)
  configuration  {config}
  stop           Ctrl-C
"#,
        lead = humantime::format_duration(lead),
        config = config.display(),
    );
}

/// Watches the store and tells the user what happened.
struct Narrator {
    store: Store,
    addr: SocketAddr,
    config_file: String,
    secrets: Secrets,
    webhook: String,
    auto_tap: bool,
}

impl Narrator {
    async fn run(self, stop: CancellationToken) {
        let mut told: HashSet<(i64, String)> = HashSet::new();
        let mut tapped = false;
        let mut acknowledged = false;
        while !stop.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = Clock::system().now();
            let Ok(rows) = self.store.report(now, now + chrono::Duration::days(15)).await else {
                continue;
            };
            for row in &rows {
                let a = &row.appointment;
                let who = a.customer_name.clone().unwrap_or_else(|| "?".into());
                match row.reminder_state {
                    Some(OutboxState::Sent) if told.insert((a.id, "sent".into())) => {
                        let reminder = self.reminder_id(a.id).await.unwrap_or_default();
                        println!(
                            "\n>>> reminder {reminder} for {who} went out (the JSON above). Tap a button as {who} would:\n    \
                             cargo run -- --config {} simulate-tap --reminder {reminder} --action confirm\n    \
                             (or --action cancel / reschedule; an installed binary: reminderd --config …)\n",
                            self.config_file
                        );
                        if self.auto_tap && !tapped {
                            tapped = true;
                            self.tap(reminder).await;
                        }
                    }
                    Some(OutboxState::Skipped) if told.insert((a.id, "skipped".into())) => {
                        println!(
                            "\n>>> no WhatsApp reminder for {who}: {}\n",
                            row.reminder_detail.as_deref().unwrap_or("skipped")
                        );
                    }
                    _ => {}
                }
                if a.reply != Reply::None && told.insert((a.id, a.reply.to_string())) {
                    println!(
                        "\n>>> {who} answered: {}. The report shows it: http://{}/report?date={}\n",
                        a.reply,
                        self.addr,
                        a.starts_at.with_timezone(&ZONE).date_naive()
                    );
                }
            }
            if tapped && !acknowledged && self.acknowledgement_sent(&rows).await {
                acknowledged = true;
                println!(">>> the acknowledgement went out too (the text message above).\n");
            }
        }
    }

    async fn reminder_id(&self, appointment: i64) -> Option<i64> {
        let messages = self.store.outbox_for_appointment(appointment).await.ok()?;
        messages
            .iter()
            .filter(|m| m.kind == OutboxKind::Reminder && m.state == OutboxState::Sent)
            .map(|m| m.id)
            .next_back()
    }

    async fn acknowledgement_sent(&self, rows: &[crate::store::ReportRow]) -> bool {
        for row in rows.iter().filter(|r| r.appointment.reply != Reply::None) {
            if let Ok(messages) = self.store.outbox_for_appointment(row.appointment.id).await
                && messages
                    .iter()
                    .any(|m| m.kind == OutboxKind::Reply && m.state == OutboxState::Sent)
            {
                return true;
            }
        }
        false
    }

    /// Taps Confirm as the customer would, a few seconds after the reminder arrived.
    async fn tap(&self, reminder: i64) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!(
            ">>> simulating the customer: a signed webhook with a tap on Bevestigen (Confirm)…"
        );
        let result = async {
            let tap = Tap::load(
                &self.store,
                reminder,
                Action::Confirm,
                PHONE_NUMBER_ID,
                Clock::system().now(),
            )
            .await?;
            let body = tap.body(&PayloadKey::from_secret(self.secrets.secret_key.as_bytes()));
            post_signed(&self.webhook, self.secrets.app_secret.as_bytes(), body).await
        }
        .await;
        match result {
            Ok(200) => {}
            Ok(status) => println!(">>> the webhook answered HTTP {status}"),
            Err(e) => println!(">>> the simulated tap failed: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_demo_feed_places_appointments_relative_to_now_in_local_time() {
        let now = Utc.with_ymd_and_hms(2026, 10, 24, 0, 59, 30).unwrap();
        let text =
            render_feed("A:{{stamp}} B:{{in:24h}} C:{{in:24h 30m}}", now, Duration::from_secs(30))
                .unwrap();
        // in UTC: 02:30 local on 25 October happens twice
        assert_eq!(text, "A:20261024T005930Z B:20261025T010000Z C:20261025T013000Z");
    }

    #[test]
    fn a_bad_token_is_an_error() {
        let now = Utc::now();
        assert!(render_feed("{{in:soon}}", now, Duration::ZERO).is_err());
        assert!(render_feed("{{later}}", now, Duration::ZERO).is_err());
        assert!(render_feed("{{in:1h", now, Duration::ZERO).is_err());
    }

    #[test]
    fn the_bundled_feed_renders() {
        let text = render_feed(FEED, Utc::now(), Duration::from_secs(20)).unwrap();
        assert!(!text.contains("{{"));
        assert_eq!(text.matches("BEGIN:VEVENT").count(), 5);
    }
}
