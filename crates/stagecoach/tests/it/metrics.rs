//! `stagecoach serve --metrics-listen`: Prometheus metrics on a listener of their own,
//! scraped from the real binary after real API calls.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{SECRET_KEY, TestApp, uuid_simple};

backend_tests!(metrics_count_routes_queues_and_loops_without_tenant_data);

/// A `stagecoach serve` process, killed when dropped (an assertion that fails first too).
struct Server {
    child: Child,
    api: String,
    metrics: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary on `database_url`, both listeners on free ports (port 0: a port
    /// picked here could be taken before the server binds it), and reads their addresses
    /// from its JSON logs.
    async fn start(database_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--secret-key",
                SECRET_KEY,
                "--log-format",
                "json",
                "--outbound-allow-cidrs",
                "127.0.0.1/32",
                // A failed delivery waits an hour: it stays pending while the test looks.
                "--delivery-schedule",
                "1h",
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let addresses = tokio::task::spawn_blocking(move || {
            let mut logs = BufReader::new(stderr).lines().map_while(Result::ok);
            let (mut api, mut metrics, mut seen) = (None, None, Vec::new());
            for line in logs.by_ref() {
                seen.push(line.clone());
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(address) = entry["address"].as_str() {
                    api = Some(address.to_owned());
                }
                if let Some(address) = entry["metrics.address"].as_str() {
                    metrics = Some(address.to_owned());
                }
                if api.is_some() && metrics.is_some() {
                    break;
                }
            }
            // Keep reading, as a log collector would.
            std::thread::spawn(move || logs.for_each(drop));
            api.zip(metrics).ok_or(seen)
        })
        .await
        .unwrap();
        let (api, metrics) =
            addresses.unwrap_or_else(|logs| panic!("no listening addresses in {logs:#?}"));
        Server {
            child,
            api: format!("http://{api}"),
            metrics: format!("http://{metrics}"),
        }
    }
}

/// One sample line of the exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the samples of an OpenMetrics text exposition (label values here hold no quotes
/// or commas).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label=value");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one sample with this name and these labels (among others), if any.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = samples.iter().filter(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    });
    let first = found.next()?;
    assert!(found.next().is_none(), "several {name} {labels:?}");
    Some(first.value)
}

async fn scrape(client: &reqwest::Client, server: &Server) -> String {
    let response = client
        .get(format!("{}/metrics", server.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

async fn metrics_count_routes_queues_and_loops_without_tenant_data(app: TestApp) {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let server = Server::start(&app.db.url).await;
    // The same tenant and token, through the binary's API.
    let mut api = app.clone();
    api.base = server.api.clone();

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let (status, endpoint) = api
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": format!("{}/hooks", receiver.uri()),
                        "eventTypes": ["conversation.step_entered"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let scenario = api.scenario("Sales").await;
    let step = api.step(&scenario, "New").await;
    let conversation = api.conversation().await;
    let (status, body) = api.add_to(&conversation, &step).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.state_of(&conversation).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, _) = api
        .call(Method::GET, &format!("/v1/conversations/{unknown}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let nowhere = format!("/nowhere-{}", uuid_simple());
    assert_eq!(
        api.request(Method::GET, &nowhere)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The API's own port has no metrics.
    assert_eq!(
        api.request(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The worker fans the step entry out to the endpoint, which answers 500: the delivery
    // is retried in an hour. Poll until the worker has tried (it polls every second).
    let client = reqwest::Client::new();
    let mut text = String::new();
    for _ in 0..300 {
        text = scrape(&client, &server).await;
        let tried = value(
            &samples(&text),
            "stagecoach_deliveries_total",
            &[("kind", "webhook"), ("outcome", "retrying")],
        );
        if tried == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = samples(&text);
    let get = |name: &str, labels: &[(&str, &str)]| {
        value(&all, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    assert_eq!(
        get(
            "stagecoach_deliveries_total",
            &[("kind", "webhook"), ("outcome", "retrying")]
        ),
        1.0
    );

    // Requests, by route template and status; the histogram counts them too.
    let requests = "stagecoach_http_requests_total";
    let conversation_route = "/v1/conversations/{id}";
    assert_eq!(
        get(
            requests,
            &[
                ("method", "POST"),
                ("route", "/crm/scenario"),
                ("status", "201")
            ]
        ),
        1.0
    );
    for status in ["200", "404"] {
        assert_eq!(
            get(
                requests,
                &[
                    ("method", "GET"),
                    ("route", conversation_route),
                    ("status", status)
                ]
            ),
            1.0
        );
    }
    assert_eq!(
        get(
            requests,
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        2.0
    );
    let route = [("method", "GET"), ("route", conversation_route)];
    assert_eq!(
        get("stagecoach_http_request_duration_seconds_count", &route),
        2.0
    );
    let mut bucket = route.to_vec();
    bucket.push(("le", "+Inf"));
    assert_eq!(
        get("stagecoach_http_request_duration_seconds_bucket", &bucket),
        2.0
    );
    assert!(get("stagecoach_http_request_duration_seconds_sum", &route) > 0.0);

    // The backlog: the delivery waits for its retry, so it is pending but not due.
    let webhook = [("kind", "webhook")];
    assert_eq!(get("stagecoach_database_up", &[]), 1.0);
    assert_eq!(get("stagecoach_outbox_pending", &webhook), 1.0);
    assert_eq!(get("stagecoach_outbox_due", &webhook), 0.0);
    assert_eq!(
        get("stagecoach_outbox_oldest_due_age_seconds", &webhook),
        0.0
    );
    assert_eq!(get("stagecoach_outbox_failed", &webhook), 0.0);
    assert_eq!(
        get("stagecoach_outbox_pending", &[("kind", "lead_upsert")]),
        0.0,
        "every kind has its series"
    );
    assert_eq!(get("stagecoach_auto_advances_due", &[]), 0.0);
    assert_eq!(
        get("stagecoach_auto_advances_oldest_due_age_seconds", &[]),
        0.0
    );

    // Worker loops: passes counted, none failed, the last success stamped since the start.
    for worker_loop in [
        "auto_advances",
        "lead_writes",
        "events",
        "deliveries",
        "retention",
    ] {
        let labels = [("loop", worker_loop)];
        assert!(get("stagecoach_worker_passes_total", &labels) >= 1.0);
        assert_eq!(get("stagecoach_worker_pass_failures_total", &labels), 0.0);
        let last = get("stagecoach_worker_last_success_timestamp_seconds", &labels);
        assert!(last >= started.floor(), "{worker_loop}: {last} < {started}");
    }

    // No tenant data in any label: no organization, no ids, no raw paths.
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let step_id = step["id"].as_str().unwrap();
    let org = app.org.to_string();
    for private in [
        org.as_str(),
        conversation.as_str(),
        scenario.as_str(),
        step_id,
        endpoint_id,
        unknown.as_str(),
        nowhere.as_str(),
        app.token.as_str(),
    ] {
        assert!(!text.contains(private), "{private} in\n{text}");
    }

    // The metrics listener serves /metrics and nothing else.
    let other = client
        .get(format!(
            "{}/v1/conversations/{conversation}",
            server.metrics
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}
