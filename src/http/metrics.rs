//! Prometheus metrics owned by one running stack (no global recorder, so several stacks can
//! run in one test process): a request counter and a latency histogram per role, listener,
//! route and status, rendered in the Prometheus text format.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The stack's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    /// The counter and histogram of every label set seen, registered once: registering
    /// builds five labels (three strings) and looks the keys up in the recorder's registry.
    handles: Arc<DashMap<u64, Arc<Handles>>>,
}

/// One label set's registered counter and histogram, with the labels that hashed to it.
struct Handles {
    role: &'static str,
    listener: &'static str,
    method: Box<str>,
    route: Box<str>,
    status: u16,
    requests: metrics::Counter,
    latency: metrics::Histogram,
}

impl Handles {
    fn labels_are(&self, s: &RequestSample<'_>, method: &str) -> bool {
        self.status == s.status
            && self.role == s.role
            && self.listener == s.listener
            && &*self.method == method
            && &*self.route == s.route
    }
}

/// Label sets kept registered; past this many, samples are recorded without the cache.
const MAX_CACHED_LABEL_SETS: usize = 4096;

/// Methods beyond the standard ones share one label, so a client cannot grow the registry.
fn method_label(method: &str) -> &str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
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
            handles: Arc::new(DashMap::new()),
        }
    }

    /// Records one request: `http_requests_total` and `http_request_duration_seconds`.
    pub fn record(&self, sample: &RequestSample<'_>) {
        let method = method_label(sample.method);
        let hash = {
            let mut h = std::hash::DefaultHasher::new();
            (
                sample.role,
                sample.listener,
                method,
                sample.route,
                sample.status,
            )
                .hash(&mut h);
            h.finish()
        };
        if let Some(handles) = self.handles.get(&hash) {
            if handles.labels_are(sample, method) {
                handles.requests.increment(1);
                handles.latency.record(sample.elapsed.as_secs_f64());
                return;
            }
        }
        let handles = self.register(sample, method);
        handles.requests.increment(1);
        handles.latency.record(sample.elapsed.as_secs_f64());
        if self.handles.len() < MAX_CACHED_LABEL_SETS {
            // a hash collision keeps the first label set cached; the other registers each time
            self.handles.entry(hash).or_insert(Arc::new(handles));
        }
    }

    fn register(&self, sample: &RequestSample<'_>, method: &str) -> Handles {
        static METADATA: Metadata<'static> =
            Metadata::new("quartet", metrics::Level::INFO, Some(module_path!()));
        let labels = vec![
            Label::new("role", sample.role),
            Label::new("listener", sample.listener),
            Label::new("method", method.to_string()),
            Label::new("route", sample.route.to_string()),
            Label::new("code", sample.status.to_string()),
        ];
        let counter = Key::from_parts("http_requests_total", labels.clone());
        let latency = Key::from_parts("http_request_duration_seconds", labels[..4].to_vec());
        Handles {
            role: sample.role,
            listener: sample.listener,
            method: method.into(),
            route: sample.route.into(),
            status: sample.status,
            requests: self.recorder.register_counter(&counter, &METADATA),
            latency: self.recorder.register_histogram(&latency, &METADATA),
        }
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

    #[test]
    fn every_label_set_counts_separately_and_odd_methods_share_one_label() {
        let m = Metrics::new();
        let sample = |method, route, status| RequestSample {
            role: "identity",
            listener: "public",
            method,
            route,
            status,
            elapsed: Duration::from_millis(1),
        };
        for _ in 0..3 {
            m.record(&sample("GET", "/sessions/whoami", 200));
        }
        m.record(&sample("GET", "/sessions/whoami", 401));
        m.record(&sample("POST", "/sessions/whoami", 200));
        m.record(&sample("BREW", "/x", 404));
        m.record(&sample("FROB", "/x", 404));
        let text = m.render();
        for line in [
            "method=\"GET\",route=\"/sessions/whoami\",code=\"200\"} 3",
            "method=\"GET\",route=\"/sessions/whoami\",code=\"401\"} 1",
            "method=\"POST\",route=\"/sessions/whoami\",code=\"200\"} 1",
            "method=\"OTHER\",route=\"/x\",code=\"404\"} 2",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("BREW"), "{text}");
        assert_eq!(m.handles.len(), 4);
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
