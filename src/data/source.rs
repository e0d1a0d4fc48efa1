//! Finding the MovieLens directory, and downloading it when no copy is found.
//!
//! Order: `--data`, then `MOVIELENS_DIR`, then `data/ml-latest-small/`, then a download from
//! GroupLens into `data/ml-latest-small/` (unless downloads are off). A directory given with
//! `--data` is used as given: if it is missing, that is the error, with no fallback.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::DataError;

pub const DEFAULT_URL: &str = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip";
pub const DEFAULT_DIR: &str = "data/ml-latest-small";
/// The archive is about 1 MB and its largest file 2.5 MB; anything far larger is not it.
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;
const FILES: [&str; 5] = [
    "ratings.csv",
    "movies.csv",
    "links.csv",
    "tags.csv",
    "README.txt",
];

/// Where to look for the data, in order.
#[derive(Debug, Clone)]
pub struct DataLocator {
    /// `--data` on the command line.
    pub explicit: Option<PathBuf>,
    /// `MOVIELENS_DIR` in the environment.
    pub from_env: Option<PathBuf>,
    /// The folder to use, and to download into, when neither is given.
    pub default_dir: PathBuf,
    /// Archive to fetch when nothing is found; `None` disables the download.
    pub download_url: Option<String>,
}

/// Where the MovieLens data comes from, as the command line gives it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataArgs {
    /// MovieLens folder (else MOVIELENS_DIR, then data/ml-latest-small, then a download).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download the dataset; fail if no local copy is found.
    #[arg(long)]
    pub no_download: bool,
}

impl DataArgs {
    /// The folders to look in, in order, with the environment read now.
    pub fn locator(&self) -> DataLocator {
        DataLocator::from_env(self.data.clone(), !self.no_download)
    }
}

impl DataLocator {
    /// The standard order, reading `MOVIELENS_DIR` (and `MOVIELENS_URL` for a mirror).
    pub fn from_env(explicit: Option<PathBuf>, allow_download: bool) -> Self {
        let url = std::env::var("MOVIELENS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        Self {
            explicit,
            from_env: std::env::var_os("MOVIELENS_DIR").map(PathBuf::from),
            default_dir: PathBuf::from(DEFAULT_DIR),
            download_url: allow_download.then_some(url),
        }
    }

    /// The first directory that holds the data, downloading it as a last resort.
    pub fn resolve(&self) -> Result<PathBuf, DataError> {
        if let Some(dir) = &self.explicit {
            return check_dir(dir).map_err(|why| DataError::NotFound {
                tried: vec![(dir.clone(), format!("{why} (from --data)"))],
                download: "not attempted: --data names the folder to use".into(),
            });
        }
        let mut tried = Vec::new();
        let candidates = self.from_env.iter().map(|d| (d, "from MOVIELENS_DIR"));
        for (dir, origin) in candidates.chain([(&self.default_dir, "default location")]) {
            match check_dir(dir) {
                Ok(dir) => return Ok(warn_skipped(&tried, dir)),
                Err(why) => tried.push((dir.clone(), format!("{why} ({origin})"))),
            }
        }
        let Some(url) = &self.download_url else {
            let download = "disabled by --no-download".into();
            return Err(DataError::NotFound { tried, download });
        };
        if let Err(err) = download(url, &self.default_dir) {
            return Err(DataError::NotFound {
                tried,
                download: err.to_string(),
            });
        }
        check_dir(&self.default_dir)
            .map(|dir| warn_skipped(&tried, dir))
            .map_err(|why| DataError::Download {
                url: url.clone(),
                problem: format!("the archive unpacked, but {why}"),
            })
    }
}

/// Says which earlier candidates were passed over, so a stale `MOVIELENS_DIR` does not go unseen.
fn warn_skipped(tried: &[(PathBuf, String)], found: PathBuf) -> PathBuf {
    for (dir, why) in tried {
        tracing::warn!(
            "no MovieLens data at {}: {why}; using {}",
            dir.display(),
            found.display()
        );
    }
    found
}

fn check_dir(dir: &Path) -> Result<PathBuf, String> {
    if !dir.is_dir() {
        return Err("no such directory".into());
    }
    for file in ["ratings.csv", "movies.csv"] {
        if !dir.join(file).is_file() {
            return Err(format!("directory has no {file}"));
        }
    }
    Ok(dir.to_owned())
}

/// Fetches the zip archive from `url` and unpacks its data files into `target`, atomically:
/// the files land in a temporary sibling folder that is renamed into place at the end.
pub fn download(url: &str, target: &Path) -> Result<(), DataError> {
    let fail = |problem: String| DataError::Download {
        url: url.to_owned(),
        problem,
    };
    tracing::info!("downloading MovieLens from {url}");
    let archive = fetch(url).map_err(fail)?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".movielens-download-")
        .tempdir_in(parent)
        .map_err(|e| {
            fail(format!(
                "cannot create a folder in {}: {e}",
                parent.display()
            ))
        })?;
    unpack(&archive, staging.path()).map_err(fail)?;
    fs::rename(staging.path(), target)
        .map_err(|e| fail(format!("cannot move the data to {}: {e}", target.display())))?;
    let _ = staging.keep();
    Ok(())
}

fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let length = response.body().content_length();
    let progress = ProgressBar::new(length.unwrap_or(0)).with_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
            .expect("static template"),
    );
    progress.set_message("ml-latest-small.zip");
    let mut reader = response
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD_BYTES)
        .reader();
    let mut bytes = Vec::with_capacity(length.unwrap_or(0).min(MAX_DOWNLOAD_BYTES) as usize);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        progress.inc(n as u64);
    }
    progress.finish_and_clear();
    Ok(bytes)
}

/// Writes the known data files of the archive (found in any folder of it) flat into `dir`.
fn unpack(archive: &[u8], dir: &Path) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    let mut written = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(|n| n.to_owned()));
        let Some(name) = name.filter(|n| FILES.iter().any(|f| n.as_os_str() == *f)) else {
            continue;
        };
        let mut contents = Vec::new();
        (&mut entry)
            .take(MAX_DOWNLOAD_BYTES + 1)
            .read_to_end(&mut contents)
            .map_err(|e| e.to_string())?;
        if contents.len() as u64 > MAX_DOWNLOAD_BYTES {
            return Err(format!(
                "{} unpacks to more than {MAX_DOWNLOAD_BYTES} bytes",
                name.to_string_lossy()
            ));
        }
        let mut file = fs::File::create(dir.join(&name)).map_err(|e| e.to_string())?;
        file.write_all(&contents).map_err(|e| e.to_string())?;
        written += 1;
    }
    if written == 0 {
        return Err("the archive holds no MovieLens files".into());
    }
    Ok(())
}
