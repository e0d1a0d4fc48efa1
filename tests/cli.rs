//! The `cipherscale` binary end to end: spec errors, data errors, and the model stage.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{real_data, repo, write_fixture};

fn cipherscale(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args(args)
        .current_dir(cwd)
        .env_remove("MOVIELENS_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn validate_gives_three_distinct_clear_errors_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        (
            "unknown.yaml",
            "name: x\nseed: 1\nmodel:\n  bitwidths: [4]\n",
            "unknown.yaml:4:3: model: unknown field `bitwidths`",
        ),
        (
            "type.yaml",
            "name: x\nseed: 1\ndata:\n  test_fraction: lots\n",
            "type.yaml:4:18: data.test_fraction: invalid type: string \"lots\", expected f64",
        ),
        (
            "range.yaml",
            "name: x\nseed: 1\ndata:\n  movies: 100000\n",
            "range.yaml: field `data.movies`: 100000 is out of range",
        ),
    ];
    let mut messages = Vec::new();
    for (file, text, expected) in specs {
        std::fs::write(tmp.path().join(file), text).unwrap();
        let output = cipherscale(&["validate", file], tmp.path());
        assert_eq!(output.status.code(), Some(1), "{file}");
        let err = stderr(&output);
        assert!(
            err.starts_with(&format!("error: {expected}")),
            "{file}: {err}"
        );
        assert!(err.contains("hint: "), "{file}: {err}");
        messages.push(err);
    }
    messages.dedup();
    assert_eq!(messages.len(), 3);
}

#[test]
fn validate_accepts_the_shipped_specs() {
    let output = cipherscale(
        &[
            "validate",
            "experiments/paper.yaml",
            "experiments/scaling.yaml",
            "tests/specs/quick.yaml",
        ],
        &repo(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("experiments/paper.yaml: ok (experiment `paper`)"),
        "{stdout}"
    );
}

#[test]
fn a_missing_data_directory_lists_the_paths_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args(["data", "--no-download"])
        .current_dir(tmp.path())
        .env("MOVIELENS_DIR", tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("MovieLens data not found; tried:"), "{err}");
    assert!(
        err.contains("nowhere: no such directory (from MOVIELENS_DIR)"),
        "{err}"
    );
    assert!(
        err.contains("data/ml-latest-small: no such directory (default location)"),
        "{err}"
    );
}

const FIXTURE_SPEC: &str = "\
name: fixture
seed: 1
data: { dataset: movielens-csv, movies: 8, test_fraction: 0.25 }
model: { l2: [0.3, 3], bit_widths: [2, 8], seeds: [1, 2] }
";

#[test]
fn run_writes_one_row_per_variant_and_seed() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(&tmp.path().join("ml"));
    std::fs::write(tmp.path().join("fixture.yaml"), FIXTURE_SPEC).unwrap();
    let output = cipherscale(
        &[
            "run",
            "fixture.yaml",
            "--only",
            "model",
            "--data",
            "ml",
            "--out",
            "out",
        ],
        tmp.path(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(tmp.path().join("out/model.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "seed,variant,bits,hit_at_1,hit_at_5,top1_agreement_with_float,examples,\
         train_examples,movies,accumulator_bits,l2,experiment,git_rev,cores,machine"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let keys: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    let mut expected = Vec::new();
    for seed in ["1", "2"] {
        expected.extend([
            (seed, "popularity", ""),
            (seed, "float", ""),
            (seed, "quantized", "2"),
            (seed, "quantized", "8"),
        ]);
    }
    assert_eq!(keys, expected);
    // The fixture's two taste groups are easy: the float model must find them.
    for row in rows.iter().filter(|r| r[1] == "float") {
        assert!(row[3].parse::<f64>().unwrap() > 0.2, "{row:?}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("popularity") && stdout.contains("wrote out/model.csv"),
        "{stdout}"
    );
    assert!(!tmp.path().join("out/model.csv.partial").exists());
}

#[test]
fn run_on_a_bad_spec_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "name: bad\nseed: 1\nmodel: { seeds: [] }\n",
    )
    .unwrap();
    let output = cipherscale(&["run", "bad.yaml", "--out", "out"], tmp.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("field `model.seeds`: the list is empty"));
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn quick_run_on_the_real_data() {
    let Some(data) = real_data() else {
        eprintln!("skipped: MOVIELENS_DIR is not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("reproduction");
    let out = root.join("results/quick");
    let spec = repo().join("tests/specs/quick.yaml");
    // The path `just reproduce-quick` takes: every stage, then the figures and the report.
    let args = [
        "reproduce",
        spec.to_str().unwrap(),
        "--quick",
        "--data",
        data.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ];
    let output = cipherscale(&args, tmp.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(out.join("model.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 + 7 + 1, "{csv}");
    let mut fhe = csv::Reader::from_path(out.join("fhe.csv")).unwrap();
    let header = fhe.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = fhe.records().map(Result::unwrap).collect();
    let cells: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (&r[column("pipeline")], &r[column("bits")]))
        .collect();
    assert_eq!(
        cells,
        [
            ("glwe-packed", "2"),
            ("glwe-packed", "8"),
            ("lwe", "2"),
            ("lwe", "8"),
            ("integer", "2"),
            ("integer", "8"),
            ("glwe-argmax", "2")
        ]
    );
    for row in &rows {
        assert_eq!(&row[column("agreement")], "1.0", "{row:?}");
        assert_eq!(&row[column("decryption_errors")], "0", "{row:?}");
        assert!(row[column("params")].contains("_2M128"), "{row:?}");
    }
    // Every cell's artifacts are servable; the serve stage measured both cells at 1 and 2 clients.
    let artifacts = cipherscale::serve::Artifacts::load(&out.join("artifacts/glwe-argmax-2b"));
    assert_eq!(artifacts.unwrap().description.titles.len(), 50);
    let serve = std::fs::read_to_string(out.join("serve.csv")).unwrap();
    assert_eq!(serve.lines().count(), 1 + 4, "{serve}");
    let mut serve = csv::Reader::from_path(out.join("serve.csv")).unwrap();
    let header = serve.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    for row in serve.records().map(Result::unwrap) {
        assert_eq!(&row[column("wrong")], "0", "{row:?}");
        assert!(row[column("throughput_rps")].parse::<f64>().unwrap() > 0.0);
    }
    check_rl_outputs(&out);
    check_scaling(&out);
    check_capacity(&out);
    check_figures_and_report(&root);
    check_more_argmax_checks(&spec, &data, &root, &out);
}

/// `run --only fhe --cell glwe-argmax:2` adds checks to the ledger, counts the earlier run's too,
/// and leaves the other rows of fhe.csv as they were.
fn check_more_argmax_checks(spec: &Path, data: &Path, root: &Path, out: &Path) {
    let others = |csv: &str| {
        csv.lines()
            .filter(|l| !l.starts_with("7,glwe-argmax"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before = std::fs::read_to_string(out.join("fhe.csv")).unwrap();
    let ledger = std::fs::read_to_string(out.join("argmax_checks.csv")).unwrap();
    assert_eq!(ledger.lines().count(), 1 + 3, "{ledger}");
    let args = [
        "run",
        spec.to_str().unwrap(),
        "--quick",
        "--only",
        "fhe",
        "--cell",
        "glwe-argmax:2",
        "--argmax-samples",
        "5",
        "--data",
        data.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ];
    let output = cipherscale(&args, root);
    assert!(output.status.success(), "{}", stderr(&output));
    let after = std::fs::read_to_string(out.join("fhe.csv")).unwrap();
    assert_eq!(others(&after), others(&before));
    let mut fhe = csv::Reader::from_path(out.join("fhe.csv")).unwrap();
    let header = fhe.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let argmax = fhe
        .records()
        .map(Result::unwrap)
        .find(|r| &r[column("pipeline")] == "glwe-argmax")
        .unwrap();
    // 2 new examples and 3 re-checks (every run times at least 5); 5 distinct examples in all.
    assert_eq!(&argmax[column("samples")], "5", "{argmax:?}");
    assert_eq!(&argmax[column("timed")], "5", "{argmax:?}");
    assert_eq!(&argmax[column("agreement")], "1.0", "{argmax:?}");
    let ledger = std::fs::read_to_string(out.join("argmax_checks.csv")).unwrap();
    assert_eq!(ledger.lines().count(), 1 + 3 + 5, "{ledger}");
}

/// Stage `capacity`: every full-size circuit of fhe.csv (integer is a slice) at 2 loads for 10
/// clients; every plan the simulator checked agrees with it below 90% utilisation.
fn check_capacity(out: &Path) {
    let fhe = std::fs::read_to_string(out.join("fhe.csv")).unwrap();
    let circuits = fhe
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("7,integer"))
        .count();
    let mut reader = csv::Reader::from_path(out.join("capacity.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), circuits * 2);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let number = |r: &csv::StringRecord, name: &str| r[column(name)].parse::<f64>().ok();
    let feasible: Vec<_> = rows
        .iter()
        .filter(|r| &r[column("feasible")] == "true")
        .collect();
    // glwe-packed and lwe meet a 10 s objective at any load.
    let leveled = fhe
        .lines()
        .filter(|l| l.starts_with("7,glwe-packed") || l.starts_with("7,lwe"));
    assert!(
        feasible.len() >= 2 * leveled.count(),
        "{} feasible",
        feasible.len()
    );
    for row in feasible
        .iter()
        .filter(|r| number(r, "utilisation").unwrap() < 0.9)
    {
        let (planned, simulated) = (
            number(row, "predicted_s").unwrap(),
            number(row, "simulated_s").unwrap(),
        );
        assert!((simulated / planned - 1.0).abs() < 0.1, "{row:?}");
        assert!(planned <= 10.0, "{row:?}");
    }
    for row in rows.iter().filter(|r| &r[column("feasible")] == "false") {
        assert!(row[column("reason")].contains("objective"), "{row:?}");
    }
    check_capacity_live(out);
    check_capacity_threads(out);
}

/// The quick spec's live point: 150 Poisson arrivals and 20 calibration requests on the planned
/// replicas, every one answered and decrypted to the plaintext model's answer.
fn check_capacity_live(out: &Path) {
    let mut reader = csv::Reader::from_path(out.join("capacity_live.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let field = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    let number = |name: &str| field(name).parse::<f64>().unwrap();
    assert_eq!(
        (field("pipeline"), field("bits"), field("sent")),
        ("glwe-packed", "8", "150"),
        "{row:?}"
    );
    assert_eq!(field("answered"), "150", "{row:?}");
    assert_eq!(field("wrong"), "0", "{row:?}");
    assert_eq!(field("calibration_requests"), "20", "{row:?}");
    assert!(number("replicas") >= 1.0, "{row:?}");
    // Every latency is positive, and the live quantile lies inside its own interval.
    assert!(
        number("live_s") > 0.0 && number("calibrated_s") > 0.0,
        "{row:?}"
    );
    assert!(number("live_low_s") <= number("live_s"), "{row:?}");
    assert!(number("live_s") <= number("live_high_s"), "{row:?}");
    assert!(number("loaded_eval_ms") > 0.0, "{row:?}");
}

/// The quick spec's thread timing (glwe-argmax p = 2 on one thread and on all cores) and its
/// plans both ways at each load.
fn check_capacity_threads(out: &Path) {
    let mut reader = csv::Reader::from_path(out.join("capacity_threads.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let field = |name: &str| &rows[0][header.iter().position(|h| h == name).unwrap()];
    assert_eq!((field("pipeline"), field("requests")), ("glwe-argmax", "2"));
    let speedup: f64 = field("speedup").parse().unwrap();
    assert!(speedup > 0.0 && speedup.is_finite(), "{speedup}");
    // 28 MB uploaded; the built key is larger, whatever the allocator kept.
    assert!(field("key_bytes").parse::<u64>().unwrap() > 20_000_000);
    let mut reader = csv::Reader::from_path(out.join("capacity_shapes.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "two loads, ten clients");
    let cheaper = header.iter().position(|h| h == "cheaper").unwrap();
    for row in &rows {
        assert!(
            ["vertical", "horizontal", "either", "neither"].contains(&&row[cheaper]),
            "{row:?}"
        );
    }
}

/// Stage `scaling`: 1 and 2 local replicas, then 1, 2 and 4 simulated; every answer right.
fn check_scaling(out: &std::path::Path) {
    let mut scaling = csv::Reader::from_path(out.join("scaling.csv")).unwrap();
    let header = scaling.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = scaling.records().map(Result::unwrap).collect();
    let cells: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (&r[column("backend")], &r[column("replicas")]))
        .collect();
    let sim = "sim-node-per-replica";
    let expected = [
        ("local", "1"),
        ("local", "2"),
        (sim, "1"),
        (sim, "2"),
        (sim, "4"),
    ];
    assert_eq!(cells, expected);
    for row in &rows {
        assert_eq!(&row[column("wrong")], "0", "{row:?}");
        assert!(row[column("throughput_rps")].parse::<f64>().unwrap() > 0.0);
    }
    // The simulated speedup depends on the service-time spread measured in this short run (a
    // heavy tail makes the slowest of a burst set the pace), so only its sanity is checked here.
    let speedup: f64 = rows[4][column("speedup")].parse().unwrap();
    assert!(speedup.is_finite() && speedup > 0.0, "{speedup}");
}

/// Every figure the quick run allows, non-empty PNGs, and a report that links them all.
fn check_figures_and_report(root: &std::path::Path) {
    let report = std::fs::read_to_string(root.join("paper/REPORT.md")).unwrap();
    let figures = [
        "fig3_replica_selection",
        "fig4_reward_per_episode",
        "fig5_latency_per_episode",
        "fig6_replicas_per_episode",
        "autoscale_scores",
        "autoscale_trace_day",
        "autoscale_pareto",
        "replica_histograms",
        "live_vs_sim",
        "fhe_latency_vs_bits",
        "fhe_bytes_vs_bits",
        "hit_at_1_vs_bits",
        "scaling",
        "capacity_frontier",
        "capacity_replicas",
    ];
    for figure in figures {
        let path = root.join(format!("plots/quick/{figure}.png"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}",
            path.display()
        );
        let link = format!("](../plots/quick/{figure}.png)");
        assert!(report.contains(&link), "the report does not show {figure}");
    }
    for expected in [
        "## What was run",
        "3.2x faster",
        "near-linear",
        "not testable here",
        "### Autoscaling on `trace`",
        "| ppo-rich | ppo |",
        "PPO's actions on the test episodes",
        "reproduce --quick",
    ] {
        assert!(report.contains(expected), "the report lacks `{expected}`");
    }
    let runs = std::fs::read_to_string(root.join("results/reproduce.csv")).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
}

/// Stages `rl` and `rl-live` of the quick run: six workloads; 2 agents x 2 seeds, tuned over 2
/// entropy coefficients on 1 seed; every static count, the chosen rules and the oracle on the
/// test episodes (3 of bursts, 2 of the others); one live episode.
fn check_rl_outputs(out: &std::path::Path) {
    let read = |name: &str| -> Vec<std::collections::HashMap<String, String>> {
        let mut reader = csv::Reader::from_path(out.join(name)).unwrap();
        let header = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                header
                    .iter()
                    .map(String::from)
                    .zip(r.iter().map(String::from))
                    .collect()
            })
            .collect()
    };
    let workloads = read("rl_workloads.csv");
    let kinds: Vec<&str> = workloads.iter().map(|w| w["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "bursts",
            "trace",
            "diurnal",
            "ramp",
            "flash-crowd",
            "on-off"
        ]
    );
    for w in &workloads {
        assert_eq!(w["oracle_beaten"], "0", "{w:?}");
    }
    // Bursts: 10 training episodes, a row each; the others 4 days, one row of up to 10;
    // 2 agents x 2 seeds each.
    assert_eq!(read("rl_train.csv").len(), 2 * 2 * (10 + 5));
    // Statics 1..=10 and 3 rules on bursts, 1..=12 and 5 rules on the others, 2 x 2 PPO runs, oracle.
    assert_eq!(
        read("rl_eval.csv").len(),
        (10 + 3 + 4 + 1) * 3 + (12 + 5 + 4 + 1) * 2 * 5
    );
    let summary = read("rl_summary.csv");
    assert_eq!(summary.len(), (10 + 3 + 2 + 1) + (12 + 5 + 2 + 1) * 5);
    for w in &workloads {
        let rows: Vec<_> = summary
            .iter()
            .filter(|r| r["workload"] == w["workload"])
            .collect();
        let chosen: Vec<_> = rows
            .iter()
            .filter(|r| r["kind"] == "static" && r["chosen"] == "true")
            .collect();
        assert_eq!(chosen.len(), 1, "{}", w["workload"]);
        assert_eq!(chosen[0]["controller"], w["best_static"]);
        let oracle = rows.iter().find(|r| r["controller"] == "oracle").unwrap();
        let oracle_cost: f64 = oracle["mean_cost"].parse().unwrap();
        for r in &rows {
            assert!(
                r["mean_cost"].parse::<f64>().unwrap() >= oracle_cost - 1e-9,
                "{r:?}"
            );
        }
    }
    // The static count compared with is the one cheapest on validation, not on test.
    let tuning = read("rl_tuning.csv");
    for w in &workloads {
        let statics: Vec<_> = tuning
            .iter()
            .filter(|t| t["workload"] == w["workload"] && t["family"] == "static")
            .collect();
        let cheapest = statics
            .iter()
            .min_by(|a, b| {
                let cost = |t: &&&std::collections::HashMap<String, String>| {
                    t["validation_cost"].parse::<f64>().unwrap()
                };
                cost(a).total_cmp(&cost(b))
            })
            .unwrap();
        assert_eq!(cheapest["chosen"], "true");
        assert_eq!(
            format!("static-{}", &cheapest["config"]["replicas=".len()..]),
            w["best_static"]
        );
    }
    assert_eq!(read("rl_diagnostics.csv").len(), 6 * 2 * 2);
    for seed in [1, 2] {
        assert!(out
            .join(format!("rl/bursts-ppo-seed{seed}.safetensors"))
            .exists());
    }
    let mut live = csv::Reader::from_path(out.join("rl_live.csv")).unwrap();
    let header = live.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = live.records().map(Result::unwrap).collect();
    let backends: Vec<&str> = rows.iter().map(|r| &r[column("backend")]).collect();
    assert_eq!(backends, ["live", "sim"]);
    // 3 probes; real encrypted requests take seconds at p = 2, never 0.
    assert_eq!(&rows[0][column("requests")], "3");
    assert!(rows[0][column("mean_latency_s")].parse::<f64>().unwrap() > 0.1);
}
