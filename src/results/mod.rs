//! The rows of results files: one `Serialize + Deserialize` struct per CSV file, used by the
//! stage that writes it and by the report that reads it back.
//!
//! - [`autoscale`]: the autoscaling study's files (`rl_*.csv`).

pub mod autoscale;
