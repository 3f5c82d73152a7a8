use std::collections::HashMap;

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const RULE: &str = r#"
when = { before = "24h" }
[template]
name = "afspraak_herinnering"
language = "nl"
header = "{date_short}"
body = ["{first_name}", "{date}", "{time}", "{location}"]
buttons = ["confirm", "cancel", "reschedule"]
ttl = "3h"
[template.definition]
header = "Herinnering {{1}}"
body = "Hallo {{1}}, dit is een herinnering aan je afspraak op {{2}} om {{3}} bij {{4}}. Kun je erbij zijn?"
footer = "Antwoord met een van de knoppen."
buttons = ["Ja, ik kom", "Annuleren", "Verzetten"]
"#;

fn example_request(rule: &str) -> Value {
    let rule = Rule::parse("dag", rule).unwrap();
    let example = example_appointment();
    let locations = HashMap::new();
    let ctx =
        RenderContext::new(&example, chrono_tz::Europe::Amsterdam, "Praktijk De Linde", &locations);
    create_request(&rule, &ctx).unwrap().unwrap()
}

#[test]
fn a_rule_definition_becomes_metas_create_request_with_examples() {
    // the shape of WHATSAPP.md §6 "Create a UTILITY reminder"
    assert_eq!(
        example_request(RULE),
        json!({
            "name": "afspraak_herinnering",
            "language": "nl",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "message_send_ttl_seconds": 10800,
            "components": [
                { "type": "HEADER", "format": "TEXT", "text": "Herinnering {{1}}",
                  "example": { "header_text": ["wo 14 okt"] } },
                { "type": "BODY",
                  "text": "Hallo {{1}}, dit is een herinnering aan je afspraak op {{2}} om {{3}} bij {{4}}. Kun je erbij zijn?",
                  "example": { "body_text": [["Sanne", "woensdag 14 oktober", "10:30", "Praktijk De Linde"]] } },
                { "type": "FOOTER", "text": "Antwoord met een van de knoppen." },
                { "type": "BUTTONS", "buttons": [
                    { "type": "QUICK_REPLY", "text": "Ja, ik kom" },
                    { "type": "QUICK_REPLY", "text": "Annuleren" },
                    { "type": "QUICK_REPLY", "text": "Verzetten" } ] }
            ]
        })
    );
    let named = RULE
        .replace("header = \"{date_short}\"", "header = { datum = \"{date_short}\" }")
        .replace(
            "body = [\"{first_name}\", \"{date}\", \"{time}\", \"{location}\"]",
            "body = { naam = \"{first_name}\", moment = \"{date} om {time}\" }",
        )
        .replace("Herinnering {{1}}", "Herinnering {{datum}}")
        .replace(
            "Hallo {{1}}, dit is een herinnering aan je afspraak op {{2}} om {{3}} bij {{4}}.",
            "Hallo {{naam}}, je afspraak is {{moment}}.",
        );
    let request = example_request(&named);
    assert_eq!(request["parameter_format"], "NAMED");
    assert_eq!(
        request["components"][1]["example"],
        json!({ "body_text_named_params": [
            { "param_name": "moment", "example": "woensdag 14 oktober om 10:30" },
            { "param_name": "naam", "example": "Sanne" } ] })
    );
    assert_eq!(
        request["components"][0]["example"],
        json!({ "header_text_named_params": [ { "param_name": "datum", "example": "wo 14 okt" } ] })
    );
}

/// A management client for the account `waba` at the fake Graph API.
fn client(graph: &MockServer, waba: &str) -> TemplateClient {
    TemplateClient::new(
        &graph.uri(),
        "v25.0",
        waba,
        SecretString::from("EAAtest"),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn record(status: Option<&str>, category: Option<&str>) -> TemplateRecord {
    TemplateRecord {
        name: "afspraak_herinnering".into(),
        language: "nl".into(),
        status: status.map(str::to_string),
        category: category.map(str::to_string),
        ..TemplateRecord::default()
    }
}

#[test]
fn only_approved_utility_templates_or_unknown_ones_are_usable() {
    assert_eq!(unusable(&record(None, None)), None);
    assert_eq!(unusable(&record(Some("APPROVED"), Some("UTILITY"))), None);
    assert_eq!(unusable(&record(Some("FLAGGED"), None)), None);
    let paused =
        TemplateRecord { reason: Some("low quality".into()), ..record(Some("PAUSED"), None) };
    assert_eq!(
        unusable(&paused).as_deref(),
        Some("template afspraak_herinnering (nl) is PAUSED at Meta: low quality")
    );
    assert!(unusable(&record(Some("PENDING"), None)).is_some());
    assert!(
        unusable(&record(Some("APPROVED"), Some("MARKETING"))).unwrap().contains("re-categorised")
    );

    let book = TemplateBook::default();
    book.update(&record(Some("APPROVED"), Some("UTILITY")));
    assert_eq!(book.unusable("afspraak_herinnering", "nl"), None);
    // a category webhook carries no status: the approval is kept
    book.update(&record(None, Some("MARKETING")));
    assert!(book.unusable("afspraak_herinnering", "nl").is_some());
    assert_eq!(book.unusable("afspraak_herinnering", "en"), None, "another language");
}

#[tokio::test]
async fn the_template_list_is_read_page_by_page_and_a_template_created() {
    let graph = MockServer::start().await;
    let list = "/v25.0/102290129340398/message_templates";
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("after", "MjQZD"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [ { "name": "afspraak_herinnering", "language": "en", "status": "REJECTED",
                        "category": "UTILITY", "id": "2", "rejected_reason": "INVALID_FORMAT" } ],
            "paging": { "cursors": { "before": "MjQZD", "after": "MjQZE" } }
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [ { "name": "afspraak_herinnering", "language": "nl", "status": "APPROVED",
                        "category": "UTILITY", "id": "1066519", "quality_score": { "score": "GREEN" },
                        "rejected_reason": "NONE" } ],
            "paging": { "cursors": { "before": "MAZDZD", "after": "MjQZD" },
                        "next": format!("{}{list}?after=MjQZD", graph.uri()) }
        })))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "1299189242256801", "status": "PENDING", "category": "UTILITY" }),
        ))
        .mount(&graph)
        .await;
    let client = client(&graph, "102290129340398");
    let found = client.list().await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0],
        TemplateRecord {
            name: "afspraak_herinnering".into(),
            language: "nl".into(),
            template_id: Some("1066519".into()),
            status: Some("APPROVED".into()),
            category: Some("UTILITY".into()),
            quality: Some("GREEN".into()),
            reason: None,
        }
    );
    assert_eq!(found[1].reason.as_deref(), Some("INVALID_FORMAT"));

    let created = client.create(&example_request(RULE)).await.unwrap();
    assert_eq!(created.template_id.as_deref(), Some("1299189242256801"));
    assert_eq!(created.status.as_deref(), Some("PENDING"));
    let sent: Value =
        serde_json::from_slice(&graph.received_requests().await.unwrap().last().unwrap().body)
            .unwrap();
    assert_eq!(sent, example_request(RULE));
}

#[tokio::test]
async fn a_refused_management_call_says_why() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": { "message": "Error validating access token", "type": "OAuthException",
                       "code": 190, "fbtrace_id": "A1" } })))
        .mount(&graph)
        .await;
    let client = client(&graph, "1");
    let err = client.list().await.unwrap_err().to_string();
    assert!(err.contains("190") && err.contains("access token"), "{err}");
}

#[tokio::test]
async fn sync_submits_the_missing_defined_templates_and_reports_the_rest() {
    let graph = MockServer::start().await;
    let list = "/v25.0/1/message_templates";
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "name": "tweede_herinnering", "language": "nl", "status": "PAUSED",
              "category": "UTILITY", "id": "7" } ] })))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(list))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "8", "status": "PENDING", "category": "UTILITY" })),
        )
        .expect(1)
        .mount(&graph)
        .await;
    let defined = Rule::parse("dag", RULE).unwrap();
    let existing =
        Rule::parse("kort", &RULE.replace("afspraak_herinnering", "tweede_herinnering")).unwrap();
    let undefined = Rule::parse(
        "engels",
        &RULE.split("[template.definition]").next().unwrap().replace("\"nl\"", "\"en\""),
    )
    .unwrap();
    let rules = crate::rules::RuleSet::new(vec![defined, existing, undefined]);
    let client = client(&graph, "1");
    let example = example_appointment();
    let locations = HashMap::new();
    let ctx =
        RenderContext::new(&example, chrono_tz::Europe::Amsterdam, "Praktijk De Linde", &locations);

    let (lines, _) = sync(&client, &rules, &ctx, false).await.unwrap();
    let actions: Vec<_> = lines.iter().map(|l| l.action.clone()).collect();
    assert_eq!(actions, [SyncAction::Missing, SyncAction::Exists, SyncAction::NoDefinition]);

    let (lines, listed) = sync(&client, &rules, &ctx, true).await.unwrap();
    assert_eq!(lines[0].action, SyncAction::Created);
    assert_eq!(lines[0].record.template_id.as_deref(), Some("8"));
    assert_eq!(listed.len(), 2, "Meta's template and the new one, to be stored");
    let table = render_lines(&lines);
    assert!(table.contains("submitted for review now"), "{table}");
    assert!(table.contains("NOT USED: template tweede_herinnering (nl) is PAUSED"), "{table}");
    assert!(table.contains("MISSING at Meta: create it in WhatsApp Manager"), "{table}");
}
