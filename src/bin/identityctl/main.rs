//! identityctl: the command-line client of identityd, over tarpc.
//!
//! Every subcommand that maps to an API method builds the method's JSON request from its flags
//! and dispatches it through [`call`], which is generated from the method table (the same one
//! the server uses); `identityctl call <method> '<json>'` reaches any method directly.

/// An API method's name, checked at compile time against the client generated from the table.
macro_rules! method {
    ($name:ident) => {{
        let _ = <identityd::client::IdentityClient>::$name;
        stringify!($name)
    }};
}

mod bulk;
mod output;
mod store;

use anyhow::Context as _;
use clap::{Args, CommandFactory, Parser, Subcommand};
use identityd::api::*;
use identityd::client::{IdentityClient, connect, ctx};
use identityd::transport::http::ToJson;
use output::Format;
use serde_json::{Value as Json, json};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;

const DEFAULT_ADDR: &str = "127.0.0.1:7700";

#[derive(Parser)]
#[command(
    name = "identityctl",
    version,
    about = "Command-line client for identityd",
    long_about = "Command-line client for identityd (Cloudforet identity User v1 / UserProfile v2), \
        over tarpc.\n\n\
        The credential is, in order: --token, $IDENTITYD_TOKEN, --token-file, $IDENTITYD_TOKEN_FILE, \
        then the access token saved by `identityctl login`. A system key (snapshots/system.key) \
        is a credential too. The server address and, for user commands, the domain default to \
        the ones saved by `login`.\n\n\
        Exit status: 0 on success, 2 when the API answers an error (printed as `ERROR_CODE: \
        message`), 1 on any other failure.",
    after_help = "Examples:\n  \
        identityctl --token-file snapshots/system.key domain create acme --admin-user-id admin@acme.io\n  \
        identityctl login --domain-id domain-0123456789ab --user-id admin@acme.io\n  \
        identityctl user create ann@acme.io --name Ann --tag team=core --ask-password\n  \
        identityctl user list -o yaml\n  \
        identityctl user export > users.jsonl && identityctl user import users.jsonl\n  \
        identityctl call user_get '{\"user_id\":\"ann@acme.io\",\"domain_id\":\"domain-0123456789ab\"}'"
)]
struct Cli {
    /// tarpc address of the server [default: the address saved by `login`, else 127.0.0.1:7700]
    #[arg(
        long,
        env = "IDENTITYD_ADDR",
        global = true,
        help_heading = "Global options"
    )]
    addr: Option<String>,
    /// Credential: a system key or an access token
    #[arg(
        long,
        env = "IDENTITYD_TOKEN",
        global = true,
        hide_env_values = true,
        help_heading = "Global options"
    )]
    token: Option<String>,
    /// Read the credential from this file (e.g. snapshots/system.key)
    #[arg(
        long,
        env = "IDENTITYD_TOKEN_FILE",
        global = true,
        help_heading = "Global options"
    )]
    token_file: Option<PathBuf>,
    /// Where `login` keeps its session [default: $XDG_CONFIG_HOME/identityctl, else ~/.config/identityctl]
    #[arg(
        long,
        env = "IDENTITYCTL_CONFIG_DIR",
        global = true,
        help_heading = "Global options"
    )]
    config_dir: Option<PathBuf>,
    /// Output format [default: table; json for `call`]
    #[arg(
        short,
        long,
        value_enum,
        env = "IDENTITYCTL_OUTPUT",
        global = true,
        help_heading = "Global options"
    )]
    output: Option<Format>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Domains (SYSTEM credential): create, get, list, enable, disable, delete
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Users of a domain (User v1): create, update, get, list, …, import, export
    #[command(subcommand)]
    User(UserCmd),
    /// Log in with a user id and password; saves the access and refresh tokens (file mode 0600)
    Login(LoginArgs),
    /// Exchange the saved refresh token for new tokens
    Refresh,
    /// Forget the saved session (tokens, domain, address)
    Logout,
    /// Call any method with a JSON request, e.g. `call user_get '{"user_id":"a@b.io","domain_id":"domain-…"}'`
    Call(CallArgs),
    /// List the methods that `call` accepts, with their REST paths
    Methods,
    /// Round-trip a no-op request and print the latency
    Ping,
    /// Print a shell completion script, e.g. `identityctl completions bash > /etc/bash_completion.d/identityctl`
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct CallArgs {
    /// Method name, e.g. user_create (see `identityctl methods`)
    method: String,
    /// Request as JSON; `-` reads it from standard input
    #[arg(default_value = "{}")]
    json: String,
    /// Print tokens and other secrets in the answer instead of `***`
    #[arg(long)]
    show_secrets: bool,
}

#[derive(Args)]
struct LoginArgs {
    /// Domain to log in to [default: the saved one]
    #[arg(long, env = "IDENTITYD_DOMAIN_ID")]
    domain_id: Option<String>,
    /// User id [default: the saved one]
    #[arg(long)]
    user_id: Option<String>,
    /// Read the password from standard input instead of prompting
    #[arg(long)]
    password_stdin: bool,
    /// Access-token lifetime in seconds (the server caps it)
    #[arg(long)]
    timeout: Option<u64>,
}

/// `--domain-id` of user commands.
#[derive(Args, Clone)]
struct DomainArg {
    /// Domain of the user(s) [default: the domain saved by `login`]
    #[arg(long, env = "IDENTITYD_DOMAIN_ID")]
    domain_id: Option<String>,
}

#[derive(Subcommand)]
enum DomainCmd {
    /// Create a domain, optionally with its first admin (a LOCAL user with DOMAIN_ADMIN)
    Create {
        /// Unique name, 1 to 40 characters
        name: String,
        /// Tag KEY=VALUE (repeatable)
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// User id of the first admin; its password is prompted for (or read from stdin)
        #[arg(long)]
        admin_user_id: Option<String>,
        /// The admin's name
        #[arg(long, requires = "admin_user_id")]
        admin_name: Option<String>,
        /// The admin's e-mail
        #[arg(long, requires = "admin_user_id")]
        admin_email: Option<String>,
        /// Read the admin's password from standard input instead of prompting
        #[arg(long, requires = "admin_user_id")]
        admin_password_stdin: bool,
    },
    /// Show a domain
    Get {
        /// Domain id (domain-…)
        domain_id: String,
    },
    /// List domains
    List {
        /// Only the domain with this name
        #[arg(long)]
        name: Option<String>,
        /// Only domains in this state
        #[arg(long, value_parser = ["ENABLED", "DISABLED"])]
        state: Option<String>,
    },
    /// Enable a domain
    Enable {
        /// Domain id
        domain_id: String,
    },
    /// Disable a domain (every call but Domain.* is then refused)
    Disable {
        /// Domain id
        domain_id: String,
    },
    /// Delete a domain with everything in it
    Delete {
        /// Domain id
        domain_id: String,
    },
}

/// Password flags of user create/update.
#[derive(Args)]
struct PasswordArgs {
    /// Prompt for the password (without echo)
    #[arg(long, conflicts_with = "password_stdin")]
    ask_password: bool,
    /// Read the password from standard input
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user (a LOCAL USER needs a password unless --reset-password)
    Create {
        /// User id (an e-mail address for LOCAL USER accounts)
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
        #[command(flatten)]
        password: PasswordArgs,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// E-mail address
        #[arg(long)]
        email: Option<String>,
        /// Account kind
        #[arg(long, value_parser = ["USER", "API_USER"])]
        user_type: Option<String>,
        /// Where the password lives
        #[arg(long, value_parser = ["LOCAL", "EXTERNAL"])]
        backend: Option<String>,
        /// Language, e.g. en
        #[arg(long)]
        language: Option<String>,
        /// IANA time zone, e.g. Asia/Seoul
        #[arg(long)]
        timezone: Option<String>,
        /// Tag KEY=VALUE (repeatable)
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Mail the user a password-reset link instead of setting a password (needs --email)
        #[arg(long)]
        reset_password: bool,
    },
    /// Update a user; only the given fields change (--tag replaces all tags)
    Update {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
        #[command(flatten)]
        password: PasswordArgs,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// E-mail address (resets email_verified)
        #[arg(long)]
        email: Option<String>,
        /// Language
        #[arg(long)]
        language: Option<String>,
        /// IANA time zone
        #[arg(long)]
        timezone: Option<String>,
        /// Tag KEY=VALUE (repeatable; replaces every tag)
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Remove every tag
        #[arg(long, conflicts_with = "tags")]
        clear_tags: bool,
        /// Start a password reset (needs a verified e-mail)
        #[arg(long)]
        reset_password: bool,
    },
    /// Show a user
    Get {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
        /// Only these fields (comma-separated)
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// List users (filters are exact matches; --query takes the full query language)
    List {
        #[command(flatten)]
        domain: DomainArg,
        /// Filter: user id
        #[arg(long)]
        user_id: Option<String>,
        /// Filter: name
        #[arg(long)]
        name: Option<String>,
        /// Filter: state
        #[arg(long, value_parser = ["ENABLED", "DISABLED", "PENDING"])]
        state: Option<String>,
        /// Filter: e-mail
        #[arg(long)]
        email: Option<String>,
        /// Filter: user type
        #[arg(long, value_parser = ["USER", "API_USER"])]
        user_type: Option<String>,
        /// Filter: backend
        #[arg(long, value_parser = ["LOCAL", "EXTERNAL"])]
        backend: Option<String>,
        /// Query as JSON, e.g. '{"filter":[{"k":"tags.team","v":"core","o":"eq"}]}'
        #[arg(long)]
        query: Option<String>,
        /// Only these fields (comma-separated)
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// First row, 1-based (with --limit)
        #[arg(long)]
        start: Option<u64>,
        /// At most this many rows
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Enable a user
    Enable {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// Disable a user
    Disable {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// Delete a user
    Delete {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// Add required actions (kept with the existing ones)
    SetRequiredActions {
        /// User id
        user_id: String,
        /// Actions to require at next login
        #[arg(required = true, value_parser = ["UPDATE_PASSWORD", "ENFORCE_MFA"])]
        actions: Vec<String>,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// Refresh an EXTERNAL user from its directory (a LOCAL user is returned as is)
    Sync {
        /// User id
        user_id: String,
        #[command(flatten)]
        domain: DomainArg,
    },
    /// Create users from a JSON Lines file (one user_create request per line)
    #[command(
        long_about = "Create users from a JSON Lines file: each line is a user_create \
        request (user_id, password?, name?, email?, user_type?, backend?, language?, timezone?, \
        tags?, reset_password?), so a file written by `user export` is accepted; fields that \
        user_create does not take are ignored, except `state: DISABLED` (the user is disabled \
        after creation) and `required_actions` (set after creation). The domain is --domain-id \
        (or the saved one), else each line's domain_id. Exported users have no password: add \
        one per line, or `reset_password: true` with an e-mail. Lines are sent with bounded \
        concurrency; failures are reported with their line numbers and the exit status is 2."
    )]
    Import {
        /// JSON Lines file; `-` reads standard input
        file: PathBuf,
        #[command(flatten)]
        domain: DomainArg,
        /// Requests in flight at once
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
        concurrency: u16,
    },
    /// Write every user of the domain to standard output as JSON Lines (no passwords)
    Export {
        #[command(flatten)]
        domain: DomainArg,
        /// Users fetched per user_list call
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        page_size: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Dispatch through the method table

macro_rules! dispatch {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        /// Calls `method` with a JSON request; the answer as the HTTP gateway would write it.
        async fn call(c: &IdentityClient, cred: Credential, method: &str, req: Json) -> Result<Json, Fail> {
            match method {
                $(stringify!($name) => {
                    let req: $req = serde_json::from_value(req).map_err(|e| {
                        Fail::Other(anyhow::anyhow!("request for {}: {e}", stringify!($name)))
                    })?;
                    let answer = c.$name(ctx(), cred, req).await.map_err(|e| {
                        Fail::Other(anyhow::anyhow!("{}: {e}", stringify!($name)))
                    })?;
                    answer.map(|r| r.to_json()).map_err(Fail::Api)
                })*
                other => Err(Fail::Other(anyhow::anyhow!(
                    "unknown method {other:?}; see `identityctl methods`"
                ))),
            }
        }
    };
}
identityd::with_methods!(dispatch);

/// Why a command failed, which decides the exit status.
enum Fail {
    /// The API answered an error: `CODE: message`, exit 2.
    Api(ApiError),
    /// Anything else: exit 1.
    Other(anyhow::Error),
    /// Already reported; exit with this status.
    Exit(i32),
}

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Other(e.into())
    }
}

/// A JSON object of the given fields, leaving out the nulls.
fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Object(
        fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// `KEY=VALUE` flags as a tags object.
fn tags(list: &[String]) -> anyhow::Result<Json> {
    let mut m = serde_json::Map::new();
    for t in list {
        let (k, v) = t
            .split_once('=')
            .with_context(|| format!("tag {t:?} is not KEY=VALUE"))?;
        m.insert(k.to_owned(), Json::String(v.to_owned()));
    }
    Ok(Json::Object(m))
}

/// Reads a secret from standard input (the whole input, without the final line break).
fn secret_from_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input")?;
    let s = s.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!s.is_empty(), "standard input is empty");
    Ok(s)
}

/// Prompts on the terminal without echo.
fn prompt_secret(prompt: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(prompt)
        .context("cannot prompt for a password (no terminal?); use the --…-stdin flag")
}

impl PasswordArgs {
    fn read(&self, user_id: &str) -> anyhow::Result<Json> {
        Ok(if self.password_stdin {
            Json::String(secret_from_stdin()?)
        } else if self.ask_password {
            Json::String(prompt_secret(&format!("Password for {user_id}: "))?)
        } else {
            Json::Null
        })
    }
}

/// Everything a command needs: resolved flags, the saved session, a lazy connection.
struct Env {
    addr: String,
    cred: Credential,
    output: Option<Format>,
    config_dir: PathBuf,
    session: store::Session,
    client: Option<IdentityClient>,
}

impl Env {
    fn new(cli: &Cli) -> anyhow::Result<Env> {
        let config_dir = store::dir(cli.config_dir.as_deref())?;
        let session = store::load(&config_dir)?;
        let addr = cli
            .addr
            .clone()
            .or_else(|| session.addr.clone())
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let cred = match (&cli.token, &cli.token_file, &session.access_token) {
            (Some(t), _, _) => Credential::bearer(t.trim()),
            (None, Some(f), _) => Credential::bearer(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading the token file {}", f.display()))?
                    .trim(),
            ),
            (None, None, Some(t)) => Credential::bearer(t.expose()),
            (None, None, None) => Credential::none(),
        };
        Ok(Env {
            addr,
            cred,
            output: cli.output,
            config_dir,
            session,
            client: None,
        })
    }

    async fn client(&mut self) -> anyhow::Result<IdentityClient> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// Calls a method with the command's credential.
    async fn api(&mut self, method: &str, req: Json) -> Result<Json, Fail> {
        let c = self.client().await?;
        call(&c, self.cred.clone(), method, req).await
    }

    fn domain(&self, arg: &DomainArg) -> anyhow::Result<String> {
        arg.domain_id
            .clone()
            .or_else(|| self.session.domain_id.clone())
            .context("no domain: pass --domain-id (or $IDENTITYD_DOMAIN_ID), or log in first")
    }

    /// Prints an answer in the chosen format (table by default), secrets redacted.
    fn print(&self, mut v: Json) -> anyhow::Result<()> {
        output::redact(&mut v);
        self.print_raw(&v, self.output.unwrap_or(Format::Table))
    }

    fn print_raw(&self, v: &Json, format: Format) -> anyhow::Result<()> {
        let text = output::render(v, format);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if format == Format::Table {
            let shown = v["results"].as_array().map(Vec::len);
            if let (Some(shown), Some(total)) = (shown, v["total_count"].as_u64())
                && total as usize != shown
            {
                eprintln!("({shown} of {total} shown)");
            }
        }
        out.flush()?;
        Ok(())
    }
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("identityctl: error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(()) => 0,
        Err(Fail::Api(e)) => {
            eprintln!("{}: {}", e.code, e.message);
            2
        }
        Err(Fail::Other(e)) => {
            eprintln!("identityctl: error: {e:#}");
            1
        }
        Err(Fail::Exit(code)) => code,
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<(), Fail> {
    // Commands that need no server, no credential and no session.
    match &cli.command {
        Cmd::Methods => {
            for (name, path) in identityd::api::service::METHODS {
                println!("{name:<28} POST {path}");
            }
            return Ok(());
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "identityctl",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        _ => {}
    }
    let mut env = Env::new(&cli)?;
    match cli.command {
        Cmd::Methods | Cmd::Completions { .. } => Ok(()),
        Cmd::Ping => {
            let c = env.client().await?;
            let t = std::time::Instant::now();
            c.ping(ctx()).await?;
            println!("pong from {} in {:?}", env.addr, t.elapsed());
            Ok(())
        }
        Cmd::Call(a) => {
            let text = if a.json == "-" {
                secret_from_stdin()?
            } else {
                a.json.clone()
            };
            let req: Json = serde_json::from_str(&text).context("the request is not JSON")?;
            let mut v = env.api(&a.method, req).await?;
            if !a.show_secrets {
                output::redact(&mut v);
            }
            env.print_raw(&v, env.output.unwrap_or(Format::Json))?;
            Ok(())
        }
        Cmd::Login(a) => login(&mut env, a).await,
        Cmd::Refresh => refresh(&mut env).await,
        Cmd::Logout => {
            if store::remove(&env.config_dir)? {
                eprintln!("Logged out.");
            } else {
                eprintln!("Not logged in.");
            }
            Ok(())
        }
        Cmd::Domain(d) => domain(&mut env, d).await,
        Cmd::User(u) => user(&mut env, u).await,
    }
}

async fn login(env: &mut Env, a: LoginArgs) -> Result<(), Fail> {
    let domain_id = a
        .domain_id
        .or_else(|| env.session.domain_id.clone())
        .context("pass --domain-id")?;
    let user_id = a
        .user_id
        .or_else(|| env.session.user_id.clone())
        .context("pass --user-id")?;
    let password = if a.password_stdin {
        secret_from_stdin()?
    } else {
        prompt_secret(&format!("Password for {user_id}: "))?
    };
    let req = obj([
        ("domain_id", json!(domain_id)),
        (
            "credentials",
            json!({"user_id": user_id, "password": password}),
        ),
        ("timeout", json!(a.timeout)),
    ]);
    let c = env.client().await?;
    let tokens = call(&c, Credential::none(), method!(token_issue), req).await?;
    let session = store::Session {
        addr: Some(env.addr.clone()),
        domain_id: Some(domain_id.clone()),
        user_id: Some(user_id.clone()),
        access_token: tokens["access_token"].as_str().map(Secret::from),
        refresh_token: tokens["refresh_token"].as_str().map(Secret::from),
    };
    let path = store::save(&env.config_dir, &session)?;
    eprintln!(
        "Logged in as {user_id} in {domain_id}; tokens saved to {}",
        path.display()
    );
    Ok(())
}

async fn refresh(env: &mut Env) -> Result<(), Fail> {
    let token = env
        .session
        .refresh_token
        .clone()
        .context("no saved refresh token; log in first")?;
    let c = env.client().await?;
    let req = json!({"refresh_token": token.expose()});
    let tokens = call(&c, Credential::none(), method!(token_refresh), req).await?;
    let mut session = env.session.clone();
    session.access_token = tokens["access_token"].as_str().map(Secret::from);
    session.refresh_token = tokens["refresh_token"].as_str().map(Secret::from);
    let path = store::save(&env.config_dir, &session)?;
    eprintln!("Tokens refreshed and saved to {}", path.display());
    Ok(())
}

async fn domain(env: &mut Env, cmd: DomainCmd) -> Result<(), Fail> {
    let (method, req) = match cmd {
        DomainCmd::Create {
            name,
            tags: t,
            admin_user_id,
            admin_name,
            admin_email,
            admin_password_stdin,
        } => {
            let admin = match admin_user_id {
                None => Json::Null,
                Some(uid) => {
                    let password = if admin_password_stdin {
                        secret_from_stdin()?
                    } else {
                        prompt_secret(&format!("Password for {uid}: "))?
                    };
                    obj([
                        ("user_id", json!(uid)),
                        ("password", json!(password)),
                        ("name", json!(admin_name)),
                        ("email", json!(admin_email)),
                    ])
                }
            };
            let t = if t.is_empty() { Json::Null } else { tags(&t)? };
            (
                method!(domain_create),
                obj([("name", json!(name)), ("tags", t), ("admin", admin)]),
            )
        }
        DomainCmd::Get { domain_id } => (method!(domain_get), json!({"domain_id": domain_id})),
        DomainCmd::List { name, state } => (
            method!(domain_list),
            obj([("name", json!(name)), ("state", json!(state))]),
        ),
        DomainCmd::Enable { domain_id } => {
            (method!(domain_enable), json!({"domain_id": domain_id}))
        }
        DomainCmd::Disable { domain_id } => {
            (method!(domain_disable), json!({"domain_id": domain_id}))
        }
        DomainCmd::Delete { domain_id } => {
            (method!(domain_delete), json!({"domain_id": domain_id}))
        }
    };
    let v = env.api(method, req).await?;
    env.print(v)?;
    Ok(())
}

async fn user(env: &mut Env, cmd: UserCmd) -> Result<(), Fail> {
    let (method, req) = match cmd {
        UserCmd::Create {
            user_id,
            domain,
            password,
            name,
            email,
            user_type,
            backend,
            language,
            timezone,
            tags: t,
            reset_password,
        } => {
            let t = if t.is_empty() { Json::Null } else { tags(&t)? };
            (
                method!(user_create),
                obj([
                    ("domain_id", json!(env.domain(&domain)?)),
                    ("password", password.read(&user_id)?),
                    ("user_id", json!(user_id)),
                    ("name", json!(name)),
                    ("email", json!(email)),
                    ("user_type", json!(user_type)),
                    ("backend", json!(backend)),
                    ("language", json!(language)),
                    ("timezone", json!(timezone)),
                    ("tags", t),
                    ("reset_password", json!(reset_password.then_some(true))),
                ]),
            )
        }
        UserCmd::Update {
            user_id,
            domain,
            password,
            name,
            email,
            language,
            timezone,
            tags: t,
            clear_tags,
            reset_password,
        } => {
            let t = if clear_tags {
                json!({})
            } else if t.is_empty() {
                Json::Null
            } else {
                tags(&t)?
            };
            (
                method!(user_update),
                obj([
                    ("domain_id", json!(env.domain(&domain)?)),
                    ("password", password.read(&user_id)?),
                    ("user_id", json!(user_id)),
                    ("name", json!(name)),
                    ("email", json!(email)),
                    ("language", json!(language)),
                    ("timezone", json!(timezone)),
                    ("tags", t),
                    ("reset_password", json!(reset_password.then_some(true))),
                ]),
            )
        }
        UserCmd::Get {
            user_id,
            domain,
            only,
        } => (
            method!(user_get),
            obj([
                ("user_id", json!(user_id)),
                ("domain_id", json!(env.domain(&domain)?)),
                (
                    "only",
                    if only.is_empty() {
                        Json::Null
                    } else {
                        json!(only)
                    },
                ),
            ]),
        ),
        UserCmd::List {
            domain,
            user_id,
            name,
            state,
            email,
            user_type,
            backend,
            query,
            only,
            start,
            limit,
        } => {
            let mut q = match query {
                Some(text) => serde_json::from_str::<Json>(&text).context("--query is not JSON")?,
                None => json!({}),
            };
            let Some(qm) = q.as_object_mut() else {
                return Err(Fail::Other(anyhow::anyhow!(
                    "--query must be a JSON object"
                )));
            };
            if !only.is_empty() {
                qm.insert("only".into(), json!(only));
            }
            if start.is_some() || limit.is_some() {
                qm.insert(
                    "page".into(),
                    obj([("start", json!(start)), ("limit", json!(limit))]),
                );
            }
            let q = if qm.is_empty() { Json::Null } else { q };
            (
                method!(user_list),
                obj([
                    ("domain_id", json!(env.domain(&domain)?)),
                    ("query", q),
                    ("user_id", json!(user_id)),
                    ("name", json!(name)),
                    ("state", json!(state)),
                    ("email", json!(email)),
                    ("user_type", json!(user_type)),
                    ("backend", json!(backend)),
                ]),
            )
        }
        UserCmd::Enable { user_id, domain } => (
            method!(user_enable),
            json!({"user_id": user_id, "domain_id": env.domain(&domain)?}),
        ),
        UserCmd::Disable { user_id, domain } => (
            method!(user_disable),
            json!({"user_id": user_id, "domain_id": env.domain(&domain)?}),
        ),
        UserCmd::Delete { user_id, domain } => (
            method!(user_delete),
            json!({"user_id": user_id, "domain_id": env.domain(&domain)?}),
        ),
        UserCmd::Sync { user_id, domain } => (
            method!(user_sync),
            json!({"user_id": user_id, "domain_id": env.domain(&domain)?}),
        ),
        UserCmd::SetRequiredActions {
            user_id,
            actions,
            domain,
        } => (
            method!(user_set_required_actions),
            json!({"user_id": user_id, "actions": actions, "domain_id": env.domain(&domain)?}),
        ),
        UserCmd::Import {
            file,
            domain,
            concurrency,
        } => {
            let domain_id = domain
                .domain_id
                .clone()
                .or_else(|| env.session.domain_id.clone());
            return bulk::import(env, &file, domain_id, usize::from(concurrency)).await;
        }
        UserCmd::Export { domain, page_size } => {
            let domain_id = env.domain(&domain)?;
            return bulk::export(env, &domain_id, page_size).await;
        }
    };
    let v = env.api(method, req).await?;
    env.print(v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_and_argument_is_documented() {
        fn walk(cmd: &clap::Command, path: &str) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(a.get_help().is_some(), "{path} --{id} has no help");
            }
            for s in cmd.get_subcommands() {
                let p = format!("{path} {}", s.get_name());
                assert!(s.get_about().is_some(), "{p} has no help");
                walk(s, &p);
            }
        }
        walk(&Cli::command(), "identityctl");
    }

    #[test]
    fn tags_parse_key_value() {
        assert_eq!(
            tags(&["a=1".into(), "b=x=y".into()]).unwrap(),
            json!({"a": "1", "b": "x=y"})
        );
        assert!(tags(&["novalue".into()]).is_err());
    }
}
