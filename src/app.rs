//! Wiring: turns validated settings into a running daemon. No logic of its own.
//!
//! [`Application::build`] opens and migrates the store, loads the rules, builds every
//! worker and binds the listener (port 0 in tests), so a failure shows before anything
//! runs; [`Application::run_until_stopped`] serves and runs the workers until the
//! shutdown token is cancelled, then lets each finish what it is doing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{Request, StatusCode};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{info, info_span, warn};

use crate::clock::Clock;
use crate::config::{ChannelKind, Settings};
use crate::domain::PayloadKey;
use crate::import::fetch::FeedAuth;
use crate::import::fetch::Fetcher;
use crate::import::runner::{ImportOptions, Importer, SourceSpec};
use crate::import::sync::{VanishGuard, replan_upcoming};
use crate::ops::health::{self, HealthState};
use crate::report::morning::MorningReport;
use crate::report::session::{Sessions, StaffAccount};
use crate::report::{self, ReportState};
use crate::rules::RuleSet;
use crate::scheduler::dispatch::{DispatchOptions, Dispatcher};
use crate::store::Store;
use crate::webhook::ingest::{InboxWriter, Ingest, inbox_writer};
use crate::webhook::process::{InboxProcessor, ProcessOptions};
use crate::webhook::{self, WebhookState};
use crate::whatsapp::client::{GraphClient, GraphConfig, LogSender, Sender};
use crate::whatsapp::templates::TemplateBook;

/// The parts of a built daemon that tests and the CLI drive directly.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Store,
    pub clock: Clock,
    pub rules: Arc<RuleSet>,
    pub dispatcher: Dispatcher,
    pub importer: Importer,
    pub processor: InboxProcessor,
    /// The webhook's inbox writer, as its handlers reach it.
    pub ingest: Ingest,
    pub sources: Vec<SourceSpec>,
    /// The nightly purge of old personal data.
    pub retention: crate::privacy::Retention,
    /// The morning e-mail to staff, when `report.morning.enabled`.
    pub morning: Option<MorningReport>,
}

/// A built daemon, bound but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    services: Services,
    /// Wakes the dispatcher (after an import or an answer was enqueued).
    dispatch_wake: Arc<Notify>,
    /// Wakes the inbox processor (after a webhook delivery was stored).
    inbox_wake: Arc<Notify>,
    /// Stores webhook deliveries; runs whenever HTTP is served.
    inbox_writer: InboxWriter,
    /// How long a client may take to send its request headers.
    header_timeout: Duration,
}

impl Application {
    pub async fn build(settings: &Settings, clock: Clock) -> anyhow::Result<Application> {
        let rules = RuleSet::load(&settings.rules_dir).with_context(|| {
            format!("cannot load the rules in {}", settings.rules_dir.display())
        })?;
        let rules = Arc::new(rules);
        if rules.rules().is_empty() {
            warn!(dir = %settings.rules_dir.display(), "no reminder rules: nothing will be sent");
        }
        let url = settings.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.state_dir).with_context(|| {
                format!("cannot create the state directory {}", settings.state_dir.display())
            })?;
        }
        let store = Store::connect(&url, settings.database.max_connections)
            .await
            .context("cannot open the database")?;
        store.migrate().await.context("cannot migrate the database")?;

        let secret = settings
            .security
            .secret_key
            .as_ref()
            .context("security.secret_key is not set")?
            .expose_secret()
            .as_bytes()
            .to_vec();
        let zone = settings.business.time_zone;
        let source_locations = settings.source_locations();
        let sender = Arc::new(sender(settings)?);
        // what Meta says about the templates: heard by the processor, read by the
        // dispatcher
        let templates = Arc::new(TemplateBook::default());
        // one SMTP transport, for the reminders and the morning e-mail
        let email = email_channel(settings, &secret)?;
        templates.load(store.templates().await.context("cannot read the templates' state")?);
        let dispatcher = Dispatcher::new(
            store.clone(),
            sender,
            rules.clone(),
            clock.clone(),
            PayloadKey::from_secret(&secret),
            DispatchOptions {
                batch_size: settings.dispatch.batch_size,
                lease: settings.dispatch.lease,
                inflight_grace: settings.dispatch.inflight_grace,
                channel_pause: settings.dispatch.channel_pause,
                rate: settings.whatsapp.throughput,
                messaging_limit: settings.whatsapp.messaging_limit,
                latency: settings.whatsapp.latency,
                max_attempts: settings.dispatch.max_attempts,
                retry_base: settings.dispatch.retry_base,
                retry_max: settings.dispatch.retry_max,
                min_notice: settings.dispatch.min_notice,
                poll_interval: settings.dispatch.poll_interval,
                zone,
                practice: settings.business.name.clone(),
                source_locations: source_locations.clone(),
                require_opt_in: settings.consent.require_whatsapp_opt_in,
            },
        )
        .with_templates(templates.clone())
        .with_email(email.clone());
        let importer = Importer::new(
            store.clone(),
            clock.clone(),
            Fetcher::new(settings.import.timeout, settings.import.max_feed_bytes)
                .context("cannot build the feed client")?,
            rules.clone(),
            ImportOptions {
                lookahead: settings.import.lookahead,
                zone,
                region: settings.business.phone_region,
                workdays: settings.business.workdays(),
                refresh_interval: settings.import.refresh_interval,
                guard: VanishGuard {
                    max_share: settings.import.max_vanished,
                    from: settings.import.max_vanished_from as usize,
                },
            },
        );
        let sources: Vec<SourceSpec> = settings
            .sources
            .iter()
            .map(|s| SourceSpec {
                name: s.name.clone(),
                location: s.url.clone(),
                poll_interval: s.poll_interval.unwrap_or(settings.import.poll_interval),
                default_location: s.location.clone(),
                contact: s.contact.clone(),
                auth: feed_auth(s),
                include_all_day: s.include_all_day,
                sql: s.sql.clone(),
            })
            .collect();
        let dispatch_wake = Arc::new(Notify::new());
        let inbox_wake = Arc::new(Notify::new());
        let processor = InboxProcessor::new(
            store.clone(),
            clock.clone(),
            PayloadKey::from_secret(&secret),
            ProcessOptions {
                texts: settings.messages.clone(),
                zone,
                practice: settings.business.name.clone(),
                source_locations: source_locations.clone(),
                poll_interval: Duration::from_secs(30),
                reschedule: settings.reschedule.clone(),
                workdays: settings.business.workdays(),
                min_notice: settings.dispatch.min_notice,
            },
            dispatch_wake.clone(),
        )
        .with_templates(templates);

        let (ingest, inbox_writer) = inbox_writer(store.clone(), inbox_wake.clone());
        let router = Router::new()
            .merge(webhook::router(WebhookState {
                inbox: ingest.clone(),
                clock: clock.clone(),
                app_secret: settings.whatsapp.app_secret.clone(),
                verify_token: settings.whatsapp.verify_token.clone(),
            }))
            .merge(report::router(ReportState {
                store: store.clone(),
                clock: clock.clone(),
                zone,
                practice: settings.business.name.clone(),
                accounts: Arc::new(
                    settings
                        .report
                        .users
                        .iter()
                        .map(|u| StaffAccount {
                            name: u.name.clone(),
                            password_hash: u.password_hash.clone(),
                            language: u.language,
                        })
                        .collect(),
                ),
                sessions: Sessions::new(
                    &secret,
                    chrono::Duration::from_std(settings.report.session_ttl)
                        .unwrap_or(chrono::Duration::hours(12)),
                    settings.report.secure_cookie,
                ),
                lockout: Default::default(),
                dispatcher: dispatcher.clone(),
                reschedule_texts: Arc::new(settings.reschedule.messages.clone()),
                reschedule_templates: Arc::new(settings.reschedule.templates.clone()),
                source_locations: Arc::new(source_locations),
                language: settings.report.language,
                rules: rules.clone(),
                workdays: settings.business.workdays(),
                dispatch_wake: dispatch_wake.clone(),
            }))
            .merge(crate::consent::api::router(settings.consent.api_token.clone().map(|token| {
                crate::consent::api::ApiState {
                    store: store.clone(),
                    clock: clock.clone(),
                    token,
                    region: settings.business.phone_region,
                }
            })))
            .merge(crate::links::router(crate::links::LinksState {
                store: store.clone(),
                clock: clock.clone(),
                key: PayloadKey::from_secret(&secret),
                zone,
                practice: settings.business.name.clone(),
                source_locations: Arc::new(settings.source_locations()),
                texts: Arc::new(settings.messages.clone()),
                reschedule: Arc::new(settings.reschedule.clone()),
                workdays: settings.business.workdays(),
            }))
            .merge(health::router(HealthState {
                store: store.clone(),
                sources: sources.iter().map(|s| s.name.clone()).collect(),
                dispatcher: dispatcher.clone(),
            }));
        let router = with_layers(router, settings.server.request_timeout);

        let listener = TcpListener::bind(settings.server.listen).await.with_context(|| {
            format!("cannot listen on {} (server.listen)", settings.server.listen)
        })?;
        let retention = crate::privacy::Retention {
            store: store.clone(),
            clock: clock.clone(),
            keep: settings.privacy.retention,
            zone,
            at: settings.privacy.purge_at,
        };
        let morning = if settings.report.morning.enabled {
            let dispatcher = Some(dispatcher.clone());
            Some(morning_report(settings, store.clone(), clock.clone(), email, dispatcher)?)
        } else {
            None
        };
        let services = Services {
            store,
            clock,
            rules,
            dispatcher,
            importer,
            processor,
            ingest,
            sources,
            retention,
            morning,
        };
        Ok(Application {
            listener,
            router,
            services,
            dispatch_wake,
            inbox_wake,
            inbox_writer,
            header_timeout: settings.server.header_timeout,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves HTTP and runs every worker until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.run(shutdown, true).await
    }

    /// Serves HTTP only; the caller drives the workers through [`Services`] (tests).
    pub async fn serve_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.run(shutdown, false).await
    }

    async fn run(self, shutdown: CancellationToken, workers: bool) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            services,
            dispatch_wake,
            inbox_wake,
            inbox_writer,
            header_timeout,
        } = self;
        let addr = listener.local_addr()?;
        let tracker = TaskTracker::new();
        if workers {
            // rules may have changed while the daemon was down
            let planning = services.importer.planning();
            let replanned = replan_upcoming(&services.store, planning, services.clock.now())
                .await
                .context("cannot re-plan upcoming appointments")?;
            info!(
                planned = replanned.reminders_planned,
                cancelled = replanned.reminders_cancelled,
                "reminders re-planned from the current rules"
            );
            tracker.spawn(services.dispatcher.clone().run(shutdown.clone(), dispatch_wake.clone()));
            tracker.spawn(services.processor.clone().run(shutdown.clone(), inbox_wake));
            let retention = services.retention.clone();
            let stop = shutdown.clone();
            tracker.spawn(async move {
                if let Err(e) = retention.run(stop).await {
                    tracing::error!(error.cause_chain = ?e, "the retention scheduler stopped");
                }
            });
            if let Some(morning) = services.morning.clone() {
                let stop = shutdown.clone();
                tracker.spawn(async move {
                    if let Err(e) = morning.run(stop).await {
                        tracing::error!(error.cause_chain = ?e, "the morning e-mail's scheduler stopped");
                    }
                });
            }
            let importer = services.importer.clone();
            let sources = services.sources.clone();
            let stop = shutdown.clone();
            tracker.spawn(async move {
                if let Err(e) = importer.run(sources, stop, dispatch_wake).await {
                    tracing::error!(error.cause_chain = ?e, "the import scheduler stopped");
                }
            });
        }
        // stores what was handed over before the shutdown, refuses (503) what comes after
        tracker.spawn(inbox_writer.run(shutdown.clone()));
        tracker.close();
        info!(%addr, "listening");
        crate::http::serve(listener, router, header_timeout, shutdown.clone()).await;
        // finish the current send, then close the database cleanly
        tracker.wait().await;
        services.store.close().await;
        info!("stopped");
        Ok(())
    }
}

/// A source's credentials, if it has any (validated by the config).
pub fn feed_auth(source: &crate::config::SourceSettings) -> Option<FeedAuth> {
    match (&source.username, &source.password, &source.bearer_token) {
        (Some(username), Some(password), _) => {
            Some(FeedAuth::Basic { username: username.clone(), password: password.clone() })
        }
        (_, _, Some(token)) => Some(FeedAuth::Bearer(token.clone())),
        _ => None,
    }
}

/// The morning e-mail of `[report.morning]`, sent through `email` (the daemon's one
/// SMTP transport; `None` when e-mail is off: then it can only be printed).
pub fn morning_report(
    settings: &Settings,
    store: Store,
    clock: Clock,
    email: Option<Arc<crate::email::EmailChannel>>,
    dispatcher: Option<Dispatcher>,
) -> anyhow::Result<MorningReport> {
    let m = &settings.report.morning;
    let recipients = m
        .recipients
        .iter()
        .map(|r| crate::email::mailbox(r).context("report.morning.recipients: not an address"))
        .collect::<anyhow::Result<_>>()?;
    Ok(MorningReport {
        store,
        clock,
        zone: settings.business.time_zone,
        practice: settings.business.name.clone(),
        at: m.at,
        recipients,
        language: m.language,
        public_url: settings.email.base_url().to_string(),
        email,
        dispatcher,
        messaging_limit: settings.whatsapp.messaging_limit,
    })
}

/// The e-mail channel, when `email.enabled`.
pub fn email_channel(
    settings: &Settings,
    secret: &[u8],
) -> anyhow::Result<Option<Arc<crate::email::EmailChannel>>> {
    let e = &settings.email;
    if !e.enabled {
        return Ok(None);
    }
    let mailer = crate::email::Mailer::new(e).map_err(anyhow::Error::msg)?;
    let composer = crate::email::Composer::new(
        e,
        &settings.business.name,
        settings.business.time_zone,
        settings.source_locations(),
        PayloadKey::from_secret(secret),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Some(Arc::new(crate::email::EmailChannel { mailer, composer })))
}

/// The WhatsApp channel the settings ask for.
fn sender(settings: &Settings) -> anyhow::Result<Sender> {
    let w = &settings.whatsapp;
    Ok(match w.channel {
        ChannelKind::Log => {
            Sender::Log(LogSender::new(&w.base_url, &w.api_version, &w.phone_number_id))
        }
        ChannelKind::Whatsapp => Sender::Graph(
            GraphClient::new(GraphConfig {
                base_url: w.base_url.clone(),
                api_version: w.api_version.clone(),
                phone_number_id: w.phone_number_id.clone(),
                access_token: w.access_token.clone().context("whatsapp.access_token is not set")?,
                timeout: w.timeout,
            })
            .context("cannot build the Graph API client")?,
        ),
    })
}

/// Request id, one span per request naming the matched route, and a timeout.
fn with_layers(router: Router, timeout: Duration) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let route =
                request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            let id =
                request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            info_span!("http", method = %request.method(), route, request.id = id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
