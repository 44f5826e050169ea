//! docs/EVALUATION.md, generated: the suite of `brume sim` runs behind the claims, each given as
//! the exact command line that reproduces it, and the claims checked against their targets.
//!
//! The runs are argument lists; `brume sim evaluation` parses each exactly as `brume sim` would
//! parse it typed, so the command printed beside a figure is the command that produced it.

use std::fmt::Write as _;

use crate::report::Report;

/// One run of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The folder its files go to, under the evaluation's output folder.
    pub name: &'static str,
    /// What it shows, in a sentence.
    pub about: &'static str,
    /// The `brume sim` arguments; `{data}` stands for the data folder and `{out}` for the run's
    /// output folder.
    pub args: &'static [&'static str],
}

/// The runs, in the order the document presents them.
pub const SUITE: &[Run] = &[
    Run {
        name: "vivaldi-planetlab",
        about: "Vivaldi on both PlanetLab slices, and the first slice's coordinates against the later RTTs",
        args: &[
            "--scenario",
            "vivaldi",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--later-matrix",
            "{data}/planetlab-490-rtt-ms-later.tsv",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "routing-planetlab",
        about: "the routing trade-off on the 490 PlanetLab nodes",
        args: &[
            "--scenario",
            "routing",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--slo-ms",
            "150",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "routing-city",
        about: "the routing trade-off on a synthetic city of 1,000 nodes (the default run)",
        args: &["--scenario", "routing", "--out", "{out}"],
    },
    Run {
        name: "routing-planetlab-sites",
        about: "the routing trade-off on PlanetLab with the users at 10 sites and a replica pinned on each (users next to the replicas, the geometry of Proxy-mity's \"up to 90 %\")",
        args: &[
            "--scenario",
            "routing",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--slo-ms",
            "150",
            "--hotspots",
            "10",
            "--replicas",
            "10",
            "--concentration",
            "1",
            "--reach",
            "0",
            "--placement",
            "hotspots",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "placement-planetlab",
        about: "placement against Kubernetes' default and the exhaustive optimum on PlanetLab",
        args: &[
            "--scenario",
            "placement",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--slo-ms",
            "150",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "placement-city",
        about: "placement on the synthetic city",
        args: &["--scenario", "placement", "--out", "{out}"],
    },
    Run {
        name: "failures-city",
        about: "node failures on the synthetic city, Kubernetes' defaults against Brume's",
        args: &["--scenario", "failures", "--out", "{out}"],
    },
    Run {
        name: "users-moving-planetlab",
        about: "users moving between hotspots on PlanetLab: static placements against re-placement",
        args: &[
            "--scenario",
            "users-moving",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--slo-ms",
            "150",
            "--replicas",
            "3",
            "--hotspots",
            "2",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "users-moving-city",
        about: "users moving between hotspots on the synthetic city",
        args: &[
            "--scenario",
            "users-moving",
            "--replicas",
            "3",
            "--hotspots",
            "2",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "load-city",
        about: "a day of load rising and falling on the city: fixed replicas, the HPA, the latency autoscaler",
        args: &[
            "--scenario",
            "load",
            "--replicas",
            "4",
            "--requests",
            "30000000",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "load-planetlab",
        about: "the same day of load on PlanetLab",
        args: &[
            "--scenario",
            "load",
            "--latency-matrix",
            "{data}/planetlab-490-rtt-ms.tsv",
            "--slo-ms",
            "150",
            "--replicas",
            "4",
            "--requests",
            "30000000",
            "--out",
            "{out}",
        ],
    },
    Run {
        name: "scale-city",
        about: "the routing scenario at scale: 10,000 nodes, 1,000,000 users, 10,000,000 requests",
        args: &[
            "--scenario",
            "routing",
            "--nodes",
            "10000",
            "--users",
            "1000000",
            "--requests",
            "10000000",
            "--out",
            "{out}",
        ],
    },
];

impl Run {
    /// The arguments with `{data}` and `{out}` filled in.
    pub fn arguments(&self, data: &str, out: &str) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.replace("{data}", data).replace("{out}", out))
            .collect()
    }

    /// The command line, as a reader would type it from the repository's root.
    pub fn command(&self, data: &str, out: &str) -> String {
        format!(
            "cargo run --release -- sim {}",
            self.arguments(data, out).join(" ")
        )
    }
}

/// What a claim must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// The figure is reported, with no target.
    None,
    /// At least this much.
    AtLeast(f64),
    /// At most this much.
    AtMost(f64),
}

/// A claim: a headline figure of one run, and its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    /// The run.
    pub run: &'static str,
    /// The headline key in its report.
    pub key: &'static str,
    /// The claim, in words.
    pub text: &'static str,
    /// The target, from issue 6.
    pub target: Target,
}

/// The claims, with the issue's targets.
pub const CLAIMS: &[Claim] = &[
    Claim {
        run: "vivaldi-planetlab",
        key: "median_relative_error",
        text: "Vivaldi median relative error, first PlanetLab slice (published: 0.11 on King)",
        target: Target::AtMost(0.12),
    },
    Claim {
        run: "vivaldi-planetlab",
        key: "later_median_relative_error",
        text: "Vivaldi median relative error, later PlanetLab slice",
        target: Target::AtMost(0.12),
    },
    Claim {
        run: "vivaldi-planetlab",
        key: "median_probes",
        text: "probes per node until its own median error is under 25 % (median)",
        target: Target::None,
    },
    Claim {
        run: "vivaldi-planetlab",
        key: "new_host_median_probes",
        text: "probes for a host joining the converged system (median; paper: under 10)",
        target: Target::AtMost(10.0),
    },
    Claim {
        run: "vivaldi-planetlab",
        key: "drift_median_relative_error",
        text: "first slice's coordinates against the later slice's RTTs (median relative error)",
        target: Target::None,
    },
    Claim {
        run: "routing-planetlab",
        key: "mean_cut_vs_random",
        text: "PlanetLab: mean latency cut of proximity routing at the default α against random",
        target: Target::AtLeast(80.0),
    },
    Claim {
        run: "routing-planetlab",
        key: "imbalance",
        text: "PlanetLab: max/mean load at the default α",
        target: Target::AtMost(1.5),
    },
    Claim {
        run: "routing-planetlab",
        key: "p99_cut_vs_random",
        text: "PlanetLab: p99 latency cut at the default α against random",
        target: Target::None,
    },
    Claim {
        run: "routing-planetlab",
        key: "network_mean_cut_vs_random",
        text: "PlanetLab: network part of the mean cut at the default α",
        target: Target::None,
    },
    Claim {
        run: "routing-planetlab",
        key: "nearest_network_mean_cut_vs_random",
        text: "PlanetLab: the most any routing could cut on this placement (every request to its nearest replica, network part, no queueing counted)",
        target: Target::None,
    },
    Claim {
        run: "routing-planetlab-sites",
        key: "mean_cut_vs_random",
        text: "PlanetLab, users at the replicas' 10 sites: mean latency cut at the default α against random",
        target: Target::AtLeast(80.0),
    },
    Claim {
        run: "routing-planetlab-sites",
        key: "imbalance",
        text: "PlanetLab, users at the replicas' 10 sites: max/mean load at the default α",
        target: Target::AtMost(1.5),
    },
    Claim {
        run: "routing-city",
        key: "mean_cut_vs_random",
        text: "city: mean latency cut at the default α against random",
        target: Target::AtLeast(80.0),
    },
    Claim {
        run: "routing-city",
        key: "imbalance",
        text: "city: max/mean load at the default α",
        target: Target::AtMost(1.5),
    },
    Claim {
        run: "routing-city",
        key: "nearest_network_mean_cut_vs_random",
        text: "city: the most any routing could cut on this placement (nearest replica, network part)",
        target: Target::None,
    },
    Claim {
        run: "placement-planetlab",
        key: "brume_over_optimum_mean",
        text: "PlanetLab small instances: Brume's placement p90 above the optimum (mean, %)",
        target: Target::AtMost(10.0),
    },
    Claim {
        run: "placement-planetlab",
        key: "follow_users_over_optimum_mean",
        text: "PlanetLab small instances: a follow-users Deployment at rest (Brume's placement, then the re-placement moves), p90 above the optimum (mean, %)",
        target: Target::AtMost(10.0),
    },
    Claim {
        run: "placement-city",
        key: "brume_over_optimum_mean",
        text: "city small instances: Brume's placement p90 above the optimum (mean, %)",
        target: Target::AtMost(10.0),
    },
    Claim {
        run: "placement-city",
        key: "follow_users_over_optimum_mean",
        text: "city small instances: a follow-users Deployment at rest, p90 above the optimum (mean, %)",
        target: Target::AtMost(10.0),
    },
    Claim {
        run: "placement-planetlab",
        key: "estimates_optimum_over_optimum_mean",
        text: "PlanetLab small instances: the optimum by what the nodes know (coordinates and measured nearest peers), p90 above the true optimum (mean, %): the estimates' error alone",
        target: Target::None,
    },
    Claim {
        run: "placement-planetlab",
        key: "brume_over_estimates_optimum_mean",
        text: "PlanetLab small instances: Brume's placement p90 above the optimum by what the nodes know (mean, %): the placement's own share",
        target: Target::None,
    },
    Claim {
        run: "placement-planetlab",
        key: "p90_cut_vs_kubernetes",
        text: "PlanetLab, 490 nodes: p90 user-to-replica RTT cut against Kubernetes' default placement",
        target: Target::None,
    },
    Claim {
        run: "placement-city",
        key: "p90_cut_vs_kubernetes",
        text: "city: p90 user-to-replica RTT cut against Kubernetes' default placement",
        target: Target::None,
    },
    Claim {
        run: "failures-city",
        key: "failed_requests_cut_vs_kubernetes",
        text: "city, node failures: failed requests cut by Brume's defaults against Kubernetes'",
        target: Target::None,
    },
    Claim {
        run: "failures-city",
        key: "brume_recovery_s",
        text: "city, node failures: failure to every replacement listed, Brume",
        target: Target::None,
    },
    Claim {
        run: "failures-city",
        key: "kubernetes_recovery_s",
        text: "city, node failures: failure to every replacement listed, Kubernetes' defaults",
        target: Target::None,
    },
    Claim {
        run: "users-moving-planetlab",
        key: "settled_mean_cut_vs_static",
        text: "PlanetLab, users moving: mean latency cut by following them against Brume's static placement",
        target: Target::None,
    },
    Claim {
        run: "users-moving-planetlab",
        key: "settled_attainment_gain_vs_static",
        text: "PlanetLab, users moving: requests within the SLO gained against the static placement (points)",
        target: Target::None,
    },
    Claim {
        run: "users-moving-planetlab",
        key: "settled_p90_cut_vs_kubernetes",
        text: "PlanetLab, users moving: p90 cut against Kubernetes' default",
        target: Target::None,
    },
    Claim {
        run: "users-moving-planetlab",
        key: "follow_s_max",
        text: "PlanetLab, users moving: from a commute's start to its last move done",
        target: Target::None,
    },
    Claim {
        run: "users-moving-city",
        key: "moves",
        text: "city, users moving: replica moves (the threshold holds them: no single move cuts the city's p90 by 5 ms and 20 %)",
        target: Target::None,
    },
    Claim {
        run: "load-city",
        key: "attainment_gain_vs_hpa",
        text: "city, a day of load: requests within the SLO, latency autoscaler minus HPA (points)",
        target: Target::None,
    },
    Claim {
        run: "load-city",
        key: "replica_hours_vs_hpa",
        text: "city, a day of load: replica-hours of the latency autoscaler against the HPA's (%)",
        target: Target::None,
    },
    Claim {
        run: "load-city",
        key: "brume_attainment",
        text: "city, a day of load: requests within the SLO (objective: 90 %), latency autoscaler",
        target: Target::AtLeast(90.0),
    },
    Claim {
        run: "load-planetlab",
        key: "attainment_gain_vs_hpa",
        text: "PlanetLab, a day of load: requests within the SLO, latency autoscaler minus HPA (points)",
        target: Target::None,
    },
    Claim {
        run: "load-planetlab",
        key: "brume_attainment",
        text: "PlanetLab, a day of load: requests within the SLO (objective: 90 %), latency autoscaler",
        target: Target::AtLeast(90.0),
    },
];

/// One finished run: its report and how long it took.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The run.
    pub run: Run,
    /// What it produced.
    pub report: Report,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The command that reproduces it.
    pub command: String,
}

fn verdict(value: f64, target: Target) -> (String, &'static str) {
    match target {
        Target::None => ("—".into(), ""),
        Target::AtLeast(t) => (
            format!("≥ {t}"),
            if value >= t { "met" } else { "**missed**" },
        ),
        Target::AtMost(t) => (
            format!("≤ {t}"),
            if value <= t { "met" } else { "**missed**" },
        ),
    }
}

/// The document, from the finished runs (runs missing from `done` are listed as not run).
pub fn markdown(done: &[Finished], scale_target_seconds: f64) -> String {
    let mut out = String::new();
    let find = |name: &str| done.iter().find(|f| f.run.name == name);
    out.push_str(
        "# Brume evaluation\n\n\
         Generated by `cargo run --release -- sim evaluation` (DESIGN §9) from the runs below; \
         do not edit by hand. Every figure comes from a `brume sim` run that calls the same \
         routing, placement and Vivaldi code as the live system; each claim gives the command \
         that reproduces it, and the same seed gives the same figures. The data set is the \
         measured 490-node PlanetLab RTT matrix beside the repository (`../shared/data`).\n\n\
         ## Claims\n\n\
         | claim | measured | target | | run |\n|---|---|---|---|---|\n",
    );
    for claim in CLAIMS {
        let Some(f) = find(claim.run) else {
            let _ = writeln!(out, "| {} | not run | | | {} |", claim.text, claim.run);
            continue;
        };
        let Some(value) = f.report.headline(claim.key) else {
            let _ = writeln!(out, "| {} | not reported | | | {} |", claim.text, claim.run);
            continue;
        };
        let unit = f
            .report
            .headline
            .iter()
            .find(|h| h.key == claim.key)
            .map_or("", |h| h.unit.as_str());
        let (target, met) = verdict(value, claim.target);
        let _ = writeln!(
            out,
            "| {} | {value:.3} {unit} | {target} | {met} | [{}](#{}) |",
            claim.text, claim.run, claim.run
        );
    }
    if let Some(f) = find("scale-city") {
        let rate = f.report.requests as f64 / f.seconds.max(1e-9);
        let met = if f.seconds <= scale_target_seconds {
            "met"
        } else {
            "**missed**"
        };
        let _ = writeln!(
            out,
            "| 10,000 nodes, 1,000,000 users, {} requests, wall clock on this 2-core machine | \
             {:.1} s ({rate:.0} requests/s) | ≤ {scale_target_seconds} s | {met} | [scale-city](#scale-city) |",
            f.report.requests, f.seconds
        );
    }
    out.push_str("\n## Runs\n");
    for f in done {
        let r = &f.report;
        let _ = write!(
            out,
            "\n### {}\n\n{} ({} on {}, {} nodes, seed {}; {:.1} s).\n\n```sh\n{}\n```\n\n{}\n",
            f.run.name,
            capitalise(f.run.about),
            r.scenario,
            r.topology,
            r.nodes,
            r.seed,
            f.seconds,
            f.command,
            r.table.markdown()
        );
        for figure in &r.figures {
            let _ = writeln!(
                out,
                "![{}](evaluation/{}/{})\n",
                figure.title, f.run.name, figure.file
            );
        }
        let _ = writeln!(
            out,
            "Full results: [evaluation/{0}/{1}.json](evaluation/{0}/{1}.json).",
            f.run.name, r.scenario
        );
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claim_names_a_run_of_the_suite() {
        for claim in CLAIMS {
            assert!(
                SUITE.iter().any(|r| r.name == claim.run),
                "{} is not a run",
                claim.run
            );
        }
        let run = &SUITE[0];
        let command = run.command("../shared/data", "docs/evaluation/x");
        assert!(
            command.starts_with("cargo run --release -- sim --scenario vivaldi")
                && command.contains("../shared/data/planetlab-490-rtt-ms.tsv")
                && command.contains("--out docs/evaluation/x"),
            "{command}"
        );
        assert_eq!(verdict(0.1, Target::AtMost(0.12)).1, "met");
        assert_eq!(verdict(70.0, Target::AtLeast(80.0)).1, "**missed**");
    }
}
