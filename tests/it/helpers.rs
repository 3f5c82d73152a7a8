//! The test harness: fresh databases on each backend, and the real daemon in-process
//! on port 0 with a fake Graph API, a local feed server and a manual clock.

use std::io::Write;
use std::sync::Once;

use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Format, Toml};
use reminderd::app::{Application, Services};
use reminderd::clock::Clock;
use reminderd::config::{DEFAULTS, Settings};
use reminderd::store::Store;
use reqwest::StatusCode;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ACCESS_TOKEN: &str = "EAAtest-access-token";
pub const SECRET_KEY: &str = "test secret key, long enough to be accepted by the config";
/// The test daemon's opening hours for free times: weekday mornings, 30-minute slots.
pub const RESCHEDULE: &str = r#"[reschedule]
min_notice = "23h"
[[reschedule.calendars]]
calendar = "praktijk"
label = "Dr. Jansen"
monday = "09:00-12:00"
tuesday = "09:00-12:00"
wednesday = "09:00-12:00"
thursday = "09:00-12:00"
friday = "09:00-12:00"
"#;
pub const API_TOKEN: &str = "test consent api token, long enough for the config";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const STAFF: (&str, &str) = ("balie", "correct horse battery staple");
/// A second staff member, who reads the pages in English (same password).
pub const STAFF_EN: &str = "reception";

/// The environment variable naming an admin URL of a PostgreSQL server; without it
/// the PostgreSQL half of the tests is skipped (and says so).
pub const PG_ENV: &str = "REMINDERD_TEST_DATABASE_URL";

/// One fresh, empty database.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A fresh database on every backend this run can use: SQLite always, PostgreSQL when
/// [`PG_ENV`] is set.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    match std::env::var(PG_ENV) {
        Ok(admin) if !admin.is_empty() => dbs.push(postgres_db(&admin).await),
        _ => say_postgres_skipped(),
    }
    dbs
}

/// A second handle on `db`, as another replica opens it: it neither deletes the
/// database nor outlives the handle it came from.
pub fn same_database(db: &TestDb) -> TestDb {
    TestDb { url: db.url.clone(), backend: db.backend, _dir: None, pg: None }
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.sqlite3").display());
    TestDb { url, backend: "sqlite", _dir: Some(dir), pg: None }
}

async fn postgres_db(admin: &str) -> TestDb {
    use sqlx::Connection;
    let name = format!("reminderd_test_{}", uuid_like());
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL cannot be reached: {e}"));
    sqlx::query(&format!("create database \"{name}\""))
        .execute(&mut c)
        .await
        .expect("create a test database");
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    TestDb {
        url: format!("{base}/{name}"),
        backend: "postgres",
        _dir: None,
        pg: Some((admin.to_string(), name)),
    }
}

/// A random suffix for names that must not collide between test runs.
pub fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// Written to the real stderr (not the captured test output), once per run.
fn say_postgres_skipped() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** PostgreSQL tests SKIPPED: set {PG_ENV}=postgres://user@host/db to run them \
             (.ci/run does) ***\n"
        );
    });
}

/// The environment variable naming a MySQL/MariaDB server for the SQL source tests.
pub const MYSQL_ENV: &str = "REMINDERD_TEST_MYSQL_URL";

/// The URL in `env`, or `None` after saying loudly, once per variable and on the real
/// stderr, that the tests needing that server are skipped.
pub fn server_url(env: &'static str, server: &str) -> Option<String> {
    match std::env::var(env) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            static SAID: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
            let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
            if !said.contains(&env) {
                said.push(env);
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** {server} tests SKIPPED: set {env} to a server URL to run them ***\n"
                );
            }
            None
        }
    }
}

pub async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// The daemon under test, with its fakes.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub services: Services,
    pub graph: MockServer,
    pub feeds: MockServer,
    pub clock: Clock,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _db: TestDb,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the daemon on `db` with one feed (served at `/calendar.ics` with `feed`),
/// the shipped rules, and a Graph API fake that accepts every message.
pub async fn spawn_app_on(db: TestDb, feed: &str, now: DateTime<Utc>) -> TestApp {
    spawn(db, feed, now, None, "").await
}

/// [`spawn_app_on`] with more settings (TOML merged over the test config).
pub async fn spawn_app_with_config(
    db: TestDb,
    feed: &str,
    now: DateTime<Utc>,
    extra: &str,
) -> TestApp {
    spawn(db, feed, now, None, extra).await
}

/// [`spawn_app`] with these rule files (name, text) instead of the shipped ones.
pub async fn spawn_app_with_rules(
    feed: &str,
    now: DateTime<Utc>,
    rules: &[(&str, &str)],
) -> TestApp {
    spawn(sqlite_db(), feed, now, Some(rules), "").await
}

async fn spawn(
    db: TestDb,
    feed: &str,
    now: DateTime<Utc>,
    rules: Option<&[(&str, &str)]>,
    extra: &str,
) -> TestApp {
    let graph = MockServer::start().await;
    let feeds = MockServer::start().await;
    serve_feed(&feeds, feed).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let rules_dir = match rules {
        None => concat!(env!("CARGO_MANIFEST_DIR"), "/reminder-rules").into(),
        Some(rules) => {
            let rules_dir = dir.path().join("rules");
            std::fs::create_dir(&rules_dir).expect("rules dir");
            for (name, text) in rules {
                std::fs::write(rules_dir.join(format!("{name}.toml")), text).expect("a rule");
            }
            rules_dir
        }
    };
    let hash = reminderd::report::session::hash_password(STAFF.1).expect("hash");
    let toml = format!(
        r#"
state_dir = "{state}"
rules_dir = "{rules}"
[[sources]]
name = "praktijk"
url = "{feeds}/calendar.ics"
location = "Praktijk De Linde"
[server]
listen = "127.0.0.1:0"
header_timeout = "1s"
[business]
name = "Praktijk De Linde"
[database]
url = "{db}"
[whatsapp]
base_url = "{graph}"
phone_number_id = "{PHONE_NUMBER_ID}"
access_token = "{ACCESS_TOKEN}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
[security]
secret_key = "{SECRET_KEY}"
[consent]
api_token = "{API_TOKEN}"
[report]
secure_cookie = false
users = [
    {{ name = "{staff}", password_hash = "{hash}" }},
    {{ name = "{STAFF_EN}", password_hash = "{hash}", language = "en" }},
]
{RESCHEDULE}
"#,
        state = dir.path().display(),
        rules = rules_dir.display(),
        feeds = feeds.uri(),
        graph = graph.uri(),
        db = db.url,
        staff = STAFF.0,
    );
    let settings = Settings::from_figment(
        // `extra` merged on top, so it may add keys to the tables above
        Figment::new()
            .merge(Toml::string(DEFAULTS))
            .merge(Toml::string(&toml))
            .merge(Toml::string(extra)),
    )
    .expect("test settings are valid")
    .settings;
    let clock = Clock::manual(now);
    let app = Application::build(&settings, clock.clone()).await.expect("the daemon builds");
    let addr = app.local_addr();
    let services = app.services().clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.serve_until_stopped(shutdown.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp { addr, services, graph, feeds, clock, http, shutdown, _db: db, _dir: dir }
}

pub async fn spawn_app(feed: &str, now: DateTime<Utc>) -> TestApp {
    spawn_app_on(sqlite_db(), feed, now).await
}

/// Serves `feed` at `/calendar.ics`, replacing what was served before.
pub async fn serve_feed(server: &MockServer, feed: &str) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/calendar.ics"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(feed.as_bytes().to_vec(), "text/calendar"),
        )
        .mount(server)
        .await;
}

/// A Graph API answer accepting a message with `id`.
pub fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": "+31612345678", "wa_id": "31612345678" }],
        "messages": [{ "id": id }]
    }))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Imports every source now.
    pub async fn import(&self) {
        for source in &self.services.sources {
            self.services.importer.import(source).await.expect("import");
        }
    }

    pub async fn replace_feed(&self, feed: &str) {
        serve_feed(&self.feeds, feed).await;
    }

    /// Sends everything due at the clock's time.
    pub async fn dispatch(&self) -> usize {
        self.services.dispatcher.drain().await.expect("dispatch")
    }

    /// Processes every stored webhook delivery.
    pub async fn process_inbox(&self) -> usize {
        self.services.processor.drain().await.expect("process inbox")
    }

    /// The JSON bodies the Graph API fake received, in order.
    pub async fn sent(&self) -> Vec<(serde_json::Value, Option<String>)> {
        self.graph
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let auth = r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (serde_json::from_slice(&r.body).expect("JSON body"), auth)
            })
            .collect()
    }

    pub async fn post_webhook(&self, body: &str, signature: Option<&str>) -> StatusCode {
        let mut request = self
            .http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = signature {
            request = request.header("x-hub-signature-256", s);
        }
        request.send().await.expect("webhook request").status()
    }

    pub async fn post_signed(&self, body: &str) -> StatusCode {
        let signature =
            reminderd::whatsapp::signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
        self.post_webhook(body, Some(&signature)).await
    }

    /// Logs in as the staff user; returns the session cookie.
    pub async fn login(&self, password: &str) -> Option<String> {
        self.login_as(STAFF.0, password).await
    }

    /// Logs in as staff member `name` through the login form, as a browser does (its
    /// nonce cookie and CSRF token); returns the session cookie.
    pub async fn login_as(&self, name: &str, password: &str) -> Option<String> {
        let (nonce, csrf) = self.login_form().await;
        let response = self
            .http
            .post(self.url("/login"))
            .header("cookie", nonce)
            .form(&[("name", name), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .expect("login request");
        response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.starts_with("reminderd_session="))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }

    /// Opens the login form: its nonce cookie (`name=value`) and its CSRF token.
    pub async fn login_form(&self) -> (String, String) {
        let form = self.http.get(self.url("/login")).send().await.expect("the login form");
        let nonce = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap();
        let nonce = nonce.to_string();
        (nonce, csrf_of(&form.text().await.unwrap()))
    }
}

/// Sanne de Vries's check-up at `start` in calendar `praktijk`, as a source describes it.
pub fn appointment_input(id: &str, start: DateTime<Utc>) -> reminderd::store::AppointmentInput {
    reminderd::store::AppointmentInput {
        external_id: id.into(),
        starts_at: start,
        ends_at: start + chrono::Duration::minutes(30),
        summary: Some("Controle".into()),
        location: None,
        calendar: "praktijk".into(),
        customer_name: Some("Sanne de Vries".into()),
        customer_phone: Some("+31612345678".into()),
        phone_is_mobile: true,
        customer_email: None,
        contact_problem: None,
        status: reminderd::domain::AppointmentStatus::Scheduled,
        whatsapp_opt_in: None,
    }
}

/// The CSRF token the report page's forms carry.
pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in a form")
        .to_string()
}
