//! Settings: the commented defaults built into the binary, then the file named on the
//! command line (or `REMINDERD_CONFIG`), then `REMINDERD_…` environment variables with
//! `__` between levels. Secrets may come from `<key>_file` paths instead (systemd
//! credentials, Docker secrets). A bad value is refused with the key and the place it
//! came from; nothing starts on a bad config.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::Region;
use crate::email::EmailSettings;
use crate::import::contact::ContactRules;
use crate::import::database::SqlSettings;
use crate::reschedule::RescheduleSettings;
use crate::rules::{Holidays, WorkCalendar};
use crate::scheduler::limits::MAX_RATE;
use crate::webhook::actions::ReplyTexts;

/// The defaults, with a comment on every key (also printed by `check-config --defaults`).
pub const DEFAULTS: &str = include_str!("../config.default.toml");

/// Environment variables start with this; `__` separates levels.
pub const ENV_PREFIX: &str = "REMINDERD_";

/// The effective configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub state_dir: PathBuf,
    pub rules_dir: PathBuf,
    pub server: ServerSettings,
    pub business: BusinessSettings,
    pub database: DatabaseSettings,
    pub whatsapp: WhatsAppSettings,
    pub dispatch: DispatchSettings,
    pub import: ImportSettings,
    pub sources: Vec<SourceSettings>,
    pub security: SecuritySettings,
    pub consent: ConsentSettings,
    pub privacy: PrivacySettings,
    pub report: ReportSettings,
    pub log: LogSettings,
    pub messages: ReplyTexts,
    pub reschedule: RescheduleSettings,
    pub email: EmailSettings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A client must have sent its request headers within this long.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessSettings {
    pub name: String,
    #[serde(deserialize_with = "de_zone", serialize_with = "ser_display")]
    pub time_zone: Tz,
    #[serde(deserialize_with = "de_region", serialize_with = "ser_region")]
    pub phone_region: Region,
    /// Public holidays, for rules that count working days.
    pub holidays: Holidays,
    pub closed_days: Vec<NaiveDate>,
    pub open_days: Vec<NaiveDate>,
}

impl BusinessSettings {
    /// The days the practice works, for planning.
    pub fn workdays(&self) -> WorkCalendar {
        WorkCalendar::new(
            self.holidays,
            self.closed_days.iter().copied(),
            self.open_days.iter().copied(),
        )
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "ser_url_redacted")]
    pub url: String,
    pub max_connections: u32,
}

/// Which channel carries WhatsApp messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Meta's WhatsApp Cloud API.
    Whatsapp,
    /// Print each request instead of sending it.
    Log,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppSettings {
    pub channel: ChannelKind,
    pub base_url: String,
    pub api_version: String,
    #[serde(deserialize_with = "crate::domain::secret::lenient_string")]
    pub phone_number_id: String,
    /// The WhatsApp Business Account, for managing templates.
    #[serde(default, deserialize_with = "lenient_optional_string")]
    pub business_account_id: Option<String>,
    #[serde(default, with = "crate::domain::secret")]
    pub access_token: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub access_token_file: Option<PathBuf>,
    #[serde(default, with = "crate::domain::secret")]
    pub app_secret: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub app_secret_file: Option<PathBuf>,
    #[serde(default, with = "crate::domain::secret")]
    pub verify_token: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub verify_token_file: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Messages per second the business number may send (Meta: 80, up to 1,000).
    pub throughput: u32,
    /// The slowest usual Graph API answer; sizes the requests in flight.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Meta's messaging limit: unique customers a day (`None`: unlimited).
    #[serde(deserialize_with = "de_messaging_limit", serialize_with = "ser_messaging_limit")]
    pub messaging_limit: Option<u32>,
}

/// Meta's messaging-limit tiers (WHATSAPP.md §5.3).
pub const MESSAGING_TIERS: [u32; 4] = [250, 2_000, 10_000, 100_000];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub batch_size: u32,
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    pub inflight_grace: Duration,
    #[serde(with = "humantime_serde")]
    pub channel_pause: Duration,
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    #[serde(with = "humantime_serde")]
    pub min_notice: Duration,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    #[serde(with = "humantime_serde")]
    pub lookahead: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub max_feed_bytes: u64,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    pub max_vanished: f64,
    pub max_vanished_from: u32,
}

/// What kind of source a `[[sources]]` table is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    Ical,
    Sql,
}

/// One calendar source: an iCal feed, or a query against the practice's database.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    /// `ical` (a feed at `url`) or `sql` (a query, in `[sources.sql]`).
    #[serde(default)]
    pub kind: SourceKind,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub sql: Option<SqlSettings>,
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub contact: ContactRules,
    /// All-day events are not appointments unless this says so.
    #[serde(default)]
    pub include_all_day: bool,
    /// HTTP basic authentication.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, with = "crate::domain::secret")]
    pub password: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub password_file: Option<PathBuf>,
    /// HTTP bearer authentication.
    #[serde(default, with = "crate::domain::secret")]
    pub bearer_token: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    #[serde(default, with = "crate::domain::secret")]
    pub secret_key: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub secret_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// How long after an appointment ended its personal data is kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// When the nightly purge runs, in the business zone ("HH:MM").
    #[serde(deserialize_with = "de_time_of_day", serialize_with = "ser_time_of_day")]
    pub purge_at: chrono::NaiveTime,
}

fn de_time_of_day<'de, D: serde::Deserializer<'de>>(d: D) -> Result<chrono::NaiveTime, D::Error> {
    let text = String::deserialize(d)?;
    crate::domain::time::parse_time_of_day(&text).map_err(serde::de::Error::custom)
}

fn ser_time_of_day<S: serde::Serializer>(t: &chrono::NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%H:%M"))
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    /// WhatsApp reminders only to customers whose latest consent record is an opt-in.
    pub require_whatsapp_opt_in: bool,
    /// Bearer token of `POST /api/consents`; without it the API is off.
    #[serde(default, with = "crate::domain::secret")]
    pub api_token: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub api_token_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    pub users: Vec<StaffUser>,
    /// The language of the staff pages for users who name none.
    pub language: crate::domain::Language,
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    pub secure_cookie: bool,
    pub morning: MorningSettings,
}

/// `[report.morning]`: the day's list and the problems by e-mail to staff each morning,
/// through `[email]`'s SMTP server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MorningSettings {
    pub enabled: bool,
    /// When it goes, in the business zone ("HH:MM").
    #[serde(deserialize_with = "de_time_of_day", serialize_with = "ser_time_of_day")]
    pub at: chrono::NaiveTime,
    /// Who gets it: `balie@praktijk.nl` or `Balie <balie@praktijk.nl>`.
    pub recipients: Vec<String>,
    pub language: crate::email::Language,
}

impl MorningSettings {
    /// What is wrong, as (key under `report.morning.`, problem).
    pub fn problems(&self, email_enabled: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (i, r) in self.recipients.iter().enumerate() {
            if r.trim().parse::<lettre::message::Mailbox>().is_err() {
                problems.push((
                    format!("recipients.{i}"),
                    format!("`{r}` is not an e-mail address like `balie@praktijk.nl`"),
                ));
            }
        }
        if self.enabled && self.recipients.is_empty() {
            problems.push((
                "recipients".into(),
                "required when report.morning.enabled = true: who gets the e-mail".into(),
            ));
        }
        if self.enabled && !email_enabled {
            problems.push((
                "enabled".into(),
                "needs email.enabled = true: the morning e-mail goes through [email]'s SMTP \
                 server"
                    .into(),
            ));
        }
        problems
    }
}

/// A staff member who may log in to the report.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaffUser {
    pub name: String,
    /// A PHC string (`$argon2id$…`) from `reminderd hash-password`.
    pub password_hash: String,
    /// This user's language of the staff pages (`report.language` when absent).
    #[serde(default)]
    pub language: Option<crate::domain::Language>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// A configuration that cannot be used, with the key and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// The settings and the figment they came from (to say where a value was set).
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    figment: Figment,
}

impl Loaded {
    /// Where the value of `key` came from, for error messages: "env var
    /// REMINDERD_X", "TOML file /etc/reminderd.toml", "built-in defaults".
    pub fn origin(&self, key: &str) -> String {
        origin(&self.figment, key)
    }
}

fn origin(figment: &Figment, key: &str) -> String {
    let Some(md) = figment.find_metadata(key) else {
        return "not set anywhere".to_string();
    };
    match &md.source {
        Some(figment::Source::File(path)) => format!("{} {}", md.name, path.display()),
        // the only TOML string merged is the embedded defaults
        _ if md.name.starts_with("TOML") => "built-in defaults".to_string(),
        _ if md.name.contains("environment") => {
            format!("environment variable {ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
        }
        _ => md.name.to_string(),
    }
}

impl Settings {
    /// The default location per source name, for `{location}` in texts.
    pub fn source_locations(&self) -> std::collections::HashMap<String, String> {
        self.sources.iter().filter_map(|s| Some((s.name.clone(), s.location.clone()?))).collect()
    }

    /// The figment of defaults, file and environment, without extracting it.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::new().merge(Toml::string(DEFAULTS));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // REMINDERD_CONFIG names the file; REMINDERD_TEST_* belong to the test suite
        figment.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|key| {
                    key != "config" && !key.as_str().to_ascii_lowercase().starts_with("test_")
                })
                .split("__"),
        )
    }

    /// Loads, resolves `_file` secrets and validates. Every problem is reported, not
    /// only the first.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    pub fn from_figment(figment: Figment) -> Result<Loaded, ConfigError> {
        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        let mut problems = Vec::new();
        settings.read_secret_files(&figment, &mut problems);
        settings.check(&figment, &mut problems);
        if problems.is_empty() {
            Ok(Loaded { settings, figment })
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    fn read_secret_files(&mut self, figment: &Figment, problems: &mut Vec<String>) {
        let wa = &mut self.whatsapp;
        let sec = &mut self.security;
        let consent = &mut self.consent;
        let mut secrets = vec![
            ("whatsapp.access_token".to_string(), &mut wa.access_token, &wa.access_token_file),
            ("whatsapp.app_secret".to_string(), &mut wa.app_secret, &wa.app_secret_file),
            ("whatsapp.verify_token".to_string(), &mut wa.verify_token, &wa.verify_token_file),
            ("security.secret_key".to_string(), &mut sec.secret_key, &sec.secret_key_file),
            ("consent.api_token".to_string(), &mut consent.api_token, &consent.api_token_file),
            ("email.password".to_string(), &mut self.email.password, &self.email.password_file),
        ];
        for (i, source) in self.sources.iter_mut().enumerate() {
            secrets.push((
                format!("sources.{i}.password"),
                &mut source.password,
                &source.password_file,
            ));
            secrets.push((
                format!("sources.{i}.bearer_token"),
                &mut source.bearer_token,
                &source.bearer_token_file,
            ));
            if let Some(sql) = source.sql.as_mut() {
                secrets.push((format!("sources.{i}.sql.url"), &mut sql.url, &sql.url_file));
            }
        }
        for (key, value, file) in secrets {
            let key = key.as_str();
            let Some(path) = file else { continue };
            let file_key = format!("{key}_file");
            if value.is_some() {
                problems.push(format!(
                    "{key} is set ({}) and so is {file_key} ({}): set only one",
                    origin(figment, key),
                    origin(figment, &file_key)
                ));
                continue;
            }
            match std::fs::read_to_string(path) {
                Ok(text) => *value = Some(SecretString::from(text.trim_end_matches(['\r', '\n']))),
                Err(e) => problems.push(format!(
                    "{file_key}: cannot read {} ({e}), set in {}",
                    path.display(),
                    origin(figment, &file_key)
                )),
            }
        }
    }

    fn check(&self, figment: &Figment, problems: &mut Vec<String>) {
        let at =
            |key: &str, what: String| format!("{key}: {what} (set in {})", origin(figment, key));
        let mut bad = |key: &str, what: String| problems.push(at(key, what));
        if self.whatsapp.channel == ChannelKind::Whatsapp {
            if self.whatsapp.phone_number_id.trim().is_empty() {
                bad(
                    "whatsapp.phone_number_id",
                    "required when whatsapp.channel = \"whatsapp\"".into(),
                );
            } else if !self.whatsapp.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
                bad("whatsapp.phone_number_id", "must be the numeric id Meta shows".into());
            }
            for key in ["access_token", "app_secret"] {
                let value = match key {
                    "access_token" => &self.whatsapp.access_token,
                    _ => &self.whatsapp.app_secret,
                };
                if value.as_ref().is_none_or(|s| s.expose_secret().is_empty()) {
                    bad(
                        &format!("whatsapp.{key}"),
                        format!(
                            "required when whatsapp.channel = \"whatsapp\"; set \
                         {ENV_PREFIX}WHATSAPP__{} or whatsapp.{key}_file",
                            key.to_uppercase()
                        ),
                    );
                }
            }
        }
        if self.whatsapp.channel == ChannelKind::Whatsapp
            && self.whatsapp.verify_token.as_ref().is_none_or(|s| s.expose_secret().is_empty())
        {
            bad(
                "whatsapp.verify_token",
                format!(
                    "required when whatsapp.channel = \"whatsapp\" (Meta sends it to verify the \
                     webhook); set {ENV_PREFIX}WHATSAPP__VERIFY_TOKEN or whatsapp.verify_token_file"
                ),
            );
        }
        for (name, text) in self.messages.all() {
            if let Err(e) = crate::rules::render::check_placeholders(text) {
                bad(&format!("messages.{name}"), e);
            }
        }
        if let Some(token) = &self.consent.api_token
            && token.expose_secret().len() < 32
        {
            bad("consent.api_token", "must be at least 32 characters".into());
        }
        let day = Duration::from_secs(86_400);
        if !(day..=day * 3650).contains(&self.privacy.retention) {
            bad(
                "privacy.retention",
                format!(
                    "{} is not between 1 day and 10 years",
                    humantime::format_duration(self.privacy.retention)
                ),
            );
        }
        for (key, e) in self.reschedule.problems() {
            bad(&format!("reschedule.{key}"), e);
        }
        for (key, e) in self.email.problems() {
            bad(&format!("email.{key}"), e);
        }
        for (key, e) in self.report.morning.problems(self.email.enabled) {
            bad(&format!("report.morning.{key}"), e);
        }
        if !(self.whatsapp.base_url.starts_with("http://")
            || self.whatsapp.base_url.starts_with("https://"))
        {
            bad("whatsapp.base_url", format!("`{}` is not an http(s) URL", self.whatsapp.base_url));
        }
        if !(1..=MAX_RATE).contains(&self.whatsapp.throughput) {
            bad(
                "whatsapp.throughput",
                format!(
                    "{} messages per second is outside Meta's range (1 to {MAX_RATE}; 80 by default)",
                    self.whatsapp.throughput
                ),
            );
        }
        if let Some(limit) = self.whatsapp.messaging_limit
            && !MESSAGING_TIERS.contains(&limit)
        {
            bad(
                "whatsapp.messaging_limit",
                format!(
                    "{limit} is not one of Meta's tiers: 250, 2000, 10000, 100000 or \"unlimited\""
                ),
            );
        }
        if !self.whatsapp.api_version.starts_with('v') {
            bad(
                "whatsapp.api_version",
                format!("`{}` is not a Graph API version like v25.0", self.whatsapp.api_version),
            );
        }
        match &self.security.secret_key {
            Some(key) if key.expose_secret().len() >= 32 => {}
            Some(_) => bad("security.secret_key", "must be at least 32 characters".into()),
            None => bad(
                "security.secret_key",
                format!(
                    "required (at least 32 random characters, e.g. `openssl rand -base64 48`); \
                     set {ENV_PREFIX}SECURITY__SECRET_KEY or security.secret_key_file"
                ),
            ),
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bad("database.url", "must be empty, sqlite://… or postgres://…".into());
        }
        if self.database.max_connections == 0 {
            bad("database.max_connections", "must be at least 1".into());
        }
        let d = &self.dispatch;
        if d.batch_size == 0 {
            bad("dispatch.batch_size", "must be at least 1".into());
        }
        if d.max_attempts == 0 {
            bad("dispatch.max_attempts", "must be at least 1".into());
        }
        if d.retry_base > d.retry_max {
            bad("dispatch.retry_base", "must not be longer than dispatch.retry_max".into());
        }
        if d.poll_interval.is_zero() {
            bad("dispatch.poll_interval", "must be longer than zero".into());
        }
        if !(self.import.max_vanished > 0.0 && self.import.max_vanished <= 1.0) {
            bad(
                "import.max_vanished",
                "must be a share above 0 and at most 1 (1 turns the guard off)".into(),
            );
        }
        if self.import.refresh_interval < Duration::from_secs(60) {
            bad("import.refresh_interval", "must be at least 1m".into());
        }
        if self.import.lookahead < Duration::from_secs(3600) {
            bad("import.lookahead", "must be at least 1h".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = format!("sources.{i}");
            if source.name.trim().is_empty() {
                bad(&key, "every source needs a name".into());
            } else if !names.insert(source.name.as_str()) {
                bad(&key, format!("two sources are named `{}`", source.name));
            }
            match (source.kind, &source.sql) {
                (SourceKind::Ical, None) if source.url.trim().is_empty() => {
                    bad(&key, format!("source `{}` needs a url (or file path)", source.name))
                }
                (SourceKind::Ical, None) => {}
                (SourceKind::Ical, Some(_)) => bad(
                    &key,
                    format!("source `{}` has a [sql] table: set kind = \"sql\"", source.name),
                ),
                (SourceKind::Sql, None) => bad(
                    &key,
                    format!(
                        "source `{}` is kind = \"sql\" but has no [sources.sql] table",
                        source.name
                    ),
                ),
                (SourceKind::Sql, Some(sql)) => {
                    if !source.url.is_empty() {
                        bad(
                            &key,
                            format!("source `{}`: the database URL goes in sql.url", source.name),
                        );
                    }
                    if let Err(e) = sql.validate() {
                        bad(&format!("{key}.sql"), format!("source `{}`: {e}", source.name));
                    }
                }
            }
            if source.username.is_some() != source.password.is_some() {
                bad(
                    &key,
                    format!(
                        "source `{}`: basic auth needs both username and password",
                        source.name
                    ),
                );
            }
            if source.password.is_some() && source.bearer_token.is_some() {
                bad(
                    &key,
                    format!("source `{}`: set a password or a bearer_token, not both", source.name),
                );
            }
            if let Err(e) = source.contact.validate() {
                bad(&key, format!("source `{}`: {e}", source.name));
            }
            if source.poll_interval.is_some_and(|p| p < Duration::from_secs(10)) {
                bad(&key, format!("source `{}`: poll_interval must be at least 10s", source.name));
            }
        }
        for (i, user) in self.report.users.iter().enumerate() {
            if argon2::PasswordHash::new(&user.password_hash).is_err() {
                bad(
                    &format!("report.users.{i}"),
                    format!(
                        "password_hash of `{}` is not an argon2 hash; make one with `reminderd \
                         hash-password`",
                        user.name
                    ),
                );
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            bad("log.filter", format!("`{}` is not a valid filter: {e}", self.log.filter));
        }
    }

    /// The database URL to use: the configured one, or the SQLite file in `state_dir`.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.state_dir.join("reminderd.sqlite3").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The effective configuration as TOML, with every secret replaced.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}"))
    }
}

fn ser_url_redacted<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::redact::url_password(url))
}

fn de_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse::<Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{name}` is not an IANA time zone name such as Europe/Amsterdam"
        ))
    })
}

/// An optional id that the environment provider may read as a number.
fn lenient_optional_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    crate::domain::secret::lenient_string(d).map(|s| Some(s).filter(|s| !s.is_empty()))
}

/// A tier (250, 2000, …) or "unlimited".
fn de_messaging_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(Some(n)),
        Raw::Text(t) if t == "unlimited" => Ok(None),
        Raw::Text(t) => t.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{t}` is neither a number of customers (250, 2000, 10000, 100000) nor \"unlimited\""
            ))
        }),
    }
}

fn ser_messaging_limit<S: Serializer>(limit: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match limit {
        Some(n) => s.serialize_u32(*n),
        None => s.serialize_str("unlimited"),
    }
}

fn de_region<'de, D: Deserializer<'de>>(d: D) -> Result<Region, D::Error> {
    let code = String::deserialize(d)?;
    code.parse::<Region>().map_err(serde::de::Error::custom)
}

fn ser_region<S: Serializer>(region: &Region, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(region.code())
}

fn ser_display<S: Serializer, T: std::fmt::Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API, not ours
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn minimal_env(jail: &mut Jail) {
        jail.set_env("REMINDERD_WHATSAPP__PHONE_NUMBER_ID", "106540352242922");
        jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN", "EAAG-token");
        jail.set_env("REMINDERD_WHATSAPP__APP_SECRET", "app-secret");
        jail.set_env("REMINDERD_SECURITY__SECRET_KEY", KEY);
        jail.set_env("REMINDERD_WHATSAPP__VERIFY_TOKEN", "verify-me");
    }

    fn load_err(file: Option<&str>) -> String {
        match Settings::load(file.map(Path::new)) {
            Ok(_) => panic!("config was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_plus_secrets_from_the_environment_are_a_valid_config() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            let loaded = Settings::load(None).expect("valid");
            let s = &loaded.settings;
            assert_eq!(s.business.time_zone, chrono_tz::Europe::Amsterdam);
            // read as a number by the env provider, kept as the string Meta gave
            assert_eq!(s.whatsapp.phone_number_id, "106540352242922");
            assert_eq!(s.dispatch.lease, Duration::from_secs(120));
            assert!(s.database_url().ends_with("/var/lib/reminderd/reminderd.sqlite3"));
            assert!(
                loaded.origin("whatsapp.access_token").contains("REMINDERD_WHATSAPP__ACCESS_TOKEN")
            );
            assert_eq!(loaded.origin("dispatch.lease"), "built-in defaults");
            Ok(())
        });
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file(
                "r.toml",
                "[server]\nlisten = \"0.0.0.0:9000\"\n[business]\nname = \"Praktijk De Linde\"\n",
            )?;
            jail.set_env("REMINDERD_SERVER__LISTEN", "127.0.0.1:9001");
            let loaded = Settings::load(Some(Path::new("r.toml"))).expect("valid");
            assert_eq!(loaded.settings.server.listen.port(), 9001);
            assert_eq!(loaded.settings.business.name, "Praktijk De Linde");
            assert!(
                loaded.origin("business.name").contains("r.toml"),
                "{}",
                loaded.origin("business.name")
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_file() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file("r.toml", "[dispatch]\nlease = \"soon\"\n")?;
            let err = load_err(Some("r.toml"));
            assert!(err.contains("dispatch.lease"), "{err}");
            assert!(err.contains("r.toml"), "{err}");
            jail.create_file("z.toml", "[business]\ntime_zone = \"Europe/Amsterdamm\"\n")?;
            let err = load_err(Some("z.toml"));
            assert!(
                err.contains("Europe/Amsterdamm") && err.contains("business.time_zone"),
                "{err}"
            );
            jail.create_file("m.toml", "[whatsapp]\nmessaging_limit = 1000\n")?;
            let err = load_err(Some("m.toml"));
            assert!(err.contains("whatsapp.messaging_limit") && err.contains("tiers"), "{err}");
            jail.create_file("h.toml", "[business]\nholidays = \"be\"\n")?;
            let err = load_err(Some("h.toml"));
            assert!(err.contains("business.holidays") && err.contains("be"), "{err}");
            jail.create_file("c.toml", "[business]\nclosed_days = [\"24 december\"]\n")?;
            let err = load_err(Some("c.toml"));
            assert!(err.contains("business.closed_days") && err.contains("c.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_refused_not_ignored() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file("r.toml", "[whatsapp]\nacces_token = \"typo\"\n")?;
            let err = load_err(Some("r.toml"));
            assert!(err.contains("acces_token"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_secrets_are_all_reported_with_how_to_set_them() {
        Jail::expect_with(|jail| {
            jail.set_env("REMINDERD_WHATSAPP__PHONE_NUMBER_ID", "123");
            let err = load_err(None);
            assert!(err.contains("REMINDERD_WHATSAPP__ACCESS_TOKEN"), "{err}");
            assert!(err.contains("REMINDERD_WHATSAPP__APP_SECRET"), "{err}");
            assert!(err.contains("security.secret_key"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn validation_errors_say_where_the_value_was_set() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.set_env("REMINDERD_DISPATCH__BATCH_SIZE", "0");
            let err = load_err(None);
            assert!(err.contains("dispatch.batch_size"), "{err}");
            assert!(err.contains("REMINDERD_DISPATCH__BATCH_SIZE"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_can_come_from_files_but_not_from_both_places() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file("token", "from-file-token\n")?;
            jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN", "");
            jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN_FILE", "token");
            let loaded = Settings::load(None).expect("valid");
            let token = loaded.settings.whatsapp.access_token.as_ref().unwrap();
            assert_eq!(token.expose_secret(), "from-file-token");

            jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN", "also-set");
            let err = load_err(None);
            assert!(err.contains("set only one"), "{err}");

            jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN", "");
            jail.set_env("REMINDERD_WHATSAPP__ACCESS_TOKEN_FILE", "missing-file");
            let err = load_err(None);
            assert!(err.contains("missing-file") && err.contains("access_token_file"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_printed_config_shows_no_secret() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.set_env("REMINDERD_DATABASE__URL", "postgres://app:hunter2@db/reminderd");
            let loaded = Settings::load(None).expect("valid");
            let printed = loaded.settings.redacted_toml();
            for secret in ["EAAG-token", "app-secret", KEY, "hunter2"] {
                assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
            }
            assert!(printed.contains("[redacted]"));
            assert!(printed.contains("postgres://app:[redacted]@db/reminderd"));
            Ok(())
        });
    }

    #[test]
    fn the_log_channel_needs_no_meta_credentials() {
        Jail::expect_with(|jail| {
            jail.set_env("REMINDERD_WHATSAPP__CHANNEL", "log");
            jail.set_env("REMINDERD_SECURITY__SECRET_KEY", KEY);
            Settings::load(None).expect("valid");
            Ok(())
        });
    }

    #[test]
    fn the_morning_email_needs_valid_recipients_and_an_smtp_server() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            let loaded = Settings::load(None).expect("valid");
            let m = &loaded.settings.report.morning;
            assert!(!m.enabled, "off until recipients are set");
            assert_eq!(m.at, chrono::NaiveTime::from_hms_opt(7, 0, 0).unwrap());
            jail.create_file(
                "r.toml",
                "[report.morning]\nenabled = true\nrecipients = [\"balie@praktijk.nl\", \"balie\"]\n",
            )?;
            let err = load_err(Some("r.toml"));
            assert!(
                err.contains("report.morning.recipients.1") && err.contains("`balie`"),
                "{err}"
            );
            assert!(
                err.contains("report.morning.enabled") && err.contains("email.enabled"),
                "{err}"
            );
            assert!(err.contains("r.toml"), "{err}");
            jail.create_file("e.toml", "[report.morning]\nenabled = true\n")?;
            let err = load_err(Some("e.toml"));
            assert!(err.contains("report.morning.recipients: required"), "{err}");
            jail.create_file("t.toml", "[report.morning]\nat = \"7 uur\"\n")?;
            let err = load_err(Some("t.toml"));
            assert!(err.contains("report.morning.at"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn sources_are_validated() {
        Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file(
                "r.toml",
                "[[sources]]\nname = \"a\"\nurl = \"x.ics\"\n[[sources]]\nname = \"a\"\nurl = \"\"\n",
            )?;
            let err = load_err(Some("r.toml"));
            assert!(err.contains("two sources are named `a`"), "{err}");
            assert!(err.contains("needs a url"), "{err}");
            Ok(())
        });
    }
}
