//! The Kubernetes deployer: one Namespace, Deployment and Service per run, built as typed objects
//! (k8s-openapi, Kubernetes 1.33 API) and labelled with the run id.
//!
//! - `deploy`: server-side apply (field manager `cipherscale`, force) of the three objects, then
//!   waits until the Deployment's controller has seen the newest generation and reports the wanted
//!   ready replicas (polled with a timeout; `is_deployment_completed` alone can be stale).
//! - `scale`: the Deployment's scale subresource.
//! - `status`: the Deployment's desired count and its pods: ready (Ready condition true, no deletion
//!   timestamp), terminating (deletion timestamp), failed (phase Failed).
//! - `restart`: deletes Failed and Succeeded pods of the run, then patches a template annotation so
//!   the controller rolls every pod.
//! - `teardown`: deletes the run's Deployments and Services by label, then the Namespace if it
//!   carries this run's label. Dropping the deployer tears down too, so a failure or a timeout does
//!   not leave the run behind.
//!
//! Replicas keep their evaluation keys in a per-pod SQLite store (emptyDir): a client whose key a
//! pod lacks gets 404 and uploads it again. A shared key database for clusters is future work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, Namespace, Pod, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::Client;

use super::{Deployer, Status};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "cipherscale";
/// The label that ties every object of a run together.
pub const RUN_LABEL: &str = "cipherscale.dev/run";
/// The template annotation `restart` changes.
pub const RESTART_ANNOTATION: &str = "cipherscale.dev/restarted-at";
/// The port the `serve` container listens on.
pub const PORT: i32 = 8080;

/// What to deploy and where.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeConfig {
    /// kubeconfig context; `None`: the current one (or in-cluster configuration).
    pub context: Option<String>,
    pub namespace: String,
    /// The serve image (see the Dockerfile).
    pub image: String,
    /// Labels every object; names the run.
    pub run_id: String,
    /// Deployment and Service name.
    pub name: String,
    /// The circuit's artifacts folder inside the image.
    pub artifacts: String,
    /// Evaluation workers (and CPU request) per replica.
    pub workers: usize,
    /// Longest a rollout may take.
    pub ready_timeout: Duration,
}

/// The run's Namespace, Deployment (at `replicas`) and Service.
pub fn objects(config: &KubeConfig, replicas: i32) -> (Namespace, Deployment, Service) {
    let labels = labels(config);
    let meta = |name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    };
    let namespace = Namespace {
        metadata: meta(&config.namespace, None),
        ..Namespace::default()
    };
    let deployment = Deployment {
        metadata: meta(&config.name, Some(&config.namespace)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(config)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service = Service {
        metadata: meta(&config.name, Some(&config.namespace)),
        spec: Some(ServiceSpec {
            selector: Some(labels),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: PORT,
                target_port: Some(IntOrString::Int(PORT)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    (namespace, deployment, service)
}

fn labels(config: &KubeConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "cipherscale".into()),
        ("app.kubernetes.io/instance".into(), config.name.clone()),
        ("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into()),
        (RUN_LABEL.into(), config.run_id.clone()),
    ])
}

fn pod_spec(config: &KubeConfig) -> PodSpec {
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(2),
        ..Probe::default()
    };
    let workers = config.workers.to_string();
    PodSpec {
        containers: vec![Container {
            name: "serve".into(),
            image: Some(config.image.clone()),
            args: Some(
                [
                    "serve",
                    "--artifacts",
                    &config.artifacts,
                    "--listen",
                    &format!("0.0.0.0:{PORT}"),
                    "--key-store",
                    "/keys/keys.sqlite",
                    "--workers",
                    &workers,
                ]
                .map(String::from)
                .into(),
            ),
            ports: Some(vec![ContainerPort {
                container_port: PORT,
                name: Some("http".into()),
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(probe("/readyz")),
            liveness_probe: Some(probe("/healthz")),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "cpu".to_owned(),
                    Quantity(workers.clone()),
                )])),
                ..ResourceRequirements::default()
            }),
            volume_mounts: Some(vec![VolumeMount {
                name: "keys".into(),
                mount_path: "/keys".into(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        }],
        volumes: Some(vec![Volume {
            name: "keys".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        }]),
        termination_grace_period_seconds: Some(120),
        ..PodSpec::default()
    }
}

/// The native alternative to `cipherscale deploy --autoscale hpa`: Kubernetes' own
/// HorizontalPodAutoscaler (autoscaling/v2) on the Deployment's CPU utilisation.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// Target mean CPU utilisation of the pods, 0..1 of their CPU request.
    pub target_utilization: f64,
    /// Scale-down stabilisation window.
    pub window_s: i32,
}

impl HpaConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            1 <= self.min_replicas && self.min_replicas <= self.max_replicas,
            "need 1 <= min replicas <= max replicas"
        );
        anyhow::ensure!(
            self.target_utilization > 0.0 && self.target_utilization <= 1.0,
            "the target utilisation is a fraction in (0, 1]"
        );
        anyhow::ensure!(
            (0..=3600).contains(&self.window_s),
            "the stabilisation window is 0 to 3600 s (the API's bounds)"
        );
        Ok(())
    }
}

/// The HorizontalPodAutoscaler of `config`'s Deployment.
pub fn hpa(config: &KubeConfig, hpa: &HpaConfig) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            labels: Some(labels(config)),
            ..ObjectMeta::default()
        },
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: config.name.clone(),
            },
            min_replicas: Some(hpa.min_replicas),
            max_replicas: hpa.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some((hpa.target_utilization * 100.0).round() as i32),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(hpa.window_s),
                    ..HPAScalingRules::default()
                }),
                ..HorizontalPodAutoscalerBehavior::default()
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    }
}

/// The objects as one multi-document YAML file (what `cipherscale manifests` writes), with the
/// HorizontalPodAutoscaler when `autoscaler` is given.
pub fn manifests_yaml(
    config: &KubeConfig,
    replicas: i32,
    autoscaler: Option<&HpaConfig>,
) -> anyhow::Result<String> {
    let (namespace, deployment, service) = objects(config, replicas);
    let mut documents = vec![
        yaml_serde::to_string(&namespace)?,
        yaml_serde::to_string(&deployment)?,
        yaml_serde::to_string(&service)?,
    ];
    if let Some(autoscaler) = autoscaler {
        autoscaler.check()?;
        documents.push(yaml_serde::to_string(&hpa(config, autoscaler))?);
    }
    Ok(documents
        .iter()
        .map(|d| format!("---\n{d}"))
        .collect::<String>())
}

pub struct KubeDeployer {
    config: KubeConfig,
    runtime: tokio::runtime::Runtime,
    client: Client,
    desired: usize,
    deployed: bool,
}

impl KubeDeployer {
    /// Connects with the kubeconfig context of `config` (or in-cluster configuration).
    pub fn connect(config: KubeConfig) -> anyhow::Result<Self> {
        let context = config.context.clone();
        Self::with_client(config, |runtime| {
            runtime.block_on(async {
                let options = kube::config::KubeConfigOptions {
                    context,
                    ..Default::default()
                };
                let kube_config = match kube::Config::from_kubeconfig(&options).await {
                    Ok(c) => c,
                    Err(_) if options.context.is_none() => kube::Config::infer().await?,
                    Err(e) => return Err(e.into()),
                };
                Ok(Client::try_from(kube_config)?)
            })
        })
    }

    /// A deployer whose client `make` builds inside the deployer's runtime (tests pass a client
    /// over a mocked API server).
    pub fn with_client(
        config: KubeConfig,
        make: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<Client>,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = {
            let _entered = runtime.enter();
            make(&runtime)?
        };
        Ok(Self {
            config,
            runtime,
            client,
            desired: 0,
            deployed: false,
        })
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    fn run_selector(&self) -> String {
        format!("{RUN_LABEL}={}", self.config.run_id)
    }

    /// Waits until the controller has seen the newest generation and `replicas` are ready.
    fn wait_rolled_out(&self, replicas: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.config.ready_timeout;
        loop {
            let deployment = self
                .runtime
                .block_on(self.deployments().get(&self.config.name))?;
            if rolled_out(&deployment, replicas) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "deployment {}/{} not rolled out to {replicas} ready replicas within {:?}",
                    self.config.namespace,
                    self.config.name,
                    self.config.ready_timeout
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn apply<K>(&self, api: &Api<K>, name: &str, object: &K) -> anyhow::Result<()>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.runtime
            .block_on(api.patch(name, &params, &Patch::Apply(object)))
            .with_context(|| format!("applying {name}"))?;
        Ok(())
    }

    fn delete_pods_in_phase(&self, phase: &str) -> anyhow::Result<()> {
        let list = ListParams::default()
            .labels(&self.run_selector())
            .fields(&format!("status.phase={phase}"));
        self.runtime.block_on(
            self.pods()
                .delete_collection(&DeleteParams::default(), &list),
        )?;
        Ok(())
    }
}

/// Whether the Deployment's controller caught up with its newest spec at `replicas` ready.
pub fn rolled_out(deployment: &Deployment, replicas: usize) -> bool {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return false;
    };
    let count = |n: Option<i32>| usize::try_from(n.unwrap_or(0)).unwrap_or(0);
    status.observed_generation.unwrap_or(0) >= generation
        && count(status.ready_replicas) == replicas
        && count(status.updated_replicas) == replicas
        && count(status.replicas) == replicas
}

/// Where a ready pod serves `/metrics`: its IP and the container port named `http` (reachable
/// from inside the cluster, where an autoscaler runs).
pub fn pod_metrics_url(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ip = pod
        .status
        .as_ref()?
        .pod_ip
        .as_ref()
        .filter(|_| is_ready(pod))?;
    let port = pod
        .spec
        .as_ref()
        .into_iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("http"))
        .map_or(PORT, |p| p.container_port);
    Some(format!("http://{ip}:{port}"))
}

/// Counts a run's pods the way `status` reports them.
pub fn pod_counts(pods: &[Pod]) -> (usize, usize, usize) {
    let (mut ready, mut terminating, mut failed) = (0, 0, 0);
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            terminating += 1;
            continue;
        }
        let status = pod.status.as_ref();
        if status.and_then(|s| s.phase.as_deref()) == Some("Failed") {
            failed += 1;
            continue;
        }
        ready += usize::from(is_ready(pod));
    }
    (ready, terminating, failed)
}

/// Whether the pod's `Ready` condition is true.
fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Deployer for KubeDeployer {
    fn deploy(&mut self) -> anyhow::Result<()> {
        let replicas = self.desired.max(1);
        let (namespace, deployment, service) = objects(&self.config, replicas as i32);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let services: Api<Service> = Api::namespaced(self.client.clone(), &self.config.namespace);
        self.deployed = true;
        self.apply(&namespaces, &self.config.namespace, &namespace)?;
        self.apply(&self.deployments(), &self.config.name, &deployment)?;
        self.apply(&services, &self.config.name, &service)?;
        self.desired = replicas;
        self.wait_rolled_out(replicas)
    }

    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        self.runtime.block_on(self.deployments().patch_scale(
            &self.config.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        ))?;
        self.desired = replicas;
        self.wait_rolled_out(replicas)
    }

    fn status(&mut self) -> anyhow::Result<Status> {
        let deployment = self
            .runtime
            .block_on(self.deployments().get(&self.config.name))?;
        let desired = deployment
            .spec
            .and_then(|s| s.replicas)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let list = ListParams::default().labels(&self.run_selector());
        let pods = self.runtime.block_on(self.pods().list(&list))?;
        let (ready, terminating, failed) = pod_counts(&pods.items);
        Ok(Status {
            desired,
            ready,
            terminating,
            failed,
        })
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.delete_pods_in_phase("Failed")?;
        self.delete_pods_in_phase("Succeeded")?;
        let now = crate::output::unix_now();
        let patch = serde_json::json!({ "spec": { "template": { "metadata": {
            "annotations": { RESTART_ANNOTATION: now.to_string() } } } } });
        self.runtime.block_on(self.deployments().patch(
            &self.config.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        ))?;
        self.wait_rolled_out(self.desired)
    }

    fn metrics_endpoints(&self) -> Vec<String> {
        let list = ListParams::default().labels(&self.run_selector());
        match self.runtime.block_on(self.pods().list(&list)) {
            Ok(pods) => pods.items.iter().filter_map(pod_metrics_url).collect(),
            Err(e) => {
                tracing::warn!("listing the pods for their metrics: {e}");
                Vec::new()
            }
        }
    }

    fn endpoint(&self) -> Option<String> {
        self.deployed.then(|| {
            format!(
                "http://{}.{}.svc:{PORT}",
                self.config.name, self.config.namespace
            )
        })
    }

    fn teardown(&mut self) -> anyhow::Result<()> {
        if !self.deployed {
            return Ok(());
        }
        let by_run = ListParams::default().labels(&self.run_selector());
        let services: Api<Service> = Api::namespaced(self.client.clone(), &self.config.namespace);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        self.runtime.block_on(async {
            self.deployments()
                .delete_collection(&DeleteParams::default(), &by_run)
                .await?;
            for service in services.list(&by_run).await? {
                if let Some(name) = service.metadata.name {
                    services.delete(&name, &DeleteParams::default()).await?;
                }
            }
            let ours = namespaces
                .get_opt(&self.config.namespace)
                .await?
                .and_then(|n| n.metadata.labels)
                .is_some_and(|l| l.get(RUN_LABEL) == Some(&self.config.run_id));
            if ours {
                namespaces
                    .delete(&self.config.namespace, &DeleteParams::default())
                    .await?;
            }
            anyhow::Ok(())
        })?;
        self.deployed = false;
        self.desired = 0;
        Ok(())
    }
}

impl Drop for KubeDeployer {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!("tearing down run {}: {e:#}", self.config.run_id);
        }
    }
}
