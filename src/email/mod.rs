//! E-mail: the reminder as a multipart message (plain text, HTML, and the appointment
//! as an `.ics` file) with signed action links, and the SMTP transport that sends it.

mod compose;
pub mod settings;

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

pub use compose::{Composer, Reminder};
pub use settings::{EmailSettings, Language, SmtpTls};

/// Why an e-mail did not go.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server was unreachable, timed out, or answered 4xx: try again later.
    #[error("{0}")]
    Transient(String),
    /// The server refused the message for good (5xx), e.g. an unknown recipient.
    #[error("{0}")]
    Permanent(String),
}

/// The SMTP connection pool.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    /// A pool of connections to the configured server (connected on first use).
    pub fn new(s: &EmailSettings) -> Result<Mailer, String> {
        let builder = match s.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| format!("email.host: {e}"))?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                .map_err(|e| format!("email.host: {e}"))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        };
        let mut builder = builder
            .port(s.port)
            .timeout(Some(s.timeout))
            .pool_config(PoolConfig::new().max_size(s.pool).idle_timeout(Duration::from_secs(60)));
        if !s.username.is_empty() {
            let password =
                s.password.as_ref().map(|p| p.expose_secret().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(s.username.clone(), password));
        }
        Ok(Mailer { transport: builder.build() })
    }

    /// Sends one message; a 5xx answer is permanent, everything else (refused
    /// connection, timeout, 4xx) transient.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(describe(&e))),
            Err(e) => Err(MailError::Transient(describe(&e))),
        }
    }
}

/// The error with its causes, never the message or the credentials.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = format!("SMTP: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Everything the dispatcher needs to send reminders by e-mail.
#[derive(Clone, Debug)]
pub struct EmailChannel {
    pub mailer: Mailer,
    pub composer: Composer,
}

/// Reads `Name <address>`; the settings were validated at start.
pub fn mailbox(text: &str) -> Option<Mailbox> {
    text.trim().parse().ok()
}
