//! Circuits chosen at run time. The service and the client read a pipeline name and a public
//! [`Shape`] from a circuit description; [`plan`] turns them into a [`Planned`] circuit whose
//! server half ([`Replica`]) and client half ([`Session`]) are trait objects.

use std::sync::Arc;

use super::argmax::GlweArgmax;
use super::glwe::GlwePacked;
use super::integer::Integer;
use super::lwe::Lwe;
use super::wire::Stamp;
use super::{Circuit, Pipeline, Shape, WireError};
use crate::model::QuantizedModel;

/// A server replica of one circuit: bytes in, bytes out. Nothing secret.
pub trait Replica: Send + Sync {
    fn eval(&self, request: &[u8]) -> Result<Vec<u8>, WireError>;
}

/// A client's half: its secret key and the circuit it encrypts for.
pub trait Session: Send + Sync {
    fn encrypt(&self, liked: &[usize]) -> Vec<u8>;
    /// The scores, or for a private-output circuit the index.
    fn decrypt(&self, response: &[u8]) -> Result<Vec<i64>, WireError>;
    /// The recommended movie in a decrypted output for `liked` (ties to the lower index).
    fn top_pick(&self, output: &[i64], liked: &[usize]) -> Option<usize>;
    /// The secret key for the client's own cache; it is never sent.
    fn export_secret(&self) -> Vec<u8>;
}

/// A circuit planned from a public shape; client and server plan the same one.
pub trait Planned: Send + Sync {
    fn pipeline(&self) -> Pipeline;
    fn stamp(&self) -> Stamp;
    fn params(&self) -> String;
    fn bootstraps(&self) -> usize;
    fn needs_eval_key(&self) -> bool;
    /// Server: a replica from the model (whose shape must be the planned one) and an evaluation key.
    fn replica(
        &self,
        model: &QuantizedModel,
        eval_key: &[u8],
    ) -> Result<Arc<dyn Replica>, WireError>;
    /// Client: a fresh session and the evaluation key to upload (empty when none is needed).
    fn keygen(&self) -> (Box<dyn Session>, Vec<u8>);
    /// Client: a session from a cached secret key of this same circuit.
    fn restore(&self, secret: &[u8]) -> Result<Box<dyn Session>, WireError>;
    /// What an exact circuit's decrypted output is for `liked`, in plaintext.
    fn expected(&self, model: &QuantizedModel, liked: &[usize]) -> Vec<i64>;
}

/// Plans `pipeline` for a model of this shape.
pub fn plan(pipeline: Pipeline, shape: &Shape) -> anyhow::Result<Arc<dyn Planned>> {
    Ok(match pipeline {
        Pipeline::GlwePacked => Arc::new(GlwePacked::plan(shape)?),
        Pipeline::Lwe => Arc::new(Lwe::plan(shape)?),
        Pipeline::Integer => Arc::new(Integer::plan(shape)?),
        Pipeline::GlweArgmax => Arc::new(GlweArgmax::plan(shape)?),
    })
}

struct Served<C: Circuit>(C::Server);

impl<C: Circuit> Replica for Served<C> {
    fn eval(&self, request: &[u8]) -> Result<Vec<u8>, WireError> {
        C::eval(&self.0, request)
    }
}

struct Keyed<C: Circuit> {
    circuit: C,
    key: C::ClientKey,
}

impl<C> Session for Keyed<C>
where
    C: Circuit + Send + Sync,
    C::ClientKey: Send + Sync,
{
    fn encrypt(&self, liked: &[usize]) -> Vec<u8> {
        self.circuit.encrypt(&self.key, liked)
    }

    fn decrypt(&self, response: &[u8]) -> Result<Vec<i64>, WireError> {
        self.circuit.decrypt(&self.key, response)
    }

    fn top_pick(&self, output: &[i64], liked: &[usize]) -> Option<usize> {
        C::top_pick(output, liked)
    }

    fn export_secret(&self) -> Vec<u8> {
        self.circuit.export_client_key(&self.key)
    }
}

impl<C> Planned for C
where
    C: Circuit + Clone + Send + Sync + 'static,
    C::ClientKey: Send + Sync + 'static,
    C::Server: 'static,
{
    fn pipeline(&self) -> Pipeline {
        Circuit::pipeline(self)
    }

    fn stamp(&self) -> Stamp {
        Circuit::stamp(self)
    }

    fn params(&self) -> String {
        Circuit::params(self)
    }

    fn bootstraps(&self) -> usize {
        Circuit::bootstraps(self)
    }

    fn needs_eval_key(&self) -> bool {
        Circuit::needs_eval_key(self)
    }

    fn replica(
        &self,
        model: &QuantizedModel,
        eval_key: &[u8],
    ) -> Result<Arc<dyn Replica>, WireError> {
        Ok(Arc::new(Served::<C>(self.server(model, eval_key)?)))
    }

    fn keygen(&self) -> (Box<dyn Session>, Vec<u8>) {
        let (key, eval_key) = Circuit::keygen(self);
        let session = Keyed {
            circuit: self.clone(),
            key,
        };
        (Box::new(session), eval_key)
    }

    fn restore(&self, secret: &[u8]) -> Result<Box<dyn Session>, WireError> {
        let key = self.import_client_key(secret)?;
        Ok(Box::new(Keyed {
            circuit: self.clone(),
            key,
        }))
    }

    fn expected(&self, model: &QuantizedModel, liked: &[usize]) -> Vec<i64> {
        C::expected(model, liked)
    }
}
