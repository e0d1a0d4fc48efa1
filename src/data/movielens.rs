//! Loading `ratings.csv` and `movies.csv` with strict validation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::DataError;
use super::DatasetKind;

const RATINGS_HEADER: [&str; 4] = ["userId", "movieId", "rating", "timestamp"];
const MOVIES_HEADER: [&str; 3] = ["movieId", "title", "genres"];

/// Row counts published with ml-latest-small (its README.txt).
const ML_LATEST_SMALL: [(&str, usize); 3] = [
    ("the number of users", 610),
    ("the number of movies", 9742),
    ("the number of ratings", 100_836),
];

/// One rating: a user's stars (0.5 to 5.0) for a movie.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub movie: u32,
    pub stars: f32,
}

/// A validated MovieLens directory in memory.
#[derive(Debug, Clone)]
pub struct MovieLens {
    pub dir: PathBuf,
    /// movieId to title, for every movie in `movies.csv`.
    pub titles: BTreeMap<u32, String>,
    pub ratings: Vec<Rating>,
}

impl MovieLens {
    /// Loads and validates `dir`; for [`DatasetKind::MlLatestSmall`] the published counts must match.
    pub fn load(dir: &Path, kind: DatasetKind) -> Result<Self, DataError> {
        let titles = read_movies(&dir.join("movies.csv"))?;
        let ratings = read_ratings(&dir.join("ratings.csv"), &titles)?;
        let data = Self {
            dir: dir.to_owned(),
            titles,
            ratings,
        };
        if kind == DatasetKind::MlLatestSmall {
            data.check_published_counts()?;
        }
        Ok(data)
    }

    pub fn user_count(&self) -> usize {
        self.ratings
            .iter()
            .map(|r| r.user)
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn check_published_counts(&self) -> Result<(), DataError> {
        let found = [self.user_count(), self.titles.len(), self.ratings.len()];
        for ((what, expected), found) in ML_LATEST_SMALL.into_iter().zip(found) {
            if expected != found {
                return Err(DataError::Counts {
                    dir: self.dir.clone(),
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }
}

fn read_movies(path: &Path) -> Result<BTreeMap<u32, String>, DataError> {
    let mut reader = open_csv(path, &MOVIES_HEADER)?;
    let mut titles = BTreeMap::new();
    for record in reader.records() {
        let (record, line) = record_with_line(path, record)?;
        let movie = parse_field::<u32>(path, line, &record, 0, "movieId")?;
        let title = record.get(1).unwrap_or_default().trim().to_owned();
        if title.is_empty() {
            return Err(malformed(path, line, "empty title"));
        }
        if titles.insert(movie, title).is_some() {
            return Err(malformed(
                path,
                line,
                format!("movieId {movie} appears twice"),
            ));
        }
    }
    Ok(titles)
}

fn read_ratings(path: &Path, titles: &BTreeMap<u32, String>) -> Result<Vec<Rating>, DataError> {
    let mut reader = open_csv(path, &RATINGS_HEADER)?;
    let mut ratings = Vec::new();
    for record in reader.records() {
        let (record, line) = record_with_line(path, record)?;
        let rating = Rating {
            user: parse_field(path, line, &record, 0, "userId")?,
            movie: parse_field(path, line, &record, 1, "movieId")?,
            stars: parse_field(path, line, &record, 2, "rating")?,
        };
        parse_field::<i64>(path, line, &record, 3, "timestamp")?;
        check_rating(path, line, &rating, titles)?;
        ratings.push(rating);
    }
    if ratings.is_empty() {
        return Err(malformed(path, 1, "no ratings after the header"));
    }
    Ok(ratings)
}

fn check_rating(
    path: &Path,
    line: u64,
    rating: &Rating,
    titles: &BTreeMap<u32, String>,
) -> Result<(), DataError> {
    let half_stars = rating.stars * 2.0;
    if !(0.5..=5.0).contains(&rating.stars) || half_stars.fract() != 0.0 {
        return Err(malformed(
            path,
            line,
            format!("rating {} is not one of 0.5, 1.0, ..., 5.0", rating.stars),
        ));
    }
    if !titles.contains_key(&rating.movie) {
        return Err(malformed(
            path,
            line,
            format!("movieId {} is not in movies.csv", rating.movie),
        ));
    }
    Ok(())
}

fn open_csv(path: &Path, header: &[&str]) -> Result<csv::Reader<std::fs::File>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let found: Vec<String> = reader
        .headers()
        .map_err(|err| malformed(path, 1, err.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    if found != header {
        return Err(DataError::Header {
            file: path.to_owned(),
            expected: header.iter().map(|h| h.to_string()).collect(),
            found,
        });
    }
    Ok(reader)
}

fn record_with_line(
    path: &Path,
    record: csv::Result<csv::StringRecord>,
) -> Result<(csv::StringRecord, u64), DataError> {
    match record {
        Ok(record) => {
            let line = record.position().map_or(0, |p| p.line());
            Ok((record, line))
        }
        Err(err) => {
            let line = err.position().map_or(0, |p| p.line());
            Err(malformed(path, line, err.to_string()))
        }
    }
}

fn parse_field<T: std::str::FromStr>(
    path: &Path,
    line: u64,
    record: &csv::StringRecord,
    index: usize,
    name: &str,
) -> Result<T, DataError> {
    let raw = record.get(index).unwrap_or_default();
    raw.trim()
        .parse()
        .map_err(|_| malformed(path, line, format!("{name} {raw:?} is not a valid number")))
}

fn malformed(path: &Path, line: u64, problem: impl Into<String>) -> DataError {
    DataError::Malformed {
        file: path.to_owned(),
        line,
        problem: problem.into(),
    }
}
