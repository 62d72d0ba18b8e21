//! Reading `/metrics` in tests: one scrape, parsed with `prometheus-parse`. Shared by
//! the server's tests and the `ferry` crate's (which include this file by path).
#![allow(dead_code)]

use std::collections::HashSet;

/// One scrape of `/metrics`, parsed.
pub struct Scrape(pub Vec<prometheus_parse::Sample>);

impl Scrape {
    /// Scrape `{base}/metrics`.
    pub async fn take(base: &str) -> Scrape {
        let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        Scrape(prometheus_parse::Scrape::parse(lines).expect("a Prometheus exposition").samples)
    }

    /// The value of a counter or gauge, or the count of a histogram (0 when absent).
    pub fn get(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().find(|b| b.less_than.is_infinite()).map_or(0.0, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> HashSet<String> {
        self.0.iter().flat_map(|s| s.labels.values().cloned().collect::<Vec<_>>()).collect()
    }

    /// Panics when a label value contains any of `secrets` (task or session ids).
    pub fn assert_no_label_holds(&self, secrets: &[String]) {
        let values = self.label_values();
        for secret in secrets {
            assert!(!values.iter().any(|v| v.contains(secret.as_str())), "{secret} is in a label: {values:?}");
        }
    }
}
