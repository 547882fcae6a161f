//! The Grafana dashboard (deploy/grafana/gigachat-adapter.json) against the metrics the adapter
//! renders, without Prometheus: every `gigachat_adapter_*` name a query of the dashboard uses is a
//! family in `/metrics`' `# TYPE` lines (a histogram's `_bucket`, `_sum` and `_count` included).
//! The e2e test (tests/e2e/test_metrics.py) runs the same queries on a real Prometheus. Also the
//! shape Grafana imports: one Prometheus input used by every panel, unique ids, a 24-column grid.

use serde_json::Value;

/// The dashboard's path from this crate.
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/grafana/gigachat-adapter.json"
);

/// Every PromQL text of `value`: panel targets' `expr`, variables' `query` and `definition`.
fn queries<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                match (name.as_str(), field) {
                    ("expr" | "query" | "definition", Value::String(text)) => found.push(text),
                    _ => queries(field, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| queries(item, found)),
        _ => {}
    }
}

/// The `gigachat_adapter_*` metric names in `query`.
fn metric_names(query: &str) -> impl Iterator<Item = &str> {
    query
        .match_indices("gigachat_adapter_")
        .map(move |(start, _)| {
            let rest = &query[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
}

/// The metric families `/metrics` declares, as `(name, type)`.
fn declared(rendered: &str) -> Vec<(&str, &str)> {
    rendered
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split_once(' '))
        .collect()
}

/// Whether `name` is a sample name of a declared family.
fn is_exported(name: &str, families: &[(&str, &str)]) -> bool {
    families.iter().any(|(family, kind)| {
        name == *family
            || (*kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(*family)))
    })
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    assert!(found.len() > 20, "{found:?}");
    // As the adapter builds it: with the counters kept by the GigaChat client and the attachments.
    let metrics = gigachat_adapter::metrics::Metrics::new([]);
    metrics.read_from(gigachat_adapter::metrics::Sources {
        token_refreshes: Box::new(|| gigachat::TokenRefreshes { ok: 0, failed: 0 }),
        attachments: std::sync::Arc::default(),
        limits_redis_errors: Box::new(|| 0),
    });
    let rendered = metrics.render();
    let families = declared(&rendered);
    let mut missing: Vec<&str> = found
        .iter()
        .flat_map(|query| metric_names(query))
        .filter(|name| !is_exported(name, &families))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics /metrics does not declare: {missing:?}\n{rendered}"
    );
}

/// The datasource every panel and variable names: the import input, also a datasource variable
/// (so a provisioned copy, whose inputs nobody fills in, resolves it too).
const DATASOURCE: &str = "${DS_PROMETHEUS}";

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    let mut pending: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = pending.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            pending.extend(nested);
        }
        found.push(panel);
    }
    found
}

#[test]
fn the_dashboard_imports_with_one_prometheus_input() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let inputs = dashboard["__inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    assert_eq!(inputs[0]["name"], "DS_PROMETHEUS");
    assert_eq!(inputs[0]["pluginId"], "prometheus");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource"),
        "{variables:?}"
    );
    let mut ids = Vec::new();
    for panel in panels(&dashboard) {
        let title = &panel["title"];
        ids.push(panel["id"].as_u64().unwrap());
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], DATASOURCE, "{title}");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], DATASOURCE, "{title}");
            assert!(target["expr"].is_string(), "{title}");
        }
    }
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(variable["datasource"]["uid"], DATASOURCE, "{variable}");
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids repeat");
}

#[test]
fn histogram_samples_count_as_their_family() {
    let families = [("a_seconds", "histogram"), ("b_total", "counter")];
    assert!(is_exported("a_seconds_bucket", &families));
    assert!(is_exported("b_total", &families));
    assert!(!is_exported("b_total_bucket", &families));
    assert!(!is_exported("c_total", &families));
    assert_eq!(
        metric_names("sum(rate(gigachat_adapter_x_total{a=\"b\"}[1m])) / gigachat_adapter_y")
            .collect::<Vec<_>>(),
        ["gigachat_adapter_x_total", "gigachat_adapter_y"]
    );
}
