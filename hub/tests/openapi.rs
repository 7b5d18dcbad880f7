//! The OpenAPI document: it is OpenAPI 3, it names exactly the REST routes
//! the hub registers (read from the route table in the source, and probed on
//! a running hub), every reference resolves, each route answers with a status
//! the document lists, and the docs page shows every operation.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::*;

/// `(METHOD, path)` of every `.route("path", web::method()...)` in `dir`,
/// except the portal's HTML pages (registered inside the `/portal` scope).
fn route_table(dir: &Path, out: &mut BTreeSet<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "portal") {
                route_table(&path, out);
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        // The separate metrics listener serves the same `GET /metrics`.
        if path.file_name().is_some_and(|n| n == "app.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let after = rest.trim_start();
            let Some(lit) = after.strip_prefix('"') else {
                continue;
            };
            let Some(end) = lit.find('"') else { continue };
            let route = &lit[..end];
            let tail = &lit[end..];
            let Some(w) = tail.find("web::") else {
                continue;
            };
            let method: String = tail[w + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                ["get", "post", "put", "delete", "patch"].contains(&method.as_str()),
                "{}: route {route} with method {method}",
                path.display()
            );
            out.insert((method.to_uppercase(), route.to_owned()));
        }
    }
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[actix_rt::test]
async fn the_document_covers_every_route_and_the_hub_answers_as_documented() {
    // With a metrics token, so `/metrics` on the main listener is served (and
    // the admin token is refused there with a documented 401).
    let hub = TestHub::start_with(Backend::Sqlite, |s| {
        s.metrics.token = Some("metrics-token-0123456789".into());
    })
    .await;

    // Public: no token needed.
    let resp = hub
        .client
        .get(hub.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = resp.text().await.unwrap();
    let typed: utoipa::openapi::OpenApi =
        serde_json::from_str(&text).expect("the document parses as an OpenAPI document");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "OpenAPI 3, got {version}");
    assert_eq!(
        typed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );

    // Security schemes and the one error shape.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "ppu_session");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(
        error["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("error"))
    );

    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(
        all.len() > 50,
        "the document uses components: {}",
        all.len()
    );
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }

    // The route table in the source and the document name the same operations.
    let mut table = BTreeSet::new();
    route_table(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut table,
    );
    assert!(table.len() >= 40, "route table looks incomplete: {table:?}");
    let ops = documented(&doc);
    let undocumented: Vec<_> = table.difference(&ops).collect();
    let unregistered: Vec<_> = ops.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "documented operations the source does not register: {unregistered:?}"
    );

    // Specific media types.
    let ingest = &doc["paths"]["/api/v1/ingest"]["post"];
    assert!(ingest["requestBody"]["content"]["application/octet-stream"].is_object());
    assert_eq!(
        ingest["security"],
        serde_json::json!([{}]),
        "ingest is public"
    );
    let stream = &doc["paths"]["/api/v1/alerts/stream"]["get"];
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    let totals = &doc["paths"]["/api/v1/billing/totals"]["get"]["responses"]["200"]["content"];
    assert!(totals["text/csv"].is_object() && totals["application/json"].is_object());
    assert!(doc["paths"]["/api/v1/users"]["get"]["responses"]["401"].is_object());
    assert!(doc["paths"]["/api/v1/contracts"]["post"]["responses"]["415"].is_object());

    // The running hub registers every documented operation (the default
    // service answers `route not found`), and answers with a listed status.
    let (_, site) = hub.tenant("Docs Reseller", "docs-account").await;
    for (method, path) in &ops {
        let url = hub.url(
            &path
                .replace("{id}", &site.to_string())
                .replace("{serial}", "NO-SUCH-SERIAL"),
        );
        let req = match method.as_str() {
            "GET" => hub.client.get(&url),
            "POST" => hub.client.post(&url),
            "PUT" => hub.client.put(&url),
            "DELETE" => hub.client.delete(&url),
            other => panic!("{other}"),
        };
        let resp = req.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = resp.status().as_u16();
        let streaming = path == "/api/v1/alerts/stream";
        let body: Value = if streaming {
            Value::Null
        } else {
            resp.json().await.unwrap_or(Value::Null)
        };
        assert_ne!(
            body["error"]["message"], "route not found",
            "{method} {path} is documented but not registered"
        );
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "{method} {path} answered {status} ({body}), not listed in {}",
            op["responses"]
        );
    }

    // The docs page lists every operation and loads nothing from elsewhere.
    let resp = hub
        .client
        .get(hub.url("/api/v1/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = resp.text().await.unwrap();
    for (method, path) in &ops {
        let shown = path.replace('&', "&amp;");
        assert!(
            html.contains(&format!(
                "<span class=\"m {}\">{method}</span> <code>{shown}</code>",
                method.to_lowercase()
            )),
            "the docs page does not show {method} {path}"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script"));
}
