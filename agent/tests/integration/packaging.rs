//! What the packaging ships must work with this nodecap: the DaemonSet's ConfigMap is a valid
//! configuration that points every source at the host paths the DaemonSet mounts, and with
//! the pod's environment it listens on the node's IP. (tests/packaging.sh checks the manifests
//! against Kubernetes' schemas.)

use std::path::Path;

const KUBERNETES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/kubernetes");

fn yaml(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(KUBERNETES).join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn the_daemonset_configuration_reads_the_mounted_host_paths() {
    let configmap = yaml("configmap.yaml");
    let text = configmap["data"]["config.toml"].as_str().unwrap();
    let file: toml::Table = text.parse().unwrap();
    let env = nodecap::config::env_layer([(
        "NODECAP_RUN_LISTEN".to_owned(),
        "10.0.1.10:61682".to_owned(),
    )])
    .unwrap();
    let config = nodecap::config::resolve(vec![("file", file), ("env", env)]).unwrap();
    assert_eq!(config.run.listen.to_string(), "10.0.1.10:61682");

    // Every path the configuration reads lies under a read-only mount of the DaemonSet.
    let daemonset = yaml("daemonset.yaml");
    let container = &daemonset["spec"]["template"]["spec"]["containers"][0];
    let mounts: Vec<(&str, bool)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap(),
                m["readOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert!(mounts.iter().all(|(_, read_only)| *read_only), "{mounts:?}");
    let k = &config.kubelet;
    for path in [
        &k.nodeadm_config_dir,
        &k.kubelet_config_dir,
        &k.kubelet_config,
        &k.kubelet_env_file,
        &config.run.sys_root,
    ] {
        assert!(
            mounts.iter().any(|(m, _)| path.starts_with(m)),
            "{} is not under a mount: {mounts:?}",
            path.display()
        );
    }
    // The container reads the ConfigMap where it is mounted, and the environment sets the
    // listen address the probes and the PodMonitor use.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["run", "--config", "/etc/nodecap/config.toml"]);
    assert!(mounts.contains(&("/etc/nodecap", true)));
    assert_eq!(container["ports"][0]["containerPort"], 61682);
}
