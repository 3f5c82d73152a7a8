//! The command line: `serve`, `demo`, `migrate`, `check-config`, `version`,
//! `hash-password`, `simulate-tap`, `preview`, `plan`, `explain` and `morning-report`. Each command reads
//! the settings it needs and hands plain values to the library.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::clock::Clock;
use crate::config::{LogFormat, Settings};
use crate::domain::{Action, PayloadKey};
use crate::rules::{Planning, RuleSet};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(name = "reminderd", version, about = "Appointment reminders over WhatsApp for clinics")]
pub struct Cli {
    /// Configuration file (TOML); environment variables REMINDERD_… override it.
    #[arg(long, global = true, env = "REMINDERD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: import feeds, send reminders, receive replies, serve the report.
    Serve,
    /// Try the whole loop on a sample feed, without a Meta account (nothing is sent).
    Demo(DemoArgs),
    /// Create or update the database schema, then exit.
    Migrate,
    /// Check the configuration and the rules; print the effective configuration with
    /// secrets redacted.
    CheckConfig,
    /// Print the version.
    Version,
    /// Read a password from standard input and print its argon2 hash (for report.users).
    HashPassword,
    /// Post a signed button tap on a reminder to the running daemon, as Meta would.
    SimulateTap(TapArgs),
    /// List every event occurrence a feed holds in a window, with the contact found.
    Preview(PreviewArgs),
    /// Show the reminders that go out in the coming days, and when (marking the days
    /// the clocks change and reminders moved out of quiet hours).
    Plan(PlanArgs),
    /// Say for one appointment which rules apply, what was planned, what was sent on
    /// which channel, and why something was not sent.
    Explain(ExplainArgs),
    /// The WhatsApp templates the rules use, at Meta.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Customers' requests for another time: list them, accept or decline one.
    Reschedule(RescheduleArgs),
    /// The consent ledger: who agreed to reminders on which channel.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Send the staff's morning e-mail (the day's list and the problems) now, to the
    /// recipients of [report.morning], through the SMTP server of [email]: to test the
    /// setup, or to send a morning e-mail that failed. The scheduled one still goes.
    MorningReport(MorningArgs),
    /// Erase one person's personal data (GDPR): their appointments' contact details,
    /// their messages' texts, their consent records' addresses and evidence, and the
    /// webhook deliveries that name them. Without --yes, only shows whom it would erase.
    Forget {
        /// A phone number (any usual format) or an e-mail address.
        who: String,
        /// Erase; without it nothing changes.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Every consent record of one person, oldest first, and where they stand now.
    Show {
        /// A phone number (any usual format) or an e-mail address.
        who: String,
        /// Print a JSON array of the records instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Record consents from a CSV file (columns phone, email, channel, status,
    /// evidence); rows that cannot be used are reported with their line.
    Import {
        file: PathBuf,
        /// Check the file and report, record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Who records them, for the ledger (default: the login name).
        #[arg(long, env = "USER", value_name = "NAME")]
        by: String,
    },
    /// Record one opt-in or opt-out a staff member took (by phone, at the desk).
    Set {
        /// A phone number or an e-mail address.
        who: String,
        /// opted_in or opted_out.
        status: String,
        /// whatsapp or email (default: whatsapp for a phone number).
        #[arg(long)]
        channel: Option<String>,
        /// What shows it, e.g. "aan de balie gevraagd".
        #[arg(long)]
        evidence: String,
        #[arg(long, env = "USER", value_name = "NAME")]
        by: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct RescheduleArgs {
    #[command(subcommand)]
    pub command: Option<RescheduleCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RescheduleCommand {
    /// The requests waiting for staff (the default).
    List,
    /// Accept the time the customer chose: they are told the new time by WhatsApp, and
    /// the reminders for the old time are withdrawn. Move the appointment in the
    /// calendar too: the next import then plans reminders for the new time.
    Accept(DecideArgs),
    /// Decline the time the customer chose: they are told the practice will contact them.
    Decline(DecideArgs),
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The appointment's number, as `reminderd reschedule` lists it.
    pub appointment: i64,
    /// Who decides, for the record (default: the login name).
    #[arg(long, env = "USER", value_name = "NAME")]
    pub by: String,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Submit for review the UTILITY templates the rules define that Meta does not have
    /// yet (with example values), and show the status of all.
    Sync,
    /// Show each template the rules use with its status, category and quality at Meta.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct MorningArgs {
    /// The day (YYYY-MM-DD; default: today in the business zone).
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Print the e-mail instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// How many days ahead.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Print a JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The appointment's number (as `plan` and the report show it), or
    /// `SOURCE:EXTERNAL-ID` (the event's UID, plus the instance's start for a series).
    pub appointment: String,
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// A file path, or an http(s):// / webcal:// URL.
    pub location: Option<String>,
    /// The first day shown (YYYY-MM-DD).
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// The first day no longer shown (YYYY-MM-DD).
    #[arg(long)]
    pub to: chrono::NaiveDate,
    /// Print a JSON array in the format of the iCal conformance corpus, with `contact`.
    #[arg(long)]
    pub json: bool,
    /// Use this configured source: its contact rules and credentials, and its URL when
    /// no location is given (needs a valid configuration).
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port of the demo's web server (another free port is used when it is taken).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How soon the first reminder goes out.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub lead: Duration,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
    /// Do not simulate the first tap; leave every tap to you.
    #[arg(long)]
    pub no_auto_tap: bool,
}

#[derive(Debug, clap::Args)]
pub struct TapArgs {
    /// The reminder's number (shown in the logs as outbox.id).
    #[arg(long)]
    pub reminder: i64,
    #[arg(long, value_enum, default_value_t = TapAction::Confirm)]
    pub action: TapAction,
    /// The webhook URL (default: from server.listen).
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TapAction {
    Confirm,
    Cancel,
    Reschedule,
}

impl From<TapAction> for Action {
    fn from(a: TapAction) -> Action {
        match a {
            TapAction::Confirm => Action::Confirm,
            TapAction::Cancel => Action::Cancel,
            TapAction::Reschedule => Action::Reschedule,
        }
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Version => {
            println!("reminderd {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::HashPassword => hash_password(),
        Command::CheckConfig => check_config(config),
        Command::Demo(args) => runtime()?.block_on(crate::demo::run(args)),
        Command::Serve => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            init_logging(&settings);
            runtime()?.block_on(serve(settings))
        }
        Command::Migrate => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            init_logging(&settings);
            runtime()?.block_on(async {
                let store = open_store(&settings).await?;
                store.migrate().await.context("cannot migrate the database")?;
                println!("database schema is up to date ({})", store.backend());
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Preview(args) => runtime()?.block_on(preview(config, args)),
        Command::SimulateTap(args) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(simulate_tap(settings, args))
        }
        Command::Plan(args) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(plan(settings, args))
        }
        Command::Explain(args) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(explain(settings, args))
        }
        Command::Templates(command) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(templates(settings, command))
        }
        Command::Forget { who, yes } => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(forget(settings, who, yes))
        }
        Command::Consent(command) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(consent(settings, command))
        }
        Command::MorningReport(args) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?.block_on(morning_report(settings, args))
        }
        Command::Reschedule(args) => {
            let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
            runtime()?
                .block_on(reschedule(settings, args.command.unwrap_or(RescheduleCommand::List)))
        }
    }
}

async fn consent(settings: Settings, command: ConsentCommand) -> anyhow::Result<ExitCode> {
    use crate::consent::ConsentInput;
    use crate::domain::ConsentMethod;
    let region = settings.business.phone_region;
    let zone = settings.business.time_zone;
    let store = existing_store(&settings).await?;
    let now = Clock::system().now();
    let split = |who: &str| {
        if who.contains('@') {
            (None, Some(who.to_string()))
        } else {
            (Some(who.to_string()), None)
        }
    };
    let code = match command {
        ConsentCommand::Show { who, json } => {
            let key = match crate::consent::address_key(&who, region) {
                Ok(key) => key,
                Err(e) => {
                    eprintln!("{e}");
                    store.close().await;
                    return Ok(ExitCode::FAILURE);
                }
            };
            let records = store.consent_history(&key).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else {
                print!("{}", crate::inspect::render_consents(&key, &records, zone));
            }
            ExitCode::SUCCESS
        }
        ConsentCommand::Import { file, dry_run, by } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let reading = match crate::consent::csv::read(&text, &name, region, &by) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    store.close().await;
                    return Ok(ExitCode::FAILURE);
                }
            };
            for (line, why) in &reading.rejected {
                eprintln!("{name} line {line}: rejected: {why}");
            }
            if dry_run {
                println!(
                    "{} rows would be recorded, {} rejected (dry run: nothing recorded)",
                    reading.accepted.len(),
                    reading.rejected.len()
                );
            } else {
                let n = store.record_consents(&reading.accepted, now).await?;
                println!("{n} recorded, {} rejected", reading.rejected.len());
            }
            if reading.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        ConsentCommand::Set { who, status, channel, evidence, by } => {
            let (phone, email) = split(&who);
            let input = ConsentInput {
                phone: phone.as_deref(),
                email: email.as_deref(),
                channel: channel.as_deref(),
                status: Some(&status),
                evidence: Some(&evidence),
            };
            match input.check(region, ConsentMethod::Staff) {
                Ok(mut consent) => {
                    consent.recorded_by = by;
                    store.record_consent(&consent, now).await?;
                    println!(
                        "recorded: {} {} for {}",
                        consent.channel,
                        consent.status,
                        consent.address().unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    };
    store.close().await;
    Ok(code)
}

async fn morning_report(settings: Settings, args: MorningArgs) -> anyhow::Result<ExitCode> {
    let store = existing_store(&settings).await?;
    store.migrate().await.context("cannot migrate the database")?;
    let secret = settings.security.secret_key.as_ref().context("security.secret_key is not set")?;
    let email = crate::app::email_channel(&settings, secret.expose_secret().as_bytes())?;
    if email.is_none() && !args.dry_run {
        eprintln!(
            "email.enabled is false: the morning e-mail goes through the SMTP server of \
             [email] (--dry-run prints it)"
        );
        store.close().await;
        return Ok(ExitCode::from(2));
    }
    let clock = Clock::system();
    let day = args
        .date
        .unwrap_or_else(|| clock.now().with_timezone(&settings.business.time_zone).date_naive());
    let morning = crate::app::morning_report(&settings, store.clone(), clock, email, None)?;
    let result = if args.dry_run {
        morning.render(day).await.map(|mail| {
            let to: Vec<String> = morning.recipients.iter().map(ToString::to_string).collect();
            println!("To: {}\nSubject: {}\n\n{}", to.join(", "), mail.subject, mail.text);
        })
    } else {
        morning.send_by_hand(day).await.map(|()| {
            println!(
                "the morning e-mail of {day} was sent to {} recipient(s)",
                morning.recipients.len()
            );
        })
    };
    store.close().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("the morning e-mail of {day}: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn forget(settings: Settings, who: String, yes: bool) -> anyhow::Result<ExitCode> {
    let key = match crate::consent::address_key(&who, settings.business.phone_region) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let store = existing_store(&settings).await?;
    let mut person = crate::store::Person::default();
    if key.contains('@') {
        person.emails.insert(key);
    } else {
        person.phones.insert(key);
    }
    let person = store.linked(&person).await?;
    let names: Vec<&str> =
        person.phones.iter().chain(person.emails.iter()).map(String::as_str).collect();
    if !yes {
        println!(
            "Would erase everything reminderd holds on {} (the numbers and addresses found \
             together in its appointments and consents).\nRun again with --yes to erase.",
            names.join(", ")
        );
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let erased = store.forget(&person, Clock::system().now()).await?;
    store.close().await;
    println!(
        "Erased {}: {} appointments, {} messages, {} consent records, {} webhook deliveries.\n\
         Remove them from the practice's calendar too: an appointment that changes there is \
         imported again with its details.",
        names.join(", "),
        erased.appointments,
        erased.messages,
        erased.consents,
        erased.deliveries
    );
    Ok(ExitCode::SUCCESS)
}

async fn reschedule(settings: Settings, command: RescheduleCommand) -> anyhow::Result<ExitCode> {
    use crate::reschedule::staff::{Verdict, Voice, decide};
    let store = existing_store(&settings).await?;
    let zone = settings.business.time_zone;
    let now = Clock::system().now();
    let (args, verdict) = match command {
        RescheduleCommand::List => {
            let waiting = store.waiting_conversations(now).await?;
            print!("{}", crate::inspect::render_requests(&waiting, zone));
            store.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        RescheduleCommand::Accept(args) => (args, Verdict::Accept),
        RescheduleCommand::Decline(args) => (args, Verdict::Decline),
    };
    let locations = settings.source_locations();
    let voice = Voice {
        zone,
        practice: &settings.business.name,
        source_locations: &locations,
        texts: &settings.reschedule.messages,
    };
    let templates = &settings.reschedule.templates;
    let result = decide(&store, voice, templates, args.appointment, verdict, &args.by, now).await;
    store.close().await;
    match result {
        Ok(decided) => {
            print!("{}", crate::inspect::render_decided(&decided, zone));
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::reschedule::staff::DecideError::Store(e)) => Err(e.into()),
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn templates(settings: Settings, command: TemplatesCommand) -> anyhow::Result<ExitCode> {
    use crate::whatsapp::templates::{TemplateClient, example_appointment, render_lines, sync};
    let w = &settings.whatsapp;
    let waba = w.business_account_id.as_deref().filter(|id| !id.is_empty()).context(
        "whatsapp.business_account_id is not set: templates belong to the WhatsApp Business \
         Account (WhatsApp Manager > Account tools shows its id)",
    )?;
    let token = w.access_token.clone().context("whatsapp.access_token is not set")?;
    let client = TemplateClient::new(&w.base_url, &w.api_version, waba, token, w.timeout)?;
    let rules = RuleSet::load(&settings.rules_dir)?;
    let example = example_appointment();
    let locations = std::collections::HashMap::new();
    let ctx = crate::rules::RenderContext::new(
        &example,
        settings.business.time_zone,
        &settings.business.name,
        &locations,
    );
    let create = matches!(command, TemplatesCommand::Sync);
    let (lines, listed) = sync(&client, &rules, &ctx, create).await?;
    // the daemon reads the same from the store
    let store = open_store(&settings).await?;
    store.migrate().await.context("cannot migrate the database")?;
    let now = Clock::system().now();
    for record in &listed {
        store.record_template(record, now).await?;
    }
    store.close().await;
    print!("{}", render_lines(&lines));
    let failed = lines.iter().any(|l| {
        matches!(l.action, crate::whatsapp::templates::SyncAction::Failed(_))
            || (create && l.action == crate::whatsapp::templates::SyncAction::NoDefinition)
    });
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The store of a daemon that has run (these commands only read).
async fn existing_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = open_store(settings).await?;
    store.check_schema().await.context(
        "the database has no reminderd tables yet: start the daemon or run `reminderd migrate`",
    )?;
    Ok(store)
}

async fn plan(settings: Settings, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let store = existing_store(&settings).await?;
    let zone = settings.business.time_zone;
    let rows = crate::inspect::plan(&store, zone, Clock::system().now(), args.days).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", crate::inspect::render_plan(&rows, zone, args.days));
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn explain(settings: Settings, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let rules = RuleSet::load(&settings.rules_dir)?;
    let store = existing_store(&settings).await?;
    let Some(appointment) = crate::inspect::find(&store, &args.appointment).await? else {
        eprintln!("no appointment `{}`: give its number or SOURCE:EXTERNAL-ID", args.appointment);
        return Ok(ExitCode::FAILURE);
    };
    let workdays = settings.business.workdays();
    let zone = settings.business.time_zone;
    let planning = Planning { rules: &rules, zone, workdays: &workdays };
    let explanation = crate::inspect::explain(&store, planning, appointment).await?;
    print!("{}", explanation.render(zone));
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The settings, or `None` after printing every problem (exit code 2).
fn settings(config: Option<&Path>) -> Option<Settings> {
    match Settings::load(config) {
        Ok(loaded) => Some(loaded.settings),
        Err(e) => {
            eprintln!("the configuration cannot be used:\n{e}");
            None
        }
    }
}

fn init_logging(settings: &Settings) {
    crate::ops::telemetry::init(settings.log.format == LogFormat::Json, &settings.log.filter);
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.state_dir)
            .with_context(|| format!("cannot create {}", settings.state_dir.display()))?;
    }
    Store::connect(&url, settings.database.max_connections)
        .await
        .context("cannot open the database")
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let app = Application::build(&settings, Clock::system()).await?;
    let shutdown = CancellationToken::new();
    crate::ops::shutdown::cancel_on_signal(shutdown.clone());
    app.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

fn check_config(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(settings) = settings(config) else { return Ok(ExitCode::from(2)) };
    let rules = match RuleSet::load(&settings.rules_dir) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("the reminder rules cannot be used:\n{e}");
            return Ok(ExitCode::from(2));
        }
    };
    println!("{}", settings.redacted_toml());
    eprintln!(
        "configuration is valid; {} rule(s) in {}: {}",
        rules.rules().len(),
        settings.rules_dir.display(),
        rules.names().join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn hash_password() -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read standard input")?;
    let password = input.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("no password on standard input (try: reminderd hash-password < file)");
        return Ok(ExitCode::from(2));
    }
    let hash = crate::report::session::hash_password(password)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

async fn simulate_tap(settings: Settings, args: TapArgs) -> anyhow::Result<ExitCode> {
    let app_secret = settings
        .whatsapp
        .app_secret
        .as_ref()
        .context("whatsapp.app_secret is not set: the daemon would refuse any webhook")?;
    let secret_key =
        settings.security.secret_key.as_ref().context("security.secret_key is not set")?;
    let store = open_store(&settings).await?;
    let tap = crate::simulate::Tap::load(
        &store,
        args.reminder,
        args.action.into(),
        &settings.whatsapp.phone_number_id,
        Clock::system().now(),
    )
    .await?;
    store.close().await;
    let body = tap.body(&PayloadKey::from_secret(secret_key.expose_secret().as_bytes()));
    let url = args.url.unwrap_or_else(|| webhook_url(settings.server.listen));
    let status =
        crate::simulate::post_signed(&url, app_secret.expose_secret().as_bytes(), body).await?;
    if status == 200 {
        println!(
            "tap delivered: {} on reminder {} (HTTP 200)",
            Action::from(args.action),
            args.reminder
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the daemon answered HTTP {status}");
        Ok(ExitCode::FAILURE)
    }
}

/// The local webhook URL of a daemon listening on `listen`.
pub fn webhook_url(listen: std::net::SocketAddr) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}{}", crate::webhook::PATH)
}

async fn preview(config: Option<&Path>, args: PreviewArgs) -> anyhow::Result<ExitCode> {
    use crate::import::contact::ContactRules;
    use crate::import::fetch::{Fetched, Fetcher, Validators};

    if args.from >= args.to {
        eprintln!("--to must be after --from");
        return Ok(ExitCode::from(2));
    }
    // without --source the defaults do: no secrets needed to look at a file
    let (zone, region, rules, auth, location, max_bytes) = match &args.source {
        None => {
            let d =
                Settings::figment(None).extract::<Settings>().context("the built-in defaults")?;
            (
                d.business.time_zone,
                d.business.phone_region,
                ContactRules::default(),
                None,
                None,
                d.import.max_feed_bytes,
            )
        }
        Some(name) => {
            let Some(s) = settings(config) else { return Ok(ExitCode::from(2)) };
            let Some(source) = s.sources.iter().find(|x| &x.name == name) else {
                eprintln!("no source named `{name}` in the configuration");
                return Ok(ExitCode::from(2));
            };
            if source.kind == crate::config::SourceKind::Sql {
                eprintln!(
                    "source `{name}` is a database (kind = \"sql\"); preview reads iCal feeds"
                );
                return Ok(ExitCode::from(2));
            }
            let auth = crate::app::feed_auth(source);
            (
                s.business.time_zone,
                s.business.phone_region,
                source.contact.clone(),
                auth,
                Some(source.url.clone()),
                s.import.max_feed_bytes,
            )
        }
    };
    let Some(location) = args.location.or(location) else {
        eprintln!("give a file or URL (or --source)");
        return Ok(ExitCode::from(2));
    };
    let fetcher = Fetcher::new(Duration::from_secs(60), max_bytes)?;
    let text = match fetcher.fetch(&location, &Validators::default(), auth.as_ref()).await {
        Ok(Fetched::Body { text, .. }) => text,
        Ok(Fetched::Unchanged) => unreachable!("no validators were sent"),
        Err(e) => {
            eprintln!("{}: {e}", crate::import::fetch::display_location(&location));
            return Ok(ExitCode::FAILURE);
        }
    };
    let preview =
        match crate::import::preview::preview(&text, &rules, zone, region, args.from, args.to) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e}", crate::import::fetch::display_location(&location));
                return Ok(ExitCode::FAILURE);
            }
        };
    for problem in &preview.problems {
        eprintln!("warning: {problem}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&preview.occurrences)?);
    } else {
        for o in &preview.occurrences {
            println!("{}", o.human());
        }
        eprintln!(
            "{} occurrence(s), {} problem(s)",
            preview.occurrences.len(),
            preview.problems.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
