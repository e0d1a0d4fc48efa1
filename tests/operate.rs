//! `cipherscale deploy` end to end on loopback: the HPA scales real replicas up under a replayed
//! ramp and back down after it, a replica killed with SIGKILL is replaced and leaves the
//! rotation, every answer acknowledged with 200 decrypts to the plaintext model's, and after
//! Ctrl-C no replica is left.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cipherscale::fhe::Pipeline;
use cipherscale::load::open_loop::{self, OpenLoop};
use cipherscale::load::trace::Replay;
use cipherscale::model::{FloatModel, QuantizedModel};
use cipherscale::operate::autoscaler::Decision;
use cipherscale::serve::client::Recommender;
use cipherscale::serve::Artifacts;
use cipherscale::workload::trace::Trace;
use common::running;

fn artifacts(dir: &Path) -> Artifacts {
    let model = QuantizedModel::quantize(&FloatModel::random(50, 17), 8);
    let titles = (0..50).map(|i| format!("Movie {i}")).collect();
    let artifacts = Artifacts::build(Pipeline::GlwePacked, model, titles).unwrap();
    artifacts.save(dir).unwrap();
    artifacts
}

/// A day of per-minute counts: 20 quiet minutes, then a ramp to 150 a minute over 6 minutes,
/// 5 minutes at the top, and nothing after.
fn ramp_trace(path: &Path) -> Trace {
    let mut text = String::from("minute,requests\n");
    for minute in 0..1440 {
        let count = match minute {
            20..=25 => 25 * (minute - 19),
            26..=30 => 150,
            _ => 0,
        };
        text.push_str(&format!("{minute},{count}\n"));
    }
    std::fs::write(path, text).unwrap();
    Trace::load(path).unwrap()
}

/// The `cipherscale serve` children of `parent`.
fn replicas_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let serving = cmdline.split(|&b| b == 0).nth(1) == Some(&b"serve"[..]);
        if fields.get(1) == Some(&parent.to_string().as_str()) && fields[0] != "Z" && serving {
            pids.push(pid);
        }
    }
    pids
}

/// Starts `cipherscale deploy`; its endpoint, and every line it prints from then on.
fn start_deploy(artifacts: &Path, log: &Path) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args(["deploy", "--artifacts"])
        .arg(artifacts)
        .args(["--autoscale", "hpa", "--target", "0.02", "--window-s", "3"])
        .args(["--interval-s", "0.5", "--max-replicas", "3"])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(["--duration-s", "300", "--log"])
        .arg(log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut endpoint = None;
    let mut line = String::new();
    while endpoint.is_none() {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "deploy exited early"
        );
        endpoint = line.trim().strip_prefix("listening on ").map(str::to_owned);
    }
    let lines = Arc::new(Mutex::new(Vec::new()));
    let collected = lines.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    (child, endpoint.unwrap(), lines)
}

#[test]
fn deploy_scales_with_a_replayed_ramp_heals_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = artifacts(dir.path());
    let log = dir.path().join("decisions.csv");
    let (mut deploy, endpoint, lines) = start_deploy(dir.path(), &log);

    let recommender = Recommender::connect(&endpoint, Some(&dir.path().join("client"))).unwrap();
    let key = recommender.upload().unwrap();
    let liked: Vec<Vec<usize>> = vec![vec![1, 2, 3], vec![7], vec![10, 20, 30, 40], vec![5, 6]];
    let expected: Vec<Vec<i64>> = liked
        .iter()
        .map(|l| artifacts.circuit.expected(&artifacts.model, l))
        .collect();
    let trace = ramp_trace(&dir.path().join("ramp.csv"));
    let replay = Replay {
        start_minute: 19,
        minutes: Some(14),
        compress: 30.0, // a minute lasts 2 s: 28 s of load, up to 75 requests a second
        scale: 1.0,
        seed: 5,
    };
    let plan = OpenLoop {
        base: endpoint.clone(),
        path: "/v1/recommend".into(),
        headers: key
            .map(|id| vec![(cipherscale::serve::KEY_HEADER.to_owned(), id.to_string())])
            .unwrap_or_default(),
        bodies: liked
            .iter()
            .map(|l| recommender.encrypt(l).into())
            .collect(),
        arrivals_s: cipherscale::load::trace::arrivals_s(&replay.episode(&trace).unwrap()),
        timeout: Duration::from_secs(30),
        max_duration: Duration::from_secs(60),
        keep_answers: true,
        one_at_a_time: false,
        answer_limit: 1 << 20,
    };
    let sender = std::thread::spawn(move || open_loop::run(&plan).unwrap());

    // At the top of the ramp (from 14 s), kill one of the replicas.
    let deploy_pid = deploy.id();
    let started = Instant::now();
    let mut victim = None;
    while victim.is_none() && started.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(200));
        let replicas = replicas_of(deploy_pid);
        if started.elapsed() > Duration::from_secs(14) && replicas.len() >= 2 {
            victim = replicas.last().copied();
        }
    }
    let victim = victim.expect("the HPA never ran two replicas under the ramp");
    let killed_at = started.elapsed().as_secs_f64();
    assert!(Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap()
        .success());
    let sent = sender.join().unwrap();

    // Every 200 decrypts to the model's answer; failures only around the kill.
    let mut ok = 0;
    for s in &sent {
        if s.ok() {
            let answer = recommender.decrypt(s.answer.as_ref().unwrap()).unwrap();
            assert_eq!(
                answer, expected[s.body],
                "a wrong answer acknowledged with 200"
            );
            ok += 1;
        } else {
            assert!(
                (s.due_s - killed_at).abs() < 3.0,
                "request due at {:.1}s failed ({} {:?}), away from the kill at {killed_at:.1}s",
                s.due_s,
                s.status,
                s.error
            );
        }
    }
    assert!(
        sent.len() > 500 && ok + 5 >= sent.len(),
        "{ok} of {} answered",
        sent.len()
    );

    // After the load the HPA comes back down to one replica.
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas_of(deploy_pid).len() != 1 {
        assert!(
            Instant::now() < deadline,
            "still {:?} replicas",
            replicas_of(deploy_pid)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let seen = replicas_of(deploy_pid);

    // Ctrl-C: drained, stopped, decisions written.
    assert!(Command::new("kill")
        .args(["-INT", &deploy_pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = deploy.wait().unwrap();
    assert!(status.success(), "deploy exited with {status}");
    assert!(
        !running(victim) && seen.iter().all(|&p| !running(p)),
        "a replica outlived deploy"
    );
    assert!(replicas_of(deploy_pid).is_empty());
    let printed = lines.lock().unwrap().join("\n");
    assert!(printed.contains("replaced 1 dead"), "{printed}");

    let decisions: Vec<Decision> = cipherscale::output::read_rows(&log).unwrap().unwrap();
    let most = decisions.iter().map(|d| d.target).max().unwrap();
    assert!(most >= 2, "never scaled up: {printed}");
    assert_eq!(decisions.last().unwrap().target, 1);
    assert_eq!(
        decisions.iter().map(|d| d.healed).sum::<usize>(),
        1,
        "{printed}"
    );
    assert!(decisions.iter().all(|d| d.controller == "hpa"));
}

fn rehearse(dir: &Path, trace: &Path, controller: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args(["rehearse", "--artifacts"])
        .arg(dir)
        .args(["--autoscale", controller, "--queue-target", "1"])
        .args([
            "--interval-s",
            "0.5",
            "--max-replicas",
            "2",
            "--window-s",
            "1",
        ])
        .args(["--service-s", "0.002", "--startup-s", "1", "--slo-s", "1"])
        .args(["--timeout-s", "5", "--settle-intervals", "2", "--trace"])
        .arg(trace)
        .args([
            "--start-minute",
            "18",
            "--minutes",
            "12",
            "--compress",
            "240",
        ])
        .args(["--scale", "0.2", "--out"])
        .arg(dir.join("out"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn rehearse_puts_live_beside_simulated_per_controller_and_names_bad_input() {
    use cipherscale::operate::rehearsal::RehearsalRow;
    let dir = tempfile::tempdir().unwrap();
    artifacts(dir.path());
    let trace = dir.path().join("ramp.csv");
    ramp_trace(&trace);
    for controller in ["queue", "static"] {
        let output = rehearse(dir.path(), &trace, controller);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        let answered = stdout
            .lines()
            .find(|l| l.contains("requests answered 200"))
            .unwrap_or_else(|| panic!("no answer count: {stdout}"));
        // "A of S requests answered 200": a replica's full queue may refuse a few (503); the
        // command itself fails if any 200 decrypts wrong.
        let words: Vec<usize> = answered
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let (ok, sent) = (words[0], words[1]);
        assert!(sent > 100 && ok * 100 >= sent * 95, "{answered}");
    }
    let rows: Vec<RehearsalRow> =
        cipherscale::output::read_rows(&dir.path().join("out/rehearsal.csv"))
            .unwrap()
            .unwrap();
    let controllers: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.controller.as_str()).collect();
    assert_eq!(
        controllers.len(),
        2,
        "one run per controller kept: {controllers:?}"
    );
    for controller in controllers {
        let of = |source: &str| -> Vec<&RehearsalRow> {
            rows.iter()
                .filter(|r| r.controller == controller && r.source == source)
                .collect()
        };
        let (live, sim) = (of("live"), of("sim"));
        assert_eq!(
            live[0].step, 0,
            "live steps count from 0 as the simulator's"
        );
        assert!(
            live.len().abs_diff(sim.len()) <= 2 && live.len() >= 6,
            "{controller}: {} live intervals, {} simulated",
            live.len(),
            sim.len()
        );
        let arrived = |rows: &[&RehearsalRow]| rows.iter().map(|r| r.arrivals).sum::<usize>();
        assert!(arrived(&live) > 100 && arrived(&sim) > 100);
    }
    let figure = std::fs::metadata(dir.path().join("out/rehearsal.png")).unwrap();
    assert!(figure.len() > 10_000);

    for (controller, expected) in [
        ("ppo:missing.safetensors", "no PPO checkpoint"),
        ("magic", "magic"),
    ] {
        let output = rehearse(dir.path(), &trace, controller);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{stderr}"
        );
    }
}
