//! `brume sim`: runs the simulator's scenarios (crates/sim) and writes their results. The raw
//! flags are turned into `brume_sim::scenario::Settings` here; everything else is the library.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use brume_sim::engine::ServiceModel;
use brume_sim::error::SimError;
use brume_sim::estimates::Distances;
use brume_sim::report::Report;
use brume_sim::scenario::{self, Pinning, Progress, Scenario, Settings};
use brume_sim::topology::{CitySettings, Topology};

/// Evaluate the fog algorithms at scale against the Kubernetes baselines, on a measured RTT
/// matrix or a synthetic city; writes JSON and SVG plots.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand, Debug)]
enum SimCommand {
    /// Run the evaluation suite (every claim's run) and write EVALUATION.md and its figures.
    Evaluation(EvaluationArgs),
}

#[derive(clap::Args, Debug)]
struct EvaluationArgs {
    /// The folder holding the PlanetLab matrices.
    #[arg(long, default_value = "../shared/data")]
    data: String,
    /// Where EVALUATION.md goes; the runs' files go under its `evaluation/` folder.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// Leave out the 10,000-node run (about a minute on 2 cores).
    #[arg(long)]
    skip_scale: bool,
}

/// The wall-clock target of the scale run (issue 6).
const SCALE_TARGET_SECONDS: f64 = 60.0;

/// `brume sim` typed with the flags of one run alone (how the evaluation parses its runs).
#[derive(clap::Parser, Debug)]
#[command(name = "brume sim")]
struct RunOnly {
    #[command(flatten)]
    run: RunArgs,
}

/// The flags of one run.
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// routing, placement, vivaldi, failures, users-moving, load, or all.
    #[arg(long, default_value = "routing")]
    scenario: String,
    /// An RTT matrix in milliseconds, one tab-separated row per line (e.g.
    /// ../shared/data/planetlab-490-rtt-ms.tsv); without it, a synthetic city of --nodes nodes.
    #[arg(long, value_name = "FILE")]
    latency_matrix: Option<PathBuf>,
    /// A later measurement of the same nodes, for the Vivaldi scenario's drift.
    #[arg(long, value_name = "FILE")]
    later_matrix: Option<PathBuf>,
    /// Nodes of the synthetic city (ignored with --latency-matrix).
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Users in all.
    #[arg(long, default_value_t = Settings::default().users)]
    users: usize,
    /// Requests simulated in all, shared evenly by the variants compared.
    #[arg(long, default_value_t = Settings::default().requests)]
    requests: u64,
    /// Replicas of the simulated Service.
    #[arg(long, default_value_t = Settings::default().replicas)]
    replicas: usize,
    /// Demand hotspots.
    #[arg(long, default_value_t = Settings::default().hotspots)]
    hotspots: usize,
    /// The share of users around the hotspots, in [0, 1]; the rest spread over every node.
    #[arg(long, default_value_t = Settings::default().concentration)]
    concentration: f64,
    /// How far users spread around a hotspot: the mean rank of their gateway among the
    /// centre's nodes by RTT (0: all on the centre).
    #[arg(long, default_value_t = Settings::default().reach)]
    reach: f64,
    /// Where the routing scenario's replicas run: scheduler (Brume's placement) or hotspots
    /// (one on each hotspot centre, as an operator pins them to the demand sites).
    #[arg(long, default_value = "scheduler")]
    placement: String,
    /// Zones for the Kubernetes topology-aware baseline (clustered from the RTTs).
    #[arg(long, default_value_t = Settings::default().zones)]
    zones: usize,
    /// The α values of proximity routing to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = Settings::default().alphas)]
    alphas: Vec<f64>,
    /// The α Brume runs (whose figures are the headline); the proxy's default unless set.
    #[arg(long, default_value_t = Settings::default().default_alpha)]
    alpha: f64,
    /// The exponent p of proximity routing's distance weights (w ∝ d^−p).
    #[arg(long, default_value_t = Settings::default().p)]
    p: f64,
    /// The offered load as a share of the replicas' capacity.
    #[arg(long, default_value_t = Settings::default().utilisation)]
    utilisation: f64,
    /// The latency bound of the SLO, in ms.
    #[arg(long, default_value_t = Settings::default().slo_ms)]
    slo_ms: f64,
    /// The mean service time of a request, in ms.
    #[arg(long, default_value_t = ServiceModel::default().mean_service_ms)]
    service_ms: f64,
    /// What the proxies and the scheduler know: vivaldi (as the live system: coordinates, and
    /// each node's measured RTTs to its nearest peers), coordinates (Vivaldi alone) or measured
    /// (the true RTTs everywhere).
    #[arg(long, default_value = "vivaldi", value_parser = ["vivaldi", "coordinates", "measured"])]
    distances: String,
    /// The seed: the same seed gives the same results.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the JSON and SVG files go.
    #[arg(long, default_value = "brume-sim")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl RunArgs {
    fn settings(&self) -> Result<Settings, SimError> {
        Ok(Settings {
            users: self.users,
            requests: self.requests,
            replicas: self.replicas,
            hotspots: self.hotspots,
            concentration: self.concentration,
            reach: self.reach,
            placement: Pinning::parse(&self.placement)?,
            zones: self.zones,
            alphas: self.alphas.clone(),
            default_alpha: self.alpha,
            p: self.p,
            utilisation: self.utilisation,
            slo_ms: self.slo_ms,
            service: ServiceModel {
                mean_service_ms: self.service_ms,
                ..ServiceModel::default()
            },
            distances: match self.distances.as_str() {
                "measured" => Distances::Measured,
                "coordinates" => Distances::Coordinates,
                _ => Distances::Vivaldi,
            },
            seed: self.seed,
            ..Settings::default()
        })
    }
}

/// Runs `brume sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Evaluation(e)) => evaluation(e),
        None => {
            let started = Instant::now();
            let reports = execute(&args.run, &command_line())?;
            let requests: u64 = reports.iter().map(|r| r.requests).sum();
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "{} nodes, {} users, {requests} requests simulated in {elapsed:.1} s \
                 ({:.0} requests/s)",
                reports.first().map_or(0, |r| r.nodes),
                args.run.users,
                requests as f64 / elapsed.max(1e-9),
            );
            Ok(())
        }
    }
}

/// Runs the scenarios one run asks for, prints and writes their reports.
fn execute(args: &RunArgs, command: &str) -> anyhow::Result<Vec<Report>> {
    let scenarios: Vec<Scenario> = if args.scenario == "all" {
        Scenario::ALL.to_vec()
    } else {
        vec![Scenario::parse(&args.scenario)?]
    };
    let topology = match &args.latency_matrix {
        Some(path) => Topology::from_file(path)?,
        None => {
            if args.nodes < 3 {
                anyhow::bail!("--nodes is {}; valid: at least 3", args.nodes);
            }
            Topology::city(&CitySettings::new(args.nodes, args.seed))
        }
    };
    let later = match &args.later_matrix {
        Some(path) => Some(Topology::from_file(path)?),
        None => None,
    };
    let settings = args.settings()?;
    settings.validate(&topology)?;
    let mut reports = Vec::new();
    for scenario in scenarios {
        let progress = Progress::default();
        let report = with_progress(&progress, args.quiet, scenario.name(), || {
            scenario::run(
                scenario,
                &topology,
                later.as_ref(),
                &settings,
                command,
                &progress,
            )
        })?;
        print(&report);
        let written = report
            .write(&args.out)
            .with_context(|| format!("writing the {} results", scenario.name()))?;
        for path in written {
            println!("wrote {}", path.display());
        }
        println!();
        reports.push(report);
    }
    Ok(reports)
}

/// Runs the evaluation suite and writes EVALUATION.md.
fn evaluation(args: EvaluationArgs) -> anyhow::Result<()> {
    let mut done = Vec::new();
    for run in brume_sim::evaluation::SUITE {
        if args.skip_scale && run.name.starts_with("scale") {
            continue;
        }
        let out = args.out.join("evaluation").join(run.name);
        let out = out.to_string_lossy();
        let arguments = run.arguments(&args.data, &out);
        let parsed = <RunOnly as clap::Parser>::try_parse_from(
            std::iter::once("brume sim".to_string()).chain(arguments),
        )
        .with_context(|| format!("the arguments of run {}", run.name))?;
        let command = run.command(&args.data, &out);
        println!("$ {command}");
        let started = Instant::now();
        let reports = execute(&parsed.run, &command)?;
        let seconds = started.elapsed().as_secs_f64();
        for report in reports {
            done.push(brume_sim::evaluation::Finished {
                run: run.clone(),
                report,
                seconds,
                command: command.clone(),
            });
        }
    }
    let path = args.out.join("EVALUATION.md");
    std::fs::write(
        &path,
        brume_sim::evaluation::markdown(&done, SCALE_TARGET_SECONDS),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("brume {}", args.join(" "))
}

/// Runs `work` while a progress bar on standard error follows `progress`.
fn with_progress<T>(progress: &Progress, quiet: bool, name: &str, work: impl FnOnce() -> T) -> T {
    if quiet {
        return work();
    }
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>9} [{bar:40}] {percent:>3}% {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    let done = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (d, t) = progress.get();
                bar.set_length(t.max(1));
                bar.set_position(d);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    });
    bar.finish_and_clear();
    out
}

fn print(report: &Report) {
    println!(
        "== {} on {} ({} nodes, seed {})",
        report.scenario, report.topology, report.nodes, report.seed
    );
    println!("{}", report.table.render());
    for h in &report.headline {
        println!("  {}: {:.3} {}", h.label, h.value, h.unit);
    }
}
