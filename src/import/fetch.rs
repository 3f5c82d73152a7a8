//! Getting a feed's text: over HTTP(S) (`webcal://` is HTTPS) with a conditional GET,
//! or from a file. Every failure says what went wrong with which feed; the caller keeps
//! the last good import.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use secrecy::{ExposeSecret, SecretString};

/// How to authenticate to a feed's server.
#[derive(Clone, Debug)]
pub enum FeedAuth {
    Basic { username: String, password: SecretString },
    Bearer(SecretString),
}

/// Validators remembered from the last good download.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The result of asking for a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The server says nothing changed since the validators were given (HTTP 304).
    Unchanged,
    Body {
        text: String,
        validators: Validators,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the server answered HTTP {status}")]
    Status { status: StatusCode },
    #[error("the server refused access (HTTP {status}){}", if *.with_auth { "; check the source's username/password or bearer_token" } else { "; the feed may need a username/password or bearer_token" })]
    Refused { status: StatusCode, with_auth: bool },
    #[error("no answer from the server: {0}")]
    Transport(String),
    #[error("the feed is larger than the limit of {limit} bytes (import.max_feed_bytes)")]
    TooLarge { limit: u64 },
    #[error("line {line}: the feed is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { line: usize, offset: usize },
    #[error("cannot read {path}: {source}")]
    File { path: String, source: std::io::Error },
}

/// Fetches feeds; one per daemon, shared by all sources (connection reuse).
#[derive(Clone, Debug)]
pub struct Fetcher {
    http: reqwest::Client,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(timeout: Duration, max_bytes: u64) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("reminderd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Fetcher { http, max_bytes })
    }

    /// Fetches `location`: an `http(s)://` or `webcal://` URL, a `file://` URL or a path.
    /// `auth` applies to HTTP only; reqwest drops it on a redirect to another host.
    pub async fn fetch(
        &self,
        location: &str,
        known: &Validators,
        auth: Option<&FeedAuth>,
    ) -> Result<Fetched, FetchError> {
        if let Some(rest) = location.strip_prefix("webcal://") {
            return self.fetch_http(&format!("https://{rest}"), known, auth).await;
        }
        if location.starts_with("http://") || location.starts_with("https://") {
            return self.fetch_http(location, known, auth).await;
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        self.fetch_file(Path::new(path)).await
    }

    async fn fetch_http(
        &self,
        url: &str,
        known: &Validators,
        auth: Option<&FeedAuth>,
    ) -> Result<Fetched, FetchError> {
        let mut request = self.http.get(url);
        request = match auth {
            Some(FeedAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Some(FeedAuth::Bearer(token)) => request.bearer_auth(token.expose_secret()),
            None => request,
        };
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FetchError::Refused { status, with_auth: auth.is_some() });
        }
        if !status.is_success() {
            return Err(FetchError::Status { status });
        }
        if response.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(FetchError::TooLarge { limit: self.max_bytes });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators { etag: header(ETAG), last_modified: header(LAST_MODIFIED) };
        // read in chunks, so a server that lies about (or omits) its length cannot make
        // us hold more than the limit
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLarge { limit: self.max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { text: utf8(body)?, validators })
    }

    async fn fetch_file(&self, path: &Path) -> Result<Fetched, FetchError> {
        let file_error = |source| FetchError::File { path: path.display().to_string(), source };
        let meta = tokio::fs::metadata(path).await.map_err(file_error)?;
        if meta.len() > self.max_bytes {
            return Err(FetchError::TooLarge { limit: self.max_bytes });
        }
        let body = tokio::fs::read(path).await.map_err(file_error)?;
        Ok(Fetched::Body { text: utf8(body)?, validators: Validators::default() })
    }
}

fn utf8(body: Vec<u8>) -> Result<String, FetchError> {
    String::from_utf8(body).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        FetchError::NotUtf8 { line, offset }
    })
}

fn transport(e: reqwest::Error) -> FetchError {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    FetchError::Transport(text)
}

/// A location as it may be shown: without user name or password.
pub fn display_location(location: &str) -> String {
    crate::domain::redact::url_password(location)
}
