//! TEMPORARY: minimal reading of Graph API answers, replaced by the full module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendAccepted {
    pub message_ids: Vec<String>,
}
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Graph API error {code:?} (HTTP {http_status}): {message}")]
pub struct GraphError {
    pub http_status: u16,
    pub code: Option<i64>,
    pub message: String,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition { Retry, RetryRecipientLater, FailMessage, FallBackCustomer, FallBackTemplate, StopChannel }
impl GraphError {
    pub fn disposition(&self) -> Disposition {
        match self.code {
            Some(130429) | None if self.http_status >= 500 || self.code.is_some() => Disposition::Retry,
            _ if self.http_status >= 500 => Disposition::Retry,
            _ => Disposition::FailMessage,
        }
    }
}
pub fn read_send_response(http_status: u16, body: &[u8]) -> Result<SendAccepted, GraphError> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if (200..300).contains(&http_status) {
        let ids = v["messages"].as_array().map(|a| a.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        return Ok(SendAccepted { message_ids: ids });
    }
    Err(GraphError { http_status, code: v["error"]["code"].as_i64(), message: v["error"]["message"].as_str().unwrap_or("").to_string() })
}
