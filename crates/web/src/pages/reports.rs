//! A scenario's report page: the funnel, time in step and revenue per step over a period,
//! each as a bar chart drawn on the server (SVG) beside one table of every figure, and the
//! same table as CSV.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stagecoach_app::{Principal, ScenarioReport, Stagecoach};
use stagecoach_domain::csv::line;
use stagecoach_domain::ids::ScenarioId;
use stagecoach_domain::leads::money::format_amount;
use stagecoach_domain::scope::{Area, Scope};

use super::{failure, page, refusal};
use crate::session::SignedIn;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One cell: what the table shows, and the value the CSV carries.
struct Cell {
    shown: String,
    value: String,
}

/// The table of every figure, row per step: what the page shows and the CSV holds.
struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// "45 s", "12 min", "3 h 20 min", "2 d 4 h".
fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "–".into();
    };
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn seconds(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{:.3}", ms as f64 / 1000.0))
        .unwrap_or_default()
}

/// The (status, currency) pairs that have payments, in order.
fn payment_kinds(report: &ScenarioReport) -> Vec<(String, String)> {
    report
        .steps
        .iter()
        .flat_map(|s| s.payments.iter())
        .map(|p| (p.status.clone(), p.currency.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn table(report: &ScenarioReport) -> Table {
    let kinds = payment_kinds(report);
    let mut headers: Vec<String> = [
        "Step",
        "Entered",
        "Stays ended",
        "Median time (s)",
        "90th percentile (s)",
    ]
    .map(String::from)
    .to_vec();
    headers.extend(
        kinds
            .iter()
            .map(|(status, currency)| format!("{status} {currency}")),
    );
    let rows = report
        .steps
        .iter()
        .map(|s| {
            let count = |n: i64| Cell {
                shown: n.to_string(),
                value: n.to_string(),
            };
            let mut row = vec![
                Cell {
                    shown: s.step.settings.name.clone(),
                    value: s.step.settings.name.clone(),
                },
                count(s.entered),
                count(s.times.ended),
                Cell {
                    shown: duration(s.times.median_ms),
                    value: seconds(s.times.median_ms),
                },
                Cell {
                    shown: duration(s.times.p90_ms),
                    value: seconds(s.times.p90_ms),
                },
            ];
            for (status, currency) in &kinds {
                let amount = s
                    .payments
                    .iter()
                    .find(|p| &p.status == status && &p.currency == currency)
                    .map(|p| format_amount(p.hundredths, currency))
                    .unwrap_or_default();
                row.push(Cell {
                    shown: amount.clone(),
                    value: amount,
                });
            }
            row
        })
        .collect();
    Table { headers, rows }
}

/// One bar of a chart, laid out.
struct Bar {
    label: String,
    shown: String,
    y: i64,
    width: i64,
}

/// A horizontal bar chart: one bar per step.
struct Chart {
    title: String,
    height: i64,
    bars: Vec<Bar>,
}

const BAR_AREA: f64 = 420.0;
const ROW: i64 = 28;

fn chart(title: String, values: Vec<(String, f64, String)>) -> Chart {
    let most = values.iter().map(|(_, v, _)| *v).fold(0.0, f64::max);
    let bars = values
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, shown))| Bar {
            label,
            shown,
            y: i as i64 * ROW,
            width: if most > 0.0 {
                ((value / most) * BAR_AREA)
                    .round()
                    .max(if value > 0.0 { 2.0 } else { 0.0 }) as i64
            } else {
                0
            },
        })
        .collect::<Vec<_>>();
    Chart {
        title,
        height: bars.len() as i64 * ROW + 4,
        bars,
    }
}

fn charts(report: &ScenarioReport) -> Vec<Chart> {
    let name = |s: &stagecoach_app::StepReport| s.step.settings.name.clone();
    let mut charts = vec![
        chart(
            "Funnel: conversations that entered each step".into(),
            report
                .steps
                .iter()
                .map(|s| (name(s), s.entered as f64, s.entered.to_string()))
                .collect(),
        ),
        chart(
            "Time in step: median of the stays that ended".into(),
            report
                .steps
                .iter()
                .map(|s| {
                    let ms = s.times.median_ms.unwrap_or(0) as f64;
                    (name(s), ms, duration(s.times.median_ms))
                })
                .collect(),
        ),
    ];
    let currencies: BTreeSet<String> = payment_kinds(report).into_iter().map(|(_, c)| c).collect();
    for currency in currencies {
        charts.push(chart(
            format!("Revenue: completed payments in {currency}"),
            report
                .steps
                .iter()
                .map(|s| {
                    let hundredths: i64 = s
                        .payments
                        .iter()
                        .filter(|p| p.status == "COMPLETED" && p.currency == currency)
                        .map(|p| p.hundredths)
                        .sum();
                    (
                        name(s),
                        hundredths as f64,
                        format!("{currency} {}", format_amount(hundredths, &currency)),
                    )
                })
                .collect(),
        ));
    }
    charts
}

#[derive(Template)]
#[template(path = "ui/report.html")]
struct ReportPage {
    scenario_id: String,
    name: String,
    from: String,
    /// The last day in, as the date field shows it.
    to: String,
    query: String,
    charts: Vec<Chart>,
    table: Table,
}

async fn read_report(
    core: &Stagecoach,
    who: &Principal,
    id: &str,
    query: &PeriodQuery,
) -> Result<ScenarioReport, Response> {
    for scope in [Scope::read(Area::Scenarios), Scope::read(Area::Leads)] {
        if let Some(refused) = refusal(who, scope) {
            return Err(refused);
        }
    }
    core.scenario_report(
        who,
        ScenarioId::parse(id),
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await
    .map_err(|error| failure(&error))
}

pub(crate) async fn report(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let report = match read_report(&core, &signed_in.principal, &id, &query).await {
        Ok(report) => report,
        Err(refused) => return refused,
    };
    let from = report.period.from.format("%Y-%m-%d").to_string();
    let last_day = report.period.to - chrono::Duration::milliseconds(1);
    let to = last_day.format("%Y-%m-%d").to_string();
    page(
        &ReportPage {
            scenario_id: report.scenario.id.to_string(),
            name: report.scenario.name.clone(),
            query: url::form_urlencoded::Serializer::new(String::new())
                .append_pair("from", &from)
                .append_pair("to", &to)
                .finish(),
            from,
            to,
            charts: charts(&report),
            table: table(&report),
        },
        StatusCode::OK,
    )
}

pub(crate) async fn report_csv(
    State(core): State<Stagecoach>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let report = match read_report(&core, &signed_in.principal, &id, &query).await {
        Ok(report) => report,
        Err(refused) => return refused,
    };
    let table = table(&report);
    let mut csv = line(table.headers.iter().map(String::as_str));
    for row in &table.rows {
        csv.push_str(&line(row.iter().map(|c| c.value.as_str())));
    }
    let file = format!(
        "attachment; filename=\"report-{}-{}.csv\"",
        report.period.from.format("%Y%m%d"),
        report.period.to.format("%Y%m%d")
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        csv,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(45_000)), "45 s");
        assert_eq!(duration(Some(12 * 60_000)), "12 min");
        assert_eq!(duration(Some((3 * 3600 + 20 * 60) * 1000)), "3 h 20 min");
        assert_eq!(duration(Some((2 * 86_400 + 4 * 3600) * 1000)), "2 d 4 h");
    }
}
