//! `nodecap subnets`: the configuration's `[subnets]` section (and `[cloudwatch]`) to
//! [`crate::subnets`]; with `--once`, one cycle printed as a table or JSON.

use super::{Error, Output, environment_region, flags_layer, load_config, runtime, start_logging};
use crate::cli::{ListOutput, SubnetsArgs};

/// `nodecap subnets`: returns when stopped by a signal, or after one cycle with `--once`.
pub fn subnets(args: &SubnetsArgs) -> Result<Output, Error> {
    let config = load_config(args.config.as_deref(), flags_layer(args)?)?;
    start_logging(&config);
    // The environment's region is read, and so checked, only when `subnets.region` is unset.
    let environment = match config.subnets.region {
        Some(_) => None,
        None => environment_region()?,
    };
    let settings = config.subnets(environment)?;
    let runtime = runtime()?;
    if args.once {
        let view = runtime.block_on(crate::subnets::once(&settings))?;
        return Ok(match args.output {
            ListOutput::Text => view.table(),
            ListOutput::Json => {
                let mut json = serde_json::to_string_pretty(&view).map_err(Error::Json)?;
                json.push('\n');
                json
            }
        }
        .into());
    }
    let ran = runtime.block_on(crate::subnets::run(settings));
    // As `run`'s: what is left on a blocking thread after the grace is abandoned.
    runtime.shutdown_background();
    ran?;
    Ok(String::new().into())
}
