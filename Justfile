# cipherscale recipes. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Every experiment in experiments/ at full size into results/, then the figures (plots/) and
# paper/REPORT.md; the wall time goes into results/reproduce.csv (hours on 2 cores: see README)
reproduce:
    cargo build --release
    cargo run --release --quiet -- reproduce experiments/*.yaml

# The same with each spec's quick profile into quick/ (not committed): minutes
reproduce-quick:
    cargo build --release
    cargo run --release --quiet -- reproduce --quick --root quick experiments/*.yaml

# More encrypted checks of glwe-argmax at width P (2..6) for up to MINUTES, added to
# results/paper/argmax_checks.csv; its row in results/paper/fhe.csv is replaced, then the report
argmax-check P MINUTES="60" SAMPLES="200":
    cargo build --release
    cargo run --release --quiet -- run experiments/paper.yaml --only fhe --cell glwe-argmax:{{P}} --argmax-samples {{SAMPLES}} --argmax-minutes {{MINUTES}}
    cargo run --release --quiet -- report

# Figures and paper/REPORT.md from the CSVs already under results/
report:
    cargo run --release --quiet -- report

# Run the test suite (dependencies are optimised even here: see [profile.dev] in Cargo.toml)
test:
    cargo test --all-targets
    cargo test --doc

# Run the criterion benchmarks (FHE operations; simulator speed)
bench:
    cargo bench

# glwe-argmax timed per width, a few requests each (the widths too slow for criterion)
# -> results/bench/argmax_timing.csv
argmax-timing BITS="2,3,4,5,6" RUNS="3":
    cargo run --release --example argmax_timing -- {{BITS}} {{RUNS}}

# PPO's own check: CartPole-v1 for 100k steps on 3 seeds -> results/bench/ppo_cartpole.csv
cartpole STEPS="100000":
    cargo run --release --example ppo_cartpole -- {{STEPS}}

# Formatting and lints, warnings as errors
lint:
    cargo fmt --all --check
    cargo clippy --all-targets -- -D warnings

# Everything CI checks: lint, then tests
ci: lint test

# Dataset statistics for the MovieLens copy in use
data *ARGS:
    cargo run --release --quiet -- data {{ARGS}}

# Serve one circuit, e.g. `just serve results/paper/artifacts/glwe-argmax-4b --listen 127.0.0.1:8080`
serve ARTIFACTS *ARGS:
    cargo run --release --quiet -- serve --artifacts {{ARTIFACTS}} {{ARGS}}

# Kubernetes manifests of one served circuit (see README "Run on a real cluster")
manifests *ARGS:
    cargo run --release --quiet -- manifests {{ARGS}}

# The kube deployer against the cluster KUBECONFIG points to (CIPHERSCALE_IMAGE names the image)
test-kube:
    cargo test --test kube -- --ignored

# Load generator overhead: cipherscale load (goose) vs wrk on the same trivial endpoint
bench-load SECONDS="10":
    cargo build --release
    scripts/bench-load.sh {{SECONDS}}
