//! `nodecap density` as a user runs it: the issue's three types with a CSV of prices, prefix
//! delegation, per-pod figures tied to `plan -o json`, filters, a malformed price file, and
//! AWS's offer file (a recorded excerpt; a generated 300 MB one in bounded memory, in
//! `hostile.rs`).

use crate::common::{assert_success, nodecap};

fn run(args: &[&str]) -> std::process::Output {
    nodecap().arg("density").args(args).output().unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(&[args, &["-o", "json"]].concat());
    assert_success(&out, "nodecap");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn prices() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "instance_type,usd_per_hour\nm5.large,0.096\nm5.xlarge,0.192\nc5.large,0.085\n",
    )
    .unwrap();
    file
}

/// `plan -o json`'s allocatable memory for `instance_type` in the default mode, plus `extra`.
fn plan_allocatable_memory(instance_type: &str, extra: &[&str]) -> u64 {
    let out = nodecap()
        .args(["plan", "--instance-type", instance_type, "-o", "json"])
        .args(extra)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["allocatable"]["memory_mib"].as_u64().unwrap()
}

#[test]
fn pods_and_price_per_pod_hour_for_three_types() {
    let prices = prices();
    let path = prices.path().to_str().unwrap();
    let rows = json(&["m5.large", "m5.xlarge", "c5.large", "--prices", path]);
    let by_type = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["instance_type"] == name)
            .unwrap()
            .clone()
    };
    // Rounded to 6 decimal places (core::density::PRICE_DECIMALS).
    let round = |x: f64| (x * 1e6).round() / 1e6;
    for (name, pods, price) in [
        ("m5.large", 29_u32, 0.096),
        ("m5.xlarge", 58, 0.192),
        ("c5.large", 29, 0.085),
    ] {
        let row = by_type(name);
        assert_eq!(row["max_pods"], pods, "{row}");
        assert_eq!(row["usd_per_hour"].as_f64(), Some(price));
        assert_eq!(
            row["usd_per_pod_hour"].as_f64(),
            Some(round(price / f64::from(pods)))
        );
        // Allocatable memory per pod is plan's allocatable memory divided by the pods.
        assert_eq!(
            row["memory_per_pod_mib"].as_u64(),
            Some(plan_allocatable_memory(name, &[]) / u64::from(pods))
        );
    }

    let rows = json(&["m5.large", "--prices", path, "--prefix-delegation"]);
    assert_eq!(rows[0]["max_pods"], 110);
    assert_eq!(
        rows[0]["usd_per_pod_hour"].as_f64(),
        Some(round(0.096 / 110.0))
    );
    assert_eq!(
        rows[0]["memory_per_pod_mib"].as_u64(),
        Some(plan_allocatable_memory("m5.large", &["--prefix-delegation"]) / 110)
    );
}

#[test]
fn filters_sort_and_top() {
    let rows = json(&[
        "--family",
        "m7g,c7g",
        "--arch",
        "arm64",
        "--min-vcpus",
        "4",
        "--max-vcpus",
        "16",
        "--sort",
        "pods",
        "--descending",
        "--top",
        "3",
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let name = row["instance_type"].as_str().unwrap();
        assert!(
            name.starts_with("m7g.") || name.starts_with("c7g."),
            "{name}"
        );
        assert_eq!(row["architecture"], "arm64");
        assert!((4..=16).contains(&row["vcpus"].as_u64().unwrap()));
    }
    assert!(rows[0]["max_pods"].as_u64() >= rows[2]["max_pods"].as_u64());
    // No x86_64 type is arm64.
    let none = json(&["m5.large", "--arch", "arm64"]);
    assert_eq!(none, serde_json::json!([]));
    // Each pod keeps at least 1 GiB of allocatable memory: m5.large (248 MiB a pod) does not.
    let big = json(&["m5.large", "r5.large", "--min-memory-per-pod", "512"]);
    assert_eq!(big[0]["instance_type"], "r5.large");
    assert_eq!(big.as_array().unwrap().len(), 1);
    // Every column sorts: each of these orders its own figure (and the default order, by
    // name, orders none of them).
    let types = [
        "r5.2xlarge",
        "c5.large",
        "c5.4xlarge",
        "m6g.xlarge",
        "t3.micro",
    ];
    for (column, key) in [
        ("vcpus", "vcpus"),
        ("memory", "memory_mib"),
        ("arch", "architecture"),
        ("pods", "max_pods"),
        ("allocatable-cpu", "allocatable_cpu_millis"),
        ("allocatable-memory", "allocatable_memory_mib"),
        ("cpu-per-pod", "cpu_per_pod_millis"),
        ("memory-per-pod", "memory_per_pod_mib"),
    ] {
        let values = |rows: serde_json::Value| -> Vec<String> {
            rows.as_array()
                .unwrap()
                .iter()
                .map(|r| match &r[key] {
                    serde_json::Value::Number(n) => format!("{:012}", n.as_u64().unwrap()),
                    other => other.as_str().unwrap().to_owned(),
                })
                .collect()
        };
        let by_name = values(json(&types));
        assert!(!by_name.is_sorted(), "{column}: {by_name:?}");
        let sorted = values(json(&[&types[..], &["--sort", column]].concat()));
        assert!(sorted.is_sorted(), "--sort {column}: {sorted:?}");
    }
}

#[test]
fn every_output_and_the_whole_table() {
    let prices = prices();
    let path = prices.path().to_str().unwrap();
    let out = run(&["m5.large", "c5.large", "--prices", path, "-o", "csv"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "instance_type,vcpus,memory_mib,arch,max_pods,allocatable_cpu_m,allocatable_memory_mib,cpu_per_pod_m,memory_per_pod_mib,usd_per_hour,usd_per_pod_hour"
    );
    assert!(csv.contains("\nc5.large,2,4096,x86_64,29,"), "{csv}");
    assert!(csv.trim_end().ends_with(",0.096,0.003310"), "{csv}");
    let out = run(&["m5.large", "-o", "markdown"]);
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.starts_with("| instance_type |")
            && md.contains("\n| m5.large | 2 | 8192 | x86_64 | 29 |"),
        "{md}"
    );
    // No type named: every type in the table, one row each.
    let all = json(&[]);
    assert_eq!(all.as_array().unwrap().len(), 1418);
}

#[test]
fn a_malformed_price_file_exits_64_naming_the_line() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "m5.large,0.096\nm5.xlarge,0,192\n").unwrap();
    let out = run(&["--prices", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "nodecap: --prices {}: line 2: expected two columns: instance_type,usd_per_hour, got \"m5.xlarge,0,192\"",
            file.path().display()
        )
    );
    let out = run(&["--prices", "/nonexistent/prices.csv"]);
    assert_eq!(out.status.code(), Some(64));
    let out = run(&["x9.huge"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_offer_file_excerpt_gives_the_csv_prices() {
    let csv = prices();
    let offer = crate::common::fixtures().join("pricing/offer-excerpt.json");
    let types = ["m5.large", "m5.xlarge", "c5.large"];
    let from_csv = json(&[&types[..], &["--prices", csv.path().to_str().unwrap()]].concat());
    let from_offer = json(&[&types[..], &["--prices", offer.to_str().unwrap()]].concat());
    assert_eq!(from_csv, from_offer);
    // Windows, an unused reservation and a Local Zone product of m5.large were all in it.
    assert_eq!(
        from_offer[1]["usd_per_hour"].as_f64(),
        Some(0.096),
        "{from_offer}"
    );
    // A type the excerpt has no price for keeps its density and an empty price.
    let r5 = json(&["r5.large", "--prices", offer.to_str().unwrap()]);
    assert_eq!(r5[0]["usd_per_hour"], serde_json::Value::Null);
    assert_eq!(r5[0]["max_pods"], 29);
}

#[test]
fn a_broken_offer_file_exits_64_saying_where() {
    let text =
        std::fs::read_to_string(crate::common::fixtures().join("pricing/offer-excerpt.json"))
            .unwrap()
            .replacen("\"Hrs\"", "\"Hrs", 1);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let out = run(&["--prices", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("expected an EC2 price list offer file") && err.matches(" line ").count() == 1,
        "{err}"
    );
}

#[test]
fn a_price_file_that_is_not_a_file_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("prices.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = std::time::Instant::now();
    let out = run(&["m5.large", "--prices", fifo.to_str().unwrap()]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expected a regular file, found a FIFO"),
        "{err}"
    );
    // /dev/null is "no prices", as for every file nodecap reads.
    let rows = json(&["m5.large", "--prices", "/dev/null"]);
    assert_eq!(rows[0]["usd_per_hour"], serde_json::Value::Null);
}

#[test]
fn a_price_csv_past_its_bound_is_refused() {
    // 16 MiB is the bound (commands/density.rs): a CSV of 17 MiB is not a price list.
    let file = tempfile::NamedTempFile::new().unwrap();
    let line = "m5.large,0.096\n";
    std::fs::write(file.path(), line.repeat(17 * 1024 * 1024 / line.len())).unwrap();
    let out = run(&["m5.large", "--prices", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("expected at most 16777216 bytes"), "{err}");
}

/// The README's sample prices (docs/density-sample.csv): 16 types of 7 families.
fn sample_prices() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/density-sample.csv")
}

/// What an XML parser finds in a chart: every circle's centre and every text with its
/// position. Panics on anything that is not well-formed XML.
struct Chart {
    circles: Vec<(f64, f64)>,
    texts: Vec<(f64, f64, String)>,
}

fn parse_svg(svg: &[u8]) -> Chart {
    use quick_xml::events::Event;
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &[u8]| -> f64 {
        let a = e.try_get_attribute(name).unwrap().unwrap();
        a.unescape_value().unwrap().parse().unwrap()
    };
    let mut reader = quick_xml::Reader::from_reader(svg);
    reader.config_mut().check_end_names = true;
    let mut chart = Chart {
        circles: Vec::new(),
        texts: Vec::new(),
    };
    let mut open_text = None;
    let mut depth = 0_i32;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) => {
                depth += 1;
                if depth == 1 {
                    assert_eq!(e.name().as_ref(), b"svg");
                }
                if e.name().as_ref() == b"text" {
                    open_text = Some((attr(&e, b"x"), attr(&e, b"y")));
                }
            }
            Event::Empty(e) if e.name().as_ref() == b"circle" => {
                chart.circles.push((attr(&e, b"cx"), attr(&e, b"cy")));
            }
            Event::Text(t) => {
                if let Some((x, y)) = open_text {
                    let text = t.decode().unwrap().trim().to_owned();
                    chart.texts.push((x, y, text));
                }
            }
            Event::End(e) => {
                depth -= 1;
                if e.name().as_ref() == b"text" {
                    open_text = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert_eq!(depth, 0, "every element closed");
    chart
}

#[test]
fn the_svg_chart_has_one_labelled_point_per_priced_type() {
    let prices = sample_prices();
    let priced: Vec<serde_json::Value> = json(&["--prices", prices.to_str().unwrap()])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["usd_per_hour"].is_null())
        .cloned()
        .collect();
    assert_eq!(priced.len(), 16);
    // Every type in the table is a row; the chart places the priced ones.
    let out = run(&["--prices", prices.to_str().unwrap(), "-o", "svg"]);
    assert_success(&out, "nodecap");
    let chart = parse_svg(&out.stdout);
    let families: std::collections::BTreeSet<&str> = priced
        .iter()
        .map(|r| {
            r["instance_type"]
                .as_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
        })
        .collect();
    // A point per priced type and a legend dot per family.
    assert_eq!(chart.circles.len(), priced.len() + families.len());
    for row in &priced {
        let name = row["instance_type"].as_str().unwrap();
        let labels: Vec<_> = chart.texts.iter().filter(|t| t.2 == name).collect();
        assert_eq!(labels.len(), 1, "{name} labelled once");
        let (x, y, _) = labels[0];
        // The label sits just right of and above its own point.
        assert!(
            chart
                .circles
                .iter()
                .any(|(cx, cy)| (x - cx - 6.0).abs() < 0.5 && (y - cy + 14.0).abs() < 0.5),
            "{name}: no point beside its label at ({x}, {y})"
        );
    }
    // The points of equal pods share an x, and cheaper pods sit lower (larger y).
    let point_of = |name: &str| {
        let (x, y, _) = chart.texts.iter().find(|t| t.2 == name).unwrap();
        (x - 6.0, y + 14.0)
    };
    let (m5x, m5y) = point_of("m5.large");
    let (c6x, c6y) = point_of("c6g.xlarge");
    assert_eq!(m5x, point_of("c5.large").0);
    assert!(
        c6x > m5x && c6y > m5y,
        "c6g.xlarge: more pods, cheaper per pod"
    );
    for family in &families {
        assert!(
            chart.texts.iter().any(|t| t.2 == *family),
            "legend {family}"
        );
    }
    // Without prices there is nothing to chart: a usage error, not an empty picture.
    let out = run(&["m5.large", "-o", "svg"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
}

#[test]
#[ignore = "needs rsvg-convert (librsvg2-bin); tests/run.sh installs it"]
fn the_svg_chart_renders_to_png() {
    let prices = sample_prices();
    let out = run(&["--prices", prices.to_str().unwrap(), "-o", "svg"]);
    assert_success(&out, "nodecap density");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let png = dir.path().join("chart.png");
    std::fs::write(&svg, &out.stdout).unwrap();
    let render = std::process::Command::new("rsvg-convert")
        .arg(&svg)
        .arg("-o")
        .arg(&png)
        .output()
        .unwrap();
    assert_success(&render, "nodecap");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: the width and height the SVG declares.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), nodecap::core::density::chart::SIZE);
}

/// The recorded `GetProducts` answers (tests/fixtures/pricing/get-products-page-{1,2}.json).
fn get_products_pages() -> Vec<String> {
    (1..=2)
        .map(|n| {
            let path = format!("pricing/get-products-page-{n}.json");
            std::fs::read_to_string(crate::common::fixtures().join(path)).unwrap()
        })
        .collect()
}

/// `nodecap density --pricing-api` with test credentials against `endpoint`, no region.
fn pricing_api(endpoint: &str, args: &[&str]) -> std::process::Command {
    let mut command = nodecap();
    command
        .arg("density")
        .args(args)
        .arg("--pricing-api")
        .env("AWS_ENDPOINT_URL_PRICING", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE");
    command
}

fn with_pricing_api(endpoint: &str, args: &[&str]) -> std::process::Output {
    pricing_api(endpoint, args).output().unwrap()
}

#[test]
fn recorded_get_products_pages_give_the_offer_file_prices() {
    use nodecap_testkit::pricing::PricingServer;
    let server = PricingServer::start(get_products_pages()).unwrap();
    let types = ["m5.large", "m5.xlarge", "c5.large", "r5.large"];
    let out = with_pricing_api(
        &server.url(),
        &[&types[..], &["--region", "us-east-1", "-o", "json"]].concat(),
    );
    assert_success(&out, "nodecap");
    let from_api: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let offer = crate::common::fixtures().join("pricing/offer-excerpt.json");
    let from_offer = json(&[&types[..], &["--prices", offer.to_str().unwrap()]].concat());
    assert_eq!(from_api, from_offer);
    // And the CSV's: m5.large 0.096 (not its Local Zone product's 0.115, also on page 1).
    assert_eq!(from_api[1]["usd_per_hour"].as_f64(), Some(0.096));
    assert_eq!(from_api[3]["usd_per_hour"], serde_json::Value::Null);

    // Two pages: the second asked for by the first's token; the filters sent each time.
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first_token = serde_json::from_str::<serde_json::Value>(&get_products_pages()[0]).unwrap()
        ["NextToken"]
        .clone();
    assert_eq!(requests[0].body.get("NextToken"), None);
    assert_eq!(requests[1].body["NextToken"], first_token);
    for request in &requests {
        assert_eq!(request.target, "AWSPriceListService.GetProducts");
        assert_eq!(request.body["ServiceCode"], "AmazonEC2");
        let mut filters: Vec<(String, String, String)> = request.body["Filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_owned();
                (s("Type"), s("Field"), s("Value"))
            })
            .collect();
        filters.sort();
        let term = |field: &str, value: &str| ("TERM_MATCH".into(), field.into(), value.into());
        assert_eq!(
            filters,
            [
                term("capacitystatus", "Used"),
                term("operatingSystem", "Linux"),
                term("preInstalledSw", "NA"),
                term("regionCode", "us-east-1"),
                term("tenancy", "Shared"),
            ]
        );
    }
}

#[test]
fn the_pricing_api_region_throttling_and_failures() {
    use nodecap_testkit::pricing::PricingServer;
    let server = PricingServer::start(get_products_pages()).unwrap();
    // The region from the environment when --region is not given.
    let out = pricing_api(&server.url(), &["m5.large"])
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert_success(&out, "nodecap");
    assert_eq!(
        server.requests()[0].body["Filters"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert!(
        server.requests()[0]
            .body
            .to_string()
            .contains("\"eu-west-1\"")
    );

    // Throttled twice: the SDK's standard retries get the answer.
    let server = PricingServer::start(get_products_pages()).unwrap();
    server.throttle_next(2);
    let out = with_pricing_api(&server.url(), &["m5.large", "--region", "us-east-1"]);
    assert_success(&out, "nodecap");
    assert_eq!(server.requests().len(), 4);
    // Throttled past the SDK's three attempts: the API's error, exit 69.
    server.throttle_next(3);
    let out = with_pricing_api(&server.url(), &["m5.large", "--region", "us-east-1"]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nodecap: pricing:GetProducts: ThrottlingException: \"Rate exceeded\""
    );

    // No region: a usage error naming the ways to give one; a malformed one too.
    let out = with_pricing_api(&server.url(), &["m5.large"]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nodecap: --pricing-api needs a region: --region, or AWS_REGION"
    );
    let out = with_pricing_api(&server.url(), &["--region", "US East"]);
    assert_eq!(out.status.code(), Some(64));
    // --prices and --pricing-api together: clap's usage error.
    let out = with_pricing_api(&server.url(), &["--prices", "/dev/null"]);
    assert_eq!(out.status.code(), Some(64));

    // An entry that is not a product: one line, exit 69, naming the page.
    let server = PricingServer::start(vec![
        r#"{"FormatVersion":"aws_v1","PriceList":["{\"product\": 7}"]}"#.to_owned(),
    ])
    .unwrap();
    let out = with_pricing_api(&server.url(), &["--region", "us-east-1"]);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("nodecap: pricing:GetProducts page 1: expected a price list entry")
            && err.lines().count() == 1,
        "{err}"
    );

    // Nothing priced in the region (a region the API does not know answers empty): 69.
    let empty = r#"{"FormatVersion":"aws_v1","PriceList":[]}"#;
    let server = PricingServer::start(vec![empty.to_owned()]).unwrap();
    let out = with_pricing_api(&server.url(), &["--region", "us-east-7"]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nodecap: pricing:GetProducts: no on-demand Linux price for any instance type in us-east-7"
    );

    // A server going round in circles (every page gives the same token): caught, one line.
    let circle = r#"{"FormatVersion":"aws_v1","PriceList":[],"NextToken":"again"}"#;
    let server = PricingServer::start(vec![circle.to_owned(), circle.to_owned()]).unwrap();
    let out = with_pricing_api(&server.url(), &["--region", "us-east-1"]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nodecap: pricing:GetProducts: more than 1000 pages, or a page token repeated"
    );
    assert_eq!(server.requests().len(), 2);

    // An answer past the 16 MiB bound: refused, not read whole.
    let huge = format!(
        r#"{{"FormatVersion":"aws_v1","PriceList":["{}"]}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    let server = PricingServer::start(vec![huge]).unwrap();
    let out = with_pricing_api(&server.url(), &["--region", "us-east-1"]);
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "nodecap: pricing:GetProducts: the answer is longer than 16777216 bytes"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "a too-long answer is not asked again"
    );
}
