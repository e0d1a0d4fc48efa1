//! The service end to end on loopback: a real server (in-process, or the `cipherscale serve`
//! binary), the real client, every pipeline, and every kind of bad input.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cipherscale::fhe::{wire, Pipeline, MAX_REQUEST_BYTES};
use cipherscale::model::{FloatModel, QuantizedModel};
use cipherscale::serve::client::{is_status, Client, Recommender};
use cipherscale::serve::{Artifacts, InProcess, KeyId, ServeConfig, KEY_HEADER};

/// Servable artifacts of a random model with `movies` outputs, written to a fresh folder.
fn artifacts(pipeline: Pipeline, model: QuantizedModel) -> (tempfile::TempDir, Artifacts) {
    let titles = (0..model.bias.len())
        .map(|i| format!("Movie {i} (2000)"))
        .collect();
    let artifacts = Artifacts::build(pipeline, model, titles).unwrap();
    let dir = tempfile::tempdir().unwrap();
    artifacts.save(dir.path()).unwrap();
    (dir, artifacts)
}

fn packed_model() -> QuantizedModel {
    QuantizedModel::quantize(&FloatModel::random(50, 21), 8)
}

fn argmax_model() -> QuantizedModel {
    QuantizedModel::quantize_scores(&FloatModel::random(6, 22), 2)
}

/// An in-process replica of the artifacts in `dir`, on `127.0.0.1:0`.
fn start(dir: &Path, tune: impl FnOnce(&mut ServeConfig)) -> InProcess {
    let mut config = ServeConfig::new(dir.to_owned());
    tune(&mut config);
    InProcess::replica(config, Duration::from_secs(60)).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and body text of a GET.
fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(mut response) => (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// Status, body text and Retry-After of a POST.
fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Option<String>) {
    let mut call = agent().post(url);
    for (name, value) in headers {
        call = call.header(*name, *value);
    }
    let mut response = call.send(body).unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    (response.status().as_u16(), text, retry)
}

fn assert_json_error(status: u16, body: &str, expected_status: u16, mentions: &str) {
    assert_eq!(status, expected_status, "{body}");
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
    let message = json["error"].as_str().expect("an error message");
    assert!(message.contains(mentions), "{message:?} lacks {mentions:?}");
}

/// Liked sets for a model: none, all, and a few in between.
fn liked_sets(movies: usize) -> Vec<Vec<usize>> {
    vec![
        vec![],
        (0..movies).collect(),
        vec![0, movies / 2],
        (0..movies).step_by(3).collect(),
    ]
}

fn assert_recommends_like_plaintext(pipeline: Pipeline, model: QuantizedModel, sets: usize) {
    let (dir, artifacts) = artifacts(pipeline, model);
    let server = start(dir.path(), |_| {});
    let recommender = Recommender::connect(&server.base, None).unwrap();
    assert_eq!(recommender.description(), &artifacts.description);
    let movies = artifacts.model.weights[0].len();
    for liked in liked_sets(movies).into_iter().take(sets) {
        let output = recommender.recommend(&liked).unwrap();
        let expected = artifacts.circuit.expected(&artifacts.model, &liked);
        assert_eq!(output, expected, "{pipeline}, liked {liked:?}");
    }
}

#[test]
fn glwe_packed_over_http_equals_the_plaintext_model() {
    assert_recommends_like_plaintext(Pipeline::GlwePacked, packed_model(), 4);
}

#[test]
fn lwe_over_http_equals_the_plaintext_model() {
    let model = QuantizedModel::quantize(&FloatModel::random(50, 23), 6);
    assert_recommends_like_plaintext(Pipeline::Lwe, model, 4);
}

#[test]
fn integer_over_http_equals_the_plaintext_model() {
    // FheInt16 on 2 cores: the 3 x 2 corner of a model keeps this to seconds.
    let model = QuantizedModel::quantize(&FloatModel::random(50, 24), 4).restrict(3, 2);
    assert_recommends_like_plaintext(Pipeline::Integer, model, 2);
}

#[test]
fn glwe_argmax_over_http_equals_the_plaintext_argmax() {
    assert_recommends_like_plaintext(Pipeline::GlweArgmax, argmax_model(), 4);
}

#[test]
fn bad_requests_get_a_status_and_a_json_error_never_a_panic() {
    let (dir, artifacts) = artifacts(Pipeline::GlweArgmax, argmax_model());
    let server = start(dir.path(), |_| {});
    let recommend = format!("{}/v1/recommend", server.base);
    let keys = format!("{}/v1/keys", server.base);
    let recommender = Recommender::connect(&server.base, None).unwrap();
    let key = recommender
        .upload()
        .unwrap()
        .expect("glwe-argmax needs a key");
    let key_header = [(KEY_HEADER, key.as_str())];

    let (status, body, _) = post(&recommend, &key_header, b"not a ciphertext");
    assert_json_error(status, &body, 400, "magic");
    let (status, body) = declare_oversized_body(&server.base, "/v1/recommend", &key);
    assert_json_error(status, &body, 413, "limit");
    let unknown = KeyId::of(b"never uploaded");
    let request = {
        let (session, _) = artifacts.circuit.keygen();
        session.encrypt(&[1])
    };
    let (status, body, _) = post(&recommend, &[(KEY_HEADER, unknown.as_str())], &request);
    assert_json_error(status, &body, 404, "unknown evaluation key");
    let (status, body, _) = post(&recommend, &[], &request);
    assert_json_error(status, &body, 400, KEY_HEADER);
    let (status, body, _) = post(&recommend, &[(KEY_HEADER, "../etc/passwd")], &request);
    assert_json_error(status, &body, 400, "hex");

    // Another circuit's request, and this circuit's request in a future format version.
    let (_, other) = artifacts_for_other_circuit();
    let (other_session, _) = other.circuit.keygen();
    let (status, body, _) = post(&recommend, &key_header, &other_session.encrypt(&[1]));
    assert_json_error(status, &body, 422, "parameters");
    let mut future = request.clone();
    future[4..6].copy_from_slice(&(wire::VERSION + 1).to_le_bytes());
    let (status, body, _) = post(&recommend, &key_header, &future);
    assert_json_error(status, &body, 422, "version");

    // Keys: garbage, another circuit's key, and the right one again (idempotent).
    let (status, body, _) = post(&keys, &[], b"garbage");
    assert_json_error(status, &body, 400, "magic");
    let (_, other_key) = other.circuit.keygen();
    let (status, body, _) = post(&keys, &[], &other_key);
    assert_json_error(status, &body, 422, "parameters");
    assert_eq!(recommender.upload().unwrap(), Some(key));

    let (status, body) = get(&format!("{}/v2/nothing", server.base));
    assert_json_error(status, &body, 404, "no such route");
    // The replica still answers correctly after all that.
    let output = recommender.recommend(&[0, 2]).unwrap();
    assert_eq!(
        output,
        artifacts.circuit.expected(&artifacts.model, &[0, 2])
    );
}

/// Status and body of a POST that announces one byte over the request limit (and sends none:
/// the server must refuse it from the header alone).
fn declare_oversized_body(base: &str, path: &str, key: &KeyId) -> (u16, String) {
    use std::io::Read;
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{KEY_HEADER}: {key}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BYTES + 1
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// A glwe-argmax circuit of another shape: its messages carry another fingerprint.
fn artifacts_for_other_circuit() -> (tempfile::TempDir, Artifacts) {
    artifacts(
        Pipeline::GlweArgmax,
        QuantizedModel::quantize_scores(&FloatModel::random(5, 25), 2),
    )
}

#[test]
fn overload_gets_503_with_retry_after_and_slow_requests_504() {
    let (dir, _) = artifacts(Pipeline::GlweArgmax, argmax_model());
    let server = start(dir.path(), |c| {
        c.workers = 1;
        c.queue = 0;
    });
    let recommender = Recommender::connect(&server.base, None).unwrap();
    let key = recommender.upload().unwrap().unwrap();
    // Everyone sends at once; one worker and no queue admit exactly one at a time.
    let clients = 4;
    let barrier = Arc::new(Barrier::new(clients));
    let url = format!("{}/v1/recommend", server.base);
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (barrier, url, key) = (barrier.clone(), url.clone(), key.clone());
                let request = recommender_request(&recommender, &[1, 3]);
                scope.spawn(move || {
                    barrier.wait();
                    let (status, _, retry) = post(&url, &[(KEY_HEADER, key.as_str())], &request);
                    (status, retry)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().any(|(s, _)| *s == 200), "{answers:?}");
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    assert!(refused.iter().all(|(_, retry)| retry
        .as_deref()
        .is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1))));
    drop(server);

    let server = start(dir.path(), |c| c.request_timeout = Duration::from_millis(1));
    let timed_out = Recommender::connect(&server.base, None)
        .unwrap()
        .recommend(&[1])
        .unwrap_err();
    assert!(is_status(&timed_out, 504), "{timed_out:#}");
}

/// An encrypted request of `recommender`'s circuit (under a throwaway key of the same circuit:
/// the server only needs it to be well formed for this test's purposes).
fn recommender_request(recommender: &Recommender, liked: &[usize]) -> Vec<u8> {
    let circuit = recommender.description().plan().unwrap();
    circuit.keygen().0.encrypt(liked)
}

#[test]
fn concurrent_clients_are_all_answered_correctly() {
    let (dir, artifacts) = artifacts(Pipeline::GlwePacked, packed_model());
    let server = start(dir.path(), |c| {
        c.workers = 2;
        c.queue = 1;
    });
    std::thread::scope(|scope| {
        for client in 0..6usize {
            let (base, artifacts) = (&server.base, &artifacts);
            scope.spawn(move || {
                let recommender = Recommender::connect(base, None).unwrap();
                for round in 0..5 {
                    let liked: Vec<usize> = (client..50).step_by(round + 2).collect();
                    let expected = artifacts.circuit.expected(&artifacts.model, &liked);
                    assert_eq!(recommender.recommend(&liked).unwrap(), expected);
                }
            });
        }
    });
    let metrics = get(&format!("{}/metrics", server.base)).1;
    let answered = "route=\"/v1/recommend\",status=\"200\"} 30";
    assert!(metrics.contains(answered), "{metrics}");
    assert!(metrics.contains("cipherscale_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("cipherscale_in_flight_requests 0"));
    assert!(metrics.contains("cipherscale_queue_depth 0"));
    assert_eq!(get(&format!("{}/healthz", server.base)).0, 200);
}

/// A `cipherscale serve` process, killed (SIGKILL) when dropped.
struct ServeProcess {
    child: Child,
    base: String,
}

impl ServeProcess {
    fn start(artifacts: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cipherscale"))
            .args(["serve", "--listen", "127.0.0.1:0", "--artifacts"])
            .arg(artifacts)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let process = Self { child, base };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&format!("{}/readyz", process.base)).0 != 200 {
            assert!(Instant::now() < deadline, "replica never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stored_keys(store: &Path) -> i64 {
    let db = rusqlite::Connection::open(store).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    db.query_row("SELECT count(*) FROM eval_keys", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_replica_killed_mid_upload_leaves_no_partial_key() {
    let (dir, artifacts) = artifacts(Pipeline::GlweArgmax, argmax_model());
    let (session, eval_key) = artifacts.circuit.keygen();
    let mut replica = ServeProcess::start(dir.path());
    // Half of the key, then the replica dies.
    let address = replica.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v1/keys HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        eval_key.len()
    )
    .unwrap();
    stream.write_all(&eval_key[..eval_key.len() / 2]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    replica.child.kill().unwrap();
    replica.child.wait().unwrap();
    drop(stream);
    let store = dir.path().join("keys.sqlite");
    assert_eq!(stored_keys(&store), 0, "no partial key");

    let replica = ServeProcess::start(dir.path());
    let id = Client::new(&replica.base).upload_key(&eval_key).unwrap();
    assert_eq!(id, KeyId::of(&eval_key));
    assert_eq!(stored_keys(&store), 1);
    drop(replica);
    // A new replica on the same store loads the key at start and serves with it.
    let replica = ServeProcess::start(dir.path());
    let response = Client::new(&replica.base)
        .recommend(Some(&id), &session.encrypt(&[2, 4]))
        .unwrap();
    let expected = artifacts.circuit.expected(&artifacts.model, &[2, 4]);
    assert_eq!(session.decrypt(&response).unwrap(), expected);
}
