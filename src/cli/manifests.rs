//! `cipherscale manifests`: the Kubernetes objects of one served circuit, as YAML.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::deploy::kubernetes::{HpaConfig, KubeConfig};
use crate::output::{emit, write_atomic};
use crate::spec::KubeSpec;

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Folder to write `<name>.yaml` into.
    #[arg(long, value_name = "DIR", default_value = "deploy/k8s")]
    pub out: PathBuf,
    /// The serve image (built from the Dockerfile).
    #[arg(long, default_value_t = KubeSpec::default().image)]
    pub image: String,
    /// Namespace, created and deleted with the run.
    #[arg(long, default_value_t = KubeSpec::default().namespace)]
    pub namespace: String,
    /// The circuit's artifacts folder inside the image.
    #[arg(long, default_value = "/artifacts/glwe-argmax-4b")]
    pub artifacts: String,
    /// Deployment and Service name.
    #[arg(long, default_value = "cipherscale")]
    pub name: String,
    /// The run label's value.
    #[arg(long, default_value = "manual")]
    pub run_id: String,
    #[arg(long, default_value_t = 1)]
    pub replicas: i32,
    /// Evaluation workers (and CPU request) per replica.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Also write a HorizontalPodAutoscaler (autoscaling/v2) on CPU utilisation: Kubernetes'
    /// own controller instead of `cipherscale deploy --backend kube --autoscale ...`.
    #[arg(long)]
    pub hpa: bool,
    /// --hpa: bounds, target utilisation (0..1) and scale-down stabilisation window.
    #[arg(long, default_value_t = 1)]
    pub min_replicas: i32,
    #[arg(long, default_value_t = 4)]
    pub max_replicas: i32,
    #[arg(long, default_value_t = 0.7)]
    pub target: f64,
    #[arg(long, default_value_t = 300)]
    pub window_s: i32,
}

pub fn manifests(args: ManifestArgs) -> anyhow::Result<()> {
    let config = KubeConfig {
        context: None,
        namespace: args.namespace,
        image: args.image,
        run_id: args.run_id,
        name: args.name,
        artifacts: args.artifacts,
        workers: args.workers,
        ready_timeout: Duration::from_secs(300),
    };
    let autoscaler = args.hpa.then_some(HpaConfig {
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        target_utilization: args.target,
        window_s: args.window_s,
    });
    let yaml =
        crate::deploy::kubernetes::manifests_yaml(&config, args.replicas, autoscaler.as_ref())?;
    let path = args.out.join(format!("{}.yaml", config.name));
    write_atomic(&path, yaml.as_bytes(), false)?;
    Ok(emit(format_args!("wrote {}", path.display()))?)
}
