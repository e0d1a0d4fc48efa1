//! Where a recommend request's time went inside the replica, sent back in the standard
//! `Server-Timing` header (W3C Server Timing): `queue;dur=…, key;dur=…, eval;dur=…` in
//! milliseconds. A client subtracts them from what it saw to get the transport's share; the
//! capacity planner's live check compares the replica's own evaluation times with the ones it
//! planned from.

/// The header's name.
pub const HEADER: &str = "server-timing";

/// Milliseconds a request spent waiting for a worker, finding its evaluation key (building it
/// from the store on a cache miss) and being evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerTiming {
    pub queue_ms: f64,
    pub key_ms: f64,
    pub eval_ms: f64,
}

impl ServerTiming {
    /// The header's value.
    pub fn header_value(&self) -> String {
        format!(
            "queue;dur={:.3}, key;dur={:.3}, eval;dur={:.3}",
            self.queue_ms, self.key_ms, self.eval_ms
        )
    }

    /// The three metrics of a header value; `None` unless all three are there (a header from
    /// another server, or none).
    pub fn parse(value: &str) -> Option<Self> {
        let mut timing = (None, None, None);
        for metric in value.split(',') {
            let mut parts = metric.split(';').map(str::trim);
            let name = parts.next()?;
            let duration = parts
                .find_map(|p| p.strip_prefix("dur="))
                .and_then(|d| d.parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0);
            match name {
                "queue" => timing.0 = duration,
                "key" => timing.1 = duration,
                "eval" => timing.2 = duration,
                _ => {}
            }
        }
        Some(Self {
            queue_ms: timing.0?,
            key_ms: timing.1?,
            eval_ms: timing.2?,
        })
    }

    /// Time inside the replica.
    pub fn total_ms(&self) -> f64 {
        self.queue_ms + self.key_ms + self.eval_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back() {
        let timing = ServerTiming {
            queue_ms: 1.25,
            key_ms: 0.0,
            eval_ms: 2007.5,
        };
        assert_eq!(ServerTiming::parse(&timing.header_value()), Some(timing));
        assert!((timing.total_ms() - 2008.75).abs() < 1e-9);
    }

    #[test]
    fn other_servers_headers_are_not_ours() {
        assert_eq!(ServerTiming::parse("cache;desc=\"hit\", db;dur=53"), None);
        assert_eq!(
            ServerTiming::parse("queue;dur=1, key;dur=x, eval;dur=2"),
            None
        );
        assert_eq!(
            ServerTiming::parse("queue;dur=-1, key;dur=0, eval;dur=2"),
            None
        );
        let extra = ServerTiming::parse("total;dur=9, eval;dur=2, key;dur=0, queue;dur=1");
        assert_eq!(extra.map(|t| t.eval_ms), Some(2.0));
    }
}
