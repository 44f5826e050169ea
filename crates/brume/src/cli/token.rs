//! `brume token create`: a new join token, stored as a Kubernetes bootstrap-token Secret in
//! kube-system (so `kubectl get secrets -n kube-system` lists it and deleting the Secret revokes
//! it), and printed with the hash of the cluster CA that agents check before they use it.

use std::time::Duration;

use anyhow::Context;
use brume_apiserver::tokens::{NAMESPACE, bootstrap_secret, new_bootstrap_token};
use http::Method;

use super::client::Api;

/// `brume token ...`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a join token and print it (with the join command).
    Create(CreateArgs),
}

/// Arguments of `brume token create`.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// How long the token works: `90s`, `30m`, `24h`, `7d`; `0` for ever.
    #[arg(long, default_value = "24h")]
    ttl: String,
    /// What the token is for, kept in the Secret.
    #[arg(long, default_value = "created by brume token create")]
    description: String,
}

/// Parses `90s`, `30m`, `24h`, `7d` or `0`.
fn parse_ttl(s: &str) -> anyhow::Result<Option<Duration>> {
    let s = s.trim();
    if s == "0" {
        return Ok(None);
    }
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("--ttl {s:?}: expected a number and a unit, such as 24h"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            anyhow::bail!("--ttl {s:?}: the unit must be s, m, h or d (such as 24h), or 0 for ever")
        }
    };
    anyhow::ensure!(
        n > 0,
        "--ttl {s:?} would expire at once: use 0 for a token that never expires"
    );
    Ok(Some(Duration::from_secs(n.saturating_mul(secs))))
}

/// Runs `brume token ...`.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Create(args) = cmd;
    let ttl = parse_ttl(&args.ttl)?;
    let api = Api::connect().await?;
    let ca = api.ca_der.as_deref().context(
        "the kubeconfig names no certificate-authority-data: agents need the CA's hash to join",
    )?;
    let ca_sha256 = brume_agent::join::sha256_hex(ca);
    let (id, secret) = new_bootstrap_token();
    let expiration = ttl.map(|d| chrono::Utc::now() + d);
    let obj = bootstrap_secret(&id, &secret, expiration, &args.description);
    api.request(
        Method::POST,
        &format!("/api/v1/namespaces/{NAMESPACE}/secrets"),
        Some(("application/json", serde_json::to_vec(&obj)?)),
        None,
    )
    .await
    .context("storing the join token")?;
    let token = format!("{ca_sha256}::{id}.{secret}");
    println!("{token}");
    eprintln!(
        "join a node with: brume agent --server {} --token {token} --name <node> --address <its IP>",
        api.server.trim_end_matches('/')
    );
    match expiration {
        Some(t) => eprintln!("the token expires at {}", t.to_rfc3339()),
        None => eprintln!(
            "the token never expires; revoke it with: kubectl delete secret -n {NAMESPACE} bootstrap-token-{id}"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;
    use std::time::Duration;

    #[test]
    fn ttls_parse_or_explain() {
        assert_eq!(parse_ttl("24h").unwrap(), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_ttl("90s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("7d").unwrap(), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_ttl("0").unwrap(), None);
        assert!(parse_ttl("24").unwrap_err().to_string().contains("unit"));
        assert!(parse_ttl("h").unwrap_err().to_string().contains("number"));
        assert!(
            parse_ttl("0h")
                .unwrap_err()
                .to_string()
                .contains("0 for a token")
        );
    }
}
