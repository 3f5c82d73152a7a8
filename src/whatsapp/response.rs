//! Reading the Graph API's answers, and what each error means for the message that got it.
//!
//! Meta says to act on the error `code` (with `error_data.details` for people), not on
//! the HTTP status or the title in `message` (WHATSAPP.md §1.3, §4). So an error's
//! [`Disposition`] comes from one table, [`RULES`], keyed by code; the HTTP status only
//! decides for codes the table does not know, and for answers that carry no code at all.
//!
//! An answer that cannot be read is never taken for success: a 2xx without a message id,
//! or a body that is not JSON, is a [`GraphError`] without a code.

use std::fmt;
use std::ops::RangeInclusive;

use serde_json::Value;

use super::json::{ident, integer, text};

/// What to do with a message whose send failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Temporary trouble on Meta's side or a rate limit: try again with backoff.
    Retry,
    /// Too many messages to this one customer (pair rate limit): wait 4^n seconds
    /// before writing to them again; others are unaffected.
    RetryRecipientLater,
    /// The message itself is wrong (a bug or bad data): sending it again cannot help.
    FailMessage,
    /// The customer cannot be reached on WhatsApp: use another channel (e-mail).
    FallBackCustomer,
    /// A free-form message outside the 24-hour window: only a template may go.
    FallBackTemplate,
    /// The token, account or number set-up is refused: no message can go until an
    /// operator acts, so keep messages queued rather than failing them.
    StopChannel,
    /// The template is missing, not approved in this language, paused or disabled: no
    /// reminder can use it until Meta approves it (again); other templates still go.
    TemplateUnusable,
}

/// A send Meta accepted. Acceptance is not delivery: status webhooks report that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendAccepted {
    /// The ids (`wamid.…`) of the accepted messages, in order; never empty.
    pub message_ids: Vec<String>,
    /// Each message's `message_status`, in the same order: `Some("accepted")`,
    /// `Some("held_for_quality_assessment")` or `Some("paused")` when the template is
    /// paced, `None` when Meta does not say (WHATSAPP.md §1.2).
    pub message_statuses: Vec<Option<String>>,
    /// The recipients as Meta understood them.
    pub contacts: Vec<Contact>,
}

/// One recipient of an accepted send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    /// The number as we sent it.
    pub input: Option<String>,
    /// The WhatsApp id Meta resolved it to; may differ from `input` (Brazil, Mexico).
    pub wa_id: Option<String>,
}

/// A template Meta registered (`POST /{waba-id}/message_templates`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateCreated {
    pub id: String,
    /// `PENDING`, `APPROVED`, …
    pub status: Option<String>,
    pub category: Option<String>,
}

/// A successful answer of the Graph API, by shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A send: `messages[]` with ids.
    Sent(SendAccepted),
    /// `{"success": true}`, e.g. for marking a message read.
    Success,
    /// A template creation.
    TemplateCreated(TemplateCreated),
    /// A list (`data[]`, with `paging`), read by the caller that asked for it.
    Data(Value),
}

/// An error answer, or an answer that could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphError {
    pub http_status: u16,
    /// `error.code`; `None` when the answer had no Graph error in it.
    pub code: Option<i64>,
    /// `error.error_subcode` (deprecated by Meta but still sent).
    pub subcode: Option<i64>,
    /// `error.type`: `OAuthException`, `GraphMethodException`, …
    pub error_type: Option<String>,
    /// `error.message`, or what was wrong with an unreadable answer.
    pub message: String,
    /// `error.error_data.details`: Meta's explanation, the most useful text for staff.
    pub details: Option<String>,
    /// `error.error_user_title` and `error.error_user_msg`, when given.
    pub user_title: Option<String>,
    pub user_message: Option<String>,
    /// `error.is_transient`, when given.
    pub is_transient: Option<bool>,
    /// `error.fbtrace_id`: quote it to Meta support.
    pub fbtrace_id: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "Graph API error {code} (HTTP {})", self.http_status)?,
            None => write!(f, "Graph API answer with HTTP {}", self.http_status)?,
        }
        write!(f, ": {}", self.message)?;
        if let Some(details) = &self.details {
            write!(f, " ({details})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

impl GraphError {
    /// What to do with the message: the [`RULES`] row for the code; for a code not in
    /// the table, or no code, retry what looks temporary (HTTP 5xx, 408, 429, or Meta's
    /// `is_transient`) and fail the rest. An unreadable 2xx is retried like a lost
    /// answer: Meta may or may not have taken the message, and the status webhook
    /// (which carries `biz_opaque_callback_data`) will tell.
    pub fn disposition(&self) -> Disposition {
        if let Some(rule) = self.code.and_then(rule_for) {
            return rule.disposition;
        }
        let temporary = self.http_status >= 500
            || matches!(self.http_status, 408 | 429)
            || (200..300).contains(&self.http_status)
            || self.is_transient == Some(true);
        if temporary { Disposition::Retry } else { Disposition::FailMessage }
    }

    /// A plain-English explanation of the error for staff, when the code is known.
    pub fn describe(&self) -> Option<&'static str> {
        self.code.and_then(describe)
    }

    fn unreadable(http_status: u16, message: String) -> Self {
        GraphError { http_status, message, ..GraphError::default() }
    }
}

/// One row of the error table: codes, what to do, and what it means for staff.
#[derive(Debug)]
pub struct Rule {
    pub codes: RangeInclusive<i64>,
    pub disposition: Disposition,
    pub meaning: &'static str,
}

const fn rule(codes: RangeInclusive<i64>, disposition: Disposition, meaning: &'static str) -> Rule {
    Rule { codes, disposition, meaning }
}

use Disposition::{
    FailMessage, FallBackCustomer, FallBackTemplate, Retry, RetryRecipientLater, StopChannel,
    TemplateUnusable,
};

/// Meta's error codes that matter to a reminder sender, from WHATSAPP.md §4 (which
/// cites Meta's error-code page), in ascending order. Template problems (132001, 132007,
/// 132015, 132016) mark the template unusable rather than fail the message: every
/// reminder of that rule would fail alike, and they should wait for the template.
#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    rule(0..=0, StopChannel, "Meta could not authenticate the app: the access token is invalid, expired or revoked."),
    // "Retry a few times if the request is known to be good": the dispatcher caps attempts.
    rule(1..=1, Retry, "Meta reported an unknown API error, possibly a temporary server problem."),
    rule(2..=2, Retry, "The WhatsApp API is temporarily down or overloaded."),
    rule(3..=3, StopChannel, "The app lacks a capability or permission it needs to send."),
    rule(4..=4, Retry, "The app made too many API calls in a short time."),
    rule(10..=10, StopChannel, "A permission the app needs was not granted or was removed."),
    rule(100..=100, FailMessage, "Meta rejected a parameter of the message as invalid."),
    // Sending can resume once an operator renews the token.
    rule(190..=190, StopChannel, "The access token has expired and must be renewed."),
    rule(200..=299, StopChannel, "A permission the app needs was not granted or was removed."),
    rule(368..=368, StopChannel, "The WhatsApp Business Account is restricted or disabled for a policy violation."),
    rule(80007..=80007, Retry, "The account reached Meta's hourly limit for management calls."),
    rule(130429..=130429, Retry, "The phone number reached its sending speed limit; the message will be retried."),
    rule(130472..=130472, FallBackCustomer, "Meta did not send the message because the customer's number is part of an experiment."),
    rule(131000..=131000, Retry, "Meta reported an unknown error while sending."),
    rule(131005..=131005, StopChannel, "Access denied: the app may not send from this number."),
    rule(131008..=131008, FailMessage, "A required part of the message is missing."),
    // Often a bad phone number; it could also be bad data in the message, so no fallback.
    rule(131009..=131009, FailMessage, "A value in the message is invalid, for example the phone number."),
    rule(131016..=131016, Retry, "The WhatsApp service is temporarily unavailable."),
    rule(131021..=131021, FailMessage, "The message was addressed to the business's own number."),
    rule(131026..=131026, FallBackCustomer, "The message could not be delivered: the number may not use WhatsApp, or the customer has not accepted the latest terms or uses an old app."),
    rule(131031..=131031, StopChannel, "The business account is locked, for a policy violation or a failed verification."),
    rule(131042..=131042, StopChannel, "There is a problem with the account's payment method."),
    rule(131045..=131045, StopChannel, "The business phone number is not properly registered."),
    rule(131047..=131047, FallBackTemplate, "More than 24 hours passed since the customer's last message, so only a template may be sent."),
    rule(131048..=131048, StopChannel, "The number is restricted because earlier messages were blocked or reported as spam."),
    // Meta asks to wait at least a day before resending; another channel serves the customer now.
    rule(131049..=131049, FallBackCustomer, "Meta held the message back to limit the marketing messages this customer receives."),
    rule(131050..=131050, FallBackCustomer, "The customer has turned off marketing messages from this business."),
    rule(131051..=131051, FailMessage, "The message type is not supported."),
    rule(131052..=131052, FailMessage, "Media sent by the customer could not be downloaded."),
    rule(131053..=131053, FailMessage, "Media in the message could not be uploaded (wrong type or too large)."),
    rule(131056..=131056, RetryRecipientLater, "Too many messages went to this customer in a short time; the next try waits longer."),
    rule(131057..=131057, Retry, "The business account is in maintenance for about a minute."),
    rule(131064..=131064, StopChannel, "The account's messaging limit was lowered because of template category violations."),
    rule(132000..=132000, FailMessage, "The number of values does not match the template's placeholders."),
    rule(132001..=132001, TemplateUnusable, "The template does not exist in this language or is not approved."),
    rule(132005..=132005, FailMessage, "The template text is too long once the values are filled in."),
    rule(132007..=132007, TemplateUnusable, "The template's content violates WhatsApp policy."),
    rule(132012..=132012, FailMessage, "A template value has the wrong format."),
    rule(132015..=132015, TemplateUnusable, "The template is paused because of low quality."),
    rule(132016..=132016, TemplateUnusable, "The template was disabled for good after being paused too often."),
    rule(132018..=132018, FailMessage, "A template value contains a line break, a tab or too many spaces."),
    // Not in WHATSAPP.md §4: "Server temporarily unavailable" on Meta's error-code page.
    rule(133004..=133004, Retry, "The WhatsApp server is temporarily unavailable."),
    rule(133010..=133010, StopChannel, "The business phone number is not registered on WhatsApp."),
    rule(135000..=135000, FailMessage, "Meta reported a general problem with the message's values."),
];

fn rule_for(code: i64) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.codes.contains(&code))
}

/// A short plain-English explanation of a Meta error code for staff; `None` for codes
/// the table does not know.
pub fn describe(code: i64) -> Option<&'static str> {
    rule_for(code).map(|rule| rule.meaning)
}

/// Reads the answer to a send: the accepted message ids, or why there are none.
#[expect(
    clippy::result_large_err,
    reason = "read once per send, on the error path; boxing would only add an allocation"
)]
pub fn read_send_response(http_status: u16, body: &[u8]) -> Result<SendAccepted, GraphError> {
    match read_response(http_status, body)? {
        Answer::Sent(accepted) => Ok(accepted),
        Answer::Success | Answer::TemplateCreated(_) | Answer::Data(_) => Err(
            GraphError::unreadable(http_status, "the answer to a send has no message id".into()),
        ),
    }
}

/// Reads any Graph API answer by its shape. An `error` object makes an error whatever
/// the HTTP status; a non-2xx without one, a body that is not JSON, or a 2xx of no
/// known shape is an error without a code.
#[expect(
    clippy::result_large_err,
    reason = "read once per send, on the error path; boxing would only add an allocation"
)]
pub fn read_response(http_status: u16, body: &[u8]) -> Result<Answer, GraphError> {
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        return Err(GraphError::unreadable(
            http_status,
            format!("the answer is not JSON: {}", excerpt(body)),
        ));
    };
    if let Some(error) = root.get("error").filter(|e| e.is_object()) {
        return Err(graph_error(http_status, error));
    }
    if !(200..300).contains(&http_status) {
        return Err(GraphError::unreadable(
            http_status,
            format!("the answer has no error object: {}", excerpt(body)),
        ));
    }
    if let Some(messages) = root.get("messages") {
        return sent(messages, &root).map(Answer::Sent).ok_or_else(|| {
            GraphError::unreadable(http_status, "the send was answered without a message id".into())
        });
    }
    if root.get("success").and_then(Value::as_bool) == Some(true) {
        return Ok(Answer::Success);
    }
    if root.get("data").is_some_and(Value::is_array) {
        return Ok(Answer::Data(root));
    }
    if let Some(id) = ident(root.get("id")) {
        return Ok(Answer::TemplateCreated(TemplateCreated {
            id,
            status: text(&root, "status"),
            category: text(&root, "category"),
        }));
    }
    Err(GraphError::unreadable(
        http_status,
        format!("the answer has an unknown shape: {}", excerpt(body)),
    ))
}

/// The accepted messages; `None` if not one of them has an id.
fn sent(messages: &Value, root: &Value) -> Option<SendAccepted> {
    let (message_ids, message_statuses) = messages
        .as_array()?
        .iter()
        .filter_map(|m| Some((ident(m.get("id"))?, text(m, "message_status"))))
        .unzip::<_, _, Vec<_>, Vec<_>>();
    if message_ids.is_empty() {
        return None;
    }
    let contacts = root
        .get("contacts")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|c| c.is_object())
        .map(|c| Contact { input: ident(c.get("input")), wa_id: ident(c.get("wa_id")) })
        .collect();
    Some(SendAccepted { message_ids, message_statuses, contacts })
}

fn graph_error(http_status: u16, e: &Value) -> GraphError {
    GraphError {
        http_status,
        code: integer(e.get("code")),
        subcode: integer(e.get("error_subcode")),
        error_type: text(e, "type"),
        message: text(e, "message").unwrap_or_else(|| "the error has no message".into()),
        details: e.get("error_data").and_then(|d| text(d, "details")),
        user_title: text(e, "error_user_title"),
        user_message: text(e, "error_user_msg"),
        is_transient: e.get("is_transient").and_then(Value::as_bool),
        fbtrace_id: text(e, "fbtrace_id"),
    }
}

/// The start of an unreadable body, as one line of printable text for the log.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(body);
    let mut out: String =
        text.chars().take(MAX).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    if out.trim().is_empty() { "(empty)".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_body(code: i64) -> String {
        format!(
            r#"{{"error":{{"message":"(#{code}) x","type":"OAuthException","code":{code},"fbtrace_id":"T"}}}}"#
        )
    }

    fn disposition(status: u16, body: &str) -> Disposition {
        read_send_response(status, body.as_bytes()).expect_err("an error").disposition()
    }

    #[test]
    fn the_table_is_sorted_and_no_code_has_two_rows() {
        for pair in RULES.windows(2) {
            assert!(
                pair[0].codes.end() < pair[1].codes.start(),
                "{:?} and {:?} overlap or are out of order",
                pair[0].codes,
                pair[1].codes
            );
        }
        for rule in RULES {
            assert!(rule.codes.start() <= rule.codes.end(), "{:?} is empty", rule.codes);
            assert!(rule.meaning.ends_with('.') && !rule.meaning.is_empty());
        }
    }

    #[test]
    fn codes_decide_before_the_http_status() {
        // The Java fixture serves 130429 with HTTP 500; Meta's older table says 400.
        assert_eq!(disposition(400, &error_body(130429)), Retry);
        assert_eq!(disposition(500, &error_body(130429)), Retry);
        assert_eq!(disposition(500, &error_body(100)), FailMessage);
        assert_eq!(disposition(400, &error_body(131000)), Retry);
    }

    #[test]
    fn each_kind_of_trouble_gets_its_disposition() {
        let cases = [
            (131056, RetryRecipientLater),
            (131026, FallBackCustomer),
            (131049, FallBackCustomer),
            (130472, FallBackCustomer),
            (131047, FallBackTemplate),
            (190, StopChannel),
            (0, StopChannel),
            (250, StopChannel),
            (368, StopChannel),
            (131031, StopChannel),
            (132001, TemplateUnusable),
            (132015, TemplateUnusable),
            (132016, TemplateUnusable),
            (132000, FailMessage),
            (132012, FailMessage),
            (132018, FailMessage),
            (131016, Retry),
            (131057, Retry),
            (133004, Retry),
            (131008, FailMessage),
        ];
        for (code, expected) in cases {
            assert_eq!(disposition(400, &error_body(code)), expected, "code {code}");
        }
    }

    #[test]
    fn unknown_codes_follow_the_http_status() {
        assert_eq!(disposition(400, &error_body(999_999)), FailMessage);
        assert_eq!(disposition(404, &error_body(136024)), FailMessage);
        assert_eq!(disposition(503, &error_body(999_999)), Retry);
        assert_eq!(disposition(429, &error_body(999_999)), Retry);
    }

    #[test]
    fn an_unknown_code_meta_calls_transient_is_retried() {
        let body = r#"{"error":{"message":"x","code":999999,"is_transient":true}}"#;
        assert_eq!(disposition(400, body), Retry);
    }

    #[test]
    fn a_server_error_that_is_not_json_is_retried() {
        let e = read_send_response(502, b"<html>Bad Gateway</html>").expect_err("not a success");
        assert_eq!(e.code, None);
        assert_eq!(e.disposition(), Retry);
        assert!(e.message.contains("Bad Gateway"), "{}", e.message);
    }

    #[test]
    fn a_client_error_without_a_graph_error_fails_the_message() {
        assert_eq!(disposition(400, "not json"), FailMessage);
        assert_eq!(disposition(403, r#"{"something":"else"}"#), FailMessage);
    }

    #[test]
    fn a_success_status_without_a_message_id_is_not_a_success() {
        for body in [
            "",
            "not json",
            "{}",
            "[]",
            "null",
            r#"{"messages":[]}"#,
            r#"{"messages":[{"message_status":"accepted"}]}"#,
            r#"{"messages":{"id":"wamid.x"}}"#,
            r#"{"success":true}"#,
            r#"{"id":"123","status":"PENDING"}"#,
        ] {
            let e = read_send_response(200, body.as_bytes()).expect_err(body);
            assert_eq!(e.code, None, "{body}");
            assert_eq!(e.disposition(), Retry, "{body}");
        }
    }

    #[test]
    fn an_error_object_wins_over_a_success_status() {
        let e = read_send_response(200, error_body(131026).as_bytes()).expect_err("an error");
        assert_eq!(e.code, Some(131026));
        assert_eq!(e.disposition(), FallBackCustomer);
    }

    #[test]
    fn messages_without_ids_are_skipped_and_statuses_stay_aligned() {
        let body = r#"{"messages":[{"message_status":"paused"},{"id":"wamid.a"},{"id":"wamid.b","message_status":"accepted"}]}"#;
        let ok = read_send_response(200, body.as_bytes()).expect("a success");
        assert_eq!(ok.message_ids, ["wamid.a", "wamid.b"]);
        assert_eq!(ok.message_statuses, [None, Some("accepted".to_string())]);
        assert!(ok.contacts.is_empty());
    }

    #[test]
    fn the_display_names_code_status_message_and_details() {
        let body = r#"{"error":{"message":"(#131026) Message undeliverable","code":131026,"error_data":{"details":"not on WhatsApp"}}}"#;
        let e = read_send_response(400, body.as_bytes()).expect_err("an error");
        assert_eq!(
            e.to_string(),
            "Graph API error 131026 (HTTP 400): (#131026) Message undeliverable (not on WhatsApp)"
        );
    }

    #[test]
    fn known_codes_are_described_for_staff() {
        assert!(describe(131047).is_some_and(|d| d.contains("24 hours")));
        assert!(describe(131056).is_some_and(|d| d.contains("customer")));
        assert_eq!(describe(999_999), None);
        assert_eq!(describe(-1), None);
    }

    #[test]
    fn long_unreadable_bodies_are_cut_short_for_the_log() {
        let body = "x".repeat(10_000);
        let e = read_send_response(500, body.as_bytes()).expect_err("an error");
        assert!(e.message.len() < 200, "{}", e.message.len());
        let e = read_send_response(500, b"\xff\xfe\n\x00").expect_err("an error");
        assert!(!e.message.contains('\n') && !e.message.contains('\0'));
    }
}
