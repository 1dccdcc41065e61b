//! The README shows real output: its `nodecap --help` block, its `plan` example and its metric
//! tables must be what the binary prints and what `daemon::CATALOGUE` and
//! `subnets::view::CATALOGUE` list, and its density chart what `density -o svg` draws, so the
//! docs cannot drift from the code. `UPDATE_EXPECT=1 cargo test --test integration readme` rewrites the
//! blocks.

use crate::common::assert_success;

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

/// The text between `<!-- name:begin -->` and `<!-- name:end -->` (inside a ```text fence for
/// command output) as a byte range.
fn block(readme: &str, name: &str, fenced: bool) -> std::ops::Range<usize> {
    let (begin, end) = if fenced {
        (
            format!("<!-- {name}:begin -->\n```text\n"),
            format!("```\n<!-- {name}:end -->"),
        )
    } else {
        (
            format!("<!-- {name}:begin -->\n"),
            format!("<!-- {name}:end -->"),
        )
    };
    let start = readme.find(&begin).expect("begin marker") + begin.len();
    let stop = readme[start..].find(&end).expect("end marker") + start;
    start..stop
}

fn run(args: &[&str]) -> String {
    let out = crate::common::nodecap().args(args).output().unwrap();
    assert_success(&out, "nodecap");
    String::from_utf8(out.stdout).unwrap()
}

/// `nodecap subnets --once` against the test EC2 endpoint: three /20s tagged for `prod`, 450
/// interfaces of 4 addresses and a /28 each.
fn subnets_example() -> String {
    use nodecap_testkit::ec2::{Ec2Server, synthetic_vpc};
    let server = Ec2Server::start(synthetic_vpc("prod", 3, 450, 4, 1)).unwrap();
    let out = crate::subnets::subnets(&server.url(), &["--cluster-name", "prod", "--once"])
        .output()
        .unwrap();
    assert_success(&out, "nodecap");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn readme_blocks_match_the_code() {
    let mut readme = std::fs::read_to_string(README).unwrap();
    let blocks = [
        ("help", true, run(&["--help"])),
        ("plan", true, run(&["plan", "--instance-type", "m5.large"])),
        (
            "metrics",
            false,
            nodecap::telemetry::family::markdown_table(&nodecap::daemon::CATALOGUE),
        ),
        ("subnets", true, subnets_example()),
        (
            "subnet-metrics",
            false,
            nodecap::telemetry::family::markdown_table(&nodecap::subnets::view::CATALOGUE),
        ),
    ];
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    for (name, fenced, expected) in blocks {
        let range = block(&readme, name, fenced);
        if update {
            readme.replace_range(range, &expected);
        } else {
            assert_eq!(
                readme[range].to_owned(),
                expected,
                "README {name} block is stale (UPDATE_EXPECT=1 rewrites it)"
            );
        }
    }
    if update {
        std::fs::write(README, readme).unwrap();
    }
}

/// The README's density chart is what `nodecap density` draws from the sample prices next to
/// it (docs/density-sample.csv); `UPDATE_EXPECT=1` redraws it.
#[test]
fn readme_density_chart_matches_the_code() {
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
    let chart = run(&[
        "density",
        "--prices",
        &format!("{docs}/density-sample.csv"),
        "-o",
        "svg",
    ]);
    let path = format!("{docs}/density-sample.svg");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, chart).unwrap();
    } else {
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            chart,
            "{path} is stale (UPDATE_EXPECT=1 redraws it)"
        );
    }
    let readme = std::fs::read_to_string(README).unwrap();
    assert!(readme.contains("](docs/density-sample.svg)"));
}

#[test]
fn iam_policy_allows_exactly_what_nodecap_calls() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/iam/nodecap-policy.json"
    ))
    .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    // Read-only but for PutMetricData; the subnet reader's three listings in a statement of
    // their own, for a role of its own.
    let actions: Vec<Vec<&str>> = statements
        .iter()
        .map(|s| match &s["Action"] {
            serde_json::Value::String(one) => vec![one.as_str()],
            many => many
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect(),
        })
        .collect();
    assert_eq!(
        actions,
        [
            vec!["ec2:DescribeInstanceTypes"],
            vec![
                "ec2:DescribeSubnets",
                "ec2:DescribeNetworkInterfaces",
                "ec2:GetSubnetCidrReservations"
            ],
            vec!["cloudwatch:PutMetricData"]
        ]
    );
    // The actions the EC2 client can call (its `call` takes an `Action`) are exactly the
    // policy's EC2 actions.
    let called: std::collections::BTreeSet<String> = nodecap::aws::ec2::Action::ALL
        .iter()
        .map(|action| format!("ec2:{action}"))
        .collect();
    let allowed: std::collections::BTreeSet<String> = actions
        .iter()
        .flatten()
        .filter(|a| a.starts_with("ec2:"))
        .map(|a| (*a).to_owned())
        .collect();
    assert_eq!(called, allowed);
    // PutMetricData only into the namespaces nodecap publishes to by default.
    let namespaces = &statements[2]["Condition"]["StringEquals"]["cloudwatch:namespace"];
    assert_eq!(
        namespaces,
        &serde_json::json!([
            "nodecap",
            nodecap::telemetry::cloudwatch::datum::COMPAT_NAMESPACE
        ])
    );
}

/// `nodecap_*` names in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (start, _) in text.match_indices("nodecap_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

#[test]
fn alert_rules_and_dashboard_use_only_metrics_nodecap_serves() {
    let served: std::collections::BTreeSet<&str> = nodecap::daemon::CATALOGUE
        .iter()
        .chain(nodecap::subnets::view::CATALOGUE.iter())
        .map(|m| m.name)
        .collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/");
    for file in [
        "prometheus/rules.yaml",
        "prometheus/rules_test.yaml",
        "grafana/nodecap.json",
    ] {
        let text = std::fs::read_to_string(format!("{root}{file}")).unwrap();
        let used = metric_names(&text);
        assert!(used.len() >= 5, "{file}: only {used:?}");
        let unknown: Vec<&String> = used
            .iter()
            .filter(|n| !served.contains(n.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics nodecap does not serve (README table): {unknown:?}"
        );
    }
}
