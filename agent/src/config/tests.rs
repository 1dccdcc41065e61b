use super::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::sizing::{CapPolicy, Profile};
use crate::kubelet::Backend;
use crate::telemetry::cloudwatch::ClusterNameSource;

use super::checked::*;

fn uncommented_defaults() -> String {
    DEFAULTS
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn defaults_file_lists_every_key_and_matches_the_code() {
    let text = uncommented_defaults();
    let table: toml::Table = text.parse().unwrap();
    for &(section, key) in KEYS {
        let present = match section {
            None => table.contains_key(key),
            Some(s) => table[s].as_table().unwrap().contains_key(key),
        };
        assert!(present, "DEFAULTS lacks {section:?}.{key}");
    }
    let top_level = table.keys().filter(|k| !table[*k].is_table()).count();
    let sections: usize = table
        .values()
        .filter_map(|v| v.as_table())
        .map(|t| t.len())
        .sum();
    assert_eq!(
        top_level + sections,
        KEYS.len(),
        "KEYS lacks a key of DEFAULTS"
    );
    // The values shown are the defaults, except the examples of keys that are unset.
    let mut shown = table.clone();
    for key in [
        "max_enis",
        "pods_per_core",
        "max_pods",
        "fallback_max_pods",
        "max_pods_cap",
        "min_memory_per_pod_mib",
        "max_pods_expression",
        "kube_reserved_expression",
        "system_reserved_expression",
    ] {
        shown.remove(key);
    }
    if let Some(run) = shown.get_mut("run").and_then(|v| v.as_table_mut()) {
        for key in ["web_config_file", "minimum_ip_target", "warm_prefix_target"] {
            run.remove(key);
        }
    }
    // The cloudwatch section shows examples of unset keys too (and is off by default).
    if let Some(cw) = shown.get_mut("cloudwatch").and_then(|v| v.as_table_mut()) {
        for key in ["cluster_name", "node_name", "region"] {
            cw.remove(key);
        }
    }
    if let Some(subnets) = shown.get_mut("subnets").and_then(|v| v.as_table_mut()) {
        for key in [
            "cluster_name",
            "vpc_id",
            "subnet_ids",
            "region",
            "timeout",
            "web_config_file",
        ] {
            subnets.remove(key);
        }
    }
    let config = resolve(vec![("defaults", shown)]).unwrap();
    assert_eq!(config, Config::default());
    // And the file as printed (all commented) is the defaults too.
    let printed: toml::Table = DEFAULTS.parse().unwrap();
    assert_eq!(
        resolve(vec![("printed", printed)]).unwrap(),
        Config::default()
    );
}

#[test]
fn layers_override_in_order() {
    let file: toml::Table = "max_enis = 2\nprofile = \"eks\"\n[kubelet]\nbackend = \"nodeadm\"\n"
        .parse()
        .unwrap();
    let env = env_layer([
        ("NODECAP_MAX_ENIS".to_owned(), "3".to_owned()),
        ("NODECAP_KUBELET_BACKEND".to_owned(), "flags".to_owned()),
        ("NODECAP_MAX_PODS_CAP".to_owned(), "200".to_owned()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ])
    .unwrap();
    let mut flags = toml::Table::new();
    set(&mut flags, None, "max_enis", toml::Value::Integer(4));
    let config = resolve(vec![("file", file), ("env", env), ("flags", flags)]).unwrap();
    assert_eq!(config.sizing.max_enis, Some(4));
    assert_eq!(config.sizing.profile, Profile::Eks);
    assert_eq!(config.sizing.max_pods_cap, Some(CapPolicy::Fixed(200)));
    assert_eq!(config.kubelet.backend, Backend::Flags);
    assert_eq!(config.imds_endpoint.to_string(), "http://127.0.0.1:9");
}

#[test]
fn bad_input_names_the_key_and_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "prefix_delegation = true\nmax_enis = \"two\"\n").unwrap();
    let err = file_layer(&path, true).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("config {}: line 2 (max_enis):", path.display())),
        "{err}"
    );
    assert!(err.contains("expected u32"), "{err}");
    assert_eq!(err.lines().count(), 1);

    std::fs::write(&path, "[kubelet]\nbakend = \"flags\"\n").unwrap();
    let err = file_layer(&path, true).unwrap_err().to_string();
    assert!(
        err.contains("line 2 (bakend): unknown field `bakend`"),
        "{err}"
    );

    std::fs::write(&path, "max_pods_cap = \"lots\"\n").unwrap();
    let err = file_layer(&path, true).unwrap_err().to_string();
    assert!(
        err.contains("expected eks, none, memory or a positive pod count"),
        "{err}"
    );

    std::fs::write(&path, "this is not toml").unwrap();
    assert!(
        file_layer(&path, true)
            .unwrap_err()
            .to_string()
            .contains("line 1")
    );

    let unknown = unknown_env(
        [
            "NODECAP_MAX_ENIS",
            "NODECAP_MAX_ENI",
            "NODECAP_SERVICE_HOST",
            "NODECAP_PORT_9100_TCP",
            "PATH",
        ]
        .map(|n| (n.to_owned(), String::new())),
    );
    assert_eq!(unknown, ["NODECAP_MAX_ENI"]);
    let err = env_layer([("NODECAP_IP_FAMILY".to_owned(), "ipv5".to_owned())]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment NODECAP_IP_FAMILY=\"ipv5\": unknown variant `ipv5`"),
        "{err}"
    );

    let zero: toml::Table = "max_pods = 0".parse().unwrap();
    let err = resolve(vec![("file", zero)]).unwrap_err().to_string();
    assert_eq!(err, "max_pods: expected a positive integer, got 0");

    let deadline: toml::Table = "[imds]\ndeadline_seconds = 0".parse().unwrap();
    assert!(resolve(vec![("file", deadline)]).is_err());
    let name: toml::Table = "[kubelet]\ndropin_name = \"../x\"".parse().unwrap();
    assert!(
        resolve(vec![("file", name)])
            .unwrap_err()
            .to_string()
            .starts_with("kubelet.dropin_name")
    );
    let endpoint: toml::Table = "[imds]\nendpoint = \"169.254.169.254\"".parse().unwrap();
    assert!(
        resolve(vec![("file", endpoint)])
            .unwrap_err()
            .to_string()
            .starts_with("imds.endpoint")
    );
}

#[test]
fn cloudwatch_settings() {
    let off = resolve(vec![]).unwrap();
    assert_eq!(off.cloudwatch, None);
    let on: toml::Table =
        "[cloudwatch]\nenabled = true\ncluster_name = \"bars\"\npublish_interval = \"1s\"\n"
            .parse()
            .unwrap();
    let cw = resolve(vec![("file", on)]).unwrap().cloudwatch.unwrap();
    assert_eq!(
        (cw.cluster_name.as_deref(), cw.namespace.as_str()),
        (Some("bars"), "nodecap")
    );
    assert_eq!(cw.interval, Duration::from_secs(1));
    assert_eq!(
        (cw.per_node, cw.compat, cw.queue_datums),
        (false, false, 10_000)
    );
    for (text, source) in [
        (
            "tag:eks:cluster-name",
            ClusterNameSource::Tag("eks:cluster-name".to_owned()),
        ),
        (
            "label:alpha.eksctl.io/cluster-name",
            ClusterNameSource::Label("alpha.eksctl.io/cluster-name".to_owned()),
        ),
    ] {
        let layer: toml::Table =
            format!("[cloudwatch]\nenabled = true\ncluster_name_from = {text:?}\n")
                .parse()
                .unwrap();
        let cw = resolve(vec![("file", layer)]).unwrap().cloudwatch.unwrap();
        assert_eq!(
            (cw.cluster_name.as_deref(), cw.cluster_name_from),
            (None, Some(source))
        );
    }
    for (text, expected) in [
        ("enabled = true", "cloudwatch.cluster_name: required"),
        (
            "enabled = true\ncluster_name = \"b\"\nnamespace = \"AWS/EC2\"",
            "cloudwatch.namespace",
        ),
        (
            "enabled = true\ncluster_name = \"b\"\npublish_interval = \"0s\"",
            "cloudwatch.publish_interval",
        ),
        (
            "enabled = true\ncluster_name = \"b\"\nqueue_datums = 0",
            "cloudwatch.queue_datums",
        ),
        (
            "enabled = true\ncluster_name = \"b\"\ncluster_name_from = \"tag:eks:cluster-name\"",
            "cloudwatch.cluster_name_from: expected either",
        ),
        (
            "enabled = true\ncluster_name_from = \"eks:cluster-name\"",
            "cloudwatch.cluster_name_from: expected tag:KEY",
        ),
        (
            "enabled = true\ncluster_name_from = \"label:\"",
            "cloudwatch.cluster_name_from: expected tag:KEY",
        ),
        (
            "enabled = true\ncluster_name = \"a\tb\"",
            "cloudwatch.cluster_name: expected 1 to 255",
        ),
    ] {
        let layer: toml::Table = format!("[cloudwatch]\n{text}\n").parse().unwrap();
        let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{text}: {err}");
    }
}

#[test]
fn run_settings() {
    let ok: toml::Table =
        "[run]\nlisten = \"0.0.0.0:9100\"\ninterval = \"2m\"\nproc_root = \"/host/proc\"\n"
            .parse()
            .unwrap();
    let run = resolve(vec![("file", ok)]).unwrap().run;
    assert_eq!(run.listen.to_string(), "0.0.0.0:9100");
    assert_eq!(run.interval, Duration::from_secs(120));
    assert_eq!(run.proc_root, PathBuf::from("/host/proc"));
    for (text, expected) in [
        (
            "listen = \"localhost\"",
            "run.listen: expected an address and port",
        ),
        (
            "interval = \"0s\"",
            "run.interval: expected a duration from 1s to 1h",
        ),
        ("interval = \"2d\"", "run.interval"),
        ("interval = \"500ms\"", "run.interval"),
        (
            "ipamd_metrics_url = \"https://x/metrics\"",
            "run.ipamd_metrics_url: expected an http:// URL",
        ),
        (
            "ipamd_introspection_url = \"http:///v1/enis\"",
            "run.ipamd_introspection_url",
        ),
    ] {
        let layer: toml::Table = format!("[run]\n{text}\n").parse().unwrap();
        let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{text}: {err}");
    }
    assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2m 30s"), Some(Duration::from_secs(150)));
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration("-1s"), None);
}

#[test]
fn missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    assert!(file_layer(&path, false).unwrap().is_empty());
    let err = crate::error::Chain(&file_layer(&path, true).unwrap_err()).to_string();
    assert!(
        err.contains("absent.toml") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn subnets_section() {
    use crate::subnets::Selection;
    let env = |vars: &[(&str, &str)]| {
        env_layer(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    };
    // The environment's comma-separated ids; the file's array.
    let layer = env(&[("NODECAP_SUBNETS_SUBNET_IDS", "subnet-0b, subnet-0a")]).unwrap();
    let config = resolve(vec![("environment", layer)]).unwrap();
    assert_eq!(
        config
            .subnets(Some("us-west-2".parse().unwrap()))
            .unwrap()
            .selection,
        Selection::Ids(vec![
            "subnet-0a".parse().unwrap(),
            "subnet-0b".parse().unwrap()
        ])
    );
    let file = parse_layer(
        "[subnets]\nsubnet_ids = [\"subnet-0c\"]\ncluster_name = \"prod\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let config = resolve(vec![("file", file)]).unwrap();
    assert_eq!(
        config.subnets.subnet_ids,
        Some(vec!["subnet-0c".parse().unwrap()])
    );

    // A cluster, with or without its VPC; a VPC alone.
    let file = parse_layer(
        "[subnets]\ncluster_name = \"prod\"\nvpc_id = \"vpc-0a\"\nregion = \"eu-west-1\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let settings = resolve(vec![("file", file)])
        .unwrap()
        .subnets(None)
        .unwrap();
    assert_eq!(
        settings.selection,
        Selection::Cluster {
            name: "prod".parse().unwrap(),
            vpc_id: Some("vpc-0a".parse().unwrap())
        }
    );
    assert_eq!(settings.region, "eu-west-1");
    assert_eq!(settings.interval, Duration::from_secs(300));

    // Nothing to select, no region: one line naming the key.
    let none = Config::default();
    assert_eq!(
        none.subnets(Some("us-east-1".parse().unwrap()))
            .unwrap_err()
            .to_string(),
        "subnets: which subnets? set subnets.cluster_name (--cluster-name: the cluster's tagged subnets), subnets.subnet_ids or subnets.vpc_id"
    );
    let vpc = parse_layer("[subnets]\nvpc_id = \"vpc-0a\"\n", Path::new("f.toml")).unwrap();
    let config = resolve(vec![("file", vpc)]).unwrap();
    assert_eq!(
        config.subnets(None).unwrap_err().to_string(),
        "subnets.region: required (--region, or AWS_REGION)"
    );
    assert_eq!(
        config
            .subnets(Some("us-east-1".parse().unwrap()))
            .unwrap()
            .selection,
        Selection::Vpc("vpc-0a".parse().unwrap())
    );

    // Bad values: named, quoted short.
    for (text, message) in [
        (
            "vpc_id = \"vpc-XYZ\"",
            "subnets.vpc_id: expected a VPC id such as vpc-0123456789abcdef0, got \"vpc-XYZ\"",
        ),
        (
            "subnet_ids = \"subnet-0a,sg-1\"",
            "subnets.subnet_ids: expected subnet ids such as subnet-0123456789abcdef0, got \"sg-1\"",
        ),
        (
            "cluster_name = \"-bad\"",
            "subnets.cluster_name: expected an EKS cluster name (1 to 100 letters, digits, '-' and '_'), got \"-bad\"",
        ),
        (
            "interval = \"2h\"",
            "subnets.interval: expected a duration from 1s to 1h such as 60s or 2m, got \"2h\"",
        ),
        (
            "timeout = \"0s\"",
            "subnets.timeout: expected a duration from 1s to 1h such as 60s or 2m, got \"0s\"",
        ),
    ] {
        let layer = parse_layer(&format!("[subnets]\n{text}\n"), Path::new("f.toml")).unwrap();
        let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
        assert_eq!(err, message);
    }

    // CloudWatch without cluster_name publishes under the cluster watched.
    let file = parse_layer(
        "[cloudwatch]\nenabled = true\n[subnets]\ncluster_name = \"prod\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let config = resolve(vec![("file", file)]).unwrap();
    let cw = config
        .subnets(Some("us-east-1".parse().unwrap()))
        .unwrap()
        .cloudwatch
        .unwrap();
    assert_eq!(cw.cluster_name.as_deref(), Some("prod"));
}
