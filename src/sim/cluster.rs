//! The discrete-event loop: replicas, queues, start-up delays, bursts and background load.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::ServiceTime;

/// How requests are spread over the ready replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// In turn (the local proxy).
    #[default]
    RoundRobin,
    /// Uniformly at random (kube-proxy in iptables mode).
    Random,
}

/// What is simulated: the circuit's service time and how replicas run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub service: ServiceTime,
    /// Requests one replica evaluates at the same time.
    pub slots_per_replica: usize,
    /// Requests all replicas together evaluate at the same time (replicas sharing one host);
    /// `None`: every replica has its own cores.
    pub host_slots: Option<usize>,
    pub split: Split,
    /// Seconds from scale-up (or restart) until a replica takes requests.
    pub startup_s: f64,
    /// Poisson background arrivals per second (0: none).
    pub background_rps: f64,
    /// Requests a replica holds waiting for a slot; one more is refused at once (the serving
    /// replica's 503 past its queue). `None`: unbounded.
    #[serde(default)]
    pub queue_per_replica: Option<usize>,
    /// The server's request timeout: a request still waiting this long leaves the queue unserved
    /// (the replica's 504); one already evaluating finishes. `None`: requests wait forever.
    #[serde(default)]
    pub timeout_s: Option<f64>,
}

impl ClusterConfig {
    /// One slot per replica, every replica on its own node, round-robin, no start-up delay, no
    /// background load, no admission limit or timeout.
    pub fn new(service: ServiceTime) -> Self {
        Self {
            service,
            slots_per_replica: 1,
            host_slots: None,
            split: Split::RoundRobin,
            startup_s: 0.0,
            background_rps: 0.0,
            queue_per_replica: None,
            timeout_s: None,
        }
    }

    /// Requests per second one replica completes when always busy.
    pub fn replica_capacity_rps(&self) -> f64 {
        self.slots_per_replica as f64 / self.service.mean()
    }
}

/// What happened to one request of a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Answered after this many seconds.
    Answered(f64),
    /// Refused: no replica was ready.
    Refused,
    /// No answer within the client's timeout.
    TimedOut,
    /// Not resolved yet (only inside [`Cluster::send`]).
    Pending,
}

impl Outcome {
    pub fn latency(&self) -> Option<f64> {
        match *self {
            Self::Answered(seconds) => Some(seconds),
            _ => None,
        }
    }
}

/// One request of an open-loop stream: when it arrives, and the key that fixes its service time
/// (and its replica under a random split), so that every controller meets the same requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    pub time: f64,
    pub key: u64,
}

/// What became of the open-loop requests ([`Cluster::offer`]) since the log was last taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Log {
    pub arrivals: usize,
    /// Refused at arrival: no replica ready, or the chosen replica's queue full (503).
    pub rejected: usize,
    /// Arrival times of the requests that left the queue unserved after the server's timeout
    /// (504).
    pub timed_out: Vec<f64>,
    /// Arrival time and latency of each answered request, in completion order.
    pub answered: Vec<(f64, f64)>,
}

impl Log {
    /// Latencies of the answered requests, in completion order.
    pub fn latencies(&self) -> Vec<f64> {
        self.answered.iter().map(|&(_, latency)| latency).collect()
    }
}

/// Whose request it is: the current burst of [`Cluster::send`], the open-loop stream, or the
/// background load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Burst { epoch: u32, index: u32 },
    Stream,
    Background,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    arrival: f64,
    service: f64,
    track: Track,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodState {
    Starting,
    Ready,
    Draining,
    Gone,
}

#[derive(Debug, Clone)]
struct Replica {
    state: PodState,
    queue: VecDeque<Queued>,
    busy: usize,
    /// Bumped by restart and reuse, so that events of an earlier life are ignored.
    generation: u32,
}

impl Replica {
    fn new(state: PodState, generation: u32) -> Self {
        Self {
            state,
            queue: VecDeque::new(),
            busy: 0,
            generation,
        }
    }
}

#[derive(Debug, Clone)]
enum EventKind {
    Done {
        replica: usize,
        generation: u32,
        request: Queued,
    },
    Ready {
        replica: usize,
        generation: u32,
    },
    Background,
}

#[derive(Debug, Clone)]
struct Event {
    time: f64,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    /// Reversed: the heap pops the earliest event (ties in scheduling order).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then(other.seq.cmp(&self.seq))
    }
}

/// Running totals since the cluster was made; differences over a step give rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Seconds of live pods (starting, ready or draining): what a cluster bills.
    pub pod_seconds: f64,
    /// Seconds of evaluation slots of ready replicas.
    pub slot_seconds: f64,
    /// Seconds of busy evaluation slots.
    pub busy_seconds: f64,
    /// Background requests: arrived, finished, and their summed queueing wait and latency.
    pub background_arrivals: u64,
    pub background_done: u64,
    pub background_wait_s: f64,
    pub background_latency_s: f64,
}

/// Keys of background requests live above this (stream and burst keys below it).
const BACKGROUND_KEYS: u64 = 1 << 62;

/// The simulated cluster. Time only moves inside [`Cluster::wait`], [`Cluster::send`],
/// [`Cluster::offer`] and [`Cluster::drain`]. Every request's service time is drawn from its
/// key and the cluster's seed alone, so two runs that meet the same requests meet the same work
/// whatever they scale (common random numbers). Cloning forks the run.
#[derive(Clone)]
pub struct Cluster {
    config: ClusterConfig,
    seed: u64,
    rng: ChaCha8Rng,
    now: f64,
    seq: u64,
    events: BinaryHeap<Event>,
    replicas: Vec<Replica>,
    round_robin: usize,
    busy_total: usize,
    live_pods: usize,
    ready_pods: usize,
    epoch: u32,
    /// Keys for [`Cluster::send`] without a key and for background requests.
    next_key: u64,
    burst: Vec<Outcome>,
    log: Log,
    totals: Totals,
}

impl Cluster {
    /// A cluster with no replicas at time 0; `seed` fixes every service time and arrival.
    pub fn new(config: ClusterConfig, seed: u64) -> Self {
        assert!(config.slots_per_replica >= 1, "slots_per_replica >= 1");
        let mut cluster = Self {
            config,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0.0,
            seq: 0,
            events: BinaryHeap::new(),
            replicas: Vec::new(),
            round_robin: 0,
            busy_total: 0,
            live_pods: 0,
            ready_pods: 0,
            epoch: 0,
            next_key: 1 << 61,
            burst: Vec::new(),
            log: Log::default(),
            totals: Totals::default(),
        };
        if cluster.config.background_rps > 0.0 {
            cluster.schedule_background();
        }
        cluster
    }

    /// A cluster whose first `replicas` replicas are ready at time 0.
    pub fn with_ready_replicas(config: ClusterConfig, seed: u64, replicas: usize) -> Self {
        let mut cluster = Self::new(config, seed);
        cluster.replicas = vec![Replica::new(PodState::Ready, 0); replicas];
        cluster.live_pods = replicas;
        cluster.ready_pods = replicas;
        cluster
    }

    pub fn now(&self) -> f64 {
        self.now
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Replicas that take requests now.
    pub fn ready(&self) -> usize {
        self.ready_pods
    }

    /// Requests queued or in evaluation on all replicas.
    pub fn backlog(&self) -> usize {
        self.busy_total + self.replicas.iter().map(|r| r.queue.len()).sum::<usize>()
    }

    /// Replicas that are starting or ready (draining ones excluded): the deployment's size.
    pub fn desired(&self) -> usize {
        self.replicas
            .iter()
            .filter(|r| matches!(r.state, PodState::Starting | PodState::Ready))
            .count()
    }

    /// What became of the open-loop requests since the last call.
    pub fn take_log(&mut self) -> Log {
        std::mem::take(&mut self.log)
    }

    /// Arrival times of the open-loop requests still waiting or evaluating.
    pub fn pending_arrivals(&self) -> Vec<f64> {
        let waiting = self.replicas.iter().flat_map(|r| r.queue.iter());
        let serving = self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Done {
                replica,
                generation,
                request,
            } if self.replicas[*replica].generation == *generation => Some(request),
            _ => None,
        });
        waiting
            .chain(serving)
            .filter(|q| q.track == Track::Stream)
            .map(|q| q.arrival)
            .collect()
    }

    /// Scales to `target` replicas: new ones start (ready after the start-up delay); removed
    /// ones are the newest, starting ones first; a removed ready replica finishes its queue first.
    pub fn scale(&mut self, target: usize) {
        let mut active = self.desired();
        while active < target {
            self.start_replica();
            active += 1;
        }
        for state in [PodState::Starting, PodState::Ready] {
            for index in (0..self.replicas.len()).rev() {
                if active > target && self.replicas[index].state == state {
                    self.stop_replica(index);
                    active -= 1;
                }
            }
        }
    }

    /// Restarts every replica: queued and running requests are lost, and no replica is ready
    /// until the start-up delay has passed.
    pub fn restart(&mut self) {
        for index in 0..self.replicas.len() {
            let replica = &mut self.replicas[index];
            if replica.state == PodState::Gone {
                continue;
            }
            self.busy_total -= replica.busy;
            replica.busy = 0;
            replica.queue.clear();
            replica.generation += 1;
            if replica.state == PodState::Ready {
                self.ready_pods -= 1;
            }
            if replica.state == PodState::Draining {
                replica.state = PodState::Gone;
                self.live_pods -= 1;
            } else {
                replica.state = PodState::Starting;
                self.schedule_ready(index);
            }
        }
    }

    /// Lets `seconds` pass.
    pub fn wait(&mut self, seconds: f64) {
        let until = self.now + seconds.max(0.0);
        self.process_until(until);
        self.advance_to(until);
    }

    /// Sends `n` requests at once (keys from an internal counter) and waits for their outcomes:
    /// see [`Cluster::send_keyed`].
    pub fn send(&mut self, n: usize, timeout_s: f64) -> Vec<Outcome> {
        let key = self.next_key;
        self.next_key += n as u64;
        self.send_keyed(n, timeout_s, key)
    }

    /// Sends `n` requests at once, keyed `key..key + n`, and waits until each is answered,
    /// refused, or older than `timeout_s`. Requests the client gave up on are still evaluated
    /// (the server cannot know) unless the server's own timeout drops them.
    pub fn send_keyed(&mut self, n: usize, timeout_s: f64, key: u64) -> Vec<Outcome> {
        self.epoch += 1;
        self.burst = vec![Outcome::Pending; n];
        let start = self.now;
        for index in 0..n {
            let track = Track::Burst {
                epoch: self.epoch,
                index: index as u32,
            };
            self.dispatch(start, key + index as u64, track);
        }
        let deadline = start + timeout_s;
        while self.burst.contains(&Outcome::Pending) {
            match self.events.peek() {
                Some(event) if event.time <= deadline => self.process_next(),
                _ => {
                    self.advance_to(deadline);
                    break;
                }
            }
        }
        let outcomes = std::mem::take(&mut self.burst);
        outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Pending => Outcome::TimedOut,
                Outcome::Answered(s) if s > timeout_s => Outcome::TimedOut,
                other => other,
            })
            .collect()
    }

    /// Runs until `until`, dispatching the open-loop `arrivals` (sorted by time, none before
    /// now) as they come; what becomes of them goes to the log ([`Cluster::take_log`]).
    pub fn offer(&mut self, arrivals: &[Arrival], until: f64) {
        for arrival in arrivals {
            self.process_until(arrival.time);
            self.advance_to(arrival.time);
            self.log.arrivals += 1;
            self.dispatch(arrival.time, arrival.key, Track::Stream);
        }
        self.process_until(until);
        self.advance_to(until);
    }

    /// Runs until no request is queued or evaluating (no new requests arrive meanwhile).
    pub fn drain(&mut self) {
        while self.backlog() > 0 && !self.events.is_empty() {
            self.process_next();
        }
    }

    /// Runs Poisson background load until `requests` of it have finished (open-loop checks).
    pub fn run_background(&mut self, requests: u64) {
        assert!(self.config.background_rps > 0.0, "background_rps > 0");
        while self.totals.background_done < requests && !self.events.is_empty() {
            self.process_next();
        }
    }

    fn process_until(&mut self, time: f64) {
        while self.events.peek().is_some_and(|e| e.time <= time) {
            self.process_next();
        }
    }

    fn start_replica(&mut self) {
        let index = match self.replicas.iter().position(|r| r.state == PodState::Gone) {
            Some(index) => {
                let generation = self.replicas[index].generation + 1;
                self.replicas[index] = Replica::new(PodState::Starting, generation);
                index
            }
            None => {
                self.replicas.push(Replica::new(PodState::Starting, 0));
                self.replicas.len() - 1
            }
        };
        self.live_pods += 1;
        self.schedule_ready(index);
    }

    fn stop_replica(&mut self, index: usize) {
        let replica = &mut self.replicas[index];
        match replica.state {
            PodState::Starting => {
                replica.state = PodState::Gone;
                replica.generation += 1;
                self.live_pods -= 1;
            }
            PodState::Ready => {
                replica.state = PodState::Draining;
                self.ready_pods -= 1;
                self.retire_if_idle(index);
            }
            PodState::Draining | PodState::Gone => {}
        }
    }

    fn retire_if_idle(&mut self, index: usize) {
        let replica = &mut self.replicas[index];
        if replica.state == PodState::Draining && replica.busy == 0 && replica.queue.is_empty() {
            replica.state = PodState::Gone;
            self.live_pods -= 1;
        }
    }

    fn schedule_ready(&mut self, replica: usize) {
        let generation = self.replicas[replica].generation;
        let time = self.now + self.config.startup_s;
        self.push(
            time,
            EventKind::Ready {
                replica,
                generation,
            },
        );
    }

    fn schedule_background(&mut self) {
        let gap = -(1.0 - self.rng.random::<f64>()).ln() / self.config.background_rps;
        self.push(self.now + gap, EventKind::Background);
    }

    fn push(&mut self, time: f64, kind: EventKind) {
        self.seq += 1;
        let seq = self.seq;
        self.events.push(Event { time, seq, kind });
    }

    fn advance_to(&mut self, time: f64) {
        let dt = time - self.now;
        if dt > 0.0 {
            self.totals.pod_seconds += self.live_pods as f64 * dt;
            self.totals.slot_seconds +=
                (self.ready_pods * self.config.slots_per_replica) as f64 * dt;
            self.totals.busy_seconds += self.busy_total as f64 * dt;
            self.now = time;
        }
    }

    fn process_next(&mut self) {
        let Some(event) = self.events.pop() else {
            return;
        };
        self.advance_to(event.time);
        match event.kind {
            EventKind::Done {
                replica,
                generation,
                request,
            } => self.finish(replica, generation, request),
            EventKind::Ready {
                replica,
                generation,
            } => {
                let pod = &mut self.replicas[replica];
                if pod.generation == generation && pod.state == PodState::Starting {
                    pod.state = PodState::Ready;
                    self.ready_pods += 1;
                }
            }
            EventKind::Background => {
                self.totals.background_arrivals += 1;
                let key = BACKGROUND_KEYS + self.totals.background_arrivals;
                self.dispatch(self.now, key, Track::Background);
                self.schedule_background();
            }
        }
    }

    /// A request arrives: it joins the queue of the replica the split picks, or is refused.
    fn dispatch(&mut self, arrival: f64, key: u64, track: Track) {
        let request = Queued {
            arrival,
            service: self.config.service.sample(&mut keyed_rng(self.seed, key)),
            track,
        };
        let Some(index) = self.pick_replica(key) else {
            self.resolve(request, Outcome::Refused);
            return;
        };
        self.expire_waiting(index);
        let replica = &self.replicas[index];
        let full = self.config.queue_per_replica.is_some_and(|limit| {
            replica.busy >= self.config.slots_per_replica && replica.queue.len() >= limit
        });
        if full {
            self.resolve(request, Outcome::Refused);
            return;
        }
        self.replicas[index].queue.push_back(request);
        self.start_waiting();
    }

    fn pick_replica(&mut self, key: u64) -> Option<usize> {
        if self.ready_pods == 0 {
            return None;
        }
        let nth = match self.config.split {
            Split::RoundRobin => {
                self.round_robin = self.round_robin.wrapping_add(1);
                self.round_robin % self.ready_pods
            }
            Split::Random => {
                keyed_rng(self.seed ^ 0x0053_504c_4954, key).random_range(0..self.ready_pods)
            }
        };
        self.replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state == PodState::Ready)
            .nth(nth)
            .map(|(index, _)| index)
    }

    fn finish(&mut self, index: usize, generation: u32, request: Queued) {
        if self.replicas[index].generation != generation {
            return; // evaluated by a replica that has since restarted
        }
        self.replicas[index].busy -= 1;
        self.busy_total -= 1;
        let latency = self.now - request.arrival;
        self.resolve(request, Outcome::Answered(latency));
        if request.track == Track::Background {
            self.totals.background_done += 1;
            self.totals.background_latency_s += latency;
        }
        self.start_waiting();
        self.retire_if_idle(index);
    }

    fn resolve(&mut self, request: Queued, outcome: Outcome) {
        match request.track {
            Track::Background => {}
            Track::Stream => match outcome {
                Outcome::Answered(latency) => self.log.answered.push((request.arrival, latency)),
                Outcome::Refused => self.log.rejected += 1,
                Outcome::TimedOut | Outcome::Pending => self.log.timed_out.push(request.arrival),
            },
            Track::Burst { epoch, index } if epoch == self.epoch => {
                // Empty once `send` returned: later answers to a burst are the client's no more.
                if let Some(slot) = self.burst.get_mut(index as usize) {
                    *slot = outcome;
                }
            }
            Track::Burst { .. } => {}
        }
    }

    /// Drops the requests at the head of replica `index`'s queue that have waited past the
    /// server's timeout (FIFO: the oldest are in front).
    fn expire_waiting(&mut self, index: usize) {
        let Some(timeout) = self.config.timeout_s else {
            return;
        };
        while let Some(&head) = self.replicas[index].queue.front() {
            if self.now - head.arrival < timeout {
                return;
            }
            self.replicas[index].queue.pop_front();
            self.resolve(head, Outcome::TimedOut);
        }
    }

    /// Starts queued requests while slots are free, the oldest queue head first when replicas
    /// share a host.
    fn start_waiting(&mut self) {
        let host = self.config.host_slots.unwrap_or(usize::MAX);
        while self.busy_total < host {
            let slots = self.config.slots_per_replica;
            for index in 0..self.replicas.len() {
                if self.replicas[index].busy < slots {
                    self.expire_waiting(index);
                }
            }
            let next = self
                .replicas
                .iter()
                .enumerate()
                .filter(|(_, r)| r.busy < slots && !r.queue.is_empty())
                .min_by(|(_, a), (_, b)| a.queue[0].arrival.total_cmp(&b.queue[0].arrival))
                .map(|(index, _)| index);
            let Some(index) = next else {
                return;
            };
            self.begin_service(index);
        }
    }

    fn begin_service(&mut self, index: usize) {
        let replica = &mut self.replicas[index];
        let request = replica.queue.pop_front().expect("a queued request");
        replica.busy += 1;
        let generation = replica.generation;
        self.busy_total += 1;
        if request.track == Track::Background {
            self.totals.background_wait_s += self.now - request.arrival;
        }
        self.push(
            self.now + request.service,
            EventKind::Done {
                replica: index,
                generation,
                request,
            },
        );
    }
}

/// The generator of request `key`'s draws under `seed` (service time, random split).
fn keyed_rng(seed: u64, key: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(key);
    rng
}
