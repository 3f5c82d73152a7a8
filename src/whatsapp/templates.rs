//! Templates at Meta: which ones may be used now (the [`TemplateBook`] the dispatcher
//! asks before every reminder), the management calls behind `reminderd templates sync`
//! and `status`, and the creation request built from a rule's definition.
//!
//! A template is used only while it is an APPROVED UTILITY template in the rule's
//! language. Meta says so in the template webhooks (status, category, quality), in the
//! template list, and — too late, but surely — in a send refused with 132001, 132007,
//! 132015 or 132016. A template nobody has reported on yet is tried: the send's answer
//! will tell.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::TimeZone;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::json::{ident, text};
use super::response::{Answer, GraphError, read_response};
use crate::domain::{Appointment, AppointmentStatus, Reply};
use crate::rules::{BodyParams, RenderContext, Rule, TemplateParams};
use crate::store::TemplateRecord;

/// Statuses in which a template may be sent: approved, approved again after a pause,
/// or approved with a warning about its quality.
const USABLE: [&str; 3] = ["APPROVED", "REINSTATED", "FLAGGED"];

/// Why a template may not be used now, or `None` when it may (or nothing is known).
pub fn unusable(record: &TemplateRecord) -> Option<String> {
    let what = format!("template {} ({})", record.name, record.language);
    if let Some(status) = record.status.as_deref()
        && !USABLE.contains(&status)
    {
        let reason = record.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        return Some(format!("{what} is {status} at Meta{reason}"));
    }
    match record.category.as_deref() {
        None | Some("UTILITY") => None,
        Some(other) => Some(format!(
            "{what} was re-categorised as {other} by Meta: a reminder must be a UTILITY template"
        )),
    }
}

/// What is known about every template, shared by the dispatcher (which asks) and the
/// webhook processor (which tells); the store keeps the same for other replicas and
/// restarts.
#[derive(Debug, Default)]
pub struct TemplateBook {
    known: RwLock<HashMap<(String, String), TemplateRecord>>,
}

impl TemplateBook {
    /// Replaces everything with the store's records.
    pub fn load(&self, records: Vec<TemplateRecord>) {
        let map = records.into_iter().map(|r| ((r.name.clone(), r.language.clone()), r)).collect();
        *self.known.write().expect("not poisoned") = map;
    }

    /// Merges one report, as the store does (fields given replace; the reason goes with
    /// the status).
    pub fn update(&self, report: &TemplateRecord) {
        let mut known = self.known.write().expect("not poisoned");
        let entry =
            known.entry((report.name.clone(), report.language.clone())).or_insert_with(|| {
                TemplateRecord {
                    name: report.name.clone(),
                    language: report.language.clone(),
                    ..TemplateRecord::default()
                }
            });
        merge(entry, report);
    }

    /// Why `name` in `language` may not be sent now.
    pub fn unusable(&self, name: &str, language: &str) -> Option<String> {
        let known = self.known.read().expect("not poisoned");
        known.get(&(name.to_string(), language.to_string())).and_then(unusable)
    }
}

fn merge(into: &mut TemplateRecord, report: &TemplateRecord) {
    let keep = |old: &mut Option<String>, new: &Option<String>| {
        if new.is_some() {
            old.clone_from(new);
        }
    };
    keep(&mut into.template_id, &report.template_id);
    keep(&mut into.status, &report.status);
    keep(&mut into.category, &report.category);
    keep(&mut into.quality, &report.quality);
    if report.status.is_some() {
        into.reason.clone_from(&report.reason);
    }
}

/// What a template webhook reports, as a record to merge; the template is named by the
/// event, or else looked up by its id (`known`). `None` when it cannot be identified.
pub fn report_of(
    event: &super::webhook::TemplateEvent,
    known: Option<&TemplateRecord>,
) -> Option<TemplateRecord> {
    let name = event.name.clone().or_else(|| known.map(|k| k.name.clone()))?;
    let language = event.language.clone().or_else(|| known.map(|k| k.language.clone()))?;
    Some(TemplateRecord {
        name,
        language,
        template_id: event.template_id.clone(),
        status: event.event.clone(),
        category: event.new_category.clone().or_else(|| event.category.clone()),
        quality: event.new_quality.clone(),
        reason: event
            .reason
            .clone()
            .filter(|r| r != "NONE")
            .or_else(|| event.other_info_title.clone()),
    })
}

/// The status a refused send says the template is in (132015 paused, 132016 disabled,
/// 132001 missing or not approved in this language, 132007 refused for its content).
pub fn status_after_error(code: i64) -> &'static str {
    match code {
        132015 => "PAUSED",
        132016 => "DISABLED",
        132001 => "NOT_FOUND",
        _ => "REJECTED",
    }
}

/// The calls on the WhatsApp Business Account that manage templates.
#[derive(Clone, Debug)]
pub struct TemplateClient {
    http: reqwest::Client,
    base: String,
    business_account_id: String,
    token: SecretString,
}

/// Why a management call failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Graph(Box<GraphError>),
    #[error("no answer from the Graph API: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the template list could not be read: {0}")]
    Unreadable(String),
}

impl From<GraphError> for TemplateError {
    fn from(e: GraphError) -> Self {
        TemplateError::Graph(Box::new(e))
    }
}

impl TemplateClient {
    pub fn new(
        base_url: &str,
        api_version: &str,
        business_account_id: &str,
        token: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("reminderd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TemplateClient {
            http,
            base: format!("{}/{api_version}", base_url.trim_end_matches('/')),
            business_account_id: business_account_id.to_string(),
            token,
        })
    }

    /// Every template of the account, following Meta's paging.
    pub async fn list(&self) -> Result<Vec<TemplateRecord>, TemplateError> {
        let mut url = format!(
            "{}/{}/message_templates?fields=id,name,language,status,category,quality_score,\
             rejected_reason&limit=100",
            self.base, self.business_account_id
        );
        let mut out = Vec::new();
        // Meta's pages hold up to 100; an account holds at most 250 templates
        for _ in 0..100 {
            let response =
                self.http.get(&url).bearer_auth(self.token.expose_secret()).send().await?;
            let status = response.status().as_u16();
            let body = response.bytes().await?;
            let page = match read_response(status, &body)? {
                Answer::Data(page) => page,
                other => return Err(TemplateError::Unreadable(format!("{other:?}"))),
            };
            out.extend(read_list(&page));
            match page.pointer("/paging/next").and_then(Value::as_str) {
                Some(next) => url = next.to_string(),
                None => return Ok(out),
            }
        }
        Err(TemplateError::Unreadable("more than 100 pages of templates".into()))
    }

    /// Submits a template for review; Meta answers with its id and status (PENDING).
    pub async fn create(&self, request: &Value) -> Result<TemplateRecord, TemplateError> {
        let url = format!("{}/{}/message_templates", self.base, self.business_account_id);
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose_secret())
            .json(request)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        match read_response(status, &body)? {
            Answer::TemplateCreated(created) => Ok(TemplateRecord {
                name: request["name"].as_str().unwrap_or_default().to_string(),
                language: request["language"].as_str().unwrap_or_default().to_string(),
                template_id: Some(created.id),
                status: created.status,
                category: created.category,
                ..TemplateRecord::default()
            }),
            other => Err(TemplateError::Unreadable(format!("{other:?}"))),
        }
    }
}

/// What `reminderd templates sync` did for one rule's template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncAction {
    /// Meta has it already (in whatever status).
    Exists,
    /// Submitted for review now.
    Created,
    /// Meta does not have it and the rule has no `[template.definition]` to create it.
    NoDefinition,
    /// Meta does not have it; `sync` would submit the rule's definition.
    Missing,
    /// Meta refused to create it.
    Failed(String),
}

/// One line of the templates report: a template the rules use, what Meta says about it,
/// and which rules use it.
#[derive(Clone, Debug)]
pub struct TemplateLine {
    pub record: TemplateRecord,
    pub rules: Vec<String>,
    pub action: SyncAction,
}

/// Compares the templates the rules use with Meta's list; with `create`, submits the
/// missing ones that have a definition. Returns a line per template the rules use and
/// every template Meta listed (to be stored).
pub async fn sync(
    client: &TemplateClient,
    rules: &crate::rules::RuleSet,
    example: &RenderContext<'_>,
    create: bool,
) -> Result<(Vec<TemplateLine>, Vec<TemplateRecord>), TemplateError> {
    let mut listed = client.list().await?;
    let mut lines: Vec<TemplateLine> = Vec::new();
    for rule in rules.rules() {
        if let Some(line) = lines
            .iter_mut()
            .find(|l| l.record.name == rule.template && l.record.language == rule.language)
        {
            line.rules.push(rule.name.clone());
            continue;
        }
        let found =
            listed.iter().find(|t| t.name == rule.template && t.language == rule.language).cloned();
        let (record, action) = match found {
            Some(record) => (record, SyncAction::Exists),
            None => {
                let missing = TemplateRecord {
                    name: rule.template.clone(),
                    language: rule.language.clone(),
                    ..TemplateRecord::default()
                };
                match create_request(rule, example) {
                    None => (missing, SyncAction::NoDefinition),
                    Some(Err(e)) => (missing, SyncAction::Failed(e)),
                    Some(Ok(_)) if !create => (missing, SyncAction::Missing),
                    Some(Ok(request)) => match client.create(&request).await {
                        Ok(created) => {
                            listed.push(created.clone());
                            (created, SyncAction::Created)
                        }
                        Err(e) => (missing, SyncAction::Failed(e.to_string())),
                    },
                }
            }
        };
        lines.push(TemplateLine { record, rules: vec![rule.name.clone()], action });
    }
    Ok((lines, listed))
}

/// The report as a table.
pub fn render_lines(lines: &[TemplateLine]) -> String {
    let mut out = format!(
        "{:<28} {:<8} {:<12} {:<10} {:<8} {}\n",
        "template", "language", "status", "category", "quality", "rules / remarks"
    );
    for l in lines {
        let r = &l.record;
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let remark = match &l.action {
            SyncAction::Exists => match unusable(r) {
                None => String::new(),
                Some(why) => format!(" — NOT USED: {why}"),
            },
            SyncAction::Created => " — submitted for review now".into(),
            SyncAction::NoDefinition => " — MISSING at Meta: create it in WhatsApp Manager, or \
                 add [template.definition] to the rule and run `reminderd templates sync`"
                .into(),
            SyncAction::Missing => {
                " — MISSING at Meta: `reminderd templates sync` submits it".into()
            }
            SyncAction::Failed(e) => format!(" — could not be created: {e}"),
        };
        out.push_str(&format!(
            "{:<28} {:<8} {:<12} {:<10} {:<8} {}{remark}\n",
            r.name,
            r.language,
            dash(&r.status),
            dash(&r.category),
            dash(&r.quality),
            l.rules.join(", "),
        ));
    }
    out
}

/// The templates of one page of `GET /{waba-id}/message_templates`.
pub fn read_list(page: &Value) -> Vec<TemplateRecord> {
    page["data"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|t| {
            Some(TemplateRecord {
                name: text(t, "name")?,
                language: text(t, "language")?,
                template_id: ident(t.get("id")),
                status: text(t, "status"),
                category: text(t, "category"),
                // `quality_score` is an object `{ "score": "GREEN", … }`; a plain string
                // is read too
                quality: t
                    .get("quality_score")
                    .and_then(|q| q.as_str().map(str::to_string).or_else(|| text(q, "score"))),
                reason: text(t, "rejected_reason").filter(|r| r != "NONE"),
            })
        })
        .collect()
}

/// The appointment whose values fill a template's examples for Meta's review.
pub fn example_appointment() -> Appointment {
    let start = chrono::Utc.with_ymd_and_hms(2026, 10, 14, 8, 30, 0).single().expect("valid");
    Appointment {
        id: 0,
        source: "voorbeeld".into(),
        external_id: "voorbeeld".into(),
        starts_at: start,
        ends_at: start + chrono::Duration::minutes(30),
        summary: Some("Controle".into()),
        location: None,
        calendar: "voorbeeld".into(),
        customer_name: Some("Sanne de Vries".into()),
        customer_phone: None,
        phone_is_mobile: false,
        customer_email: None,
        contact_problem: None,
        status: AppointmentStatus::Scheduled,
        reply: Reply::None,
        reply_at: None,
    }
}

/// The request that creates the UTILITY template a rule defines, with the rule's
/// parameters filled in for [`example_appointment`] as the examples Meta's reviewers
/// read. `None` for a rule without a definition.
pub fn create_request(rule: &Rule, example: &RenderContext<'_>) -> Option<Result<Value, String>> {
    let d = rule.definition.as_ref()?;
    let rendered = match rule.render(example) {
        Ok(r) => r,
        Err(e) => {
            return Some(Err(format!("rule `{}`: the example cannot be filled: {e}", rule.name)));
        }
    };
    let named = matches!(rule.body, BodyParams::Named(_));
    let examples = |key: &str, params: &TemplateParams| match params {
        TemplateParams::Positional(values) if key == "header_text" => json!({ key: values }),
        TemplateParams::Positional(values) => json!({ key: [values] }),
        TemplateParams::Named(values) => json!({
            format!("{key}_named_params"): values
                .iter()
                .map(|(name, example)| json!({ "param_name": name, "example": example }))
                .collect::<Vec<_>>()
        }),
    };
    let mut components = Vec::new();
    if let Some(header) = &d.header {
        let mut c = json!({ "type": "HEADER", "format": "TEXT", "text": header });
        if let Some(params) = &rendered.header {
            c["example"] = examples("header_text", params);
        }
        components.push(c);
    }
    components.push(json!({
        "type": "BODY",
        "text": d.body,
        "example": examples("body_text", &rendered.params),
    }));
    if let Some(footer) = &d.footer {
        components.push(json!({ "type": "FOOTER", "text": footer }));
    }
    if !d.buttons.is_empty() {
        components.push(json!({
            "type": "BUTTONS",
            "buttons": d.buttons.iter().map(|b| json!({ "type": "QUICK_REPLY", "text": b })).collect::<Vec<_>>(),
        }));
    }
    let mut request = json!({
        "name": rule.template,
        "language": rule.language,
        "category": "UTILITY",
        "parameter_format": if named { "NAMED" } else { "POSITIONAL" },
        "components": components,
    });
    if let Some(ttl) = rule.ttl {
        request["message_send_ttl_seconds"] = json!(ttl.as_secs());
    }
    Some(Ok(request))
}

#[cfg(test)]
mod tests;
