use std::path::Path;

use super::*;

const VALID: &str = "name: demo\nseed: 7\ndata:\n  movies: 20\nmodel:\n  bit_widths: [2, 8]\n";

fn parse(text: &str) -> Result<Spec, SpecError> {
    load_str(text, Path::new("demo.yaml"), false)
}

fn message(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn a_minimal_spec_takes_the_defaults() {
    let spec = parse(VALID).unwrap();
    assert_eq!(spec.data.movies, 20);
    assert_eq!(spec.data.liked_threshold, 4.0);
    assert_eq!(spec.model.bit_widths, vec![2, 8]);
    assert_eq!(spec.model.seeds, ModelSpec::default().seeds);
}

#[test]
fn unknown_field_names_file_line_field_and_the_allowed_ones() {
    let msg = message("name: demo\nseed: 7\ndata:\n  movis: 50\n");
    assert!(
        msg.starts_with("demo.yaml:4:3: data: unknown field `movis`"),
        "{msg}"
    );
    assert!(msg.contains("`movies`"), "{msg}");
    assert!(
        msg.contains("hint: remove the field or fix its spelling"),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_the_field_and_the_expected_type() {
    let msg = message("name: demo\nseed: 7\ndata:\n  movies: fifty\n");
    assert!(
        msg.starts_with("demo.yaml:4:11: data.movies: invalid type"),
        "{msg}"
    );
    assert!(msg.contains("expected usize"), "{msg}");
    assert!(msg.contains("hint: change the value to the type"), "{msg}");
}

#[test]
fn out_of_range_names_the_field_and_the_range() {
    let err = parse("name: demo\nseed: 7\nmodel:\n  bit_widths: [2, 9]\n").unwrap_err();
    assert_eq!(err.field(), Some("model.bit_widths[1]"));
    assert_eq!(
        err.to_string(),
        "demo.yaml: field `model.bit_widths[1]`: 9 is out of range\n  hint: use a value from 2 to 8"
    );
}

#[test]
fn each_rule_names_its_field() {
    let cases = [
        ("name: Demo Run\nseed: 1\n", "name"),
        ("name: d\nseed: 1\ndata: { movies: 1 }\n", "data.movies"),
        (
            "name: d\nseed: 1\ndata: { liked_threshold: 6 }\n",
            "data.liked_threshold",
        ),
        (
            "name: d\nseed: 1\ndata: { min_liked: 1 }\n",
            "data.min_liked",
        ),
        (
            "name: d\nseed: 1\ndata: { movies: 5, min_liked: 6 }\n",
            "data.min_liked",
        ),
        (
            "name: d\nseed: 1\ndata: { test_fraction: 1.0 }\n",
            "data.test_fraction",
        ),
        ("name: d\nseed: 1\nmodel: { l2: [] }\n", "model.l2"),
        ("name: d\nseed: 1\nmodel: { l2: [1, -3] }\n", "model.l2[1]"),
        (
            "name: d\nseed: 1\nmodel: { validation_fraction: 0 }\n",
            "model.validation_fraction",
        ),
        (
            "name: d\nseed: 1\nmodel: { max_iterations: 0 }\n",
            "model.max_iterations",
        ),
        (
            "name: d\nseed: 1\nmodel: { bit_widths: [4, 4] }\n",
            "model.bit_widths",
        ),
        ("name: d\nseed: 1\nmodel: { seeds: [] }\n", "model.seeds"),
        (
            "name: d\nseed: 1\nfhe: { pipelines: [] }\n",
            "fhe.pipelines",
        ),
        (
            "name: d\nseed: 1\nfhe: { pipelines: [lwe, lwe] }\n",
            "fhe.pipelines",
        ),
        (
            "name: d\nseed: 1\nmodel: { bit_widths: [4] }\nfhe: { bit_widths: [8] }\n",
            "fhe.bit_widths[0]",
        ),
        ("name: d\nseed: 1\nfhe: { samples: 0 }\n", "fhe.samples"),
        (
            "name: d\nseed: 1\nfhe: { integer: { inputs: 0 } }\n",
            "fhe.integer.inputs",
        ),
        (
            "name: d\nseed: 1\ndata: { movies: 10 }\nfhe: { integer: { outputs: 11 } }\n",
            "fhe.integer.outputs",
        ),
        (
            "name: d\nseed: 1\nfhe: { argmax: { bits: [4, 8] } }\n",
            "fhe.argmax.bits[1]",
        ),
        (
            "name: d\nseed: 1\nfhe: { argmax: { budget_minutes: -1 } }\n",
            "fhe.argmax.budget_minutes",
        ),
        (
            "name: d\nseed: 1\nserve: { cells: [{ pipeline: glwe-argmax, bits: 7, requests: 1 }] }\n",
            "serve.cells[0].bits",
        ),
        (
            "name: d\nseed: 1\nserve: { cells: [{ pipeline: lwe, bits: 4, requests: 0 }] }\n",
            "serve.cells[0].requests",
        ),
        ("name: d\nseed: 1\nserve: { clients: [1, 1] }\n", "serve.clients"),
        ("name: d\nseed: 1\nserve: { clients: [0] }\n", "serve.clients[0]"),
        (
            "name: d\nseed: 1\ndeploy: { kube: { namespace: default } }\n",
            "deploy.kube.namespace",
        ),
        (
            "name: d\nseed: 1\ndeploy: { kube: { namespace: Bad_Name } }\n",
            "deploy.kube.namespace",
        ),
        (
            "name: d\nseed: 1\ndeploy: { backend: kube, kube: { image: \"\" } }\n",
            "deploy.kube.image",
        ),
        (
            "name: d\nseed: 1\nrl: { env: { min_replicas: 3, initial_replicas: 2 } }\n",
            "rl.env",
        ),
        ("name: d\nseed: 1\nrl: { agents: [] }\n", "rl.agents"),
        (
            "name: d\nseed: 1\nrl: { agents: [{ name: ppo }, { name: ppo }] }\n",
            "rl.agents[1].name",
        ),
        (
            "name: d\nseed: 1\nrl: { agents: [{ name: agent }] }\n",
            "rl.agents[0].name",
        ),
        (
            "name: d\nseed: 1\nrl: { env: { max_replicas: 20 }, agents: [{ name: ppo, actions: target }] }\n",
            "rl.agents[0].actions",
        ),
        ("name: d\nseed: 1\nrl: { ppo: { batch_size: 4096 } }\n", "rl.ppo.batch_size"),
        ("name: d\nseed: 1\nrl: { seeds: [] }\n", "rl.seeds"),
        ("name: d\nseed: 1\nrl: { live: { host_slots: 0 } }\n", "rl.live.host_slots"),
    ];
    for (text, field) in cases {
        let err = parse(text).unwrap_err();
        assert_eq!(err.field(), Some(field), "{text}: {err}");
    }
}

#[test]
fn an_unknown_pipeline_lists_the_known_ones() {
    let msg = message("name: d\nseed: 1\nfhe: { pipelines: [glwe] }\n");
    assert!(
        msg.contains("unknown variant `glwe`, expected one of `glwe-packed`, `lwe`, `integer`, `glwe-argmax`"),
        "{msg}"
    );
}

#[test]
fn missing_required_field_and_bad_syntax_are_parse_errors() {
    assert!(message("seed: 7\n").contains("missing field `name`"));
    let msg = message("name: demo\nseed: 7\n- item\n");
    assert!(msg.starts_with("demo.yaml:3:"), "{msg}");
    assert!(msg.contains("hint: check the YAML syntax"), "{msg}");
}

#[test]
fn quick_profile_merges_deeply_and_only_with_quick() {
    let text = format!("{VALID}quick:\n  model:\n    seeds: [1]\n");
    let full = load_str(&text, Path::new("q.yaml"), false).unwrap();
    let quick = load_str(&text, Path::new("q.yaml"), true).unwrap();
    assert_eq!(full.model.seeds, ModelSpec::default().seeds);
    assert_eq!(quick.model.seeds, vec![1]);
    // Fields the profile does not mention keep the spec's values.
    assert_eq!(quick.model.bit_widths, vec![2, 8]);
    assert_eq!(quick.data.movies, 20);
}

#[test]
fn errors_in_the_quick_profile_are_caught_without_quick() {
    let typo = format!("{VALID}quick:\n  model:\n    seedz: [1]\n");
    let msg = message(&typo);
    assert!(
        msg.contains("in the `quick` profile: unknown field `seedz`"),
        "{msg}"
    );
    let range = format!("{VALID}quick:\n  data:\n    movies: 1\n");
    assert_eq!(
        parse(&range).unwrap_err().field(),
        Some("quick.data.movies")
    );
}

#[test]
fn shipped_specs_are_valid_in_both_profiles() {
    for file in [
        "experiments/paper.yaml",
        "experiments/scaling.yaml",
        "tests/specs/quick.yaml",
    ] {
        // The checkout under test (set by `cargo test` at run time), as in tests/common's repo().
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        );
        let path = root.join(file);
        for quick in [false, true] {
            load(&path, quick).unwrap_or_else(|err| panic!("{err}"));
        }
    }
}

#[test]
fn unreadable_file_names_the_path() {
    let err = load(Path::new("no/such/spec.yaml"), false).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read spec no/such/spec.yaml"),
        "{err}"
    );
}

#[test]
fn stages_default_to_all_and_unknown_stages_are_named() {
    assert_eq!(parse(VALID).unwrap().stages, Stage::ALL.to_vec());
    let only = format!("{VALID}stages: [scaling, model]\n");
    assert_eq!(parse(&only).unwrap().stages, [Stage::Scaling, Stage::Model]);
    let unknown = message(&format!("{VALID}stages: [scale]\n"));
    assert!(
        unknown.contains("stages") && unknown.contains("scaling"),
        "{unknown}"
    );
    let repeated = parse(&format!("{VALID}stages: [rl, rl]\n")).unwrap_err();
    assert_eq!(repeated.field(), Some("stages"));
}

#[test]
fn scaling_rules_name_the_field() {
    let cell = "scaling:\n  cells: [{ pipeline: glwe-packed, bits: 8, requests: 10 }]\n";
    assert!(parse(&format!("{VALID}{cell}")).is_ok());
    let from_two = parse(&format!("{VALID}{cell}  replicas: [2, 4]\n")).unwrap_err();
    assert_eq!(from_two.field(), Some("scaling.replicas"));
    assert!(from_two.to_string().contains("start at 1"), "{from_two}");
    let clients = parse(&format!("{VALID}{cell}  clients_per_replica: 0\n")).unwrap_err();
    assert_eq!(clients.field(), Some("scaling.clients_per_replica"));
    let wide = "scaling:\n  cells: [{ pipeline: glwe-argmax, bits: 8, requests: 10 }]\n";
    let wide = parse(&format!("{VALID}{wide}")).unwrap_err();
    assert_eq!(wide.field(), Some("scaling.cells[0].bits"));
}

#[test]
fn capacity_rules_name_their_field() {
    let field = |section: &str| {
        parse(&format!("{VALID}capacity: {section}\n"))
            .unwrap_err()
            .field()
            .map(str::to_owned)
    };
    assert_eq!(
        field("{ quantile: 1.5 }").as_deref(),
        Some("capacity.quantile")
    );
    assert_eq!(field("{ loads: [] }").as_deref(), Some("capacity.loads"));
    assert_eq!(
        field("{ loads: [0.5, -1] }").as_deref(),
        Some("capacity.loads[1]")
    );
    assert_eq!(
        field("{ clients: [10, 10] }").as_deref(),
        Some("capacity.clients")
    );
    assert_eq!(
        field("{ prices: { vcpu_hour: -1, gib_hour: 0, egress_gb: 0 } }").as_deref(),
        Some("capacity.prices.vcpu_hour")
    );
    assert!(parse(&format!(
        "{VALID}capacity: {{ loads: [1], objective_s: 2 }}\n"
    ))
    .is_ok());
    let crate::spec::CapacitySpec { loads, .. } = parse(VALID).unwrap().capacity;
    assert_eq!(loads, [0.5, 5.0, 50.0]);
    assert!(crate::spec::check_capacity(&crate::spec::CapacitySpec {
        objective_s: 0.0,
        ..Default::default()
    })
    .unwrap_err()
    .starts_with("capacity.objective_s"));
}
