//! `user import` and `user export`: users as JSON Lines, with a progress bar on standard error
//! (shown only on a terminal).

use super::{Env, Fail, call};
use anyhow::Context as _;
use futures::StreamExt as _;
use identityd::api::{ApiError, Credential};
use identityd::client::IdentityClient;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;

fn progress(len: Option<u64>, verb: &str) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    let template = if len.is_some() {
        format!("{verb} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)")
    } else {
        format!("{verb} {{pos}} ({{per_sec}})")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb
}

/// Why one line was not imported.
enum LineError {
    /// Not a JSON object, or no domain for it.
    Malformed(String),
    /// The API refused it.
    Api(ApiError),
    /// Transport or request decoding.
    Other(String),
}

impl From<Fail> for LineError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Api(e) => LineError::Api(e),
            Fail::Other(e) => LineError::Other(format!("{e:#}")),
            Fail::Exit(code) => LineError::Other(format!("exit {code}")),
        }
    }
}

/// Creates the user of one line, then applies `state: DISABLED` and `required_actions`.
async fn import_line(
    c: &IdentityClient,
    cred: Credential,
    line: std::io::Result<String>,
    domain_id: Option<&str>,
) -> Result<(), LineError> {
    let line = line.map_err(|e| LineError::Malformed(format!("cannot read the line: {e}")))?;
    let mut req: Json =
        serde_json::from_str(&line).map_err(|e| LineError::Malformed(format!("not JSON: {e}")))?;
    let Some(fields) = req.as_object_mut() else {
        return Err(LineError::Malformed("not a JSON object".into()));
    };
    let state = fields.remove("state");
    let actions = fields.remove("required_actions");
    if let Some(d) = domain_id {
        fields.insert("domain_id".into(), json!(d));
    }
    let domain = match fields.get("domain_id").and_then(Json::as_str) {
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => {
            return Err(LineError::Malformed(
                "no domain_id (pass --domain-id)".into(),
            ));
        }
    };
    let user_id = fields
        .get("user_id")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    call(c, cred.clone(), method!(user_create), req).await?;
    let key = json!({"user_id": user_id, "domain_id": domain});
    if state.as_ref().and_then(Json::as_str) == Some("DISABLED") {
        call(c, cred.clone(), method!(user_disable), key.clone()).await?;
    }
    if let Some(actions) = actions.filter(|a| a.as_array().is_some_and(|a| !a.is_empty())) {
        let req = json!({"user_id": user_id, "domain_id": domain, "actions": actions});
        call(c, cred, method!(user_set_required_actions), req).await?;
    }
    Ok(())
}

pub async fn import(
    env: &mut Env,
    file: &Path,
    domain_id: Option<String>,
    concurrency: usize,
) -> Result<(), Fail> {
    let from_stdin = file == Path::new("-");
    let reader: Box<dyn BufRead> = if from_stdin {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(BufReader::new(f))
    };
    // A first pass over a file sizes the progress bar.
    let total = if from_stdin {
        None
    } else {
        let f = std::fs::File::open(file)?;
        let mut n = 0u64;
        for line in BufReader::new(f).split(b'\n') {
            if !line?.iter().all(u8::is_ascii_whitespace) {
                n += 1;
            }
        }
        Some(n)
    };
    let c = env.client().await?;
    let cred = env.cred.clone();
    let pb = progress(total, "importing");
    let lines = reader
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()));
    let mut results = futures::stream::iter(lines)
        .map(|(i, line)| {
            let (c, cred, domain_id) = (c.clone(), cred.clone(), domain_id.clone());
            async move {
                (
                    i + 1,
                    import_line(&c, cred, line, domain_id.as_deref()).await,
                )
            }
        })
        .buffer_unordered(concurrency);
    let (mut ok, mut api_failed, mut other_failed) = (0u64, 0u64, 0u64);
    while let Some((n, r)) = results.next().await {
        pb.inc(1);
        let message = match r {
            Ok(()) => {
                ok += 1;
                continue;
            }
            Err(LineError::Api(e)) => {
                api_failed += 1;
                format!("{}: {}", e.code, e.message)
            }
            Err(LineError::Malformed(m) | LineError::Other(m)) => {
                other_failed += 1;
                m
            }
        };
        pb.suspend(|| eprintln!("line {n}: {message}"));
    }
    pb.finish_and_clear();
    let failed = api_failed + other_failed;
    eprintln!("imported {ok} users, {failed} failed");
    match (api_failed, other_failed) {
        (0, 0) => Ok(()),
        (0, _) => Err(Fail::Exit(1)),
        _ => Err(Fail::Exit(2)),
    }
}

pub async fn export(env: &mut Env, domain_id: &str, page_size: u64) -> Result<(), Fail> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pb: Option<ProgressBar> = None;
    let mut written = 0u64;
    loop {
        let req = json!({
            "domain_id": domain_id,
            "query": {"page": {"start": written + 1, "limit": page_size}}
        });
        let page = env.api(method!(user_list), req).await?;
        let total = page["total_count"].as_u64().unwrap_or(0);
        let bar = pb.get_or_insert_with(|| progress(Some(total), "exporting"));
        bar.set_length(total);
        let rows = page["results"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            serde_json::to_writer(&mut out, row).context("writing standard output")?;
            out.write_all(b"\n").context("writing standard output")?;
        }
        written += rows.len() as u64;
        bar.set_position(written);
        if written >= total {
            break;
        }
    }
    out.flush().context("writing standard output")?;
    if let Some(bar) = pb {
        bar.finish_and_clear();
    }
    eprintln!("exported {written} users");
    Ok(())
}
