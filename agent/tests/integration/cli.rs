//! The `nodecap` binary as a user runs it: arguments in, stdout/stderr and exit code out.
//! Covers the max-pods-calculator contract, every `plan` output format (golden files under
//! `tests/golden/`; regenerate with `UPDATE_EXPECT=1 cargo test`), exit codes and
//! error messages.

use crate::common::assert_success;
use std::path::PathBuf;
use std::process::Output;

fn nodecap(args: &[&str]) -> Output {
    crate::common::nodecap()
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run nodecap")
}

fn stdout(args: &[&str]) -> String {
    let out = nodecap(args);
    assert_success(&out, &format!("nodecap {args:?}"));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a failing command; returns (exit code, stderr).
fn fails(args: &[&str]) -> (i32, String) {
    let out = nodecap(args);
    assert!(!out.status.success(), "nodecap {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn max_pods(args: &[&str]) -> u32 {
    let mut all = vec!["max-pods"];
    all.extend_from_slice(args);
    let text = stdout(&all);
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    text.trim().parse().unwrap()
}

/// Every worked example of docs/sizing.md, as the calculator would print it.
#[test]
fn max_pods_matches_the_eks_calculator() {
    let pd = "--cni-prefix-delegation-enabled";
    let cn = "--cni-custom-networking-enabled";
    let raw = "--show-max-allowed";
    #[rustfmt::skip]
    let cases: &[(&[&str], u32, &str)] = &[
        // Worked examples.
        (&["--instance-type", "t3.micro", "--cni-version", "1.19.0"], 4, "example t3.micro"),
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0"], 29, "example m5.large"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0"], 110, "example m5.4xlarge"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", raw], 234, "example m5.4xlarge raw"),
        (&["--instance-type", "m5.24xlarge", "--cni-version", "1.19.0"], 250, "example m5.24xlarge"),
        (&["--instance-type", "m5.24xlarge", "--cni-version", "1.19.0", raw], 737, "example m5.24xlarge raw"),
        (&["--instance-type", "p4d.24xlarge", "--cni-version", "1.19.0"], 250, "example p4d.24xlarge"),
        (&["--instance-type", "p4d.24xlarge", "--cni-version", "1.19.0", raw], 737, "example p4d card 0"),
        (&["--instance-type", "t3.medium", "--cni-version", "1.19.0", pd], 110, "example t3.medium PD"),
        (&["--instance-type", "t3.medium", "--cni-version", "1.19.0", pd, raw], 242, "example t3.medium PD raw"),
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0", cn], 20, "example m5.large CN"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", "--cni-max-eni", "2"], 60, "example max ENI 2"),
        // The calculator's own test cases (amazon-eks-ami templates/test/cases).
        (&["--instance-type", "m4.xlarge", "--cni-version", "1.7.5"], 58, "calculator test m4.xlarge"),
        (&["--instance-type", "m5.8xlarge", "--cni-version", "1.11.2"], 234, "calculator test m5.8xlarge"),
        (&["--instance-type", "m5.8xlarge", "--cni-version", "1.11.2", pd], 250, "calculator test m5.8xlarge PD"),
        (&["--instance-type", "c6in.32xlarge", "--cni-version", "1.18.0", raw], 394, "calculator test c6in card 0"),
        // The types AWS's tables add by hand (15 ENIs × 50): 15 × 49 + 2.
        (&["--instance-type", "c5a.metal", "--cni-version", "1.19.0", raw], 737, "supplement c5a.metal"),
        (&["--instance-type", "c5ad.metal", "--cni-version", "1.19.0", raw], 737, "supplement c5ad.metal"),
        (&["--instance-type", "bmn-sf1.metal", "--cni-version", "1.19.0", raw], 737, "supplement bmn-sf1.metal"),
        (&["--instance-type", "c7i.32xlarge", "--cni-version", "1.19.0", raw], 737, "supplement c7i.32xlarge"),
        // The calculator's numbers: rec, raw PD, rec PD, rec CN, raw CN+PD, rec CN+PD.
        (&["--instance-type", "t3.micro", "--cni-version", "1.19.0", pd, raw], 34, "calculator table t3.micro raw PD"),
        (&["--instance-type", "t3.micro", "--cni-version", "1.19.0", cn], 3, "calculator table t3.micro CN"),
        (&["--instance-type", "t3.micro", "--cni-version", "1.19.0", cn, pd], 18, "calculator table t3.micro CN+PD"),
        (&["--instance-type", "t3.medium", "--cni-version", "1.19.0", cn], 12, "calculator table t3.medium CN"),
        (&["--instance-type", "t3.medium", "--cni-version", "1.19.0", cn, pd, raw], 162, "calculator table t3.medium raw CN+PD"),
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0", pd, raw], 434, "calculator table m5.large raw PD"),
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0", pd], 110, "calculator table m5.large PD"),
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0", cn, pd, raw], 290, "calculator table m5.large raw CN+PD"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", pd, raw], 3714, "calculator table m5.4xlarge raw PD"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", cn], 110, "calculator table m5.4xlarge CN"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", cn, raw], 205, "calculator table m5.4xlarge CN raw"),
        (&["--instance-type", "m5.4xlarge", "--cni-version", "1.19.0", cn, pd, raw], 3250, "calculator table m5.4xlarge raw CN+PD"),
        (&["--instance-type", "c5.18xlarge", "--cni-version", "1.19.0"], 250, "calculator table c5.18xlarge"),
        (&["--instance-type", "c5.18xlarge", "--cni-version", "1.19.0", raw], 737, "calculator table c5.18xlarge raw"),
        (&["--instance-type", "c5.18xlarge", "--cni-version", "1.19.0", pd, raw], 11762, "calculator table c5.18xlarge raw PD"),
        (&["--instance-type", "m5.24xlarge", "--cni-version", "1.19.0", cn, raw], 688, "calculator table m5.24xlarge CN raw"),
        (&["--instance-type", "m5.24xlarge", "--cni-version", "1.19.0", cn, pd, raw], 10978, "calculator table m5.24xlarge raw CN+PD"),
        (&["--instance-type", "p4d.24xlarge", "--cni-version", "1.19.0", pd], 250, "calculator table p4d PD"),
        (&["--instance-type", "p4d.24xlarge", "--cni-version", "1.19.0", pd, raw], 11762, "calculator table p4d raw PD"),
        (&["--instance-type", "p5.48xlarge", "--cni-version", "1.19.0", raw], 100, "calculator table p5.48xlarge"),
        (&["--instance-type", "p5en.48xlarge", "--cni-version", "1.19.0", raw], 198, "calculator table p5en.48xlarge"),
        (&["--instance-type", "trn1.32xlarge", "--cni-version", "1.19.0", raw], 247, "calculator table trn1.32xlarge"),
        (&["--instance-type", "c6in.32xlarge", "--cni-version", "1.19.0", raw], 394, "calculator table c6in.32xlarge"),
        // CNI older than 1.9: prefix delegation is not available, secondary IPs are used.
        (&["--instance-type", "m5.large", "--cni-version", "1.8.0", pd, raw], 29, "CNI 1.8 ignores PD"),
        (&["--instance-type", "m5.large", "--cni-version", "1.9.0", pd, raw], 434, "CNI 1.9 does PD"),
        // A Xen type asking for prefix delegation falls back to secondary IPs.
        (&["--instance-type", "p3.2xlarge", "--cni-version", "1.19.0", pd, raw], 58, "Xen PD"),
        (&["--instance-type", "m4.xlarge", "--cni-version", "1.19.0", pd], 58, "Xen m4 PD"),
        // Version forms: the script reads v1.11.2 as major 0 and drops PD; nodecap does not.
        (&["--instance-type", "m5.large", "--cni-version", "v1.11.2", pd, raw], 434, "v-prefixed"),
        (&["--instance-type", "m5.large", "--cni-version", "1.11.4-eksbuild.1", pd, raw], 434, "eksbuild"),
        // Custom networking on a type with one usable ENI leaves the two host-network pods.
        (&["--instance-type", "m5.large", "--cni-version", "1.19.0", cn, "--cni-max-eni", "1"], 2, "0 ENIs"),
    ];
    for (args, want, why) in cases {
        assert_eq!(max_pods(args), *want, "{why}: {args:?}");
    }
}

#[test]
fn readme_main_command_explains_m5_large() {
    let text = stdout(&["plan", "--instance-type", "m5.large"]);
    assert!(text.starts_with("m5.large: 29 pods; kube-reserved cpu 70m, memory 574Mi"));
    assert!(text.contains("29 = 3 ENIs × (10 IPv4 per ENI − 1) + 2"));
    assert!(text.contains("70m = 60m (6% of core 1) + 10m (1% of core 2)"));
    assert!(text.contains("574Mi = 11 × 29 pods (maxPods) + 255"));
    assert!(text.contains("(embedded data)"));
}

#[test]
fn kubelet_config_values() {
    let json = |t: &str| -> serde_json::Value {
        serde_json::from_str(&stdout(&[
            "plan",
            "--instance-type",
            t,
            "-o",
            "kubelet-config",
        ]))
        .unwrap()
    };
    let m5 = json("m5.large");
    assert_eq!(m5["maxPods"], 29);
    assert_eq!(m5["kubeReserved"]["cpu"], "70m");
    assert_eq!(m5["kubeReserved"]["memory"], "574Mi");
    assert_eq!(m5["kubeReserved"]["ephemeral-storage"], "1Gi");
    let eviction = m5["evictionHard"].as_object().unwrap();
    let mut keys: Vec<&str> = eviction.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "imagefs.available",
            "imagefs.inodesFree",
            "memory.available",
            "nodefs.available",
            "nodefs.inodesFree"
        ]
    );
    let big = json("m5.4xlarge");
    assert_eq!(big["maxPods"], 110);
    assert_eq!(big["kubeReserved"]["memory"], "1465Mi");
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    expect_test::expect_file![path].assert_eq(actual);
}

/// Every output format, for three configurations: the defaults on m5.large, prefix
/// delegation on m5.4xlarge, and nodeadm parity on t3.micro.
#[test]
fn every_output_format_matches_its_golden_file() {
    let cases: &[(&str, &[&str])] = &[
        ("m5.large", &["--instance-type", "m5.large"]),
        (
            "m5.4xlarge-pd",
            &["--instance-type", "m5.4xlarge", "--prefix-delegation"],
        ),
        (
            "t3.micro-eks",
            &["--instance-type", "t3.micro", "--profile", "eks"],
        ),
        // A Karpenter-style kubeReserved expression (AKS's numbers, written in CEL).
        (
            "m5.large-kube-reserved-expression",
            &[
                "--instance-type",
                "m5.large",
                "--kube-reserved-expression",
                r#"{"cpu": string(vcpus * 40) + "m", "memory": string(20 * max_pods + 50) + "Mi"}"#,
            ],
        ),
    ];
    let formats = [
        ("text", "txt"),
        ("json", "json"),
        ("kubelet-config", "json"),
        ("kubelet-flags", "txt"),
        ("nodeconfig", "yaml"),
        ("bottlerocket", "toml"),
        ("karpenter", "yaml"),
    ];
    for (case, args) in cases {
        for (format, ext) in formats {
            let mut all = vec!["plan", "--output", format];
            all.extend_from_slice(args);
            golden(&format!("{case}.{format}.{ext}"), &stdout(&all));
        }
    }
}

/// nodeadm's documented `maxPodsExpression` examples (amazon-eks-ami `nodeadm/doc/examples.md`)
/// under `--profile eks` give nodeadm's numbers: no cap, kube-reserved memory from the
/// expression's value.
#[test]
fn nodeadms_expression_examples_give_nodeadms_numbers() {
    // (expression, name, [(type, pods, kube-reserved MiB)]): memory = 11 × pods + 255.
    type Rows = [(&'static str, u64, u64); 3];
    let cases: [(&str, &str, Rows); 3] = [
        (
            "max_pods + 2",
            "plus-2",
            // 29 + 2, 234 + 2, 737 + 2.
            [
                ("m5.large", 31, 596),
                ("m5.4xlarge", 236, 2851),
                ("c5.18xlarge", 739, 8384),
            ],
        ),
        (
            "max_pods < 30 ? max_pods : 30",
            "at-most-30",
            [
                ("m5.large", 29, 574),
                ("m5.4xlarge", 30, 585),
                ("c5.18xlarge", 30, 585),
            ],
        ),
        (
            "((default_enis - 3) * (ips_per_eni - 1)) + 2",
            "three-enis-reserved",
            // (3 − 3) × 9 + 2, (8 − 3) × 29 + 2, (15 − 3) × 49 + 2.
            [
                ("m5.large", 2, 277),
                ("m5.4xlarge", 147, 1872),
                ("c5.18xlarge", 590, 6745),
            ],
        ),
    ];
    for (expression, name, rows) in cases {
        for (instance_type, pods, memory) in rows {
            let args = [
                "plan",
                "--instance-type",
                instance_type,
                "--profile",
                "eks",
                "--max-pods-expression",
                expression,
            ];
            let text = stdout(&args);
            golden(&format!("expressions/{instance_type}.{name}.txt"), &text);
            assert!(
                text.contains(&format!(
                    "expression      {pods} = {expression} (max_pods_expression"
                )),
                "{text}"
            );
            let json: serde_json::Value =
                serde_json::from_str(&stdout(&[&args[..], &["-o", "json"]].concat())).unwrap();
            assert_eq!(json["max_pods"], pods, "{instance_type} {expression}");
            assert_eq!(
                json["kube_reserved"]["memory_mib"], memory,
                "{instance_type} {expression}"
            );
        }
    }
    // Under the default profile the cap then applies, and memory follows the final number.
    let json: serde_json::Value = serde_json::from_str(&stdout(&[
        "plan",
        "--instance-type",
        "c5.18xlarge",
        "--max-pods-expression",
        "max_pods + 2",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        (&json["expression_pods"], &json["max_pods"], &json["bound"]),
        (
            &serde_json::json!(739),
            &serde_json::json!(250),
            &serde_json::json!("cap")
        )
    );
    assert_eq!(json["kube_reserved"]["memory_mib"], 3005);
}

#[test]
fn a_bad_expression_exits_64_naming_it_the_position_and_the_variables() {
    for (expression, says) in [
        ("max_pods +", r#"max_pods_expression "max_pods +": at 1:"#),
        (
            "maxPods + 2",
            "unknown variable maxPods; variables: default_enis, ips_per_eni, max_pods, vcpus, memory_mib, instance_type",
        ),
        (
            "double(max_pods) / 2.0",
            "expected a non-negative integer pod count, got 14.5 (double)",
        ),
        ("max_pods - 100", "got -71 (int)"),
    ] {
        let (code, stderr) = fails(&[
            "plan",
            "--instance-type",
            "m5.large",
            "--max-pods-expression",
            expression,
        ]);
        assert_eq!(code, 64, "{expression}: {stderr}");
        assert!(stderr.contains(says), "{expression}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let (code, stderr) = fails(&[
        "plan",
        "--instance-type",
        "m5.large",
        "--kube-reserved-expression",
        r#"{"memory": "lots"}"#,
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("kube_reserved_expression"), "{stderr}");
}

/// GKE's and AKS's published formulas through `plan` (the arithmetic is written out in
/// `core::sizing`'s tests): (type, gke memory, gke cpu, aks memory, aks cpu).
#[test]
fn plan_with_the_gke_and_aks_profiles() {
    for (instance_type, gke, aks) in [
        ("t3.medium", (1024, 70), (390, 100)),
        ("m5.large", (1843, 70), (630, 100)),
        ("m5.4xlarge", (5611, 110), (2250, 260)),
        ("r5.16xlarge", (17408, 230), (5050, 740)),
    ] {
        for (profile, (memory, cpu)) in [("gke", gke), ("aks", aks)] {
            let json: serde_json::Value = serde_json::from_str(&stdout(&[
                "plan",
                "--instance-type",
                instance_type,
                "--profile",
                profile,
                "-o",
                "kubelet-config",
            ]))
            .unwrap();
            assert_eq!(
                json["kubeReserved"]["memory"],
                format!("{memory}Mi"),
                "{instance_type} {profile}"
            );
            assert_eq!(
                json["kubeReserved"]["cpu"],
                format!("{cpu}m"),
                "{instance_type} {profile}"
            );
            assert_eq!(json["evictionHard"]["memory.available"], "100Mi");
            assert!(json.get("systemReserved").is_none());
        }
    }
}

#[test]
fn the_memory_cap_names_what_bound() {
    // t3.small: (2048 − 655) / 267 = 5 < the ENIs' 11.
    let text = stdout(&[
        "plan",
        "--instance-type",
        "t3.small",
        "--max-pods-cap",
        "memory",
    ]);
    assert!(text.starts_with("t3.small: 5 pods;"), "{text}");
    assert!(
        text.contains("max pods        5 (the capped number); bound by the memory cap"),
        "{text}"
    );
    assert!(
        text.contains("memory cap: the most pods n that each keep 256Mi: n × 256 ≤ 2048Mi memory − kube-reserved (11 × n + 255) − system-reserved 200 − eviction 200Mi"),
        "{text}"
    );
    // r5.large: the ENIs' 29 bind below the memory's 58.
    let text = stdout(&[
        "plan",
        "--instance-type",
        "r5.large",
        "--max-pods-cap",
        "memory",
    ]);
    assert!(text.contains("29 = min(29, 58)"), "{text}");
    assert!(text.contains("bound by the ENIs' addresses"), "{text}");
}

#[test]
fn plan_says_when_aws_publishes_no_vcpus_or_memory() {
    let text = stdout(&["plan", "--instance-type", "bmn-sf1.metal"]);
    assert!(
        text.contains(
            "note: AWS publishes no vCPU count or memory for bmn-sf1.metal, only its ENI limits"
        ),
        "{text}"
    );
    assert!(
        text.contains("plan --enis 15 --ips-per-eni 50 --vcpus N --memory-mib M"),
        "{text}"
    );
    // No empty formula, no allocatable of 0 as if it were a figure.
    assert!(
        text.contains("  cpu           0m (no published vCPU count: the ladder has no cores"),
        "{text}"
    );
    assert!(
        text.contains("allocatable     unknown: no published vCPU count or memory"),
        "{text}"
    );
    assert!(!text.contains(" = \n"), "{text}");
}

#[test]
fn plan_by_hand_for_an_unknown_type() {
    let text = stdout(&[
        "plan",
        "--instance-type",
        "x9z.large",
        "--enis",
        "3",
        "--ips-per-eni",
        "10",
        "--vcpus",
        "2",
    ]);
    assert!(text.starts_with("x9z.large: 29 pods;"), "{text}");
    assert!(text.contains("(flags data)"));
    let xen = stdout(&[
        "plan",
        "--enis",
        "4",
        "--ips-per-eni",
        "15",
        "--vcpus",
        "8",
        "--hypervisor",
        "xen",
        "--prefix-delegation",
    ]);
    assert!(xen.starts_with("custom: 58 pods;"), "{xen}");
}

#[test]
fn unknown_instance_type_exits_2_with_the_way_out() {
    for args in [
        &["plan", "--instance-type", "m5.huge"][..],
        &[
            "max-pods",
            "--instance-type",
            "m5.huge",
            "--cni-version",
            "1.19.0",
        ],
        &["instance-types", "m5.large", "m5.huge"],
    ] {
        let (code, err) = fails(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("unknown instance type \"m5.huge\""), "{err}");
        assert!(err.contains("nodecap init") && err.contains("--enis N --ips-per-eni N --vcpus N"));
    }
}

#[test]
fn invalid_arguments_exit_64() {
    let cases: &[&[&str]] = &[
        &["plan", "--instance-type", "m5.large", "--max-pods", "0"],
        &["plan", "--instance-type", "m5.large", "--max-enis", "-1"],
        &[
            "plan",
            "--instance-type",
            "m5.large",
            "--pods-per-core",
            "0",
        ],
        &["plan", "--instance-type", "m5.large", "--profile", "azure"],
        &["plan", "--instance-type", "m5.large", "--max-pods-cap", "0"],
        &[
            "plan",
            "--instance-type",
            "m5.large",
            "--min-memory-per-pod-mib",
            "0",
        ],
        &["plan", "--instance-type", "m5.large", "--ip-family", "ipv5"],
        &["plan", "--instance-type", "m5.large", "--output", "xml"],
        &["plan", "--enis", "3", "--ips-per-eni", "10"],
        &["plan", "--enis", "0", "--ips-per-eni", "10", "--vcpus", "2"],
        &["plan"],
        &["max-pods", "--instance-type", "m5.large"],
        &[
            "max-pods",
            "--instance-type",
            "m5.large",
            "--cni-version",
            "latest",
        ],
        &[
            "max-pods",
            "--instance-type",
            "m5.large",
            "--cni-version",
            "1.19",
            "--cni-max-eni",
            "0",
        ],
        &[
            "max-pods",
            "--instance-type",
            "m5.large",
            "--cni-version",
            "1.19",
            "--bogus",
        ],
        &["frobnicate"],
    ];
    for args in cases {
        let (code, err) = fails(args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(!err.is_empty());
    }
    let (_, err) = fails(&[
        "max-pods",
        "--instance-type",
        "m5.large",
        "--cni-version",
        "latest",
    ]);
    assert_eq!(
        err,
        "nodecap: --cni-version \"latest\": expected MAJOR.MINOR[.PATCH], e.g. 1.19.2 or v1.19.2-eksbuild.1\n"
    );
}

#[test]
fn max_pods_reads_the_instance_type_from_imds() {
    use nodecap_testkit::imds::{ImdsServer, Instance};
    let imds = ImdsServer::start(&Instance::example("m5.4xlarge", 8, 30)).unwrap();
    let run = |extra: &[&str]| {
        crate::common::nodecap()
            .args([
                "max-pods",
                "--instance-type-from-imds",
                "--cni-version",
                "1.19.0",
            ])
            .args(extra)
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())
            .output()
            .unwrap()
    };
    let out = run(&["--show-max-allowed"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "234\n");
    assert_eq!(
        imds.requests(),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/instance-type"
        ]
    );
    imds.set("meta-data/instance-type", Some("not a type"));
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(69));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("got \"not a type\"")
    );
}

#[test]
fn help_and_version_exit_0() {
    let help = stdout(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("64"));
    assert!(stdout(&["--version"]).starts_with("nodecap "));
    assert!(stdout(&["max-pods", "--help"]).contains("--show-max-allowed"));
}

#[test]
fn instance_types_lists_facts() {
    let text = stdout(&["instance-types", "p4d.24xlarge", "m5.large"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("TYPE"));
    let p4d: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        p4d,
        [
            "p4d.24xlarge",
            "x86_64",
            "96",
            "1179648",
            "nitro",
            "no",
            "15",
            "15,15,15,15",
            "50",
            "50",
            "yes",
            "737"
        ]
    );
    let all = stdout(&["instance-types"]);
    assert!(all.lines().count() > 1410);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&["instance-types", "-o", "json", "t3.micro"])).unwrap();
    assert_eq!(json[0]["enis_per_card"][0], 2);
    assert_eq!(json[0]["ipv4_per_eni"], 2);
}
