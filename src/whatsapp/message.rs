//! The bodies reminderd POSTs to `/{phone-number-id}/messages`: a template with quick
//! replies (the reminder), a free-form text (a reply inside the service window) and an
//! interactive list (the free times offered after "Verzetten"). Shapes as in
//! WHATSAPP.md §1.1, §2.1 and §2.3.

use serde::{Deserialize, Serialize};

/// One request to the messages endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SendRequest {
    messaging_product: &'static str,
    recipient_type: &'static str,
    /// E.164 with `+`.
    pub to: String,
    #[serde(flatten)]
    pub body: Body,
    /// Echoed on every status webhook of this message, so statuses map back to the
    /// outgoing message even if the send's response was never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// Quotes an earlier message (a reply to the customer's tap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Context {
    pub message_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Body {
    Template { template: Template },
    Text { text: Text },
    Interactive { interactive: Interactive },
}

/// An interactive list: one button that opens sections of rows to pick from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interactive {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<TextHeader>,
    body: BodyText,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<BodyText>,
    action: ListAction,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct TextHeader {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct BodyText {
    text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct ListAction {
    button: String,
    sections: Vec<ListSection>,
}

/// A titled group of rows (one per day, for free times).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: String,
    pub rows: Vec<ListRow>,
}

/// One choice; `id` comes back in the webhook's `list_reply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Everything needed to send one list. Stored as JSON in the outbox when it is decided
/// (without the recipient and the callback data, which the dispatcher adds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListMessage {
    #[serde(skip)]
    pub to: String,
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    /// The label of the button that opens the list.
    pub button: String,
    pub sections: Vec<ListSection>,
    #[serde(skip)]
    pub callback_data: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub language: Language,
    pub components: Vec<Component>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Language {
    pub code: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Component {
    Header { parameters: Vec<TextParameter> },
    Body { parameters: Vec<TextParameter> },
    Button { sub_type: &'static str, index: String, parameters: Vec<PayloadParameter> },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextParameter {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Set for templates created with named parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_name: Option<String>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PayloadParameter {
    #[serde(rename = "type")]
    kind: &'static str,
    pub payload: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Text {
    pub preview_url: bool,
    pub body: String,
}

/// The body parameters of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parameters {
    Positional(Vec<String>),
    Named(Vec<(String, String)>),
}

/// Everything needed to send one template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateMessage {
    pub to: String,
    pub name: String,
    pub language: String,
    /// The text header's one parameter, when the template has one.
    pub header: Option<Parameters>,
    pub parameters: Parameters,
    /// One payload per quick-reply button, in the template's button order.
    pub quick_replies: Vec<String>,
    pub callback_data: String,
}

fn text_parameters(parameters: Parameters) -> Vec<TextParameter> {
    match parameters {
        Parameters::Positional(values) => values
            .into_iter()
            .map(|text| TextParameter { kind: "text", parameter_name: None, text })
            .collect(),
        Parameters::Named(values) => values
            .into_iter()
            .map(|(name, text)| TextParameter { kind: "text", parameter_name: Some(name), text })
            .collect(),
    }
}

impl SendRequest {
    /// A template message with body parameters and quick-reply payloads.
    pub fn template(m: TemplateMessage) -> SendRequest {
        let mut components = Vec::with_capacity(2 + m.quick_replies.len());
        if let Some(header) = m.header {
            components.push(Component::Header { parameters: text_parameters(header) });
        }
        components.push(Component::Body { parameters: text_parameters(m.parameters) });
        components.extend(m.quick_replies.into_iter().enumerate().map(|(i, payload)| {
            Component::Button {
                sub_type: "quick_reply",
                index: i.to_string(),
                parameters: vec![PayloadParameter { kind: "payload", payload }],
            }
        }));
        SendRequest {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: m.to,
            body: Body::Template {
                template: Template {
                    name: m.name,
                    language: Language { code: m.language },
                    components,
                },
            },
            biz_opaque_callback_data: Some(m.callback_data),
            context: None,
        }
    }

    /// An interactive list, checked against Meta's limits (WHATSAPP.md §2.3): a list
    /// Meta would refuse is an error naming the part, not a failed send.
    pub fn list(m: ListMessage) -> Result<SendRequest, String> {
        let too_long = |what: &str, text: &str, max: usize| {
            (text.chars().count() > max)
                .then(|| format!("the list's {what} `{text}` is longer than {max} characters"))
        };
        let rows: usize = m.sections.iter().map(|s| s.rows.len()).sum();
        if rows == 0 || rows > 10 {
            return Err(format!("a list holds 1 to 10 rows, not {rows}"));
        }
        if m.sections.len() > 10 {
            return Err("a list holds at most 10 sections".into());
        }
        let mut checks = vec![
            too_long("button", &m.button, 20),
            too_long("body", &m.body, 4096),
            m.header.as_deref().and_then(|h| too_long("header", h, 60)),
            m.footer.as_deref().and_then(|f| too_long("footer", f, 60)),
        ];
        for section in &m.sections {
            checks.push(too_long("section title", &section.title, 24));
            for row in &section.rows {
                checks.push(too_long("row title", &row.title, 24));
                checks.push(too_long("row id", &row.id, 200));
                checks.push(
                    row.description.as_deref().and_then(|d| too_long("row description", d, 72)),
                );
            }
        }
        if let Some(problem) = checks.into_iter().flatten().next() {
            return Err(problem);
        }
        Ok(SendRequest {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: m.to,
            body: Body::Interactive {
                interactive: Interactive {
                    kind: "list",
                    header: m.header.map(|text| TextHeader { kind: "text", text }),
                    body: BodyText { text: m.body },
                    footer: m.footer.map(|text| BodyText { text }),
                    action: ListAction { button: m.button, sections: m.sections },
                },
            },
            biz_opaque_callback_data: Some(m.callback_data),
            context: None,
        })
    }

    /// A free-form text, optionally quoting the message it answers.
    pub fn text(
        to: &str,
        body: &str,
        reply_to: Option<&str>,
        callback_data: String,
    ) -> SendRequest {
        SendRequest {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: to.to_string(),
            body: Body::Text { text: Text { preview_url: false, body: body.to_string() } },
            biz_opaque_callback_data: Some(callback_data),
            context: reply_to.map(|id| Context { message_id: id.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_message_has_the_shape_meta_documents() {
        let request = SendRequest::template(TemplateMessage {
            to: "+31612345678".into(),
            name: "afspraak_herinnering".into(),
            language: "nl".into(),
            header: None,
            parameters: Parameters::Positional(vec![
                "Sanne".into(),
                "dinsdag 14 oktober".into(),
                "10:30".into(),
                "Praktijk De Linde".into(),
            ]),
            quick_replies: vec!["CONFIRM:7:x".into(), "CANCEL:7:y".into(), "RESCHEDULE:7:z".into()],
            callback_data: "outbox:7".into(),
        });
        // WHATSAPP.md §1.1, the reminder example
        let expected = json!({
          "messaging_product": "whatsapp",
          "recipient_type": "individual",
          "to": "+31612345678",
          "type": "template",
          "biz_opaque_callback_data": "outbox:7",
          "template": {
            "name": "afspraak_herinnering",
            "language": { "code": "nl" },
            "components": [
              { "type": "body", "parameters": [
                  { "type": "text", "text": "Sanne" },
                  { "type": "text", "text": "dinsdag 14 oktober" },
                  { "type": "text", "text": "10:30" },
                  { "type": "text", "text": "Praktijk De Linde" } ] },
              { "type": "button", "sub_type": "quick_reply", "index": "0",
                "parameters": [ { "type": "payload", "payload": "CONFIRM:7:x" } ] },
              { "type": "button", "sub_type": "quick_reply", "index": "1",
                "parameters": [ { "type": "payload", "payload": "CANCEL:7:y" } ] },
              { "type": "button", "sub_type": "quick_reply", "index": "2",
                "parameters": [ { "type": "payload", "payload": "RESCHEDULE:7:z" } ] }
            ]
          }
        });
        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
    }

    #[test]
    fn named_parameters_carry_their_names() {
        let request = SendRequest::template(TemplateMessage {
            to: "+31612345678".into(),
            name: "herinnering".into(),
            language: "nl".into(),
            header: Some(Parameters::Named(vec![("datum".into(), "di 14 okt".into())])),
            parameters: Parameters::Named(vec![("naam".into(), "Sanne".into())]),
            quick_replies: vec![],
            callback_data: "outbox:1".into(),
        });
        let value = serde_json::to_value(&request).unwrap();
        // the header's one parameter comes first, named like the body's
        assert_eq!(
            value["template"]["components"],
            json!([
                { "type": "header", "parameters": [
                    { "type": "text", "parameter_name": "datum", "text": "di 14 okt" } ] },
                { "type": "body", "parameters": [
                    { "type": "text", "parameter_name": "naam", "text": "Sanne" } ] }
            ])
        );
    }

    fn example_list() -> ListMessage {
        let row = |id: &str, title: &str, description: Option<&str>| ListRow {
            id: id.into(),
            title: title.into(),
            description: description.map(str::to_string),
        };
        ListMessage {
            to: "+31612345678".into(),
            header: Some("Beschikbare tijden".into()),
            body: "Kies een nieuw tijdstip voor je afspraak.".into(),
            footer: Some("Praktijk De Linde".into()),
            button: "Kies tijd".into(),
            sections: vec![
                ListSection {
                    title: "Woensdag 15 okt".into(),
                    rows: vec![
                        row("SLOT:7f3c2a:20251015T0900", "09:00", Some("Dr. Jansen")),
                        row("SLOT:7f3c2a:20251015T1130", "11:30", Some("Dr. Jansen")),
                    ],
                },
                ListSection {
                    title: "Donderdag 16 okt".into(),
                    rows: vec![row("SLOT:7f3c2a:20251016T1400", "14:00", None)],
                },
            ],
            callback_data: "outbox:9".into(),
        }
    }

    #[test]
    fn a_list_has_the_shape_meta_documents() {
        let request = SendRequest::list(example_list()).unwrap();
        let mut value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["biz_opaque_callback_data"], "outbox:9");
        value.as_object_mut().unwrap().remove("biz_opaque_callback_data");
        // WHATSAPP.md §2.3, verbatim
        assert_eq!(
            value,
            json!({
              "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+31612345678",
              "type": "interactive",
              "interactive": {
                "type": "list",
                "header": { "type": "text", "text": "Beschikbare tijden" },
                "body":   { "text": "Kies een nieuw tijdstip voor je afspraak." },
                "footer": { "text": "Praktijk De Linde" },
                "action": {
                  "button": "Kies tijd",
                  "sections": [
                    { "title": "Woensdag 15 okt", "rows": [
                      { "id": "SLOT:7f3c2a:20251015T0900", "title": "09:00", "description": "Dr. Jansen" },
                      { "id": "SLOT:7f3c2a:20251015T1130", "title": "11:30", "description": "Dr. Jansen" } ] },
                    { "title": "Donderdag 16 okt", "rows": [
                      { "id": "SLOT:7f3c2a:20251016T1400", "title": "14:00" } ] }
                  ]
                }
              }
            })
        );
    }

    #[test]
    fn a_list_meta_would_refuse_is_an_error_naming_the_part() {
        let mut eleven = example_list();
        eleven.sections[0].rows = (0..10).map(|_| eleven.sections[1].rows[0].clone()).collect();
        assert!(SendRequest::list(eleven).unwrap_err().contains("1 to 10 rows, not 11"));
        let mut long = example_list();
        long.sections[0].title = "Woensdag 15 oktober 2026 ochtend".into();
        assert!(SendRequest::list(long).unwrap_err().contains("section title"));
        let mut button = example_list();
        button.button = "Kies een nieuwe tijd uit de lijst".into();
        assert!(SendRequest::list(button).unwrap_err().contains("button"));
    }

    #[test]
    fn a_text_reply_quotes_the_message_it_answers() {
        let request =
            SendRequest::text("+31612345678", "Bedankt!", Some("wamid.in"), "outbox:9".into());
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "+31612345678", "type": "text",
                "text": { "preview_url": false, "body": "Bedankt!" },
                "biz_opaque_callback_data": "outbox:9",
                "context": { "message_id": "wamid.in" }
            })
        );
    }
}
