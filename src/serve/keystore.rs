//! Evaluation keys shared by the replicas of a host: a [`KeyStore`] trait (a server database can
//! implement it for clusters) and its SQLite implementation in WAL mode.
//!
//! Keys are content-addressed: the id is the BLAKE3 hash of the uploaded bytes, so an upload is
//! idempotent and a corrupted row is detected on read. A key is inserted by one statement inside
//! SQLite's journal: a replica killed during an upload leaves the old state, never a partial key.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{ensure, Context};
use rusqlite::{params, Connection, OptionalExtension};

/// Content address of an evaluation key: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(bytes: &[u8]) -> Self {
        Self(blake3::hash(bytes).to_hex().to_string())
    }

    /// Parses an id from a header; `None` unless it is 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where evaluation keys live. Implementations are shared by all replicas that serve a circuit.
pub trait KeyStore: Send + Sync {
    /// Stores `bytes` for the circuit with `fingerprint`; returns its id. Storing a key twice is
    /// not an error.
    fn put(&self, fingerprint: &str, bytes: &[u8]) -> anyhow::Result<KeyId>;
    /// The key with `id`, if this store has it for the circuit with `fingerprint`.
    fn get(&self, fingerprint: &str, id: &KeyId) -> anyhow::Result<Option<Vec<u8>>>;
    /// Ids of the circuit's keys, newest first (to warm a replica's cache at start).
    fn recent(&self, fingerprint: &str, limit: usize) -> anyhow::Result<Vec<KeyId>>;
}

/// A SQLite database file in WAL mode: readers do not block the writer, and several processes
/// on one host can share it.
pub struct SqliteKeyStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS eval_keys (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    created_unix INTEGER NOT NULL
)";

impl SqliteKeyStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let connection = Connection::open(path)
            .with_context(|| format!("opening key store {}", path.display()))?;
        connection.busy_timeout(Duration::from_secs(60))?;
        let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "{}: SQLite refused WAL mode (got {mode})",
            path.display()
        );
        connection.execute_batch("PRAGMA synchronous = NORMAL;")?;
        connection
            .execute(SCHEMA, [])
            .with_context(|| format!("creating the key table in {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> anyhow::Result<T> {
        let connection = crate::lock(&self.connection);
        f(&connection).with_context(|| format!("{what} in key store {}", self.path.display()))
    }
}

impl KeyStore for SqliteKeyStore {
    fn put(&self, fingerprint: &str, bytes: &[u8]) -> anyhow::Result<KeyId> {
        let id = KeyId::of(bytes);
        let now = crate::output::unix_now() as i64;
        self.with("storing a key", |c| {
            c.execute(
                "INSERT OR IGNORE INTO eval_keys (id, fingerprint, size, bytes, created_unix)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), fingerprint, bytes.len() as i64, bytes, now],
            )
        })?;
        Ok(id)
    }

    fn get(&self, fingerprint: &str, id: &KeyId) -> anyhow::Result<Option<Vec<u8>>> {
        let bytes: Option<Vec<u8>> = self.with("reading a key", |c| {
            c.query_row(
                "SELECT bytes FROM eval_keys WHERE id = ?1 AND fingerprint = ?2",
                params![id.as_str(), fingerprint],
                |r| r.get(0),
            )
            .optional()
        })?;
        if let Some(bytes) = &bytes {
            ensure!(
                KeyId::of(bytes) == *id,
                "key {id} in {} is corrupted (its bytes hash differently)",
                self.path.display()
            );
        }
        Ok(bytes)
    }

    fn recent(&self, fingerprint: &str, limit: usize) -> anyhow::Result<Vec<KeyId>> {
        self.with("listing keys", |c| {
            let mut statement = c.prepare(
                "SELECT id FROM eval_keys WHERE fingerprint = ?1
                 ORDER BY created_unix DESC, id LIMIT ?2",
            )?;
            let ids = statement
                .query_map(params![fingerprint, limit as i64], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(ids.into_iter().map(KeyId).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_by_content_and_circuit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteKeyStore::open(&dir.path().join("keys.sqlite")).unwrap();
        let id = store.put("aa", b"key bytes").unwrap();
        assert_eq!(store.put("aa", b"key bytes").unwrap(), id, "idempotent");
        assert_eq!(
            store.get("aa", &id).unwrap().as_deref(),
            Some(&b"key bytes"[..])
        );
        assert_eq!(store.get("bb", &id).unwrap(), None, "other circuit");
        assert_eq!(store.recent("aa", 10).unwrap(), vec![id.clone()]);
        // A second handle (another replica) sees the same rows.
        let other = SqliteKeyStore::open(&dir.path().join("keys.sqlite")).unwrap();
        assert!(other.get("aa", &id).unwrap().is_some());
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        assert_eq!(KeyId::parse("not-hex"), None);
        assert_eq!(KeyId::parse(&"A".repeat(64)), None);
    }
}
