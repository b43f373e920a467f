//! Prometheus metrics owned by one running stack (no global recorder, so several stacks can
//! run in one test process): a request counter and a latency histogram per role, listener,
//! route and status, rendered in the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The stack's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

/// Labels of one finished request.
pub struct RequestSample<'a> {
    pub role: &'static str,
    pub listener: &'static str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub elapsed: Duration,
}

impl Metrics {
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // The bucket list is a non-empty constant, so `set_buckets` cannot fail; fall back to
        // summaries if it ever did.
        let builder = match builder.set_buckets(&BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        Self {
            recorder: Arc::new(builder.build_recorder()),
        }
    }

    /// Records one request: `http_requests_total` and `http_request_duration_seconds`.
    pub fn record(&self, sample: &RequestSample<'_>) {
        static METADATA: Metadata<'static> =
            Metadata::new("quartet", metrics::Level::INFO, Some(module_path!()));
        let labels = vec![
            Label::new("role", sample.role),
            Label::new("listener", sample.listener),
            Label::new("method", sample.method.to_string()),
            Label::new("route", sample.route.to_string()),
            Label::new("code", sample.status.to_string()),
        ];
        let counter = Key::from_parts("http_requests_total", labels.clone());
        self.recorder
            .register_counter(&counter, &METADATA)
            .increment(1);
        let latency = Key::from_parts("http_request_duration_seconds", labels[..4].to_vec());
        self.recorder
            .register_histogram(&latency, &METADATA)
            .record(sample.elapsed.as_secs_f64());
    }

    /// Folds the latency samples recorded since the last upkeep (or render) into the
    /// histograms' buckets. Until then every sample is kept: without a scrape, a server under
    /// load would grow by 8 bytes per request. [`Self::keep_up`] runs this periodically.
    pub fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Runs [`Self::upkeep`] every `every` until the last other handle to these metrics is
    /// dropped (the stack's listeners are gone).
    pub fn keep_up(&self, every: Duration) -> impl std::future::Future<Output = ()> + Send {
        let recorder = Arc::downgrade(&self.recorder);
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match recorder.upgrade() {
                    Some(r) => r.handle().run_upkeep(),
                    None => return,
                }
            }
        }
    }

    /// Everything recorded so far, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counter_and_histogram_per_route() {
        let m = Metrics::new();
        let sample = RequestSample {
            role: "permission",
            listener: "read",
            method: "GET",
            route: "/relation-tuples/check",
            status: 403,
            elapsed: Duration::from_millis(2),
        };
        m.record(&sample);
        m.record(&sample);
        let text = m.render();
        assert!(text.contains("http_requests_total{role=\"permission\",listener=\"read\",method=\"GET\",route=\"/relation-tuples/check\",code=\"403\"} 2"), "{text}");
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
    }

    /// Upkeep folds pending samples into the buckets: nothing recorded before it is lost.
    #[test]
    fn upkeep_keeps_every_sample_in_the_histogram() {
        let m = Metrics::new();
        let sample = |ms| RequestSample {
            role: "proxy",
            listener: "proxy",
            method: "GET",
            route: "unmatched",
            status: 200,
            elapsed: Duration::from_millis(ms),
        };
        for _ in 0..3 {
            m.record(&sample(2));
        }
        m.upkeep();
        m.record(&sample(200));
        m.upkeep();
        let text = m.render();
        let count = text
            .lines()
            .find(|l| l.starts_with("http_request_duration_seconds_count"))
            .unwrap_or_default();
        assert!(count.ends_with(" 4"), "{text}");
        let le_5ms = text
            .lines()
            .find(|l| l.contains("_bucket") && l.contains("le=\"0.005\""))
            .unwrap_or_default();
        assert!(le_5ms.ends_with(" 3"), "{text}");
    }

    #[tokio::test]
    async fn keep_up_ends_when_the_metrics_are_dropped() {
        let m = Metrics::new();
        let task = tokio::spawn(m.keep_up(Duration::from_millis(20)));
        tokio::time::sleep(Duration::from_millis(70)).await;
        assert!(!task.is_finished(), "runs while the metrics live");
        drop(m);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends within a few ticks once the metrics are gone")
            .unwrap();
    }
}
