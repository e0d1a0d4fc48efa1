//! The client: a blocking HTTP [`Client`] for one server, and [`Recommender`], which plans the
//! server's circuit from its public description, keeps the secret key on this machine (in a
//! private cache folder when one is given), uploads the evaluation key when the server lacks it,
//! encrypts, and decrypts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::{CircuitDescription, KeyId, KEY_HEADER};
use crate::fhe::dynamic::{Planned, Session};
use crate::fhe::MAX_RESPONSE_BYTES;
use crate::output::write_atomic;

/// An answer other than success, as the server gave it.
#[derive(Debug, thiserror::Error)]
#[error("server answered {status}: {message}")]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

/// How often a 503 is retried (after the server's `Retry-After`, at most 30 s each).
const OVERLOAD_RETRIES: usize = 5;

/// A blocking client of one server.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base`, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(900)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// Whether the server answers `/readyz` with 200.
    pub fn ready(&self) -> bool {
        let response = self.agent.get(self.url("/readyz")).call();
        response.is_ok_and(|r| r.status() == 200)
    }

    pub fn circuit(&self) -> anyhow::Result<CircuitDescription> {
        let response = self.agent.get(self.url("/v1/circuit")).call();
        let body = self.answer(response, 16 << 20)?;
        serde_json::from_slice(&body).context("parsing the circuit description")
    }

    /// Uploads an evaluation key; returns the id the server stored it under.
    pub fn upload_key(&self, eval_key: &[u8]) -> anyhow::Result<KeyId> {
        let response = self
            .agent
            .post(self.url("/v1/keys"))
            .content_type("application/octet-stream")
            .send(eval_key);
        let body = self.answer(response, 1 << 16)?;
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        answer["key_id"]
            .as_str()
            .and_then(KeyId::parse)
            .context("the server's key id is not 64 hex digits")
    }

    /// Sends an encrypted request; a 503 is retried after the server's `Retry-After`.
    pub fn recommend(&self, key: Option<&KeyId>, request: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            let mut call = self
                .agent
                .post(self.url("/v1/recommend"))
                .content_type("application/octet-stream");
            if let Some(key) = key {
                call = call.header(KEY_HEADER, key.as_str());
            }
            let response = call.send(request);
            let retry_after = response
                .as_ref()
                .ok()
                .filter(|r| r.status() == 503)
                .and_then(|r| r.headers().get("retry-after")?.to_str().ok()?.parse().ok());
            match retry_after {
                Some(seconds) if attempt < OVERLOAD_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(u64::min(seconds, 30)));
                }
                _ => return self.answer(response, MAX_RESPONSE_BYTES),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The body of a 2xx answer read within `limit`, or the server's error as [`HttpError`].
    fn answer(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        limit: usize,
    ) -> anyhow::Result<Vec<u8>> {
        let mut response = response.with_context(|| format!("reaching {}", self.base))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(limit as u64)
            .read_to_vec()
            .with_context(|| format!("reading an answer from {}", self.base))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(HttpError { status, message }.into())
    }
}

/// A client of one server's circuit, holding the secret key.
pub struct Recommender {
    client: Client,
    description: CircuitDescription,
    session: Box<dyn Session>,
    /// The evaluation key (for circuits that need one), kept to upload again if the server has
    /// lost it.
    eval_key: Option<EvalKey>,
}

enum EvalKey {
    InMemory(Vec<u8>),
    Cached(PathBuf),
}

impl Recommender {
    /// Connects to `server`; reuses the keys cached under `key_cache` for this circuit, or makes
    /// and caches new ones (owner-only files). `None` keeps fresh keys in memory only.
    pub fn connect(server: &str, key_cache: Option<&Path>) -> anyhow::Result<Self> {
        let client = Client::new(server);
        let description = client.circuit()?;
        let circuit = description
            .plan()
            .context("planning the server's circuit")?;
        let (session, eval_key) = match key_cache {
            Some(root) => cached_keys(&circuit, &root.join(&description.fingerprint))?,
            None => {
                let (session, eval_key) = circuit.keygen();
                (session, Some(EvalKey::InMemory(eval_key)))
            }
        };
        let eval_key = eval_key.filter(|_| circuit.needs_eval_key());
        Ok(Self {
            client,
            description,
            session,
            eval_key,
        })
    }

    pub fn description(&self) -> &CircuitDescription {
        &self.description
    }

    /// Encrypts `liked`, has the server evaluate it, and decrypts the answer: the scores, or the
    /// recommended index for a private-output circuit.
    pub fn recommend(&self, liked: &[usize]) -> anyhow::Result<Vec<i64>> {
        let request = self.session.encrypt(liked);
        let key = match &self.eval_key {
            Some(key) => Some(KeyId::of(&self.eval_key_bytes(key)?)),
            None => None,
        };
        let response = match self.client.recommend(key.as_ref(), &request) {
            Err(e) if is_status(&e, 404) && key.is_some() => {
                self.upload()?;
                self.client.recommend(key.as_ref(), &request)?
            }
            other => other?,
        };
        self.decrypt(&response)
    }

    /// A request for `liked` under this client's key (for load tests that resend one request).
    pub fn encrypt(&self, liked: &[usize]) -> Vec<u8> {
        self.session.encrypt(liked)
    }

    /// The output in an answer to one of this client's requests.
    pub fn decrypt(&self, answer: &[u8]) -> anyhow::Result<Vec<i64>> {
        Ok(self.session.decrypt(answer)?)
    }

    /// Uploads the evaluation key (the server keeps it; uploading twice is harmless).
    pub fn upload(&self) -> anyhow::Result<Option<KeyId>> {
        let Some(key) = &self.eval_key else {
            return Ok(None);
        };
        let id = self.client.upload_key(&self.eval_key_bytes(key)?)?;
        Ok(Some(id))
    }

    /// The recommended movie in a decrypted output for `liked`.
    pub fn top_pick(&self, output: &[i64], liked: &[usize]) -> Option<usize> {
        self.session.top_pick(output, liked)
    }

    /// Sorted pool indices of titles, each exact (any case) or the only title containing it.
    pub fn find_titles(&self, queries: &[String]) -> anyhow::Result<Vec<usize>> {
        let mut movies = queries
            .iter()
            .map(|query| find_title(&self.description.titles, query))
            .collect::<anyhow::Result<Vec<usize>>>()?;
        movies.sort_unstable();
        movies.dedup();
        Ok(movies)
    }

    fn eval_key_bytes(&self, key: &EvalKey) -> anyhow::Result<Vec<u8>> {
        Ok(match key {
            EvalKey::InMemory(bytes) => bytes.clone(),
            EvalKey::Cached(path) => {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            }
        })
    }
}

/// Whether `error` is the server answering `status`.
pub fn is_status(error: &anyhow::Error, status: u16) -> bool {
    error
        .downcast_ref::<HttpError>()
        .is_some_and(|e| e.status == status)
}

/// Keys for one circuit from `dir`, or new ones written there.
fn cached_keys(
    circuit: &Arc<dyn Planned>,
    dir: &Path,
) -> anyhow::Result<(Box<dyn Session>, Option<EvalKey>)> {
    let secret_path = dir.join("secret.key");
    let eval_path = dir.join("eval.key");
    if secret_path.exists() {
        let secret = std::fs::read(&secret_path)
            .with_context(|| format!("reading {}", secret_path.display()))?;
        match circuit.restore(&secret) {
            Ok(session) if eval_path.exists() => {
                return Ok((session, Some(EvalKey::Cached(eval_path))));
            }
            Ok(_) => tracing::warn!("{} is missing: new keys", eval_path.display()),
            Err(e) => tracing::warn!("{} unusable ({e}): new keys", secret_path.display()),
        }
    }
    tracing::info!(
        "generating keys for {} (cached in {})",
        circuit.pipeline(),
        dir.display()
    );
    let (session, eval_key) = circuit.keygen();
    write_atomic(&eval_path, &eval_key, false)?;
    write_atomic(&secret_path, &session.export_secret(), true)?;
    Ok((session, Some(EvalKey::Cached(eval_path))))
}

/// Pool index of a title: exact (any case) or the only title containing `query` (any case).
pub fn find_title(titles: &[String], query: &str) -> anyhow::Result<usize> {
    let wanted = query.trim().to_lowercase();
    if let Some(i) = titles.iter().position(|t| t.to_lowercase() == wanted) {
        return Ok(i);
    }
    let partial: Vec<usize> = (0..titles.len())
        .filter(|&i| titles[i].to_lowercase().contains(&wanted))
        .collect();
    match partial.as_slice() {
        [only] => Ok(*only),
        [] => bail!(
            "no movie in the server's pool of {} matches {query:?} (`GET /v1/circuit` lists them)",
            titles.len()
        ),
        many => bail!(
            "{query:?} matches {} movies: {}",
            many.len(),
            many.iter()
                .map(|&i| format!("{:?}", titles[i]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_match_exactly_or_uniquely() {
        let titles: Vec<String> = ["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)"]
            .map(String::from)
            .into();
        assert_eq!(find_title(&titles, "toy story (1995)").unwrap(), 0);
        assert_eq!(find_title(&titles, "heat").unwrap(), 2);
        assert!(find_title(&titles, "Toy")
            .unwrap_err()
            .to_string()
            .contains("2 movies"));
        assert!(find_title(&titles, "Alien").is_err());
    }
}
