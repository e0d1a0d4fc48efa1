//! The Kubernetes deployer against a mocked API server (`tower_test`): every request's method,
//! path, query and body, and the replies a real server would give. `just test-kube` runs the
//! ignored end-to-end test against the cluster `KUBECONFIG` points to.

use std::collections::BTreeSet;
use std::time::Duration;

use cipherscale::deploy::kubernetes::{
    manifests_yaml, KubeConfig, KubeDeployer, RESTART_ANNOTATION, RUN_LABEL,
};
use cipherscale::deploy::{Deployer, Status};
use http::{Method, Request, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

const NS: &str = "cipherscale-test";
const NAME: &str = "cs-glwe-argmax-4b";
const RUN: &str = "run-1";

fn config() -> KubeConfig {
    KubeConfig {
        context: None,
        namespace: NS.into(),
        image: "registry.example/cipherscale:0.1".into(),
        run_id: RUN.into(),
        name: NAME.into(),
        artifacts: "/artifacts/glwe-argmax-4b".into(),
        workers: 2,
        ready_timeout: Duration::from_secs(5),
    }
}

/// One request the deployer must make, and the reply it gets.
struct Exchange {
    method: Method,
    path: String,
    /// Query pairs, compared as a set.
    query: Vec<(&'static str, String)>,
    /// The JSON body, compared whole; `None`: not checked (or empty).
    body: Option<Value>,
    /// A check of the body and content type, for bodies with a timestamp in them.
    check: Option<fn(&Value, &str)>,
    reply: Value,
}

fn exchange(method: Method, path: &str, query: &[(&'static str, &str)], reply: Value) -> Exchange {
    Exchange {
        method,
        path: path.to_owned(),
        query: query.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        body: None,
        check: None,
        reply,
    }
}

fn with_body(mut exchange: Exchange, body: Value) -> Exchange {
    exchange.body = Some(body);
    exchange
}

/// Runs `drive` against a mocked API server that expects exactly `script`, in order.
fn converse(config: KubeConfig, script: Vec<Exchange>, drive: impl FnOnce(&mut KubeDeployer)) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            for (step, expected) in script.into_iter().enumerate() {
                let (request, reply) = handle.next_request().await.expect("a request");
                let what = format!("step {step}: {} {}", request.method(), request.uri());
                assert_eq!(request.method(), expected.method, "{what}");
                assert_eq!(request.uri().path(), expected.path, "{what}");
                let query: BTreeSet<(String, String)> = request
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (k.to_owned(), decode(v))
                    })
                    .collect();
                let wanted: BTreeSet<(String, String)> = expected
                    .query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                assert_eq!(query, wanted, "{what}");
                let content_type = request
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let body = request.into_body().collect_bytes().await.unwrap();
                if let Some(check) = expected.check {
                    check(
                        &serde_json::from_slice(&body).expect("a JSON body"),
                        &content_type,
                    );
                }
                if let Some(expected_body) = expected.body {
                    let body: Value = serde_json::from_slice(&body).expect("a JSON body");
                    assert_eq!(body, expected_body, "{what}");
                }
                let response = Response::builder()
                    .status(200)
                    .body(Body::from(serde_json::to_vec(&expected.reply).unwrap()))
                    .unwrap();
                reply.send_response(response);
            }
            // Nothing more may come.
            let extra =
                tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
            if let Ok(Some((request, _))) = extra {
                panic!("unexpected request {} {}", request.method(), request.uri());
            }
        });
    });
    let mut deployer =
        KubeDeployer::with_client(config, |_| Ok(Client::new(service, "default"))).unwrap();
    drive(&mut deployer);
    drop(deployer);
    server
        .join()
        .expect("the mocked API server saw what it expected");
}

fn decode(value: &str) -> String {
    value
        .replace("%3D", "=")
        .replace("%2F", "/")
        .replace("%2C", ",")
}

fn apply_query() -> Vec<(&'static str, &'static str)> {
    vec![("fieldManager", "cipherscale"), ("force", "true")]
}

fn deployment_path() -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments/{NAME}")
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/managed-by": "cipherscale",
        "app.kubernetes.io/name": "cipherscale",
        RUN_LABEL: RUN,
    })
}

/// A Deployment as the API server reports it.
fn deployment_state(generation: i64, observed: i64, replicas: i32, ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": NAME, "namespace": NS, "generation": generation },
        "spec": { "replicas": replicas, "selector": { "matchLabels": labels() },
                  "template": { "metadata": { "labels": labels() } } },
        "status": { "observedGeneration": observed, "replicas": replicas,
                    "updatedReplicas": ready, "readyReplicas": ready }
    })
}

fn deploy_script() -> Vec<Exchange> {
    let (namespace, deployment, service) = cipherscale::deploy::kubernetes::objects(&config(), 1);
    vec![
        with_body(
            exchange(
                Method::PATCH,
                &format!("/api/v1/namespaces/{NS}"),
                &apply_query(),
                json!(namespace),
            ),
            json!(namespace),
        ),
        with_body(
            exchange(
                Method::PATCH,
                &deployment_path(),
                &apply_query(),
                deployment_state(1, 0, 1, 0),
            ),
            serde_json::to_value(&deployment).unwrap(),
        ),
        with_body(
            exchange(
                Method::PATCH,
                &format!("/api/v1/namespaces/{NS}/services/{NAME}"),
                &apply_query(),
                json!(service),
            ),
            serde_json::to_value(&service).unwrap(),
        ),
        // Not yet rolled out, then rolled out.
        exchange(
            Method::GET,
            &deployment_path(),
            &[],
            deployment_state(1, 0, 1, 0),
        ),
        exchange(
            Method::GET,
            &deployment_path(),
            &[],
            deployment_state(1, 1, 1, 1),
        ),
    ]
}

fn teardown_script() -> Vec<Exchange> {
    let selector = format!("{RUN_LABEL}={RUN}");
    let service = json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": NAME, "namespace": NS } });
    vec![
        exchange(
            Method::DELETE,
            &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
            &[("labelSelector", &selector)],
            json!({ "apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": [] }),
        ),
        exchange(
            Method::GET,
            &format!("/api/v1/namespaces/{NS}/services"),
            &[("labelSelector", &selector)],
            json!({ "apiVersion": "v1", "kind": "ServiceList", "metadata": {}, "items": [service] }),
        ),
        exchange(
            Method::DELETE,
            &format!("/api/v1/namespaces/{NS}/services/{NAME}"),
            &[],
            service,
        ),
        exchange(
            Method::GET,
            &format!("/api/v1/namespaces/{NS}"),
            &[],
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS, "labels": labels() } }),
        ),
        exchange(
            Method::DELETE,
            &format!("/api/v1/namespaces/{NS}"),
            &[],
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS },
                    "status": { "phase": "Terminating" } }),
        ),
    ]
}

#[test]
fn deploy_applies_three_typed_objects_and_waits_for_the_rollout() {
    let mut script = deploy_script();
    script.extend(teardown_script());
    converse(config(), script, |deployer| {
        deployer.deploy().unwrap();
        assert_eq!(
            deployer.endpoint().as_deref(),
            Some("http://cs-glwe-argmax-4b.cipherscale-test.svc:8080")
        );
        deployer.teardown().unwrap();
        deployer.teardown().unwrap(); // idempotent: nothing more is sent
        assert_eq!(deployer.endpoint(), None);
    });
}

#[test]
fn scale_uses_the_scale_subresource_and_status_counts_pods() {
    let mut script = deploy_script();
    script.push(with_body(
        exchange(
            Method::PATCH,
            &format!("{}/scale", deployment_path()),
            &[],
            json!({ "apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": { "name": NAME, "namespace": NS }, "spec": { "replicas": 3 } }),
        ),
        json!({ "spec": { "replicas": 3 } }),
    ));
    script.push(exchange(
        Method::GET,
        &deployment_path(),
        &[],
        deployment_state(2, 2, 3, 3),
    ));
    let pod = |name: &str, extra: Value| {
        let mut pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name },
            "status": { "phase": "Running",
                        "conditions": [{ "type": "Ready", "status": "True" }] } });
        merge(&mut pod, extra);
        pod
    };
    let pods = json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        pod("a", json!({})),
        pod("b", json!({})),
        pod("c", json!({ "metadata": { "deletionTimestamp": "2026-11-21T00:00:00Z" } })),
        pod("d", json!({ "status": { "phase": "Failed", "conditions": [] } })),
        pod("e", json!({ "status": { "conditions": [{ "type": "Ready", "status": "False" }] } })),
    ]});
    script.push(exchange(
        Method::GET,
        &deployment_path(),
        &[],
        deployment_state(2, 2, 3, 3),
    ));
    script.push(exchange(
        Method::GET,
        &format!("/api/v1/namespaces/{NS}/pods"),
        &[("labelSelector", &format!("{RUN_LABEL}={RUN}"))],
        pods,
    ));
    script.extend(teardown_script());
    converse(config(), script, |deployer| {
        deployer.deploy().unwrap();
        deployer.scale(3).unwrap();
        let status = deployer.status().unwrap();
        assert_eq!(
            status,
            Status {
                desired: 3,
                ready: 2,
                terminating: 1,
                failed: 1
            }
        );
        deployer.teardown().unwrap();
    });
}

/// Serves `texts` in turn on a free loopback port, the last one ever after (a pod's `/metrics`).
fn metrics_server(texts: Vec<String>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, mut stream) in listener.incoming().flatten().enumerate() {
            let text = &texts[i.min(texts.len() - 1)];
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn the_live_autoscaler_scales_through_the_scale_subresource() {
    use cipherscale::autoscale::rules::Static;
    use cipherscale::operate::autoscaler::{Autoscaler, Clock, Decision};
    use cipherscale::operate::controllers::Settings;

    let replica = cipherscale::serve::metrics::Metrics::new(2);
    let before = replica.render();
    replica.record("/v1/recommend", 200, 0.3);
    let port = metrics_server(vec![before, replica.render()]);
    let pods = json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [{
        "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "a" },
        "spec": { "containers": [{ "name": "serve",
                                   "ports": [{ "name": "http", "containerPort": port }] }] },
        "status": { "phase": "Running", "podIP": "127.0.0.1",
                    "conditions": [{ "type": "Ready", "status": "True" }] } }] });
    let scale = |replicas: i32| {
        with_body(
            exchange(
                Method::PATCH,
                &format!("{}/scale", deployment_path()),
                &[],
                json!({ "apiVersion": "autoscaling/v1", "kind": "Scale",
                        "metadata": { "name": NAME, "namespace": NS },
                        "spec": { "replicas": replicas } }),
            ),
            json!({ "spec": { "replicas": replicas } }),
        )
    };
    let get = |path: &str, query: &[(&'static str, &str)], reply: &Value| {
        exchange(Method::GET, path, query, reply.clone())
    };
    let selector = format!("{RUN_LABEL}={RUN}");
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    let one = deployment_state(1, 1, 1, 1);
    let mut script = deploy_script();
    // Scale to the initial count; the opening decision: status (nothing to heal), the pods'
    // metrics addresses (their counters become the baseline) and the decision, 3 replicas;
    // then one interval: status, addresses, and 3 again (no scale).
    let three = deployment_state(2, 2, 3, 3);
    script.push(scale(1));
    script.push(get(&deployment_path(), &[], &one));
    script.push(get(&deployment_path(), &[], &one));
    script.push(get(&pods_path, &[("labelSelector", &selector)], &pods));
    script.push(get(&pods_path, &[("labelSelector", &selector)], &pods));
    script.push(scale(3));
    script.push(get(&deployment_path(), &[], &three));
    script.push(get(&deployment_path(), &[], &three));
    script.push(get(&pods_path, &[("labelSelector", &selector)], &pods));
    script.push(get(&pods_path, &[("labelSelector", &selector)], &pods));
    script.extend(teardown_script());

    converse(config(), script, |deployer| {
        deployer.deploy().unwrap();
        let settings = Settings {
            env: cipherscale::autoscale::open_loop::OpenLoopConfig {
                step_s: 0.1,
                max_replicas: 4,
                initial_replicas: 1,
                ..Default::default()
            },
            service_s: Some(0.3),
            workers: 2,
            replicas: 3,
            hpa_target: 0.7,
            queue_target: 2.0,
            window_s: 300.0,
            alpha: 0.7,
            horizon: 4,
            headroom: 1.5,
            seed: 1,
        };
        let clock = Clock {
            interval: Duration::from_millis(100),
            day_s: 86_400.0,
            day_start: 0.0,
        };
        let mut autoscaler = Autoscaler::new(
            &mut *deployer,
            Box::new(Static { replicas: 3 }),
            settings.limits().unwrap(),
            clock,
        );
        let mut decisions: Vec<Decision> = Vec::new();
        let stop = std::cell::Cell::new(false);
        autoscaler
            .run(1, &|| stop.get(), &mut |d| {
                decisions.push(d.clone());
                stop.set(decisions.len() == 2);
                Ok(())
            })
            .unwrap();
        autoscaler.teardown().unwrap();
        let (opening, d) = (&decisions[0], &decisions[1]);
        assert_eq!(
            (opening.desired, opening.ready, opening.target),
            (1, 1, 3),
            "{opening:?}"
        );
        assert_eq!((opening.arrivals, opening.p95_s), (0, 0.0), "{opening:?}");
        assert_eq!((d.desired, d.target), (3, 3), "{d:?}");
        assert_eq!(d.unreachable, 0, "the pod's metrics were read: {d:?}");
        assert_eq!(d.queue, 0);
        assert!(d.p95_s > 0.25 && d.p95_s <= 0.5, "{d:?}");
    });
}

#[test]
fn restart_collects_finished_pods_and_rolls_the_template() {
    let mut script = deploy_script();
    let selector = format!("{RUN_LABEL}={RUN}");
    let empty = json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [] });
    for phase in ["Failed", "Succeeded"] {
        script.push(exchange(
            Method::DELETE,
            &format!("/api/v1/namespaces/{NS}/pods"),
            &[
                ("labelSelector", &selector),
                ("fieldSelector", &format!("status.phase={phase}")),
            ],
            empty.clone(),
        ));
    }
    let mut patch = exchange(
        Method::PATCH,
        &deployment_path(),
        &[],
        deployment_state(2, 1, 1, 1),
    );
    patch.check = Some(only_the_restart_annotation);
    script.push(patch);
    script.push(exchange(
        Method::GET,
        &deployment_path(),
        &[],
        deployment_state(2, 2, 1, 1),
    ));
    script.extend(teardown_script());
    converse(config(), script, |deployer| {
        deployer.deploy().unwrap();
        deployer.restart().unwrap();
        deployer.teardown().unwrap();
    });
}

/// restart's merge patch: only the template annotation, whose value is a timestamp.
fn only_the_restart_annotation(body: &Value, content_type: &str) {
    assert_eq!(content_type, "application/merge-patch+json");
    let annotations = &body["spec"]["template"]["metadata"]["annotations"];
    let stamp = annotations[RESTART_ANNOTATION].as_str().unwrap();
    assert!(stamp.parse::<u64>().is_ok(), "{body}");
    assert_eq!(annotations.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

#[test]
fn a_rollout_timeout_still_tears_the_run_down() {
    let mut script = deploy_script();
    script.truncate(3);
    // Never ready: the deployer gives up after its timeout, then its drop tears down.
    let mut config_timeout = config();
    config_timeout.ready_timeout = Duration::ZERO;
    script.push(exchange(
        Method::GET,
        &deployment_path(),
        &[],
        deployment_state(1, 0, 1, 0),
    ));
    script.extend(teardown_script());
    converse(config_timeout, script, |deployer| {
        let error = deployer.deploy().unwrap_err();
        assert!(error.to_string().contains("not rolled out"), "{error:#}");
    });
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (k, v) in overlay {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[test]
fn manifests_are_the_same_typed_objects_as_yaml() {
    let yaml = manifests_yaml(&config(), 2, None).unwrap();
    let documents: Vec<&str> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .collect();
    assert_eq!(documents.len(), 3, "{yaml}");
    let namespace: Namespace = yaml_serde::from_str(documents[0]).unwrap();
    let deployment: Deployment = yaml_serde::from_str(documents[1]).unwrap();
    let service: Service = yaml_serde::from_str(documents[2]).unwrap();
    let (n, d, s) = cipherscale::deploy::kubernetes::objects(&config(), 2);
    assert_eq!((namespace, deployment, service), (n, d, s));
    for (document, kind) in documents.iter().zip(["Namespace", "Deployment", "Service"]) {
        let value: Value = yaml_serde::from_str(document).unwrap();
        assert_eq!(value["kind"], kind);
        assert_eq!(value["metadata"]["labels"][RUN_LABEL], RUN);
    }
}

/// The Kubernetes version whose official schemas the manifests must pass: the one the typed
/// objects come from (k8s-openapi's `v1_33` feature).
const KUBERNETES_VERSION: &str = "1.33.0";

/// `kubernetes-validate --strict` on `path` (offline: the package carries the schemas); `None`
/// where the tool is not installed outside CI (in CI that is a failure: `.ci/run` installs it).
fn validate(path: &std::path::Path) -> Option<std::process::Output> {
    let run = std::process::Command::new("kubernetes-validate")
        .args([
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--strict",
            "--no-warn",
        ])
        .arg(path)
        .output();
    match run {
        Ok(output) => Some(output),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipped: kubernetes-validate not found ({e}); pip install kubernetes-validate"
            );
            None
        }
        Err(e) => panic!("kubernetes-validate not found ({e}): .ci/run installs it"),
    }
}

fn show(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn manifests_pass_the_official_schemas_and_a_broken_one_fails() {
    let autoscaler = cipherscale::deploy::kubernetes::HpaConfig {
        min_replicas: 1,
        max_replicas: 6,
        target_utilization: 0.7,
        window_s: 300,
    };
    let yaml = manifests_yaml(&config(), 2, Some(&autoscaler)).unwrap();
    assert_eq!(
        yaml.matches("kind: HorizontalPodAutoscaler").count(),
        1,
        "{yaml}"
    );
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, &yaml).unwrap();
    let Some(output) = validate(&good) else {
        return;
    };
    assert!(output.status.success(), "{}\n{yaml}", show(&output));

    // One field of the wrong type, one field the schema does not have.
    let deployment: Deployment = cipherscale::deploy::kubernetes::objects(&config(), 2).1;
    let mut broken = serde_json::to_value(&deployment).unwrap();
    broken["spec"]["replicas"] = json!("two");
    broken["spec"]["template"]["spec"]["containerz"] = json!([]);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, yaml_serde::to_string(&broken).unwrap()).unwrap();
    let output = validate(&bad).unwrap();
    assert!(
        !output.status.success(),
        "a broken manifest passed: {}",
        show(&output)
    );
    assert!(show(&output).contains("replicas"), "{}", show(&output));
}

/// Deploys a real circuit to the cluster `KUBECONFIG` points to (image from `CIPHERSCALE_IMAGE`),
/// scales it 1 -> 2 -> 1 and tears it down.
#[test]
#[ignore = "needs a Kubernetes cluster: just test-kube"]
fn end_to_end_on_a_real_cluster() {
    let image =
        std::env::var("CIPHERSCALE_IMAGE").expect("CIPHERSCALE_IMAGE names the serve image");
    let mut config = config();
    config.image = image;
    config.artifacts = "/artifacts/glwe-packed-8b".into();
    config.run_id = format!("e2e-{}", std::process::id());
    config.ready_timeout = Duration::from_secs(300);
    let mut deployer = KubeDeployer::connect(config).unwrap();
    deployer.deploy().unwrap();
    deployer.scale(2).unwrap();
    assert_eq!(deployer.status().unwrap().ready, 2);
    deployer.scale(1).unwrap();
    deployer.teardown().unwrap();
}
