//! The bodies reminderd POSTs to `/{phone-number-id}/messages`: a template with quick
//! replies (the reminder) and a free-form text (a reply inside the service window).
//! Shapes as in WHATSAPP.md §1.1 and §2.1.

use serde::Serialize;

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
