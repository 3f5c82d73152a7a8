//! Reading webhook POST bodies from Meta into typed events.
//!
//! The parser is lenient on purpose. Meta adds fields and message types without notice,
//! client libraries' fixtures disagree on whether timestamps are strings or integers, and
//! a webhook we refuse is retried for days and then lost (WHATSAPP.md §3.3). So only a
//! body that is not JSON, or not a WhatsApp envelope at all, is an error; inside the
//! envelope, unknown fields are ignored, unknown message types are kept with their
//! `type`, missing optional parts become `None`, and an element that is not an object, or
//! a message or status without its id, is skipped (nothing could match or deduplicate it).
//!
//! Events come out entry by entry and change by change in document order; within one
//! change: `messages[]`, then `statuses[]`, then `user_preferences[]`, then the
//! system-level `errors[]`. A batch may repeat an id: deduplication is the inbox's job
//! ([`Event::dedup_key`]), not the parser's.

use serde_json::Value;

use super::json::{ident, integer, text};
use crate::domain::Delivery;

/// The `object` of every WhatsApp Business Account webhook.
const OBJECT: &str = "whatsapp_business_account";

/// Why a body could not be read as a WhatsApp webhook at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the webhook body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON, but without the envelope's `object` string or `entry` array.
    #[error("the webhook body is not an envelope: {0}")]
    NotEnvelope(&'static str),
    /// A well-formed envelope for another product (`page`, `instagram`, …): an app
    /// subscribed to several products signs them all with the same secret, and their
    /// changes must not be read as WhatsApp events.
    #[error("the webhook is for `{0}`, not for a WhatsApp Business Account")]
    OtherObject(String),
}

/// One thing a webhook reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A message from a customer: text, a quick-reply tap, a list choice, media, …
    Message(InboundMessage),
    /// Progress of a message we sent: sent, delivered, read, failed.
    Status(StatusUpdate),
    /// A template was approved, rejected, paused, disabled, …
    TemplateStatus(TemplateEvent),
    /// Meta moved a template to another category (which changes price and rules).
    TemplateCategory(TemplateEvent),
    /// A template's quality rating changed.
    TemplateQuality(TemplateEvent),
    /// A customer stopped or resumed marketing messages.
    UserPreference(UserPreference),
    /// A system-level error Meta reports beside (or instead of) the messages.
    Error(SystemError),
}

/// A message a customer sent (`value.messages[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboundMessage {
    /// `entry[].id`: the WhatsApp Business Account.
    pub waba_id: Option<String>,
    /// `metadata.phone_number_id`: which of our numbers received it.
    pub phone_number_id: Option<String>,
    /// The message's own id (`wamid.…`).
    pub id: String,
    /// The sender as given: usually a phone number, absent for users who hide theirs
    /// behind a username (WHATSAPP.md §3.4).
    pub from: Option<String>,
    /// The business-scoped user id, when Meta sends one.
    pub from_user_id: Option<String>,
    /// Unix seconds, as Meta stamped it (0 if the body carries none we can read).
    pub timestamp: i64,
    /// The `type` key as given (`text`, `button`, `interactive`, …, or one nobody knows
    /// yet); `None` when the message has no `type`.
    pub kind: Option<String>,
    /// `context.id`: the message this one answers; for a quick-reply tap, the reminder.
    pub context_id: Option<String>,
    /// `text.body` of a text message.
    pub text_body: Option<String>,
    /// `button.payload` of a template quick-reply tap: the payload we set when sending.
    pub button_payload: Option<String>,
    /// `button.text`: the label the customer tapped.
    pub button_text: Option<String>,
    /// `interactive.type`: `button_reply`, `list_reply`, …
    pub interactive_type: Option<String>,
    /// The `id` we gave the reply button or list row that was chosen.
    pub reply_id: Option<String>,
    /// Its title as the customer saw it.
    pub reply_title: Option<String>,
    /// The chosen list row's description, if it had one.
    pub list_description: Option<String>,
    /// Media id of an image, document, audio, video or sticker.
    pub media_id: Option<String>,
    pub mime_type: Option<String>,
    /// The message a reaction is about.
    pub reaction_message_id: Option<String>,
    /// The reaction's emoji; `Some("")` when a reaction was removed.
    pub reaction_emoji: Option<String>,
    /// Codes of the message's own `errors[]` (e.g. 131051 for an unsupported type).
    pub error_codes: Vec<i64>,
}

/// A status report about a message we sent (`value.statuses[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusUpdate {
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    /// Id of the message the status is about.
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed`, `played`, … as given.
    pub status: String,
    pub recipient_id: Option<String>,
    /// Unix seconds (0 if unreadable). Statuses arrive out of order: order by this.
    pub timestamp: i64,
    /// Codes of `errors[]`, in order; usually only on `failed`.
    pub error_codes: Vec<i64>,
    /// The first error's `title` (or its `message` when it has no title), for staff.
    pub error_title: Option<String>,
    /// The first error's `error_data.details`.
    pub error_details: Option<String>,
    /// Echo of what we sent along with the message (names the outbox row).
    pub biz_opaque_callback_data: Option<String>,
    /// `pricing.pricing_model`: `PMP` or the older `CBP`.
    pub pricing_model: Option<String>,
    /// `pricing.category`: `utility`, `marketing`, …
    pub pricing_category: Option<String>,
    /// `pricing.type`: `regular`, `free_customer_service`, …
    pub pricing_type: Option<String>,
}

/// A change to one of our templates. One struct serves the three template webhooks;
/// fields that a kind does not carry stay `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateEvent {
    pub waba_id: Option<String>,
    /// `message_template_id` as a decimal string (Meta sends an integer of up to 16
    /// digits; a string keeps it exact whatever reads it later).
    pub template_id: Option<String>,
    pub name: Option<String>,
    pub language: Option<String>,
    /// Status webhooks: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub event: Option<String>,
    /// Status webhooks: why (`INVALID_FORMAT`, `SCAM`, `NONE`, …).
    pub reason: Option<String>,
    /// Status webhooks: `message_template_category`.
    pub category: Option<String>,
    /// Status webhooks: `other_info.title` (`FIRST_PAUSE`, `RATE_LIMITING_PAUSE`, …).
    pub other_info_title: Option<String>,
    /// Category webhooks.
    pub new_category: Option<String>,
    pub previous_category: Option<String>,
    /// Quality webhooks: `new_quality_score`, `previous_quality_score`.
    pub new_quality: Option<String>,
    pub previous_quality: Option<String>,
}

/// A customer's marketing preference (`value.user_preferences[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPreference {
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub wa_id: Option<String>,
    /// `marketing_messages`.
    pub category: Option<String>,
    /// `stop`, `resume`, …
    pub value: Option<String>,
    /// Unix seconds (0 if unreadable).
    pub timestamp: i64,
    pub detail: Option<String>,
}

/// A system-level error (`value.errors[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemError {
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub code: Option<i64>,
    pub title: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

impl Event {
    /// The key under which a repeated delivery of this event is recognised: Meta
    /// retries and duplicates webhooks (WHATSAPP.md §3.3). A status is keyed with its
    /// value because `sent`, `delivered` and `read` of one message are distinct events.
    /// Other events are rare and harmless to apply twice.
    pub fn dedup_key(&self) -> Option<String> {
        match self {
            Event::Message(m) => Some(format!("message:{}", m.id)),
            Event::Status(s) => Some(format!("status:{}:{}", s.id, s.status)),
            _ => None,
        }
    }

    /// The WhatsApp Business Account the event belongs to.
    pub fn waba_id(&self) -> Option<&str> {
        match self {
            Event::Message(m) => m.waba_id.as_deref(),
            Event::Status(s) => s.waba_id.as_deref(),
            Event::TemplateStatus(t) | Event::TemplateCategory(t) | Event::TemplateQuality(t) => {
                t.waba_id.as_deref()
            }
            Event::UserPreference(p) => p.waba_id.as_deref(),
            Event::Error(e) => e.waba_id.as_deref(),
        }
    }

    /// Which of our phone numbers the event is about; `None` for template events,
    /// which concern the whole account.
    pub fn phone_number_id(&self) -> Option<&str> {
        match self {
            Event::Message(m) => m.phone_number_id.as_deref(),
            Event::Status(s) => s.phone_number_id.as_deref(),
            Event::TemplateStatus(_) | Event::TemplateCategory(_) | Event::TemplateQuality(_) => {
                None
            }
            Event::UserPreference(p) => p.phone_number_id.as_deref(),
            Event::Error(e) => e.phone_number_id.as_deref(),
        }
    }
}

impl StatusUpdate {
    /// The delivery state this status reports, if it is one the outbox tracks
    /// (`played` and unknown future statuses are not).
    pub fn delivery(&self) -> Option<Delivery> {
        match self.status.as_str() {
            "sent" => Some(Delivery::Sent),
            "delivered" => Some(Delivery::Delivered),
            "read" => Some(Delivery::Read),
            "failed" => Some(Delivery::Failed),
            _ => None,
        }
    }
}

impl InboundMessage {
    /// What the customer chose, as we encoded it when sending: the payload of a
    /// template quick reply (`type: "button"`), or the id of an interactive reply
    /// button or list row. `None` for anything typed or sent freely.
    pub fn reply_payload(&self) -> Option<&str> {
        match self.kind.as_deref() {
            Some("button") => self.button_payload.as_deref(),
            Some("interactive") => match self.interactive_type.as_deref() {
                Some("button_reply" | "list_reply") => self.reply_id.as_deref(),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Reads a webhook body into its events. See the module documentation for what is
/// lenient and what is an error.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let root: Value = serde_json::from_slice(body)?;
    let object = root
        .get("object")
        .and_then(Value::as_str)
        .ok_or(ParseError::NotEnvelope("no `object` string"))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(ParseError::NotEnvelope("no `entry` array"))?;
    if object != OBJECT {
        return Err(ParseError::OtherObject(object.to_string()));
    }

    let mut events = Vec::new();
    for entry in entries {
        let waba_id = ident(entry.get("id"));
        for change in array(entry, "changes") {
            let Some(value) = change.get("value").filter(|v| v.is_object()) else {
                continue;
            };
            read_change(change.get("field").and_then(Value::as_str), value, &waba_id, &mut events);
        }
    }
    Ok(events)
}

/// Appends the events of one `changes[]` element.
fn read_change(field: Option<&str>, value: &Value, waba_id: &Option<String>, out: &mut Vec<Event>) {
    match field {
        Some("message_template_status_update") => {
            out.push(Event::TemplateStatus(template_event(value, waba_id)));
        }
        Some("template_category_update") => {
            out.push(Event::TemplateCategory(template_event(value, waba_id)));
        }
        Some("message_template_quality_update") => {
            out.push(Event::TemplateQuality(template_event(value, waba_id)));
        }
        // A change without `field` is read like a messages change rather than dropped.
        Some("messages" | "user_preferences") | None => {
            let phone = value.get("metadata").and_then(|m| ident(m.get("phone_number_id")));
            let at = Origin { waba_id, phone_number_id: &phone };
            out.extend(array(value, "messages").iter().filter_map(|m| message(m, &at)));
            out.extend(array(value, "statuses").iter().filter_map(|s| status(s, &at)));
            out.extend(array(value, "user_preferences").iter().filter_map(|p| preference(p, &at)));
            out.extend(array(value, "errors").iter().filter_map(|e| system_error(e, &at)));
        }
        // Account, phone-number and other updates the daemon does not subscribe to.
        Some(_) => {}
    }
}

/// Where a change's events came from.
struct Origin<'a> {
    waba_id: &'a Option<String>,
    phone_number_id: &'a Option<String>,
}

fn message(m: &Value, at: &Origin<'_>) -> Option<Event> {
    let id = ident(m.get("id"))?;
    let kind = text(m, "type");
    // The content object is keyed by the type; read only the one the type names.
    let content = |name: &str| (kind.as_deref() == Some(name)).then(|| m.get(name)).flatten();
    let text_body = content("text").and_then(|t| text(t, "body"));
    let button = content("button");
    let interactive = content("interactive");
    let interactive_type = interactive.and_then(|i| text(i, "type"));
    let reply = interactive.and_then(|i| match interactive_type.as_deref() {
        Some(t @ ("button_reply" | "list_reply")) => i.get(t),
        _ => None,
    });
    let list_description = reply
        .filter(|_| interactive_type.as_deref() == Some("list_reply"))
        .and_then(|r| text(r, "description"));
    let media = ["image", "document", "audio", "video", "sticker"].into_iter().find_map(content);
    let reaction = content("reaction");
    Some(Event::Message(InboundMessage {
        waba_id: at.waba_id.clone(),
        phone_number_id: at.phone_number_id.clone(),
        id,
        from: ident(m.get("from")),
        from_user_id: ident(m.get("from_user_id")),
        timestamp: timestamp(m.get("timestamp")),
        context_id: m.get("context").and_then(|c| ident(c.get("id"))),
        text_body,
        button_payload: button.and_then(|b| text(b, "payload")),
        button_text: button.and_then(|b| text(b, "text")),
        interactive_type,
        reply_id: reply.and_then(|r| ident(r.get("id"))),
        reply_title: reply.and_then(|r| text(r, "title")),
        list_description,
        media_id: media.and_then(|x| ident(x.get("id"))),
        mime_type: media.and_then(|x| text(x, "mime_type")),
        reaction_message_id: reaction.and_then(|r| ident(r.get("message_id"))),
        reaction_emoji: reaction.and_then(|r| text(r, "emoji")),
        error_codes: error_codes(m),
        kind,
    }))
}

fn status(s: &Value, at: &Origin<'_>) -> Option<Event> {
    let id = ident(s.get("id"))?;
    let status = text(s, "status")?;
    let first_error = array(s, "errors").first();
    let pricing = s.get("pricing");
    Some(Event::Status(StatusUpdate {
        waba_id: at.waba_id.clone(),
        phone_number_id: at.phone_number_id.clone(),
        id,
        status,
        recipient_id: ident(s.get("recipient_id")),
        timestamp: timestamp(s.get("timestamp")),
        error_codes: error_codes(s),
        error_title: first_error.and_then(|e| text(e, "title").or_else(|| text(e, "message"))),
        error_details: first_error
            .and_then(|e| e.get("error_data"))
            .and_then(|d| text(d, "details")),
        biz_opaque_callback_data: text(s, "biz_opaque_callback_data"),
        pricing_model: pricing.and_then(|p| text(p, "pricing_model")),
        pricing_category: pricing.and_then(|p| text(p, "category")),
        pricing_type: pricing.and_then(|p| text(p, "type")),
    }))
}

fn preference(p: &Value, at: &Origin<'_>) -> Option<Event> {
    p.is_object().then(|| {
        Event::UserPreference(UserPreference {
            waba_id: at.waba_id.clone(),
            phone_number_id: at.phone_number_id.clone(),
            wa_id: ident(p.get("wa_id")),
            category: text(p, "category"),
            value: text(p, "value"),
            timestamp: timestamp(p.get("timestamp")),
            detail: text(p, "detail"),
        })
    })
}

fn system_error(e: &Value, at: &Origin<'_>) -> Option<Event> {
    e.is_object().then(|| {
        Event::Error(SystemError {
            waba_id: at.waba_id.clone(),
            phone_number_id: at.phone_number_id.clone(),
            code: integer(e.get("code")),
            title: text(e, "title").or_else(|| text(e, "message")),
            details: e.get("error_data").and_then(|d| text(d, "details")),
        })
    })
}

fn template_event(v: &Value, waba_id: &Option<String>) -> TemplateEvent {
    TemplateEvent {
        waba_id: waba_id.clone(),
        template_id: ident(v.get("message_template_id")),
        name: text(v, "message_template_name"),
        language: text(v, "message_template_language"),
        event: text(v, "event"),
        reason: text(v, "reason"),
        category: text(v, "message_template_category"),
        other_info_title: v.get("other_info").and_then(|o| text(o, "title")),
        new_category: text(v, "new_category"),
        previous_category: text(v, "previous_category"),
        new_quality: text(v, "new_quality_score"),
        previous_quality: text(v, "previous_quality_score"),
    }
}

/// The codes of an object's `errors[]`, skipping errors without a readable code.
fn error_codes(v: &Value) -> Vec<i64> {
    array(v, "errors").iter().filter_map(|e| integer(e.get("code"))).collect()
}

/// `v[key]` as an array; empty when absent or not an array.
fn array<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Unix seconds from a string or an integer; 0 when absent or unreadable, which sorts
/// such an event before any real one rather than dropping it.
fn timestamp(v: Option<&Value>) -> i64 {
    integer(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An envelope with one `messages` change holding `value`.
    fn envelope(value: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"waba","changes":[{{"field":"messages","value":{value}}}]}}]}}"#
        )
        .into_bytes()
    }

    fn only_message(value: &str) -> InboundMessage {
        match parse(&envelope(value)).expect("an envelope").as_slice() {
            [Event::Message(m)] => m.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn only_status(value: &str) -> StatusUpdate {
        match parse(&envelope(value)).expect("an envelope").as_slice() {
            [Event::Status(s)] => s.clone(),
            other => panic!("expected one status, got {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_refused() {
        for body in [&b""[..], b"not json", b"{\"object\":", b"\xff\xfe"] {
            assert!(matches!(parse(body), Err(ParseError::NotJson(_))), "{body:?}");
        }
    }

    #[test]
    fn json_that_is_not_an_envelope_is_refused() {
        for body in [
            "[]",
            "null",
            "{}",
            r#"{"entry":[]}"#,
            r#"{"object":"whatsapp_business_account"}"#,
            r#"{"object":1,"entry":[]}"#,
            r#"{"object":"whatsapp_business_account","entry":{}}"#,
        ] {
            assert!(matches!(parse(body.as_bytes()), Err(ParseError::NotEnvelope(_))), "{body}");
        }
    }

    #[test]
    fn envelopes_of_other_products_are_refused() {
        let body = br#"{"object":"page","entry":[]}"#;
        assert!(matches!(parse(body), Err(ParseError::OtherObject(o)) if o == "page"));
    }

    #[test]
    fn odd_shapes_inside_the_envelope_are_skipped_not_refused() {
        let body = br#"{"object":"whatsapp_business_account","entry":[
            1, null, {"id":7}, {"changes":{}}, {"changes":[3, {"value":[]}, {"field":"account_update","value":{"messages":[{"id":"x"}]}}]},
            {"changes":[{"value":{"messages":[5, {"type":"text"}, {"id":{"a":1}}], "statuses":[{"id":"w"}, {"status":"sent"}],
                                  "user_preferences":"none", "errors":[{}]}}]}
        ]}"#;
        let events = parse(body).expect("an envelope");
        // Only the empty system error survives: it is an object, and its parts are optional.
        assert_eq!(events, [Event::Error(SystemError::default())]);
    }

    #[test]
    fn timestamps_may_be_strings_or_integers() {
        let m = only_message(r#"{"messages":[{"id":"a","timestamp":1700000000,"type":"text"}]}"#);
        assert_eq!(m.timestamp, 1_700_000_000);
        let m = only_message(r#"{"messages":[{"id":"a","timestamp":"1700000001"}]}"#);
        assert_eq!(m.timestamp, 1_700_000_001);
        for odd in [r#""soon""#, "1.5", "null", "99999999999999999999", "[]"] {
            let m = only_message(&format!(r#"{{"messages":[{{"id":"a","timestamp":{odd}}}]}}"#));
            assert_eq!(m.timestamp, 0, "{odd}");
        }
    }

    #[test]
    fn a_quick_reply_tap_yields_its_payload_and_the_reminder_it_answers() {
        let m = only_message(
            r#"{"metadata":{"phone_number_id":"106"},"messages":[{"context":{"from":"1555","id":"wamid.reminder"},
               "from":"31612345678","id":"wamid.tap","timestamp":"1739321024","type":"button",
               "button":{"payload":"CONFIRM:7f3c2a","text":"Ja, ik kom"}}]}"#,
        );
        assert_eq!(m.phone_number_id.as_deref(), Some("106"));
        assert_eq!(m.waba_id.as_deref(), Some("waba"));
        assert_eq!(m.context_id.as_deref(), Some("wamid.reminder"));
        assert_eq!(m.button_text.as_deref(), Some("Ja, ik kom"));
        assert_eq!(m.reply_payload(), Some("CONFIRM:7f3c2a"));
        assert_eq!(Event::Message(m).dedup_key().as_deref(), Some("message:wamid.tap"));
    }

    #[test]
    fn interactive_replies_yield_the_chosen_id() {
        let m = only_message(
            r#"{"messages":[{"id":"a","type":"interactive","interactive":{"type":"list_reply",
               "list_reply":{"id":"SLOT:1","title":"09:00","description":"Dr. Jansen"}}}]}"#,
        );
        assert_eq!(m.reply_payload(), Some("SLOT:1"));
        assert_eq!(m.list_description.as_deref(), Some("Dr. Jansen"));
        let m = only_message(
            r#"{"messages":[{"id":"a","type":"interactive","interactive":{"type":"button_reply",
               "button_reply":{"id":"RS_YES:1","title":"Ja","description":"ignored"}}}]}"#,
        );
        assert_eq!(m.reply_payload(), Some("RS_YES:1"));
        assert_eq!(m.list_description, None);
    }

    #[test]
    fn typed_text_and_unknown_types_have_no_reply_payload() {
        let m = only_message(r#"{"messages":[{"id":"a","type":"text","text":{"body":"STOP"}}]}"#);
        assert_eq!((m.text_body.as_deref(), m.reply_payload()), (Some("STOP"), None));
        let m = only_message(
            r#"{"messages":[{"id":"a","type":"hologram","hologram":{"id":"h"},"button":{"payload":"P"}}]}"#,
        );
        assert_eq!(m.kind.as_deref(), Some("hologram"));
        assert_eq!((m.button_payload, m.media_id), (None, None));
    }

    #[test]
    fn statuses_map_to_deliveries_and_keep_their_first_error() {
        let s = only_status(
            r#"{"statuses":[{"id":"wamid.r","status":"failed","timestamp":"1751142888","recipient_id":"3161",
               "biz_opaque_callback_data":"outbox:9",
               "errors":[{"code":131026,"message":"Message undeliverable","error_data":{"details":"not on WhatsApp"}},{"code":"131000"}]}]}"#,
        );
        assert_eq!(s.delivery(), Some(Delivery::Failed));
        assert_eq!(s.error_codes, [131026, 131000]);
        assert_eq!(s.error_title.as_deref(), Some("Message undeliverable"));
        assert_eq!(s.error_details.as_deref(), Some("not on WhatsApp"));
        assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("outbox:9"));
        assert_eq!(Event::Status(s).dedup_key().as_deref(), Some("status:wamid.r:failed"));

        for (word, delivery) in [
            ("sent", Some(Delivery::Sent)),
            ("delivered", Some(Delivery::Delivered)),
            ("read", Some(Delivery::Read)),
            ("played", None),
            ("SENT", None),
        ] {
            let s = only_status(&format!(r#"{{"statuses":[{{"id":"w","status":"{word}"}}]}}"#));
            assert_eq!(s.delivery(), delivery, "{word}");
        }
    }

    #[test]
    fn other_events_have_no_dedup_key() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
            {"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":1234567890123456}},
            {"field":"user_preferences","value":{"user_preferences":[{"wa_id":"1","value":"stop","timestamp":5}]}}]}]}"#;
        let events = parse(body).expect("an envelope");
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.dedup_key().is_none()));
        let Event::TemplateStatus(t) = &events[0] else { panic!("{events:?}") };
        assert_eq!(t.template_id.as_deref(), Some("1234567890123456"));
        assert_eq!(events[0].phone_number_id(), None);
    }

    #[test]
    fn damaged_bodies_never_panic() {
        let base = envelope(
            r#"{"metadata":{"phone_number_id":"1"},"messages":[{"id":"a","timestamp":"1","type":"reaction",
               "reaction":{"message_id":"b","emoji":"\ud83d\udc4d"}}],"statuses":[{"id":"c","status":"read"}]}"#,
        );
        // Every single-byte replacement by a few troublesome bytes, and every cut.
        for at in 0..base.len() {
            for byte in [b'"', b'{', b']', b'0', b'\\', 0xff] {
                let mut body = base.clone();
                body[at] = byte;
                let _ = parse(&body);
            }
            let _ = parse(&base[..at]);
        }
        assert_eq!(parse(&base).expect("the original").len(), 2);
    }
}
