//! Closed forms from queueing theory: what the simulator is checked against, and what the oracle
//! baseline plans with.

/// Mean queueing wait of M/G/1 (Pollaczek-Khinchine): `lambda E[S^2] / (2 (1 - rho))`.
/// `None` when the queue is unstable (rho >= 1).
pub fn mg1_mean_wait(arrival_rate: f64, mean_service: f64, second_moment: f64) -> Option<f64> {
    let rho = arrival_rate * mean_service;
    (rho < 1.0).then(|| arrival_rate * second_moment / (2.0 * (1.0 - rho)))
}

/// Probability that an arrival waits in M/M/c (Erlang C), for offered load `a = lambda / mu`.
pub fn erlang_c(servers: usize, offered_load: f64) -> Option<f64> {
    let c = servers as f64;
    if offered_load >= c {
        return None;
    }
    // Terms a^k / k! built iteratively to stay finite for large c.
    let mut term = 1.0;
    let mut below = 0.0;
    for k in 0..servers {
        below += term;
        term *= offered_load / (k + 1) as f64;
    }
    let top = term * c / (c - offered_load);
    Some(top / (below + top))
}

/// Mean queueing wait of M/M/c: `C(c, a) / (c mu - lambda)`.
pub fn mmc_mean_wait(servers: usize, arrival_rate: f64, mean_service: f64) -> Option<f64> {
    let mu = 1.0 / mean_service;
    let waiting = erlang_c(servers, arrival_rate * mean_service)?;
    Some(waiting / (servers as f64 * mu - arrival_rate))
}

/// Expected latencies of a burst of `n` requests sent at once to `replicas` idle replicas with
/// `slots` each (at most `host_slots` evaluating at once), with service time `mean_service`:
/// requests are served in waves, so the j-th of a replica's share (split evenly, as round-robin
/// does) finishes after `ceil((j + 1) / slots)` service times.
pub fn burst_latencies(
    n: usize,
    replicas: usize,
    slots: usize,
    host_slots: Option<usize>,
    mean_service: f64,
) -> Vec<f64> {
    if replicas == 0 {
        return Vec::new();
    }
    let parallel = (replicas * slots)
        .min(host_slots.unwrap_or(usize::MAX))
        .max(1);
    if parallel < replicas * slots {
        // The host is the bottleneck: the whole burst is one queue over its slots.
        return (0..n)
            .map(|j| (j / parallel + 1) as f64 * mean_service)
            .collect();
    }
    (0..replicas)
        .flat_map(|r| {
            let share = n / replicas + usize::from(r < n % replicas);
            (0..share).map(move |j| (j / slots + 1) as f64 * mean_service)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_textbook_values() {
        // c = 1: P(wait) = rho.
        assert!((erlang_c(1, 0.7).unwrap() - 0.7).abs() < 1e-12);
        // c = 2, a = 1: (1/2 * 2) / (1 + 1 + 1) = 1/3.
        assert!((erlang_c(2, 1.0).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(3, 3.0), None);
    }

    #[test]
    fn mg1_with_exponential_service_is_mm1() {
        let (lambda, s) = (0.5, 1.0);
        let pk = mg1_mean_wait(lambda, s, 2.0 * s * s).unwrap();
        let mm1 = mmc_mean_wait(1, lambda, s).unwrap();
        assert!((pk - mm1).abs() < 1e-12, "{pk} vs {mm1}");
        assert!((pk - 1.0).abs() < 1e-12); // rho / (mu - lambda) = 0.5 / 0.5
    }

    #[test]
    fn bursts_are_served_in_waves() {
        // 10 requests over 3 replicas of 1 slot: shares 4, 3, 3.
        let mut l = burst_latencies(10, 3, 1, None, 2.0);
        l.sort_by(f64::total_cmp);
        assert_eq!(l, [2., 2., 2., 4., 4., 4., 6., 6., 6., 8.]);
        // A host with 2 slots serialises 4 replicas into waves of 2.
        let l = burst_latencies(5, 4, 1, Some(2), 1.0);
        assert_eq!(l, [1., 1., 2., 2., 3.]);
    }
}
