//! Sending: the Graph API client, and the `log` channel that prints what it would send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tracing::{info, instrument};

use super::message::SendRequest;
use super::response::{Disposition, GraphError, read_send_response};

/// Where the messages endpoint is and how to authenticate.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// `https://graph.facebook.com` (tests point it at a fake).
    pub base_url: String,
    /// `v25.0`.
    pub api_version: String,
    pub phone_number_id: String,
    pub access_token: SecretString,
    pub timeout: Duration,
}

impl GraphConfig {
    /// `{base_url}/{version}/{phone_number_id}/messages`.
    pub fn messages_url(&self) -> String {
        messages_url(&self.base_url, &self.api_version, &self.phone_number_id)
    }
}

fn messages_url(base: &str, version: &str, phone_number_id: &str) -> String {
    format!("{}/{version}/{phone_number_id}/messages", base.trim_end_matches('/'))
}

/// A message the channel accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id (`wamid.…`), used to match status webhooks and replies.
    pub message_id: String,
}

/// Why a send did not go through, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Meta answered with an error (or with something that is not an answer).
    #[error("{0}")]
    Graph(GraphError),
    /// No answer: the connection failed or timed out. Whether Meta accepted the message
    /// is unknown; the status webhook will tell (see `biz_opaque_callback_data`).
    #[error("no answer from the Graph API: {0}")]
    Transport(String),
}

impl SendError {
    pub fn disposition(&self) -> Disposition {
        match self {
            SendError::Graph(e) => e.disposition(),
            SendError::Transport(_) => Disposition::Retry,
        }
    }

    /// Meta's error code, if Meta gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Graph(e) => e.code,
            SendError::Transport(_) => None,
        }
    }
}

/// Sends over the Graph API.
#[derive(Clone, Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    url: String,
    token: SecretString,
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("reminderd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GraphClient { http, url: config.messages_url(), token: config.access_token })
    }

    #[instrument(skip_all, fields(to = %crate::domain::phone::mask(&request.to)))]
    async fn send(&self, request: &SendRequest) -> Result<Accepted, SendError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .json(request)
            .send()
            .await
            .map_err(|e| SendError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| SendError::Transport(describe(&e)))?;
        let accepted = read_send_response(status, &body).map_err(SendError::Graph)?;
        match accepted.message_ids.into_iter().next() {
            Some(message_id) => Ok(Accepted { message_id }),
            None => Err(SendError::Transport(format!(
                "HTTP {status} without a message id in the answer"
            ))),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Prints every request instead of sending it, and accepts it with a made-up id.
#[derive(Debug)]
pub struct LogSender {
    url: String,
    counter: AtomicU64,
}

impl LogSender {
    pub fn new(base_url: &str, api_version: &str, phone_number_id: &str) -> Self {
        let id = if phone_number_id.is_empty() { "{phone-number-id}" } else { phone_number_id };
        LogSender { url: messages_url(base_url, api_version, id), counter: AtomicU64::new(0) }
    }

    fn send(&self, request: &SendRequest) -> Accepted {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let json = serde_json::to_string_pretty(request).unwrap_or_default();
        println!("\n── log channel: would POST {} ──\n{json}\n", self.url);
        info!(to = %crate::domain::phone::mask(&request.to), "log channel printed a message");
        Accepted { message_id: format!("wamid.log-{}-{n}", std::process::id()) }
    }
}

/// The channel that carries WhatsApp messages.
#[derive(Debug)]
pub enum Sender {
    Graph(GraphClient),
    Log(LogSender),
}

impl Sender {
    /// The name recorded with each sent message.
    pub fn name(&self) -> &'static str {
        match self {
            Sender::Graph(_) => "whatsapp",
            Sender::Log(_) => "log",
        }
    }

    pub async fn send(&self, request: &SendRequest) -> Result<Accepted, SendError> {
        match self {
            Sender::Graph(client) => client.send(request).await,
            Sender::Log(log) => Ok(log.send(request)),
        }
    }
}
