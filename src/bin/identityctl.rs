//! identityctl: the command-line client. `identityctl call <method> '<json>'` calls any method of
//! the API over tarpc (the method table is the same one the server uses), printing JSON.

use clap::{Parser, Subcommand};
use identityd::api::*;
use identityd::client::{IdentityClient, connect, ctx};
use identityd::transport::http::ToJson;

#[derive(Parser)]
#[command(
    name = "identityctl",
    version,
    about = "Command-line client for identityd"
)]
struct Cli {
    /// tarpc address of the server
    #[arg(
        long,
        env = "IDENTITYD_ADDR",
        default_value = "127.0.0.1:7700",
        global = true
    )]
    addr: String,
    /// Credential: a system key or an access token
    #[arg(long, env = "IDENTITYD_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Read the credential from this file (e.g. snapshots/system.key)
    #[arg(long, global = true)]
    token_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Round-trip a no-op request and print the latency.
    Ping,
    /// List the methods that `call` accepts, with their REST paths.
    Methods,
    /// Call a method with a JSON request body, e.g. `call user_get '{"user_id":"a@b.io","domain_id":"domain-…"}'`.
    Call {
        /// Method name, e.g. user_create (see `identityctl methods`)
        method: String,
        /// Request as JSON (default `{}`)
        #[arg(default_value = "{}")]
        json: String,
    },
}

macro_rules! dispatch {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        async fn call(c: &IdentityClient, cred: Credential, method: &str, json: &str) -> anyhow::Result<Result<serde_json::Value, ApiError>> {
            match method {
                $(stringify!($name) => {
                    let req: $req = serde_json::from_str(json)
                        .map_err(|e| anyhow::anyhow!("request for {}: {e}", stringify!($name)))?;
                    Ok(c.$name(ctx(), cred, req).await?.map(|r| r.to_json()))
                })*
                other => anyhow::bail!("unknown method {other:?}; see `identityctl methods`"),
            }
        }
    };
}
identityd::with_methods!(dispatch);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("identityctl: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cred = match (&cli.token, &cli.token_file) {
        (Some(t), _) => Credential::bearer(t.trim()),
        (None, Some(f)) => Credential::bearer(std::fs::read_to_string(f)?.trim()),
        (None, None) => Credential::none(),
    };
    match cli.command {
        Cmd::Methods => {
            for (name, path) in identityd::api::service::METHODS {
                println!("{name:<28} POST {path}");
            }
        }
        Cmd::Ping => {
            let c = connect(&cli.addr).await?;
            let t = std::time::Instant::now();
            c.ping(ctx()).await?;
            println!("pong from {} in {:?}", cli.addr, t.elapsed());
        }
        Cmd::Call { method, json } => {
            let c = connect(&cli.addr).await?;
            match call(&c, cred, &method, &json).await? {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
                Err(e) => {
                    eprintln!("{}: {}", e.code, e.message);
                    std::process::exit(2);
                }
            }
        }
    }
    Ok(())
}
