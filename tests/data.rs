//! The MovieLens loader and locator on fixtures the tests write themselves.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use cipherscale::data::{examples, DataError, DataLocator, MovieLens, Pool, Split};
use cipherscale::spec::{DataSpec, DatasetKind};
use common::{write_fixture, FIXTURE_MOVIES, FIXTURE_USERS};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ml");
    write_fixture(&dir);
    (tmp, dir)
}

fn load(dir: &Path) -> Result<MovieLens, DataError> {
    MovieLens::load(dir, DatasetKind::MovielensCsv)
}

#[test]
fn loads_a_valid_fixture_with_quoted_titles() {
    let (_tmp, dir) = fixture();
    let data = load(&dir).unwrap();
    assert_eq!(data.titles.len(), FIXTURE_MOVIES);
    assert_eq!(data.user_count(), FIXTURE_USERS as usize);
    assert_eq!(data.titles[&10], "American President, The (1995)");
    assert_eq!(data.titles[&20], "Movie \"Quoted\" (2001)");
    assert!(data
        .ratings
        .iter()
        .all(|r| r.stars == 4.5 || r.stars == 2.0));
}

#[test]
fn ml_latest_small_kind_checks_the_published_counts() {
    let (_tmp, dir) = fixture();
    let err = MovieLens::load(&dir, DatasetKind::MlLatestSmall).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("the number of users is 40, but ml-latest-small has 610"),
        "{msg}"
    );
    assert!(msg.contains("data.dataset: movielens-csv"), "{msg}");
}

/// Replaces line `line` (1-based) of `file` in `dir`.
fn corrupt(dir: &Path, file: &str, line: usize, with: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[line - 1] = with;
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn malformed_rows_name_the_file_and_line() {
    let cases = [
        (
            "ratings.csv",
            5,
            "1,10,four,1",
            "rating \"four\" is not a valid number",
        ),
        (
            "ratings.csv",
            6,
            "1,10,4.2,1",
            "rating 4.2 is not one of 0.5",
        ),
        ("ratings.csv", 7, "1,10,6.0,1", "rating 6 is not one of"),
        (
            "ratings.csv",
            8,
            "1,999,4.0,1",
            "movieId 999 is not in movies.csv",
        ),
        ("ratings.csv", 9, "1,10,4.0", "found record with 3 fields"),
        (
            "movies.csv",
            3,
            "10,Duplicate (1999),Drama",
            "movieId 10 appears twice",
        ),
        (
            "movies.csv",
            4,
            "x,Title,Drama",
            "movieId \"x\" is not a valid number",
        ),
    ];
    for (file, line, row, expected) in cases {
        let (_tmp, dir) = fixture();
        corrupt(&dir, file, line, row);
        let msg = load(&dir).unwrap_err().to_string();
        let location = format!("{}:{line}: ", dir.join(file).display());
        assert!(msg.starts_with(&location), "{row}: {msg}");
        assert!(msg.contains(expected), "{row}: {msg}");
    }
}

#[test]
fn a_wrong_header_is_reported_with_both_headers() {
    let (_tmp, dir) = fixture();
    corrupt(&dir, "ratings.csv", 1, "user,movie,rating,timestamp");
    let msg = load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("ratings.csv: header is [\"user\", \"movie\""),
        "{msg}"
    );
    assert!(msg.contains("expected [\"userId\", \"movieId\""), "{msg}");
}

#[test]
fn pool_liked_sets_and_split_follow_the_task_definition() {
    let (_tmp, dir) = fixture();
    let data = load(&dir).unwrap();
    let spec = DataSpec {
        movies: 6,
        ..DataSpec::default()
    };
    let pool = Pool::most_rated(&data, 6).unwrap();
    // Counts descend; equal counts go to the lower movieId.
    assert!(pool.rating_counts.windows(2).all(|w| w[0] >= w[1]));
    for (w, ids) in pool.rating_counts.windows(2).zip(pool.movie_ids.windows(2)) {
        assert!(w[0] > w[1] || ids[0] < ids[1]);
    }
    let users = examples::liked_sets(&data, &pool, &spec);
    assert!(users
        .iter()
        .all(|u| u.liked.len() >= 2 && u.liked.windows(2).all(|w| w[0] < w[1])));
    let split = Split::by_user(&users, 0.25, 3).unwrap();
    assert_eq!(
        split.test_users.len(),
        (users.len() as f64 * 0.25).round() as usize
    );
    for test_user in &split.test_users {
        assert!(split.train_users.iter().all(|u| u.user != test_user.user));
    }
    // One example per liked movie, with that movie hidden from the input.
    let expected: usize = split.test_users.iter().map(|u| u.liked.len()).sum();
    assert_eq!(split.test.len(), expected);
    assert!(split
        .test
        .iter()
        .all(|e| !e.liked.contains(&e.label) && e.liked.len() + 1 >= 2));
    assert_eq!(
        Split::by_user(&users, 0.25, 3).unwrap(),
        split,
        "same seed, same split"
    );
    assert_ne!(
        Split::by_user(&users, 0.25, 4).unwrap().test_users,
        split.test_users
    );
}

#[test]
fn asking_for_more_movies_than_rated_is_an_error() {
    let (_tmp, dir) = fixture();
    let err = Pool::most_rated(&load(&dir).unwrap(), 50).unwrap_err();
    assert!(
        err.to_string()
            .contains("12 movies have ratings, data.movies asks for 50"),
        "{err}"
    );
}

fn locator(
    explicit: Option<PathBuf>,
    from_env: Option<PathBuf>,
    default_dir: PathBuf,
) -> DataLocator {
    DataLocator {
        explicit,
        from_env,
        default_dir,
        download_url: None,
    }
}

#[test]
fn locator_follows_the_order_and_lists_every_path_tried() {
    let (tmp, dir) = fixture();
    let missing = tmp.path().join("missing");
    let found = locator(None, Some(missing.clone()), dir.clone())
        .resolve()
        .unwrap();
    assert_eq!(
        found, dir,
        "falls back from a stale MOVIELENS_DIR to the default folder"
    );
    let env_first = locator(None, Some(dir.clone()), missing.clone())
        .resolve()
        .unwrap();
    assert_eq!(env_first, dir);
    let msg = locator(None, Some(missing.clone()), tmp.path().join("default"))
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "{}: no such directory (from MOVIELENS_DIR)",
            missing.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("default: no such directory (default location)"),
        "{msg}"
    );
    assert!(msg.contains("download: disabled by --no-download"), "{msg}");
}

#[test]
fn an_explicit_folder_is_used_as_given_without_fallback() {
    let (tmp, dir) = fixture();
    let missing = tmp.path().join("typo");
    let msg = locator(Some(missing.clone()), Some(dir.clone()), dir)
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "{}: no such directory (from --data)",
            missing.display()
        )),
        "{msg}"
    );
    let no_ratings = tmp.path().join("empty");
    std::fs::create_dir(&no_ratings).unwrap();
    let msg = locator(Some(no_ratings), None, tmp.path().into())
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("directory has no ratings.csv"), "{msg}");
}

/// Serves `body` once over HTTP on loopback; returns the URL.
fn serve_once(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/ml-latest-small.zip",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
    });
    url
}

fn zip_of(dir: &Path) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for name in ["movies.csv", "ratings.csv"] {
        zip.start_file(format!("ml-latest-small/{name}"), options)
            .unwrap();
        zip.write_all(&std::fs::read(dir.join(name)).unwrap())
            .unwrap();
    }
    zip.start_file("../escape.csv", options).unwrap();
    zip.write_all(b"not extracted").unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn downloads_and_unpacks_when_nothing_local_is_found() {
    let (tmp, source) = fixture();
    let target = tmp.path().join("data/ml-latest-small");
    let mut locator = locator(None, None, target.clone());
    locator.download_url = Some(serve_once(zip_of(&source)));
    assert_eq!(locator.resolve().unwrap(), target);
    assert_eq!(
        load(&target).unwrap().ratings,
        load(&source).unwrap().ratings
    );
    assert!(
        !tmp.path().join("escape.csv").exists() && !tmp.path().join("data/escape.csv").exists()
    );
}

#[test]
fn a_bad_download_leaves_no_partial_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("data/ml-latest-small");
    let mut locator = locator(None, None, target.clone());
    locator.download_url = Some(serve_once(b"this is not a zip archive".to_vec()));
    let msg = locator.resolve().unwrap_err().to_string();
    assert!(msg.contains("not a zip archive"), "{msg}");
    assert!(!target.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
