//! Operating a deployment: replicas behind one endpoint, scaled live by one of the autoscaling
//! study's controllers (`cipherscale deploy`).
//!
//! - [`observe`]: the replicas' `/metrics`, scraped and differenced into the controllers'
//!   [`Signals`](crate::autoscale::Signals).
//! - [`controllers`]: a controller by name (`static`, `hpa`, `queue`, `mpc`, `ppo:CHECKPOINT`)
//!   with its settings.
//! - [`autoscaler`]: the loop (heal, observe, decide, scale), its decision log and its own
//!   `/metrics`.

pub mod autoscaler;
pub mod controllers;
pub mod observe;
pub mod rehearsal;
