//! The staff report in a real browser: headless Chromium, driven through Debian's
//! chromedriver, logs in, reads today's counts and rows, accepts a reschedule request,
//! and leaves screenshots in `target/browser/`. Without chromedriver the test says
//! loudly that it was skipped, unless `REMINDERD_TEST_BROWSER=required` (as `.ci/run`
//! sets), which makes a missing browser a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::api::{mount_accepting, payload_of, tap_body};
use crate::helpers::{STAFF, TestApp, spawn_app_with_rules};
use crate::reschedule::choice_body;
use crate::rules::rule;

/// `required`: a missing Chromium or chromedriver fails the test instead of skipping it.
const BROWSER_ENV: &str = "REMINDERD_TEST_BROWSER";
const CHROMIUM_ENV: &str = "REMINDERD_TEST_CHROMIUM";
const CHROMEDRIVER_ENV: &str = "REMINDERD_TEST_CHROMEDRIVER";

/// The longest the browser half may take before the test fails rather than hangs.
const BROWSER_TIMEOUT: StdDuration = StdDuration::from_secs(120);

/// Today's customers: start (UTC), name, number, and the number as the page masks it.
const CUSTOMERS: [(u32, u32, &str, &str, &str); 4] = [
    (7, 0, "Sanne de Vries", "+31612345678", "+316••••••78"),
    (7, 30, "Pieter Bakker", "+31623456789", "+316••••••89"),
    (8, 0, "Fatima el Amrani", "+31634567890", "+316••••••90"),
    (9, 0, "Johan Smit", "+31645678901", "+316••••••01"),
];
const SANNE: usize = 0;
const PIETER: usize = 1;
const FATIMA: usize = 2;

fn start_of(customer: usize) -> DateTime<Utc> {
    let (h, m, ..) = CUSTOMERS[customer];
    Utc.with_ymd_and_hms(2026, 10, 14, h, m, 0).unwrap()
}

#[tokio::test]
async fn staff_log_in_read_todays_report_and_accept_a_reschedule_in_a_real_browser() {
    let Some(tools) = browser_tools() else { return };
    let app = seeded_app().await;
    let driver = Chromedriver::start(&tools, "report").await;
    let browser = driver.session(&tools).await;
    let checked = tokio::time::timeout(BROWSER_TIMEOUT, staff_session(&app, &browser)).await;
    let _ = browser.close().await;
    checked.unwrap_or_else(|_| panic!("the browser half took over {BROWSER_TIMEOUT:?}"));

    // the customer was told, and the decision is on record
    let fatima = appointment_id(&app, FATIMA).await;
    app.clock.advance(Duration::seconds(10));
    app.dispatch().await;
    let told = app.sent().await.into_iter().map(|(r, _)| r).any(|r| {
        r["to"] == CUSTOMERS[FATIMA].3
            && r["type"] == "text"
            && r["text"]["body"]
                .as_str()
                .is_some_and(|t| t.contains("verzet naar donderdag 15 oktober om 09:00"))
    });
    assert!(told, "Fatima is told her new time: {:#?}", app.sent().await);
    let store = &app.services.store;
    let audit = store.audit_for(fatima).await.unwrap();
    let actions: Vec<(&str, &str)> =
        audit.iter().map(|e| (e.staff.as_str(), e.action.as_str())).collect();
    assert_eq!(actions, [("balie", "reschedule_accepted")]);
    assert!(store.waiting_conversations(app.clock.now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_report_does_not_scroll_sideways_on_a_phone() {
    let Some(tools) = browser_tools() else { return };
    let app = seeded_app().await;
    let driver = Chromedriver::start(&tools, "phone").await;
    let browser = driver.session(&tools).await;
    let overflow = tokio::time::timeout(BROWSER_TIMEOUT, async {
        browser.set_window_size(390, 844).await.expect("a phone-sized window");
        log_in(&app, &browser).await;
        sideways(&browser).await
    })
    .await;
    let _ = browser.close().await;
    let overflow =
        overflow.unwrap_or_else(|_| panic!("the browser half took over {BROWSER_TIMEOUT:?}"));
    assert!(overflow.is_empty(), "the page scrolls sideways on a phone: {overflow:#?}");
}

/// What staff do and see, in the browser.
async fn staff_session(app: &TestApp, browser: &Client) {
    browser.set_window_size(1280, 1000).await.expect("a desktop-sized window");
    log_in(app, browser).await;
    let url = browser.current_url().await.unwrap();
    assert_eq!((url.path(), url.query()), ("/report", None), "today's report");
    let title = browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "Afspraken van woensdag 14 oktober 2026");

    let counts = [
        "4 afspraken",
        "1 bevestigd",
        "1 geannuleerd",
        "1 wil verzetten",
        "1 geen antwoord",
        "1 te bellen",
    ];
    assert_eq!(counts_of(browser).await, counts);
    let mut expected = [
        "bevestigd",
        "geannuleerd door klant",
        "wil verzetten naar do 15 okt 09:00: accepteren of afwijzen",
        "geen antwoord",
    ];
    assert_eq!(rows_of(browser).await, expected_rows(&expected));
    // the one to phone is marked in words, not by colour alone
    let to_call = browser.find_all(Locator::Css("tr.to-call")).await.unwrap();
    assert_eq!(to_call.len(), 1, "Johan, who did not answer");
    let marked = to_call[0].text().await.unwrap();
    assert!(marked.contains("Johan Smit") && marked.contains("te bellen"), "{marked}");
    let accept = Locator::Css("form.decide button[value=accept]");
    assert_eq!(browser.find_all(accept).await.unwrap().len(), 1, "one request to decide");

    // accept Fatima's choice
    let row = &browser.find_all(Locator::Css("tbody tr")).await.unwrap()[FATIMA];
    row.find(accept).await.expect("an accept button").click().await.expect("accept");
    let accepted = "//span[contains(@class, 'badge') and contains(., 'geaccepteerd')]";
    browser.wait().for_element(Locator::XPath(accepted)).await.expect("the decision shown");
    let url = browser.current_url().await.unwrap();
    assert_eq!((url.path(), url.query()), ("/report", Some("date=2026-10-14")));
    expected[FATIMA] = "verzet naar do 15 okt 09:00 (geaccepteerd; zet het in de agenda)";
    assert_eq!(rows_of(browser).await, expected_rows(&expected));
    assert_eq!(counts_of(browser).await, counts, "still one who wants another time");
    assert!(browser.find_all(accept).await.unwrap().is_empty(), "nothing left to decide");
    screenshot(browser, "report.png").await;

    // on a phone: every row still readable (whether the page fits the screen's width is
    // the_report_does_not_scroll_sideways_on_a_phone)
    browser.set_window_size(390, 844).await.expect("a phone-sized window");
    browser.refresh().await.expect("reload");
    browser.wait().for_element(Locator::Css("ul.counts")).await.expect("the report again");
    let inner = browser.execute("return window.innerWidth", Vec::new()).await.unwrap();
    assert_eq!(inner, 390, "a phone-sized viewport");
    assert_eq!(rows_of(browser).await, expected_rows(&expected));
    screenshot(browser, "report-phone.png").await;
    // and the whole page at that width, to look at
    let outer = "return document.documentElement.scrollHeight \
                 + window.outerHeight - window.innerHeight";
    let height = browser.execute(outer, Vec::new()).await.unwrap().as_u64().unwrap();
    browser.set_window_size(390, u32::try_from(height).unwrap()).await.expect("a long phone");
    screenshot(browser, "report-phone-full.png").await;
}

/// Opens the report, is sent to the login form, and logs in as staff.
async fn log_in(app: &TestApp, browser: &Client) {
    browser.goto(&app.url("/report")).await.expect("open the report");
    assert_eq!(browser.current_url().await.unwrap().path(), "/login", "not logged in yet");
    let name = browser.find(Locator::Id("name")).await.expect("a name field");
    name.send_keys(STAFF.0).await.unwrap();
    let password = browser.find(Locator::Id("password")).await.expect("a password field");
    password.send_keys(STAFF.1).await.unwrap();
    let submit = browser.find(Locator::Css("form.login button[type=submit]")).await.unwrap();
    submit.click().await.expect("log in");
    browser.wait().for_element(Locator::Css("ul.counts")).await.expect("today's report");
}

/// The innermost elements reaching past the right edge of the window, with their right
/// edge; empty when the page does not scroll sideways.
async fn sideways(browser: &Client) -> Vec<String> {
    let script = r#"
        const edge = window.innerWidth;
        const past = (e) => e.getBoundingClientRect().right > edge + 0.5;
        const found = [...document.body.querySelectorAll("*")]
            .filter((e) => past(e) && ![...e.children].some(past))
            .map((e) => `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim()
                .slice(0, 70)}" to ${Math.round(e.getBoundingClientRect().right)} px`);
        const width = document.documentElement.scrollWidth;
        return width > edge ? [`page ${width} px in ${edge} px`, ...found] : [];
    "#;
    let found = browser.execute(script, Vec::new()).await.expect("the page's widths");
    serde_json::from_value(found).expect("a list of strings")
}

/// The totals at the top: "number label".
async fn counts_of(browser: &Client) -> Vec<String> {
    let mut counts = Vec::new();
    for item in browser.find_all(Locator::Css("ul.counts li")).await.unwrap() {
        let number = item.find(Locator::Css("strong")).await.unwrap().text().await.unwrap();
        let all = item.text().await.unwrap();
        let label = all.strip_prefix(&number).unwrap_or(&all).trim().to_string();
        counts.push(format!("{number} {label}"));
    }
    counts
}

/// Every row as the page shows it: time, customer, masked number, reply.
async fn rows_of(browser: &Client) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    for row in browser.find_all(Locator::Css("tbody tr")).await.unwrap() {
        let time = cell(&row, "td[data-label=Tijd]").await;
        let customer = cell(&row, "td[data-label=Klant]").await;
        let name = customer.lines().next().unwrap_or_default();
        let phone = cell(&row, "td[data-label=Klant] .muted").await;
        let reply = cell(&row, "td[data-label=Antwoord] .badge").await;
        rows.push([time, name.trim().into(), phone, reply]);
    }
    rows
}

/// The text of the cell `css` of `row` (WebDriver's text leaves out the labels a
/// phone-sized page puts before each cell with CSS).
async fn cell(row: &Element, css: &str) -> String {
    row.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

fn expected_rows(replies: &[&str; 4]) -> Vec<[String; 4]> {
    CUSTOMERS
        .iter()
        .zip(replies)
        .enumerate()
        .map(|(i, ((.., name, _, masked), reply))| {
            let start = start_of(i).with_timezone(&chrono_tz::Europe::Amsterdam);
            let end = start + Duration::minutes(30);
            let time = format!("{}–{}", start.format("%H:%M"), end.format("%H:%M"));
            [time, name.to_string(), masked.to_string(), reply.to_string()]
        })
        .collect()
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(name), png).expect("a screenshot written");
}

/// `target/browser/` (wherever the target folder is).
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("browser")
}

// ---------------------------------------------------------------- the seeded day

/// The daemon this morning at 07:30, after yesterday's reminders went out and Sanne
/// confirmed, Pieter cancelled, Fatima chose another time from the list, and Johan
/// did not answer.
async fn seeded_app() -> TestApp {
    let day = rule(r#"{ before = "24h" }"#, "");
    let rules = [("dag", day.as_str())];
    let app = spawn_app_with_rules(&feed(), start_of(0) - Duration::days(4), &rules).await;
    mount_accepting(&app).await;
    app.import().await;
    // the reminders, each 24 hours ahead; Meta's ids are wamid.REMINDER1…4 in this order
    let mut reminders = Vec::new();
    for (i, customer) in CUSTOMERS.iter().enumerate() {
        app.clock.set(start_of(i) - Duration::hours(24));
        app.dispatch().await;
        let sent = app.sent().await;
        assert_eq!(sent.len(), i + 1, "one reminder each: {sent:#?}");
        assert_eq!(sent[i].0["to"], customer.3);
        reminders.push(sent[i].0.clone());
    }

    // the answers: confirm, cancel, another time (buttons 0, 1, 2)
    for (i, button) in [(SANNE, 0), (PIETER, 1), (FATIMA, 2)] {
        app.clock.advance(Duration::minutes(1));
        let body = tap_body(
            &payload_of(&reminders[i], button),
            &format!("wamid.REMINDER{}", i + 1),
            &format!("wamid.TAP{}", i + 1),
        );
        assert_eq!(app.post_signed(&from(&app, body, i)).await, StatusCode::OK);
        app.process_inbox().await;
        app.clock.advance(Duration::seconds(10));
        app.dispatch().await;
    }

    // Fatima picks Thursday 09:00 from the list
    let sent = app.sent().await;
    let (index, list) = sent
        .iter()
        .enumerate()
        .find(|(_, (r, _))| r["type"] == "interactive" && r["to"] == CUSTOMERS[FATIMA].3)
        .expect("Fatima got a list of free times");
    let row = list.0["interactive"]["action"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["title"] == "do 15 okt")
        .flat_map(|s| s["rows"].as_array().unwrap())
        .find(|r| r["title"] == "09:00")
        .expect("Thursday 09:00 is free");
    let context = format!("wamid.REMINDER{}", index + 1);
    let body = choice_body(row["id"].as_str().unwrap(), &context, "wamid.CHOICE1", app.clock.now());
    assert_eq!(app.post_signed(&from(&app, body, FATIMA)).await, StatusCode::OK);
    app.process_inbox().await;
    app.clock.advance(Duration::seconds(10));
    app.dispatch().await;

    // this morning, before the first appointment
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 14, 5, 30, 0).unwrap());
    app
}

/// A webhook `body` as sent now by customer `i`.
fn from(app: &TestApp, body: String, i: usize) -> String {
    let mut body: Value = serde_json::from_str(&body).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["from"] = json!(CUSTOMERS[i].3.trim_start_matches('+'));
    message["timestamp"] = json!(app.clock.now().timestamp().to_string());
    body.to_string()
}

fn feed() -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let mut feed = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//NL\r\n");
    for (i, (.., name, phone, _)) in CUSTOMERS.iter().enumerate() {
        feed.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:klant-{i}@praktijk\r\nDTSTAMP:20261001T120000Z\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Controle\r\nLOCATION:Praktijk De Linde\r\n\
             ATTENDEE;CN={name}:tel:{phone}\r\nX-WHATSAPP-OPT-IN:ja\r\nEND:VEVENT\r\n",
            t(start_of(i)),
            t(start_of(i) + Duration::minutes(30)),
        ));
    }
    feed.push_str("END:VCALENDAR\r\n");
    feed
}

async fn appointment_id(app: &TestApp, customer: usize) -> i64 {
    let day = app.services.store.report(start_of(0) - Duration::hours(8), start_of(3)).await;
    day.unwrap()
        .into_iter()
        .find(|r| r.appointment.customer_name.as_deref() == Some(CUSTOMERS[customer].2))
        .expect("the customer's appointment")
        .appointment
        .id
}

// ---------------------------------------------------------------- the browser

/// Chromium and chromedriver, as found on this machine.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The browser this run can use; `None` after saying loudly (on the real stderr, not
/// the captured output) that the test is skipped, unless [`BROWSER_ENV`] requires it.
fn browser_tools() -> Option<Tools> {
    let path = |env: &str, default: &str| {
        PathBuf::from(std::env::var(env).ok().filter(|p| !p.is_empty()).unwrap_or(default.into()))
    };
    let tools = Tools {
        chromium: path(CHROMIUM_ENV, "/usr/bin/chromium"),
        chromedriver: path(CHROMEDRIVER_ENV, "/usr/bin/chromedriver"),
    };
    let missing: Vec<String> = [&tools.chromium, &tools.chromedriver]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(tools);
    }
    let why = format!(
        "{} not found (Debian: apt-get install chromium chromium-driver; or set {CHROMIUM_ENV} \
         and {CHROMEDRIVER_ENV})",
        missing.join(" and ")
    );
    if std::env::var(BROWSER_ENV).is_ok_and(|v| v == "required") {
        panic!("{BROWSER_ENV}=required, but {why}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: browser test: {why}; {BROWSER_ENV}=required makes this a failure ***\n"
    );
    None
}

/// A chromedriver this test started on a free local port, with a fresh Chromium profile;
/// stopped (with every browser it opened) on drop.
struct Chromedriver {
    child: Child,
    port: u16,
    profile: TempDir,
}

impl Chromedriver {
    /// `name` names its log, `target/browser/chromedriver-NAME.log`.
    async fn start(tools: &Tools, name: &str) -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = screenshot_dir().join(format!("chromedriver-{name}.log"));
        std::fs::create_dir_all(screenshot_dir()).expect("target/browser");
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.chromedriver.display()));
        let mut driver =
            Chromedriver { child, port, profile: tempfile::tempdir().expect("a profile dir") };
        driver.wait_until_ready(&log).await;
        driver
    }

    /// Until `/status` says ready (a few hundred milliseconds), or fails the test.
    async fn wait_until_ready(&mut self, log: &Path) {
        let http = reqwest::Client::new();
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let deadline = Instant::now() + StdDuration::from_secs(15);
        loop {
            if let Ok(answer) = http.get(&status).send().await
                && let Ok(status) = answer.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited with {exit} before it was ready; see {}",
                    log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready in 15 s; see {}",
                log.display()
            );
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }

    /// A WebDriver session in headless Chromium. The flags keep it from reaching for
    /// the network (this machine's is closed) and let it run as root in a container.
    async fn session(&self, tools: &Tools) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": tools.chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // /shutdown closes the browsers too; killing chromedriver alone would leave them.
        // A blocking request: this runs inside the test's runtime, maybe unwinding.
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = write!(stream, "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        }
        let deadline = Instant::now() + StdDuration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
