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

const UNTRACKED: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Queued {
    arrival: f64,
    /// `epoch << 32 | index` of a request of the current burst, or [`UNTRACKED`].
    track: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodState {
    Starting,
    Ready,
    Draining,
    Gone,
}

#[derive(Debug)]
struct Replica {
    state: PodState,
    queue: VecDeque<Queued>,
    busy: usize,
    /// Bumped by restart and reuse, so that events of an earlier life are ignored.
    generation: u32,
}

#[derive(Debug)]
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

#[derive(Debug)]
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

/// The simulated cluster. Time only moves inside [`Cluster::wait`] and [`Cluster::send`].
pub struct Cluster {
    config: ClusterConfig,
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
    burst: Vec<Outcome>,
    totals: Totals,
}

impl Cluster {
    /// A cluster with no replicas at time 0; `seed` fixes every service time and arrival.
    pub fn new(config: ClusterConfig, seed: u64) -> Self {
        assert!(config.slots_per_replica >= 1, "slots_per_replica >= 1");
        let mut cluster = Self {
            config,
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
            burst: Vec::new(),
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
        for _ in 0..replicas {
            cluster.replicas.push(Replica {
                state: PodState::Ready,
                queue: VecDeque::new(),
                busy: 0,
                generation: 0,
            });
        }
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
        while self.events.peek().is_some_and(|e| e.time <= until) {
            self.process_next();
        }
        self.advance_to(until);
    }

    /// Sends `n` requests at once and waits until each is answered, refused, or older than
    /// `timeout_s`. Requests the client gave up on are still evaluated (the server cannot know).
    pub fn send(&mut self, n: usize, timeout_s: f64) -> Vec<Outcome> {
        self.epoch += 1;
        self.burst = vec![Outcome::Pending; n];
        let start = self.now;
        for index in 0..n {
            let track = (u64::from(self.epoch) << 32) | index as u64;
            self.dispatch(Queued {
                arrival: start,
                track,
            });
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

    /// Runs Poisson background load until `requests` of it have finished (open-loop checks).
    pub fn run_background(&mut self, requests: u64) {
        assert!(self.config.background_rps > 0.0, "background_rps > 0");
        while self.totals.background_done < requests && !self.events.is_empty() {
            self.process_next();
        }
    }

    fn start_replica(&mut self) {
        let fresh = Replica {
            state: PodState::Starting,
            queue: VecDeque::new(),
            busy: 0,
            generation: 0,
        };
        let index = match self.replicas.iter().position(|r| r.state == PodState::Gone) {
            Some(index) => {
                let generation = self.replicas[index].generation + 1;
                self.replicas[index] = Replica {
                    generation,
                    ..fresh
                };
                index
            }
            None => {
                self.replicas.push(fresh);
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
                self.dispatch(Queued {
                    arrival: self.now,
                    track: UNTRACKED,
                });
                self.schedule_background();
            }
        }
    }

    fn dispatch(&mut self, request: Queued) {
        let Some(index) = self.pick_replica() else {
            self.resolve(request, Outcome::Refused);
            return;
        };
        self.replicas[index].queue.push_back(request);
        self.start_waiting();
    }

    fn pick_replica(&mut self) -> Option<usize> {
        if self.ready_pods == 0 {
            return None;
        }
        let nth = match self.config.split {
            Split::RoundRobin => {
                self.round_robin = self.round_robin.wrapping_add(1);
                self.round_robin % self.ready_pods
            }
            Split::Random => self.rng.random_range(0..self.ready_pods),
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
        if request.track == UNTRACKED {
            self.totals.background_done += 1;
            self.totals.background_latency_s += latency;
        }
        self.start_waiting();
        self.retire_if_idle(index);
    }

    fn resolve(&mut self, request: Queued, outcome: Outcome) {
        if request.track == UNTRACKED || (request.track >> 32) as u32 != self.epoch {
            return;
        }
        // Empty once `send` returned: later answers to a burst are the client's no more.
        if let Some(slot) = self.burst.get_mut((request.track & 0xffff_ffff) as usize) {
            *slot = outcome;
        }
    }

    /// Starts queued requests while slots are free, the oldest queue head first when replicas
    /// share a host.
    fn start_waiting(&mut self) {
        let host = self.config.host_slots.unwrap_or(usize::MAX);
        while self.busy_total < host {
            let slots = self.config.slots_per_replica;
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
        let service = self.config.service.sample(&mut self.rng);
        let replica = &mut self.replicas[index];
        let request = replica.queue.pop_front().expect("a queued request");
        replica.busy += 1;
        let generation = replica.generation;
        self.busy_total += 1;
        if request.track == UNTRACKED {
            self.totals.background_wait_s += self.now - request.arrival;
        }
        self.push(
            self.now + service,
            EventKind::Done {
                replica: index,
                generation,
                request,
            },
        );
    }
}
