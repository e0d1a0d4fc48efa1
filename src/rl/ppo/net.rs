//! The actor and critic MLPs on dfdx 0.13: orthogonal initialisation, global gradient-norm
//! clipping (neither exists in dfdx), masked action logits, safetensors checkpoints.

use std::path::Path;

use anyhow::Context;
use dfdx::nn::modules;
use dfdx::nn::{
    LoadFromSafetensors, RecursiveWalker, SaveToSafetensors, TensorCollection, TensorOptions,
    TensorVisitor, ViewTensorRef,
};
use dfdx::prelude::*;
use rand::Rng;

use crate::sim::standard_normal;

/// Observations are zero-padded to this length (zero inputs leave the first layer's extra
/// weights untouched).
pub const MAX_OBSERVATION: usize = 8;
/// Logits of actions past an environment's count are masked out (3 for the paper's actions, one
/// per replica count for target actions).
pub const MAX_ACTIONS: usize = 16;
const HIDDEN: usize = 64;

type Mlp<const OUT: usize> = (
    (Linear<MAX_OBSERVATION, HIDDEN>, Tanh),
    (Linear<HIDDEN, HIDDEN>, Tanh),
    Linear<HIDDEN, OUT>,
);

/// Separate policy (actor) and value (critic) networks, 64 x 64 tanh each (stable-baselines3's
/// MLP policy).
pub type Networks = <(Mlp<MAX_ACTIONS>, Mlp<1>) as BuildOnDevice<Cpu, f32>>::Built;

/// A logit that no softmax turns into probability.
pub const MASKED: f32 = -1e9;

/// Builds the networks with orthogonal weights (gain sqrt 2 hidden, 0.01 policy head, 1 value
/// head) and zero biases.
pub fn build(dev: &Cpu, rng: &mut impl Rng) -> Networks {
    let mut nets = dev.build_module::<(Mlp<MAX_ACTIONS>, Mlp<1>), f32>();
    let hidden = std::f32::consts::SQRT_2;
    orthogonal(&mut nets.0 .0 .0, hidden, rng);
    orthogonal(&mut nets.0 .1 .0, hidden, rng);
    orthogonal(&mut nets.0 .2, 0.01, rng);
    orthogonal(&mut nets.1 .0 .0, hidden, rng);
    orthogonal(&mut nets.1 .1 .0, hidden, rng);
    orthogonal(&mut nets.1 .2, 1.0, rng);
    nets
}

fn orthogonal<const I: usize, const O: usize>(
    layer: &mut modules::Linear<I, O, f32, Cpu>,
    gain: f32,
    rng: &mut impl Rng,
) {
    let weights = orthogonal_matrix(O, I, rng);
    layer
        .weight
        .copy_from(&weights.iter().map(|w| w * gain).collect::<Vec<_>>());
    layer.bias.copy_from(&[0.0; O]);
}

/// A `rows x cols` row-major matrix with orthonormal rows or columns (whichever are fewer):
/// Gram-Schmidt on Gaussian vectors.
pub fn orthogonal_matrix(rows: usize, cols: usize, rng: &mut impl Rng) -> Vec<f32> {
    let (count, len) = (rows.min(cols), rows.max(cols));
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(count);
    while basis.len() < count {
        let mut v: Vec<f64> = (0..len).map(|_| standard_normal(rng)).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            basis.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    let mut matrix = vec![0.0f32; rows * cols];
    for (k, b) in basis.iter().enumerate() {
        for (i, &x) in b.iter().enumerate() {
            // Fewer rows: each basis vector is a row; fewer columns: a column.
            let (r, c) = if rows <= cols { (k, i) } else { (i, k) };
            matrix[r * cols + c] = x as f32;
        }
    }
    matrix
}

/// Action logits for one observation (masked past `actions`).
pub fn logits(
    nets: &Networks,
    dev: &Cpu,
    observation: &[f32],
    actions: usize,
) -> [f32; MAX_ACTIONS] {
    let mut logits = nets.0.forward(dev.tensor(pad(observation))).array();
    logits[actions..].fill(MASKED);
    logits
}

/// The critic's value of one observation.
pub fn value(nets: &Networks, dev: &Cpu, observation: &[f32]) -> f32 {
    nets.1.forward(dev.tensor(pad(observation))).array()[0]
}

/// Zero-pads an observation to [`MAX_OBSERVATION`].
pub fn pad(observation: &[f32]) -> [f32; MAX_OBSERVATION] {
    let mut padded = [0.0; MAX_OBSERVATION];
    padded[..observation.len()].copy_from_slice(observation);
    padded
}

/// Scales all gradients together so that their global L2 norm is at most `max_norm`; returns
/// the norm before clipping.
pub fn clip_grad_norm(nets: &Networks, grads: &mut Gradients<f32, Cpu>, max_norm: f32) -> f32 {
    let mut visitor = GradNorm {
        grads,
        scale: None,
        sum_squares: 0.0,
    };
    walk(nets, &mut visitor);
    let norm = visitor.sum_squares.sqrt();
    if norm > max_norm {
        visitor.scale = Some(max_norm / (norm + 1e-6));
        walk(nets, &mut visitor);
    }
    norm
}

fn walk(nets: &Networks, visitor: &mut GradNorm<'_>) {
    Networks::iter_tensors(&mut RecursiveWalker {
        m: nets,
        f: visitor,
    })
    .expect("gradients of every parameter are allocated on the CPU");
}

struct GradNorm<'a> {
    grads: &'a mut Gradients<f32, Cpu>,
    /// `None`: sum squares; `Some(s)`: multiply by s.
    scale: Option<f32>,
    sum_squares: f32,
}

impl TensorVisitor<f32, Cpu> for GradNorm<'_> {
    type Viewer = ViewTensorRef;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        t: &Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if opts.do_gradient_update {
            let grad = self.grads.get_or_alloc_mut(t)?;
            match self.scale {
                None => self.sum_squares += grad.iter().map(|g| g * g).sum::<f32>(),
                Some(s) => grad.iter_mut().for_each(|g| *g *= s),
            }
        }
        Ok(None)
    }
}

/// Saves the networks' weights to `path` (safetensors), atomically.
pub fn save(nets: &Networks, path: &Path) -> anyhow::Result<()> {
    let partial = path.with_extension("safetensors.partial");
    nets.save_safetensors(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Loads weights saved by [`save`].
pub fn load(nets: &mut Networks, path: &Path) -> anyhow::Result<()> {
    nets.load_safetensors(path)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("reading PPO checkpoint {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn orthogonal_matrices_have_orthonormal_rows_or_columns() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (rows, cols) in [(64, 4), (3, 64), (64, 64)] {
            let m = orthogonal_matrix(rows, cols, &mut rng);
            let (n, along_rows) = (rows.min(cols), rows <= cols);
            let at = |k: usize, i: usize| {
                f64::from(if along_rows {
                    m[k * cols + i]
                } else {
                    m[i * cols + k]
                })
            };
            for a in 0..n {
                for b in 0..n {
                    let dot: f64 = (0..rows.max(cols)).map(|i| at(a, i) * at(b, i)).sum();
                    let expected = if a == b { 1.0 } else { 0.0 };
                    assert!(
                        (dot - expected).abs() < 1e-4,
                        "{rows}x{cols} {a},{b}: {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let dev = Cpu::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let nets = build(&dev, &mut rng);
        let mut grads = nets.alloc_grads();
        let x = dev.tensor([[1.0f32, -2.0, 0.5, 3.0, 0.0, 1.0, -1.0, 0.2]; 8]);
        let loss = nets.1.forward(x.traced(grads)).square().mean() * 1e4;
        grads = loss.backward();
        let before = clip_grad_norm(&nets, &mut grads, 0.5);
        assert!(
            before > 0.5,
            "the test needs a large gradient, got {before}"
        );
        let after = clip_grad_norm(&nets, &mut grads, 0.5);
        assert!((after - 0.5).abs() < 1e-3, "{after}");
    }

    #[test]
    fn checkpoints_round_trip() {
        let dev = Cpu::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let nets = build(&dev, &mut rng);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ppo.safetensors");
        save(&nets, &path).unwrap();
        let mut other = build(&dev, &mut rng);
        assert_ne!(
            logits(&nets, &dev, &[0.3, 0.1], 3),
            logits(&other, &dev, &[0.3, 0.1], 3)
        );
        load(&mut other, &path).unwrap();
        assert_eq!(
            logits(&nets, &dev, &[0.3, 0.1], 3),
            logits(&other, &dev, &[0.3, 0.1], 3)
        );
        assert_eq!(value(&nets, &dev, &[0.3]), value(&other, &dev, &[0.3]));
    }
}
