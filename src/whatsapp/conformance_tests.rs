//! The WhatsApp conformance corpus (`tests/conformance/whatsapp/`, see its README):
//! webhook bodies and Graph API answers from other people's client libraries, with the
//! reading each should get. Every file is checked against its expected reading, and a
//! file without one (or a reading without its file) fails the test, so the corpus and
//! the expectations cannot drift apart unnoticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::response::{Answer, GraphError, read_response, read_send_response};
use super::webhook::{Event, parse};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/whatsapp")
}

/// Every `*.json` file in a corpus folder: name → bytes.
fn files_in(folder: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = corpus().join(folder);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files = BTreeMap::new();
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|x| x == "json") {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.insert(name, bytes);
        }
    }
    assert!(!files.is_empty(), "no files in {}", dir.display());
    files
}

fn expectations(file: &str) -> Map<String, Value> {
    let path = corpus().join(file);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_slice(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("{} is not a JSON object: {other:?}", path.display()),
    }
}

/// Names that are files without an expectation, or expectations without a file.
fn unmatched(files: &BTreeMap<String, Vec<u8>>, expected: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for name in files.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("{name}: the file has no entry in the expectations"));
    }
    for name in expected.keys().filter(|n| !files.contains_key(*n)) {
        problems.push(format!("{name}: the expectations name a file that does not exist"));
    }
    problems
}

/// Compares two JSON objects key by key; every difference becomes one line.
fn diff_object(at: &str, want: &Value, got: &Value, problems: &mut Vec<String>) {
    let (Some(want), Some(got)) = (want.as_object(), got.as_object()) else {
        problems.push(format!("{at}: expected {want}, got {got}"));
        return;
    };
    for (key, w) in want {
        match got.get(key) {
            None => problems.push(format!("{at}: `{key}` missing, expected {w}")),
            Some(g) if g != w => problems.push(format!("{at}: `{key}` expected {w}, got {g}")),
            Some(_) => {}
        }
    }
    for key in got.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("{at}: `{key}` is not in the expectation"));
    }
}

fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ── webhooks ──────────────────────────────────────────────────────────────────────

/// An event in the shape of `expected.json`: the README's columns, all of them.
fn event_json(event: &Event) -> Value {
    let common = |kind: &str| {
        json!({
            "kind": kind,
            "waba_id": event.waba_id(),
            "phone_number_id": event.phone_number_id(),
        })
    };
    let mut out = match event {
        Event::Message(_) => common("message"),
        Event::Status(_) => common("status"),
        Event::TemplateStatus(_) => common("template_status"),
        Event::TemplateCategory(_) => common("template_category"),
        Event::TemplateQuality(_) => common("template_quality"),
        Event::UserPreference(_) => common("user_preference"),
        Event::Error(_) => common("error"),
    };
    let fields = match event {
        Event::Message(m) => json!({
            "id": m.id, "from": m.from, "from_user_id": m.from_user_id,
            "timestamp": m.timestamp, "type": m.kind, "context_id": m.context_id,
            "text_body": m.text_body,
            "button_payload": m.button_payload, "button_text": m.button_text,
            "interactive_type": m.interactive_type,
            "reply_id": m.reply_id, "reply_title": m.reply_title,
            "list_description": m.list_description,
            "media_id": m.media_id, "mime_type": m.mime_type,
            "reaction_message_id": m.reaction_message_id, "reaction_emoji": m.reaction_emoji,
            "error_codes": m.error_codes,
        }),
        Event::Status(s) => json!({
            "id": s.id, "status": s.status, "recipient_id": s.recipient_id,
            "timestamp": s.timestamp, "error_codes": s.error_codes,
            "biz_opaque_callback_data": s.biz_opaque_callback_data,
            "pricing_model": s.pricing_model, "pricing_category": s.pricing_category,
            "pricing_type": s.pricing_type,
        }),
        Event::TemplateStatus(t) => json!({
            "template_id": t.template_id, "name": t.name, "language": t.language,
            "event": t.event, "reason": t.reason, "category": t.category,
            "other_info_title": t.other_info_title,
        }),
        Event::TemplateCategory(t) => json!({
            "template_id": t.template_id, "name": t.name, "language": t.language,
            "new_category": t.new_category, "previous_category": t.previous_category,
        }),
        Event::TemplateQuality(t) => json!({
            "template_id": t.template_id, "name": t.name, "language": t.language,
            "new_quality": t.new_quality, "previous_quality": t.previous_quality,
        }),
        Event::UserPreference(p) => json!({
            "wa_id": p.wa_id, "category": p.category, "value": p.value,
            "timestamp": p.timestamp, "detail": p.detail,
        }),
        Event::Error(e) => json!({ "code": e.code, "title": e.title, "details": e.details }),
    };
    if let (Some(out), Value::Object(fields)) = (out.as_object_mut(), fields) {
        out.extend(fields);
    }
    out
}

#[test]
fn every_webhook_file_yields_exactly_the_expected_events() {
    let files = files_in("webhooks");
    let expected = expectations("expected.json");
    let mut problems = unmatched(&files, &expected);
    for (name, body) in &files {
        let Some(want) = expected.get(name) else {
            continue;
        };
        let Some(want) = want.as_array() else {
            problems.push(format!("{name}: the expectation is not a list"));
            continue;
        };
        let events = match parse(body) {
            Ok(events) => events,
            Err(e) => {
                problems.push(format!("{name}: rejected: {e}"));
                continue;
            }
        };
        let got: Vec<Value> = events.iter().map(event_json).collect();
        if got.len() != want.len() {
            let kinds = |list: &[Value]| -> Vec<String> {
                list.iter().map(|e| e["kind"].as_str().unwrap_or("?").to_string()).collect()
            };
            problems.push(format!(
                "{name}: expected {} events {:?}, got {} {:?}",
                want.len(),
                kinds(want),
                got.len(),
                kinds(&got)
            ));
            continue;
        }
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            diff_object(&format!("{name} event {i}"), w, g, &mut problems);
        }
    }
    report("webhooks vs expected.json", &problems);
}

#[test]
fn every_webhook_file_survives_truncation_and_keeps_its_dedup_keys() {
    for (name, body) in files_in("webhooks") {
        // Cut anywhere, a body must be refused or read, never panic.
        for end in (0..body.len()).step_by(7) {
            let _ = parse(&body[..end]);
        }
        let events = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        for event in &events {
            let key = event.dedup_key();
            match event {
                Event::Message(m) => assert_eq!(key, Some(format!("message:{}", m.id)), "{name}"),
                Event::Status(s) => {
                    assert_eq!(key, Some(format!("status:{}:{}", s.id, s.status)), "{name}")
                }
                _ => assert_eq!(key, None, "{name}"),
            }
        }
    }
}

// ── Graph API answers ─────────────────────────────────────────────────────────────

/// An answer in the shape of `expected_responses.json` (without `http_status`).
fn answer_json(answer: &Result<Answer, GraphError>) -> Value {
    match answer {
        Ok(Answer::Sent(s)) => json!({
            "kind": "send_success",
            "message_ids": s.message_ids,
            "message_status": s.message_statuses,
            "contacts": s.contacts.iter()
                .map(|c| json!({ "input": c.input, "wa_id": c.wa_id }))
                .collect::<Vec<_>>(),
        }),
        Ok(Answer::Success) => json!({ "kind": "success" }),
        Ok(Answer::TemplateCreated(t)) => json!({
            "kind": "template_created", "template_id": t.id,
            "status": t.status, "category": t.category,
        }),
        // no list answer is in the corpus; a `data` list would show up as a mismatch
        Ok(Answer::Data(page)) => json!({ "kind": "list", "data": page["data"] }),
        Err(e) => json!({
            "kind": "error", "error_code": e.code, "error_subcode": e.subcode,
            "error_type": e.error_type, "message": e.message, "details": e.details,
            "is_transient": e.is_transient, "fbtrace_id": e.fbtrace_id,
        }),
    }
}

#[test]
fn every_response_file_reads_as_expected() {
    let files = files_in("responses");
    let expected = expectations("expected_responses.json");
    let mut problems = unmatched(&files, &expected);
    for (name, body) in &files {
        let Some(want) = expected.get(name) else {
            continue;
        };
        let mut want = want.clone();
        let Some(fields) = want.as_object_mut() else {
            problems.push(format!("{name}: the expectation is not an object"));
            continue;
        };
        let is_error = fields.get("kind").and_then(Value::as_str) == Some("error");
        // The README: where the source gives no status, 400 for errors, 200 otherwise.
        let status = match fields.remove("http_status") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
        .unwrap_or(if is_error { 400 } else { 200 });

        let answer = read_response(status, body);
        diff_object(name, &want, &answer_json(&answer), &mut problems);

        // A send only succeeds with message ids, and then with the same ones.
        match (read_send_response(status, body), &answer) {
            (Ok(sent), Ok(Answer::Sent(read))) if &sent == read => {}
            (Err(e), Err(read)) if &e == read => {}
            (Err(e), Ok(Answer::Success | Answer::TemplateCreated(_))) if e.code.is_none() => {}
            (send, _) => problems.push(format!("{name}: as a send answer: {send:?}")),
        }
    }
    report("responses vs expected_responses.json", &problems);
}
