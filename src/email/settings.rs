//! `[email]`: the SMTP server, the sender, and what the e-mail says about the practice.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); refused without it.
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

/// The language of the e-mail texts.
pub use crate::domain::language::Language;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// Off by default: no e-mail goes until an SMTP server and a sender are configured.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: String,
    #[serde(default, with = "crate::domain::secret")]
    pub password: Option<SecretString>,
    #[serde(default, skip_serializing)]
    pub password_file: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Connections kept open to the SMTP server.
    pub pool: u32,
    /// `Praktijk De Linde <afspraken@praktijk.nl>`.
    pub from: String,
    #[serde(default)]
    pub reply_to: String,
    /// The practice's address, one line each, shown in every e-mail.
    pub address: Vec<String>,
    pub language: Language,
    /// Where customers reach the links' pages: `https://afspraken.praktijk.nl`.
    pub public_url: String,
}

impl EmailSettings {
    /// What is wrong, as (key under `email.`, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, what: &str| problems.push((key.to_string(), what.to_string()));
        if self.from.trim().is_empty() {
            if self.enabled {
                bad("from", "required when email.enabled = true");
            }
        } else if self.from.parse::<lettre::message::Mailbox>().is_err() {
            bad("from", "is not an address like `Praktijk <afspraken@praktijk.nl>`");
        }
        if !self.reply_to.trim().is_empty()
            && self.reply_to.parse::<lettre::message::Mailbox>().is_err()
        {
            bad("reply_to", "is not an e-mail address");
        }
        if self.enabled && self.host.trim().is_empty() {
            bad("host", "required when email.enabled = true");
        }
        let url = self.public_url.trim();
        if self.enabled && url.is_empty() {
            bad("public_url", "required when email.enabled = true: the links' pages live there");
        } else if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            bad("public_url", "must be an http(s) URL (https in production)");
        }
        if self.pool == 0 {
            bad("pool", "must be at least 1");
        }
        if self.timeout.is_zero() {
            bad("timeout", "must be longer than zero");
        }
        if self.password.as_ref().is_some_and(|p| !p.expose_secret().is_empty())
            && self.username.is_empty()
        {
            bad("username", "a password is set but no username");
        }
        problems
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim().trim_end_matches('/')
    }
}
