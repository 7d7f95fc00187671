//! The relying party's metrics, per process, rendered at `/metrics` in the Prometheus text
//! format (version 0.0.4).
//!
//! A small registry of our own rather than the `metrics` + `metrics-exporter-prometheus`
//! crates: four families with fixed label sets need a map behind a mutex and a renderer, not a
//! global recorder and its dependency tree. Nothing here feeds back into the protocol: a
//! restarted process starts from zero and several instances each count their own requests
//! (Prometheus sums them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use vouch_protocol::messages::MessageType;

/// The upper bounds (seconds) of the message latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How an FDO message was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// With a protocol message of this type.
    Replied(MessageType),
    /// With an FDO error message (type 255) of this code.
    Error(u16),
}

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Families {
    /// (message type, "ok" | "error") → count.
    messages: BTreeMap<(u8, &'static str), u64>,
    /// FDO error code → count of error messages sent.
    errors: BTreeMap<u16, u64>,
    /// "done" | "failed" → TO2 count.
    onboardings: BTreeMap<&'static str, u64>,
    /// Message type → handling latency.
    latency: BTreeMap<u8, Histogram>,
    /// Requests refused by the rate limit.
    rate_limited: u64,
}

/// The counters and histogram of one process.
#[derive(Default)]
pub struct Metrics {
    families: Mutex<Families>,
}

impl Metrics {
    /// A registry with every count at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Families) -> R) -> R {
        // A panic while the lock was held cannot leave a count half-written: keep counting.
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut families)
    }

    /// Records one FDO message of type `received`, answered with `outcome` after `latency`.
    pub fn message(&self, received: MessageType, outcome: Outcome, latency: Duration) {
        let seconds = latency.as_secs_f64();
        self.with(|f| {
            let result = match outcome {
                Outcome::Replied(_) => "ok",
                Outcome::Error(_) => "error",
            };
            *f.messages.entry((received.0, result)).or_default() += 1;
            if let Outcome::Error(code) = outcome {
                *f.errors.entry(code).or_default() += 1;
            }
            // TO2 is over when the owner sends Done2 (71), or after any error in it (60..=70).
            match (received.0, outcome) {
                (_, Outcome::Replied(MessageType(71))) => {
                    *f.onboardings.entry("done").or_default() += 1
                }
                (60..=70, Outcome::Error(_)) => *f.onboardings.entry("failed").or_default() += 1,
                _ => {}
            }
            let h = f.latency.entry(received.0).or_default();
            if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
                h.buckets[i] += 1;
            }
            h.count += 1;
            h.sum += seconds;
        });
    }

    /// Records a request refused by the rate limit.
    pub fn rate_limited(&self) {
        self.with(|f| f.rate_limited += 1);
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        self.with(|f| {
            let mut out = String::new();
            // Writing to a String cannot fail.
            let _ = render_into(&mut out, f);
            out
        })
    }
}

fn render_into(out: &mut String, f: &Families) -> std::fmt::Result {
    writeln!(
        out,
        "# HELP vouch_onboardings_total TO2 onboardings by outcome."
    )?;
    writeln!(out, "# TYPE vouch_onboardings_total counter")?;
    for outcome in ["done", "failed"] {
        let n = f.onboardings.get(outcome).copied().unwrap_or(0);
        writeln!(out, "vouch_onboardings_total{{outcome=\"{outcome}\"}} {n}")?;
    }
    writeln!(
        out,
        "# HELP vouch_fdo_messages_total FDO messages received, by type and result."
    )?;
    writeln!(out, "# TYPE vouch_fdo_messages_total counter")?;
    for ((t, result), n) in &f.messages {
        writeln!(
            out,
            "vouch_fdo_messages_total{{type=\"{t}\",result=\"{result}\"}} {n}"
        )?;
    }
    writeln!(
        out,
        "# HELP vouch_fdo_errors_total FDO error messages sent, by error code."
    )?;
    writeln!(out, "# TYPE vouch_fdo_errors_total counter")?;
    for (code, n) in &f.errors {
        writeln!(out, "vouch_fdo_errors_total{{code=\"{code}\"}} {n}")?;
    }
    writeln!(
        out,
        "# HELP vouch_fdo_rate_limited_total FDO requests refused by the per-client rate limit."
    )?;
    writeln!(out, "# TYPE vouch_fdo_rate_limited_total counter")?;
    writeln!(out, "vouch_fdo_rate_limited_total {}", f.rate_limited)?;
    writeln!(
        out,
        "# HELP vouch_fdo_message_duration_seconds Time to handle an FDO message, by type."
    )?;
    writeln!(out, "# TYPE vouch_fdo_message_duration_seconds histogram")?;
    for (t, h) in &f.latency {
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            writeln!(
                out,
                "vouch_fdo_message_duration_seconds_bucket{{type=\"{t}\",le=\"{bound}\"}} {cumulative}"
            )?;
        }
        writeln!(
            out,
            "vouch_fdo_message_duration_seconds_bucket{{type=\"{t}\",le=\"+Inf\"}} {}",
            h.count
        )?;
        writeln!(
            out,
            "vouch_fdo_message_duration_seconds_sum{{type=\"{t}\"}} {}",
            h.sum
        )?;
        writeln!(
            out,
            "vouch_fdo_message_duration_seconds_count{{type=\"{t}\"}} {}",
            h.count
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_messages_errors_onboardings_and_latency() {
        let m = Metrics::new();
        let ms = Duration::from_millis(3);
        m.message(MessageType(60), Outcome::Replied(MessageType(61)), ms);
        m.message(MessageType(70), Outcome::Replied(MessageType(71)), ms);
        m.message(
            MessageType(64),
            Outcome::Error(101),
            Duration::from_secs(20),
        );
        m.message(MessageType(30), Outcome::Error(6), ms);
        m.rate_limited();
        let text = m.render();
        for line in [
            "vouch_onboardings_total{outcome=\"done\"} 1",
            "vouch_onboardings_total{outcome=\"failed\"} 1",
            "vouch_fdo_messages_total{type=\"60\",result=\"ok\"} 1",
            "vouch_fdo_messages_total{type=\"64\",result=\"error\"} 1",
            "vouch_fdo_errors_total{code=\"101\"} 1",
            "vouch_fdo_errors_total{code=\"6\"} 1",
            "vouch_fdo_rate_limited_total 1",
            "vouch_fdo_message_duration_seconds_bucket{type=\"60\",le=\"0.001\"} 0",
            "vouch_fdo_message_duration_seconds_bucket{type=\"60\",le=\"0.005\"} 1",
            // 20 s is above the last bound: only in +Inf.
            "vouch_fdo_message_duration_seconds_bucket{type=\"64\",le=\"10\"} 0",
            "vouch_fdo_message_duration_seconds_bucket{type=\"64\",le=\"+Inf\"} 1",
            "vouch_fdo_message_duration_seconds_count{type=\"70\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // A reply to a TO1 message is no onboarding.
        assert!(!text.contains("outcome=\"done\"} 2"));
    }
}
