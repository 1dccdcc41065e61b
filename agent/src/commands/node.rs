//! The commands that run on a node: `init` (boot), `run` (the daemon) and `check` (one
//! collection, as findings).

use super::{Error, Output, flags_layer, load_config, runtime, start_logging};
use crate::cli::{InitArgs, RunArgs, SourceArgs};
use crate::daemon::collect::Collectors;
use crate::daemon::collect::cluster_name;
use crate::daemon::export::findings;
use crate::daemon::snapshot::Snapshot;
use crate::exit::Exit;
use crate::init;

/// `nodecap init`.
pub fn init(args: &InitArgs) -> Result<Output, Error> {
    let config = load_config(args.node.config.as_deref(), flags_layer(args)?)?;
    start_logging(&config);
    let report = runtime()?.block_on(init::run(&config.init(), args.dry_run))?;
    Ok(if args.dry_run {
        format!("# {}\n{}", report.path.display(), report.contents)
    } else {
        String::new()
    }
    .into())
}

/// `nodecap run`: returns when stopped by a signal.
pub fn run(args: &RunArgs) -> Result<Output, Error> {
    let config = load_config(args.sources.node.config.as_deref(), flags_layer(args)?)?;
    start_logging(&config);
    let runtime = runtime()?;
    let mut settings = config.daemon();
    if let Some(cw) = settings.cloudwatch.as_mut()
        && let Some(source) = &cw.cluster_name_from
    {
        cw.cluster_name = Some(runtime.block_on(cluster_name::read_cluster_name(
            source,
            &config.imds_endpoint,
            config.imds_deadline,
            &config.kubelet,
        ))?);
    }
    let ran = runtime.block_on(crate::daemon::run(settings));
    // The daemon has had its grace; a read or a password check still on a blocking thread
    // (a bcrypt check takes up to MAX_BCRYPT_COST's time) is abandoned, not waited for.
    runtime.shutdown_background();
    ran?;
    Ok(String::new().into())
}

/// `nodecap check`: the report; exit 1 when it found drift.
pub fn check(args: &SourceArgs) -> Result<Output, Error> {
    let config = load_config(args.node.config.as_deref(), flags_layer(args)?)?;
    start_logging(&config);
    let mut collectors = Collectors::new(&config.daemon().sources);
    let observations = runtime()?.block_on(collectors.collect());
    let found = findings::findings(&Snapshot::new(observations));
    Ok(Output {
        stdout: findings::report(&found),
        exit: if findings::has_drift(&found) {
            Exit::Drift
        } else {
            Exit::Success
        },
    })
}
