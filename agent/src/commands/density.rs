//! `nodecap density`: size every selected instance type in the chosen mode, attach the given
//! prices, filter, sort, render. The figures are [`crate::core::density`]'s; this only gets
//! the prices (a CSV, [`crate::core::prices`], or AWS's offer file, streamed by
//! [`crate::core::offer`]: told apart by its first character; or the Pricing API,
//! [`crate::aws::pricing`]) and maps the flags.

use std::io::BufRead;
use std::path::Path;

use super::{Error, Output, flags_layer};
use crate::cli::{DensityArgs, DensityOutput};
use crate::config;
use crate::core::density::{self, Prices, Row};
use crate::core::excerpt::Excerpt;
use crate::core::instance::{self, InstanceFacts, Source};
use crate::core::names::Region;
use crate::core::sizing;
use crate::core::{offer, prices};

/// The largest price file read (a CSV line per type is ~30 bytes: 1,400 types are 40 KiB).
const MAX_PRICE_FILE: u64 = 16 * 1024 * 1024;

/// Prices from `path`: an offer file (JSON, streamed) when it starts with `{`, else a CSV.
/// Either way a regular file (`file::open_regular`: a FIFO is refused, not waited on).
fn read_prices(path: &Path) -> Result<Prices, Error> {
    let file = crate::file::open_regular(path).map_err(Error::PriceFile)?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let start = reader.fill_buf().map_err(|source| {
        Error::PriceFile(crate::file::ReadError::Io {
            step: "read",
            path: path.to_owned(),
            source,
        })
    })?;
    let json = start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if json {
        return offer::parse_offer(reader).map_err(|source| Error::Offer {
            path: path.to_owned(),
            source,
        });
    }
    read_csv(reader, path).map_err(|e| match e {
        CsvError::File(e) => Error::PriceFile(e),
        CsvError::Line(source) => Error::Prices {
            path: path.to_owned(),
            source,
        },
    })
}

/// Why a price CSV was not taken.
enum CsvError {
    File(crate::file::ReadError),
    Line(prices::Error),
}

/// A price CSV read a line at a time into one buffer of `MAX_LINE + 2` bytes (a line and its
/// `\r\n`): a line past [`prices::MAX_LINE`] is refused once that buffer is full, the file
/// once more than [`MAX_PRICE_FILE`] bytes are read; what is kept is the prices.
fn read_csv(mut reader: impl BufRead, path: &Path) -> Result<Prices, CsvError> {
    let mut csv = prices::Csv::default();
    let mut buffer = Vec::with_capacity(prices::MAX_LINE + 2);
    let mut total = 0u64;
    for line in 1.. {
        buffer.clear();
        let mut line_bytes = std::io::Read::take(&mut reader, prices::MAX_LINE as u64 + 2);
        let read = line_bytes
            .read_until(b'\n', &mut buffer)
            .map_err(|source| {
                CsvError::File(crate::file::ReadError::Io {
                    step: "read",
                    path: path.to_owned(),
                    source,
                })
            })?;
        if read == 0 {
            break;
        }
        total += read as u64;
        if total > MAX_PRICE_FILE {
            return Err(CsvError::File(crate::file::ReadError::TooLarge {
                path: path.to_owned(),
                limit: MAX_PRICE_FILE,
            }));
        }
        let content = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        // A line past the bound ends mid-way, perhaps inside a character: quoted lossily.
        let text = match std::str::from_utf8(content) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) if content.len() > prices::MAX_LINE => String::from_utf8_lossy(content),
            Err(e) => {
                return Err(CsvError::File(crate::file::ReadError::NotUtf8 {
                    path: path.to_owned(),
                    offset: usize::try_from(total).unwrap_or(usize::MAX) - read + e.valid_up_to(),
                }));
            }
        };
        csv.line(line, &text).map_err(CsvError::Line)?;
    }
    Ok(csv.finish())
}

/// Prices from the Pricing API for the region `--region` names (else the environment's).
fn api_prices(flag: Option<&str>) -> Result<Prices, Error> {
    let region = match flag {
        Some(text) => {
            Region::try_from(text).map_err(|_| Error::PricingRegion(Excerpt::of(text)))?
        }
        None => super::environment_region()?.ok_or(Error::NoPricingRegion)?,
    };
    Ok(super::runtime()?.block_on(crate::aws::pricing::on_demand_linux(&region))?)
}

/// The chart's title: what it shows, in which mode.
fn caption(options: &sizing::SizingOptions) -> String {
    let addressing = match options.ip_family {
        sizing::IpFamily::Ipv6 => "IPv6",
        sizing::IpFamily::Ipv4 if options.prefix_delegation => "prefix delegation",
        sizing::IpFamily::Ipv4 => "secondary IPs",
    };
    let custom = if options.custom_networking {
        ", custom networking"
    } else {
        ""
    };
    format!(
        "USD per pod-hour against max pods ({addressing}{custom}, profile {})",
        options.profile
    )
}

/// `nodecap density`.
pub fn density(args: &DensityArgs) -> Result<Output, Error> {
    let options = config::resolve(vec![("flags", flags_layer(&args.mode)?)])?.sizing;
    let prices: Prices = match &args.prices {
        Some(path) => read_prices(path)?,
        None if args.pricing_api => api_prices(args.region.as_deref())?,
        None => Prices::new(),
    };
    let selected: Vec<&InstanceFacts> = if args.instance_types.is_empty() {
        instance::embedded().iter().collect()
    } else {
        args.instance_types
            .iter()
            .map(|name| {
                instance::lookup_embedded(name).ok_or_else(|| {
                    Error::UnknownInstanceType(name.as_str().into(), instance::embedded().len())
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut rows = Vec::new();
    for facts in selected {
        let wanted = (args.family.is_empty() || args.family.iter().any(|f| f == facts.family()))
            && args.arch.is_none_or(|a| facts.architecture == a)
            && args.min_vcpus.is_none_or(|n| facts.vcpus >= n)
            && args.max_vcpus.is_none_or(|n| facts.vcpus <= n);
        if !wanted {
            continue;
        }
        let sizing = sizing::size(facts, Source::Embedded, &options);
        sizing.check_expressions()?;
        let row = Row::new(&sizing, prices.get(facts.instance_type.as_ref()).copied());
        if args
            .min_memory_per_pod
            .is_none_or(|mib| row.memory_per_pod_mib >= mib)
        {
            rows.push(row);
        }
    }
    density::sort(&mut rows, args.sort, args.descending);
    if let Some(n) = args.top {
        rows.truncate(n);
    }
    Ok(match args.output {
        DensityOutput::Table => density::table(&rows),
        DensityOutput::Csv => density::csv(&rows),
        DensityOutput::Markdown => density::markdown(&rows),
        DensityOutput::Json => crate::kubelet::render::to_json("density", &rows)?,
        DensityOutput::Svg => density::chart::svg(&rows, &caption(&options))?,
    }
    .into())
}
