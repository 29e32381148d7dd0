//! The real `identityctl` binary against a real in-process server: domains and users, login with
//! a saved 0600 session, refresh, output formats, exit codes, bulk import/export of 10k users.

mod common;
use common::*;
use identityd::api::service::METHODS;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

struct Ctl {
    addr: String,
    key_file: std::path::PathBuf,
    config: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Json {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}{}", self.stdout, self.stderr))
    }
    #[track_caller]
    fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Ctl {
    fn new(s: &TestServer) -> Ctl {
        Ctl {
            addr: s.server.rpc_addr.to_string(),
            key_file: s.dir.path().join("system.key"),
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs identityctl with `args`, feeding `stdin`; no credential unless the args give one.
    fn run_with(&self, args: &[&str], stdin: &str) -> Out {
        let mut child = Command::new(env!("CARGO_BIN_EXE_identityctl"))
            .args(args)
            .env("IDENTITYD_ADDR", &self.addr)
            .env("IDENTITYCTL_CONFIG_DIR", self.config.path())
            .env_remove("IDENTITYD_TOKEN")
            .env_remove("IDENTITYD_TOKEN_FILE")
            .env_remove("IDENTITYD_DOMAIN_ID")
            .env_remove("IDENTITYCTL_OUTPUT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("identityctl starts");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, "")
    }

    /// Runs with the system key as the credential.
    fn sys(&self, args: &[&str]) -> Out {
        self.sys_with(args, "")
    }

    fn sys_with(&self, args: &[&str], stdin: &str) -> Out {
        let key = self.key_file.to_str().unwrap();
        let mut all = vec!["--token-file", key];
        all.extend_from_slice(args);
        self.run_with(&all, stdin)
    }

    fn create_domain(&self, name: &str, admin: bool) -> String {
        let admin_id = format!("admin@{name}.io");
        let out = if admin {
            self.sys_with(
                &[
                    "domain",
                    "create",
                    name,
                    "--admin-user-id",
                    &admin_id,
                    "--admin-password-stdin",
                    "-o",
                    "json",
                ],
                &format!("{PW}\n"),
            )
        } else {
            self.sys(&["domain", "create", name, "-o", "json"])
        };
        let v = out.ok().json();
        v["domain_id"].as_str().unwrap().to_owned()
    }
}

#[test]
fn domain_and_user_lifecycle() {
    let s = TestServer::start();
    let ctl = Ctl::new(&s);
    let d = ctl.create_domain("acme", true);
    let mut outputs = String::new();

    let v = ctl.sys(&["domain", "list", "-o", "json"]).ok().json();
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["results"][0]["domain_id"], d.as_str());
    let t = ctl.sys(&["domain", "get", &d]).ok().stdout;
    assert!(t.starts_with("KEY "), "{t}");
    assert!(t.contains(&format!("DOMAIN_ID   {d}")), "{t}");

    let out = ctl
        .sys_with(
            &[
                "user",
                "create",
                "ann@acme.io",
                "--domain-id",
                &d,
                "--name",
                "Ann",
                "--email",
                "ann@acme.io",
                "--tag",
                "team=core",
                "--tag",
                "site=seoul",
                "--timezone",
                "Asia/Seoul",
                "--password-stdin",
                "-o",
                "json",
            ],
            &format!("{PW}\n"),
        )
        .ok();
    outputs += &out.stdout;
    outputs += &out.stderr;
    let u = out.json();
    assert_eq!(u["user_id"], "ann@acme.io");
    assert_eq!(u["tags"], json!({"team": "core", "site": "seoul"}));
    assert_eq!(u["timezone"], "Asia/Seoul");
    assert_eq!(u["last_accessed_at"], Json::Null);

    // Table (default), YAML, JSON.
    let t = ctl.sys(&["user", "list", "--domain-id", &d]).ok().stdout;
    let lines: Vec<&str> = t.lines().collect();
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        words(lines[0]),
        [
            "USER_ID",
            "NAME",
            "STATE",
            "EMAIL",
            "USER_TYPE",
            "BACKEND",
            "LAST_ACCESSED_AT"
        ],
        "{t}"
    );
    assert_eq!(lines.len(), 3, "{t}");
    assert_eq!(
        words(lines[2]),
        [
            "ann@acme.io",
            "Ann",
            "ENABLED",
            "ann@acme.io",
            "USER",
            "LOCAL"
        ],
        "{t}"
    );
    // Columns line up.
    assert_eq!(lines[0].find("STATE"), lines[2].find("ENABLED"), "{t}");
    let y = ctl
        .sys(&[
            "user",
            "get",
            "ann@acme.io",
            "--domain-id",
            &d,
            "-o",
            "yaml",
        ])
        .ok()
        .stdout;
    assert!(y.contains("\nuser_id: ann@acme.io\n"), "{y}");
    assert!(y.contains("\nstate: ENABLED\n"), "{y}");
    assert!(y.contains("tags:\n  site: seoul\n  team: core\n"), "{y}");
    assert!(y.contains("last_accessed_at: null\n"), "{y}");
    let v = ctl
        .sys(&[
            "user",
            "get",
            "ann@acme.io",
            "--domain-id",
            &d,
            "--only",
            "name,email",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["domain_id", "email", "name", "user_id"]
    );
    let v = ctl
        .sys(&[
            "user",
            "list",
            "--domain-id",
            &d,
            "--state",
            "ENABLED",
            "--limit",
            "1",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["total_count"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);

    let v = ctl
        .sys(&[
            "user",
            "update",
            "ann@acme.io",
            "--domain-id",
            &d,
            "--name",
            "Ann Lee",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["name"], "Ann Lee");
    assert_eq!(
        v["tags"],
        json!({"team": "core", "site": "seoul"}),
        "tags untouched"
    );
    let v = ctl
        .sys(&[
            "user",
            "set-required-actions",
            "ann@acme.io",
            "ENFORCE_MFA",
            "--domain-id",
            &d,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["required_actions"], json!(["ENFORCE_MFA"]));
    let v = ctl
        .sys(&[
            "user",
            "disable",
            "ann@acme.io",
            "--domain-id",
            &d,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["state"], "DISABLED");
    let v = ctl
        .sys(&[
            "user",
            "enable",
            "ann@acme.io",
            "--domain-id",
            &d,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["state"], "ENABLED");
    let v = ctl
        .sys(&[
            "user",
            "sync",
            "ann@acme.io",
            "--domain-id",
            &d,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["user_id"], "ann@acme.io");

    let out = ctl
        .sys(&["user", "delete", "ann@acme.io", "--domain-id", &d])
        .ok();
    assert_eq!(out.stdout, "");
    let out = ctl.sys(&["user", "get", "ann@acme.io", "--domain-id", &d]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("ERROR_NOT_FOUND: "),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");

    // API errors exit 2 with CODE: message; usage errors exit non-zero without calling.
    let out = ctl.sys_with(
        &[
            "user",
            "create",
            "bob@acme.io",
            "--domain-id",
            &d,
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("ERROR_INCORRECT_PASSWORD_FORMAT: "),
        "{}",
        out.stderr
    );
    outputs += &out.stderr;
    let out = ctl.sys(&["user", "create", "bob@acme.io", "--domain-id", &d]);
    assert_eq!(out.code, 2);
    let out = ctl.sys(&["user", "list"]);
    assert_eq!(out.code, 1, "no domain given or saved");
    assert!(out.stderr.contains("--domain-id"), "{}", out.stderr);

    // Domain state and deletion.
    let v = ctl
        .sys(&["domain", "disable", &d, "-o", "json"])
        .ok()
        .json();
    assert_eq!(v["state"], "DISABLED");
    let v = ctl.sys(&["domain", "enable", &d, "-o", "json"]).ok().json();
    assert_eq!(v["state"], "ENABLED");
    ctl.sys(&["domain", "delete", &d]).ok();
    let out = ctl.sys(&["domain", "get", &d]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("ERROR_NOT_FOUND: "),
        "{}",
        out.stderr
    );

    assert!(!outputs.contains(PW), "a password was printed");
    assert!(!outputs.contains("short"), "a password was printed");
}

#[test]
fn login_saves_a_private_session_that_later_calls_use() {
    let s = TestServer::start();
    let ctl = Ctl::new(&s);
    let d = ctl.create_domain("acme", true);
    let file = ctl.config.path().join("config.toml");

    // No credential at all.
    let out = ctl.run(&["user", "list", "--domain-id", &d]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("ERROR_AUTHENTICATE_FAILURE: "),
        "{}",
        out.stderr
    );

    // A wrong password saves nothing.
    let out = ctl.run_with(
        &[
            "login",
            "--domain-id",
            &d,
            "--user-id",
            "admin@acme.io",
            "--password-stdin",
        ],
        "Wr0ngPassword\n",
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("ERROR_AUTHENTICATION_FAILURE: "),
        "{}",
        out.stderr
    );
    assert!(!file.exists());

    let out = ctl
        .run_with(
            &[
                "login",
                "--domain-id",
                &d,
                "--user-id",
                "admin@acme.io",
                "--password-stdin",
            ],
            &format!("{PW}\n"),
        )
        .ok();
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("Logged in as admin@acme.io"),
        "{}",
        out.stderr
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let saved: toml::Value = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let access = saved["access_token"].as_str().unwrap().to_owned();
    assert!(saved["refresh_token"].as_str().is_some());
    assert_eq!(saved["domain_id"].as_str(), Some(d.as_str()));
    assert!(!out.stderr.contains(&access) && !out.stderr.contains(PW));

    // Later calls use the saved token, domain and address.
    let v = ctl.run(&["user", "list", "-o", "json"]).ok().json();
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["results"][0]["user_id"], "admin@acme.io");
    let out = ctl
        .run_with(
            &[
                "user",
                "create",
                "ann@acme.io",
                "--password-stdin",
                "-o",
                "json",
            ],
            &format!("{PW}\n"),
        )
        .ok();
    assert_eq!(out.json()["domain_id"], d.as_str());
    // An explicit credential wins over the saved one.
    let out = ctl.run(&["--token", "not-a-token", "user", "list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.starts_with("ERROR_AUTHENTICATE_FAILURE: "));

    // refresh replaces the tokens.
    let out = ctl.run(&["refresh"]).ok();
    assert!(!out.stderr.contains(&access));
    let saved: toml::Value = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(saved["access_token"].as_str().unwrap(), access);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    ctl.run(&["user", "get", "ann@acme.io"]).ok();

    // `call` redacts tokens unless asked.
    let req = json!({"domain_id": d, "credentials": {"user_id": "ann@acme.io", "password": PW}})
        .to_string();
    let v = ctl.run(&["call", "token_issue", &req]).ok().json();
    assert_eq!(v["access_token"], "***");
    let v = ctl
        .run(&["call", "token_issue", &req, "--show-secrets"])
        .ok()
        .json();
    assert_eq!(v["access_token"].as_str().unwrap().split('.').count(), 3);

    ctl.run(&["logout"]).ok();
    assert!(!file.exists());
    let out = ctl.run(&["user", "list", "--domain-id", &d]);
    assert_eq!(out.code, 2);
}

#[test]
fn call_methods_completions_and_help() {
    let s = TestServer::start();
    let ctl = Ctl::new(&s);

    let out = ctl.run(&["methods"]).ok();
    for (name, path) in METHODS {
        assert!(
            out.stdout.contains(name) && out.stdout.contains(path),
            "{name}"
        );
    }
    assert_eq!(out.stdout.lines().count(), METHODS.len());

    let v = ctl.run(&["call", "token_public_key"]).ok().json();
    assert!(v["public_key"].is_string());
    let v = ctl
        .sys_with(&["call", "domain_list", "-"], "{}")
        .ok()
        .json();
    assert_eq!(v["total_count"], 0);
    let y = ctl
        .sys(&["call", "domain_create", r#"{"name":"acme"}"#, "-o", "yaml"])
        .ok()
        .stdout;
    assert!(y.contains("\nname: acme\n"), "{y}");
    let out = ctl.run(&["call", "no_such_method"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown method"), "{}", out.stderr);
    let out = ctl.run(&["call", "domain_list", "{not json"]);
    assert_eq!(out.code, 1);
    let out = ctl.run(&["call", "domain_list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.starts_with("ERROR_AUTHENTICATE_FAILURE: "));
    let out = ctl.run(&["ping"]).ok();
    assert!(out.stdout.starts_with("pong"), "{}", out.stdout);

    for shell in ["bash", "zsh", "fish"] {
        let out = ctl.run(&["completions", shell]).ok();
        assert!(out.stdout.contains("identityctl"), "{shell}");
        assert!(out.stdout.contains("set-required-actions"), "{shell}");
    }

    let help = ctl.run(&["--help"]).ok().stdout;
    for cmd in [
        "domain",
        "user",
        "login",
        "refresh",
        "logout",
        "call",
        "methods",
        "ping",
        "completions",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "--help lacks {cmd}:\n{help}"
        );
    }
    let help = ctl.run(&["user", "--help"]).ok().stdout;
    for cmd in [
        "create",
        "update",
        "get",
        "list",
        "enable",
        "disable",
        "delete",
        "set-required-actions",
        "sync",
        "import",
        "export",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "user --help lacks {cmd}:\n{help}"
        );
        ctl.run(&["user", cmd, "--help"]).ok();
    }
    let help = ctl.run(&["domain", "--help"]).ok().stdout;
    for cmd in ["create", "get", "list", "enable", "disable", "delete"] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "domain --help lacks {cmd}:\n{help}"
        );
        ctl.run(&["domain", cmd, "--help"]).ok();
    }
}

fn bulk_line(i: usize) -> Json {
    let team = ["core", "infra", "web"][i % 3];
    let mut v = json!({
        "user_id": format!("user{i:05}@bulk.io"),
        "password": PW,
        "name": format!("User {i}"),
        "email": format!("user{i}@mail.bulk.io"),
        "tags": {"n": i, "team": team},
    });
    if i % 1000 == 7 {
        v["state"] = json!("DISABLED");
        v["required_actions"] = json!(["ENFORCE_MFA"]);
    }
    v
}

/// (user_id, name, email, tags) of each JSON line.
fn identity_set(lines: impl Iterator<Item = Json>) -> BTreeSet<(String, String, String, String)> {
    lines
        .map(|v| {
            (
                v["user_id"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
                v["email"].as_str().unwrap().to_owned(),
                v["tags"].to_string(),
            )
        })
        .collect()
}

#[test]
fn import_and_export_ten_thousand_users_round_trip() {
    const N: usize = 10_000;
    let s = TestServer::start();
    let ctl = Ctl::new(&s);
    let d = ctl.create_domain("bulk", false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let mut text = String::new();
    for i in 0..N {
        text += &bulk_line(i).to_string();
        text.push('\n');
    }
    std::fs::write(&file, &text).unwrap();

    let t = std::time::Instant::now();
    let out = ctl
        .sys(&["user", "import", file.to_str().unwrap(), "--domain-id", &d])
        .ok();
    let import_time = t.elapsed();
    assert!(
        out.stderr
            .contains(&format!("imported {N} users, 0 failed")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(PW));

    let t = std::time::Instant::now();
    let out = ctl
        .sys(&["user", "export", "--domain-id", &d, "--page-size", "700"])
        .ok();
    let export_time = t.elapsed();
    eprintln!("import {N}: {import_time:?}, export: {export_time:?}");
    assert!(
        out.stderr.contains(&format!("exported {N} users")),
        "{}",
        out.stderr
    );
    let exported: Vec<Json> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), N);
    assert!(!out.stdout.contains("password"));
    assert_eq!(
        identity_set(exported.iter().cloned()),
        identity_set((0..N).map(bulk_line)),
        "the export is the import"
    );
    for v in &exported {
        let i: usize = v["tags"]["n"].as_u64().unwrap() as usize;
        let disabled = i % 1000 == 7;
        assert_eq!(
            v["state"],
            if disabled { "DISABLED" } else { "ENABLED" },
            "{v}"
        );
        let actions = if disabled {
            json!(["ENFORCE_MFA"])
        } else {
            json!([])
        };
        assert_eq!(v["required_actions"], actions, "{v}");
        assert_eq!(v["domain_id"], d.as_str());
    }

    // The export imports into another domain (API users need no password).
    let d2 = ctl.create_domain("bulk2", false);
    let sample: String = exported
        .iter()
        .take(50)
        .map(|v| {
            let mut v = v.clone();
            v["user_type"] = json!("API_USER");
            v["user_id"] = json!(format!("api-{}", v["user_id"].as_str().unwrap()));
            v.to_string() + "\n"
        })
        .collect();
    let out = ctl
        .sys_with(
            &[
                "user",
                "import",
                "-",
                "--domain-id",
                &d2,
                "--concurrency",
                "8",
            ],
            &sample,
        )
        .ok();
    assert!(
        out.stderr.contains("imported 50 users, 0 failed"),
        "{}",
        out.stderr
    );
    let v = ctl
        .sys(&[
            "user",
            "list",
            "--domain-id",
            &d2,
            "--user-type",
            "API_USER",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["total_count"], 50);
}

#[test]
fn import_reports_failed_lines_and_exits_2() {
    let s = TestServer::start();
    let ctl = Ctl::new(&s);
    let d = ctl.create_domain("acme", false);
    let good = json!({"user_id": "a@acme.io", "password": PW}).to_string();
    let text = format!(
        "{good}\n{{not json\n\n{good}\n{}\n[1]\n",
        json!({"user_id": "b@acme.io", "password": "short"})
    );
    let out = ctl.sys_with(
        &[
            "user",
            "import",
            "-",
            "--domain-id",
            &d,
            "--concurrency",
            "1",
        ],
        &text,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line 2: not JSON"), "{}", out.stderr);
    assert!(
        out.stderr.contains("line 4: ERROR_SAVE_UNIQUE_VALUES: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("line 5: ERROR_INCORRECT_PASSWORD_FORMAT: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("line 6: not a JSON object"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("imported 1 users, 4 failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("short") && !out.stderr.contains(PW));

    // Only malformed lines: exit 1. No domain anywhere: malformed too.
    let out = ctl.sys_with(&["user", "import", "-"], &format!("{good}\n"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("line 1: no domain_id"),
        "{}",
        out.stderr
    );
}
