//! The command-line client against a real server: the `fastpki` binary is run as a
//! user would run it, with its own configuration folder (`XDG_CONFIG_HOME`), and its
//! stdout, stderr, exit codes and configuration file are checked, in both output formats.
//!
//! The server runs in this process on 127.0.0.1 with a fresh SQLite file, like tests/api.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fastpki::config::Settings;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fastpki");
const SECRET_KEY: &str = "test-secret-key-that-is-long-enough-0123456789";
const PASSWORD: &str = "correct horse battery";

/// A server on its own runtime thread; stops when dropped.
struct Server {
    url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let env: HashMap<String, String> = [
            (
                "DATABASE_URL",
                format!("sqlite:///{}", dir.path().join("fastpki.db").display()),
            ),
            ("SECRET_KEY", SECRET_KEY.into()),
            (
                "SERVICE_ACCOUNT_TOKEN_PEPPER",
                "test-pepper-0123456789-0123456789".into(),
            ),
            ("BCRYPT_COST", "4".into()),
            ("AUTH_RATE_LIMIT", "10000/minute".into()),
            ("CA_KEY_SIZE", "2048".into()),
            (
                "FASTPKI_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let settings = Settings::from_lookup(&|name| env.get(name).cloned()).expect("settings");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let state = fastpki::server::prepare(settings)
                    .await
                    .expect("server prepares");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).ok();
                fastpki::server::serve_on(state, listener, async move {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Server {
            url: format!("http://{addr}"),
            _dir: dir,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }
    #[track_caller]
    fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// One user of the client: a configuration folder, a working folder, and a server URL.
struct User {
    home: tempfile::TempDir,
    url: Option<String>,
    env: Vec<(String, String)>,
}

impl User {
    /// A user whose server URL comes from `FASTPKI_URL`.
    fn new(server: &Server) -> User {
        User {
            home: tempfile::tempdir().expect("tempdir"),
            url: Some(server.url.clone()),
            env: Vec::new(),
        }
    }

    /// A user with no `FASTPKI_URL`: the configuration file decides.
    fn without_env() -> User {
        User {
            home: tempfile::tempdir().expect("tempdir"),
            url: None,
            env: Vec::new(),
        }
    }

    fn xdg(&self) -> PathBuf {
        self.home.path().join("xdg")
    }

    fn cwd(&self) -> &Path {
        self.home.path()
    }

    fn config_path(&self) -> PathBuf {
        self.xdg().join("fastpki").join("config.json")
    }

    fn config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.config_path()).expect("config file"))
            .expect("config JSON")
    }

    fn write_config(&self, v: &Value) {
        std::fs::write(self.config_path(), serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    fn run_with(&self, args: &[&str], stdin: Option<&str>, extra_env: &[(&str, &str)]) -> Run {
        let mut c = self.command(BIN);
        c.args(args);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        Self::finish(c, stdin)
    }

    /// Runs `sh -c script` in this user's environment, with `$FASTPKI` naming the binary.
    fn shell(&self, script: &str) -> Run {
        let mut c = self.command("sh");
        c.args(["-c", script]).env("FASTPKI", BIN);
        Self::finish(c, None)
    }

    /// The binary with its stdout a pipe whose reading end is already closed, as when
    /// `| head` has exited: returns the exit status and stderr.
    fn run_into_closed_pipe(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        // The read end is closed before the child exists: dropping it after
        // spawn raced with other tests' forks, whose children briefly hold a
        // copy of every open descriptor until they exec.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut c = self.command(BIN);
        c.args(args).stdout(writer);
        let mut child = c.spawn().expect("run fastpki");
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("fastpki ran");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.cwd())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.xdg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = &self.url {
            c.env("FASTPKI_URL", u);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn finish(mut c: Command, stdin: Option<&str>) -> Run {
        let mut child = c.spawn().expect("run fastpki");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).expect("write stdin");
            }
        }
        let out = child.wait_with_output().expect("fastpki ran");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    /// Runs with `-o json` (after the subcommand, as scripts write it) and parses stdout.
    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        // `--output`, not `-o`: `ca assign-org` takes `-o` for `--org`, as FastPKI's client.
        a.extend(["--output", "json"]);
        self.run(&a).ok().json()
    }

    /// Runs in table format and returns stdout.
    #[track_caller]
    fn table(&self, args: &[&str]) -> String {
        let mut a = args.to_vec();
        a.extend(["--output", "table"]);
        self.run(&a).ok().stdout
    }

    #[track_caller]
    fn login(&self, username: &str) {
        let r = self
            .run_with(
                &["auth", "login", "-u", username],
                Some(&format!("{PASSWORD}\n")),
                &[],
            )
            .ok();
        assert!(
            r.stdout.contains(&format!("Logged in as {username}")),
            "{r:#?}"
        );
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A new server with its first user, `root` (a superuser), logged in.
fn root_session() -> (Server, User) {
    let server = Server::start();
    let root = User::new(&server);
    // The very first user needs no token.
    let v = root.json(&[
        "user",
        "create",
        "-u",
        "root",
        "-e",
        "root@example.com",
        "-p",
        PASSWORD,
        "-r",
        "superuser",
    ]);
    assert_eq!(v["role"], "superuser");
    root.login("root");
    (server, root)
}

/// A JWT for `user` signed with the test server's key, expired a minute ago.
fn expired_token(username: &str, id: i64, role: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": username, "id": id, "role": role,
        "exp": now - 60, "iat": now - 960, "jti": "expired-for-the-test",
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[test]
fn client_commands_load_no_server_settings() {
    let u = User::without_env();
    // A short SECRET_KEY would stop the server with exit 2; the client must not care.
    let r = u
        .run_with(&["config", "path"], None, &[("SECRET_KEY", "short")])
        .ok();
    assert_eq!(r.stdout.trim(), u.config_path().display().to_string());
    assert!(!u.cwd().join("data").exists(), "the client created ./data");
    assert!(
        !u.config_path().exists(),
        "config path must not create the file"
    );
}

#[test]
fn config_commands_use_the_python_clients_file_and_keys() {
    let u = User::without_env();
    assert!(
        u.table(&["config", "show"])
            .contains("No configuration set.")
    );
    u.run(&["config", "set", "server.url", "http://pki.example:8000/"])
        .ok();
    u.run(&["config", "set", "defaults.cert_key_size", "4096"])
        .ok();
    let r = u
        .run(&["config", "set", "defaults.output_format", "json"])
        .ok();
    assert_eq!(r.stdout, "defaults.output_format = json\n");
    // The output format now defaults to JSON.
    let r = u
        .run(&["config", "set", "defaults.ca_valid_days", "700"])
        .ok();
    assert_eq!(r.json(), json!({"defaults.ca_valid_days": 700}));
    assert_eq!(mode(&u.config_path()), 0o600);
    assert_eq!(mode(u.config_path().parent().unwrap()), 0o700);
    let file = u.config();
    assert_eq!(file["server"]["url"], "http://pki.example:8000");
    assert_eq!(file["defaults"]["cert_key_size"], 4096);
    assert_eq!(
        u.run(&["config", "get", "server.url"]).ok().stdout,
        "http://pki.example:8000\n"
    );
    assert_eq!(
        u.json(&["config", "get", "defaults"]),
        json!({"ca_valid_days": 700, "cert_key_size": 4096, "output_format": "json"})
    );
    let missing = u.run(&["config", "get", "auth.token"]).code(1);
    assert!(missing.stderr.contains("auth.token is not set."));
    // A key we do not know is kept as the Python client would keep it.
    u.run(&["config", "set", "custom.flag", "true"]).ok();
    assert_eq!(u.config()["custom"]["flag"], true);
    let r = u
        .run(&["config", "unset", "custom.flag", "-o", "table"])
        .ok();
    assert!(r.stdout.contains("custom.flag removed."));
    let r = u
        .run(&["config", "unset", "custom.flag", "-o", "table"])
        .ok();
    assert!(r.stdout.contains("custom.flag was not set."));
    assert_eq!(
        u.json(&["config", "unset", "custom.flag"]),
        json!({"key": "custom.flag", "removed": false})
    );
    // Tokens are masked unless asked for.
    let mut file = u.config();
    file["auth"] = json!({"token": "0123456789abcdef", "refresh_token": "fedcba9876543210"});
    u.write_config(&file);
    let shown = u.json(&["config", "show"]);
    assert_eq!(shown["auth"]["token"], "01234567…");
    assert_eq!(
        u.json(&["config", "show", "--show-secrets"])["auth"]["token"],
        "0123456789abcdef"
    );
    let table = u.table(&["config", "show"]);
    assert!(table.contains("Config file:") && !table.contains("0123456789abcdef"));
    // Wrong values are usage errors.
    u.run(&["config", "set", "defaults.output_format", "xml"])
        .code(2);
    u.run(&["config", "set", "server.url", "pki.example"])
        .code(2);
    assert_eq!(u.json(&["config", "path"])["path"], json!(u.config_path()));
}

#[test]
fn login_status_logout() {
    let (server, root) = root_session();
    let file = root.config();
    assert!(file["auth"]["token"].as_str().unwrap().starts_with("eyJ"));
    assert!(file["auth"]["refresh_token"].as_str().unwrap().len() >= 40);
    assert_eq!(file["auth"]["username"], "root");
    assert_eq!(mode(&root.config_path()), 0o600);

    let status = root.table(&["auth", "status"]);
    assert!(status.contains("User:   root") && status.contains("Token is valid."));
    let status = root.json(&["auth", "status"]);
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["user"]["username"], "root");
    assert_eq!(status["server"], server.url);

    // A wrong password: the server's detail on stderr, exit 1, the session untouched.
    let bad = root
        .run_with(
            &["auth", "login", "-u", "root", "-p", "wrong password"],
            None,
            &[],
        )
        .code(1);
    assert!(bad.stderr.contains("Error 401"), "{bad:#?}");
    assert_eq!(root.config()["auth"]["token"], file["auth"]["token"]);

    let refresh = file["auth"]["refresh_token"].as_str().unwrap().to_string();
    let out = root.json(&["auth", "logout"]);
    assert_eq!(out["server_session_ended"], true);
    assert!(root.config()["auth"].get("token").is_none());
    assert!(root.config()["auth"].get("refresh_token").is_none());
    // The server ended the session: the old refresh token is dead.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/auth/refresh", server.url))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let r = root.run(&["auth", "status", "-o", "table"]).code(1);
    assert!(r.stdout.contains("Not authenticated."));
    assert_eq!(
        root.run(&["auth", "status", "-o", "json"]).code(1).json()["authenticated"],
        false
    );
    let r = root.run(&["user", "me"]).code(1);
    assert!(r.stderr.contains("fastpki auth login"), "{r:#?}");
}

#[test]
fn login_with_server_flag_saves_the_url() {
    let (server, _root) = root_session();
    let u = User::without_env();
    let r = u
        .run_with(
            &[
                "auth",
                "login",
                "-u",
                "root",
                "-s",
                &format!("{}/", server.url),
            ],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .ok();
    assert!(
        r.stdout
            .contains(&format!("Logged in as root at {}", server.url))
    );
    assert_eq!(u.config()["server"]["url"], server.url);
    assert_eq!(u.json(&["user", "me"])["username"], "root");
}

#[test]
fn an_expired_or_refused_access_token_is_renewed_transparently() {
    let (_server, root) = root_session();
    let before = root.config();
    let mut file = before.clone();
    file["auth"]["token"] = expired_token("root", 1, "superuser").into();
    root.write_config(&file);
    assert_eq!(root.json(&["user", "me"])["username"], "root");
    let after = root.config();
    assert_ne!(after["auth"]["token"], file["auth"]["token"]);
    assert_ne!(
        after["auth"]["refresh_token"],
        before["auth"]["refresh_token"]
    );
    assert_eq!(mode(&root.config_path()), 0o600);

    // A token the server refuses (401) is renewed too, then the request is retried.
    let mut file = root.config();
    file["auth"]["token"] = "not-a-jwt".into();
    root.write_config(&file);
    assert!(root.table(&["user", "me"]).contains("root"));
    assert!(
        root.config()["auth"]["token"]
            .as_str()
            .unwrap()
            .starts_with("eyJ")
    );

    // A token from FASTPKI_TOKEN is never renewed, and the file is left alone.
    let file = root.config();
    let r = root
        .run_with(&["user", "me"], None, &[("FASTPKI_TOKEN", "not-a-jwt")])
        .code(1);
    assert!(r.stderr.contains("Error 401"), "{r:#?}");
    assert_eq!(root.config(), file);

    // A dead refresh token: exit 1, told to log in again, the dead token forgotten.
    let mut file = root.config();
    file["auth"]["token"] = expired_token("root", 1, "superuser").into();
    file["auth"]["refresh_token"] = "dead".into();
    root.write_config(&file);
    let r = root.run(&["user", "me"]).code(1);
    assert!(r.stderr.contains("fastpki auth login"), "{r:#?}");
    assert!(root.config()["auth"].get("refresh_token").is_none());

    // A token another client stored for another user is not renewed with our refresh token.
    root.login("root");
    let mut file = root.config();
    file["auth"]["token"] = expired_token("someone-else", 7, "user").into();
    root.write_config(&file);
    root.run(&["user", "me"]).code(1);
    assert_eq!(root.config()["auth"]["token"], file["auth"]["token"]);
}

#[test]
fn environment_overrides_the_configuration() {
    let (server, root) = root_session();
    let token = root.config()["auth"]["token"].as_str().unwrap().to_string();
    // No configuration file at all: URL and token from the environment.
    let u = User::without_env();
    let r = u
        .run_with(
            &["user", "me", "-o", "json"],
            None,
            &[("FASTPKI_URL", &server.url), ("FASTPKI_TOKEN", &token)],
        )
        .ok();
    assert_eq!(r.json()["username"], "root");
    assert!(
        !u.config_path().exists(),
        "nothing is written for env tokens"
    );
    // FASTPKI_URL wins over server.url.
    u.run(&["config", "set", "server.url", &server.url]).ok();
    let r = u
        .run_with(
            &["user", "me"],
            None,
            &[
                ("FASTPKI_URL", "http://127.0.0.1:9"),
                ("FASTPKI_TOKEN", &token),
            ],
        )
        .code(1);
    assert!(
        r.stderr
            .contains("cannot reach the FastPKI server at http://127.0.0.1:9")
    );
}

#[test]
fn users_in_both_formats() {
    let (server, root) = root_session();
    let org = root.json(&["org", "create", "-n", "acme"])["id"]
        .as_i64()
        .unwrap();
    let alice = root.json(&[
        "user",
        "create",
        "-u",
        "alice",
        "-e",
        "alice@example.com",
        "-p",
        PASSWORD,
        "--org",
        &org.to_string(),
        "--can-create-cert",
        "--can-export-key",
    ]);
    assert_eq!(alice["organization_id"], org);
    assert_eq!(alice["can_create_cert"], true);
    assert_eq!(alice["can_export_private_key"], true);
    assert_eq!(alice["can_create_ca"], false);
    assert!(alice.get("hashed_password").is_none());
    let id = alice["id"].as_i64().unwrap().to_string();

    // The password can come from standard input, as with `auth login`.
    let table = root
        .run_with(
            &[
                "user",
                "create",
                "-u",
                "bob",
                "-e",
                "bob@example.com",
                "-r",
                "admin",
                "--org",
                &org.to_string(),
            ],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .ok()
        .stdout;
    assert!(table.contains("User Created") && table.contains("bob@example.com"));

    let list = root.json(&["user", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "alice", "bob"]);
    assert_eq!(
        root.json(&["user", "list", "--skip", "1", "--limit", "1"])[0]["username"],
        "alice"
    );
    let table = root.table(&["user", "list"]);
    assert!(table.contains("Users") && table.contains("Username") && table.contains("alice"));

    assert_eq!(root.json(&["user", "show", &id])["username"], "alice");
    assert!(
        root.table(&["user", "show", &id])
            .contains("alice@example.com")
    );
    assert_eq!(root.json(&["user", "me"])["username"], "root");
    assert!(root.table(&["user", "me"]).contains("Current User"));

    let v = root.json(&[
        "user",
        "update",
        &id,
        "--can-create-ca",
        "--no-export-key",
        "-e",
        "a@example.com",
    ]);
    assert_eq!(
        (
            v["can_create_ca"].clone(),
            v["can_export_private_key"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(v["email"], "a@example.com");
    let t = root.table(&["user", "update", &id, "--inactive"]);
    assert!(t.contains("Updated"));
    assert_eq!(root.json(&["user", "show", &id])["is_active"], false);
    root.json(&["user", "update", &id, "--active", "-p", "another password"]);
    let a = User::new(&server);
    a.run_with(
        &["auth", "login", "-u", "alice", "-p", "another password"],
        None,
        &[],
    )
    .ok();
    assert_eq!(a.json(&["user", "me"])["username"], "alice");
    // alice may not list users: the server's 403 detail on stderr, exit 1.
    let r = a.run(&["user", "list"]).code(1);
    assert!(r.stderr.starts_with("Error 403:"), "{r:#?}");

    // Validation errors (422) read as `field: message`.
    let r = root
        .run(&[
            "user",
            "create",
            "-u",
            "x",
            "-e",
            "not-an-email",
            "-p",
            PASSWORD,
        ])
        .code(1);
    assert!(
        r.stderr.contains("Error 422") && r.stderr.contains("email"),
        "{r:#?}"
    );
    root.run(&["user", "update", &id]).code(2);

    // Deletion asks first; anything but yes aborts.
    let r = root
        .run_with(&["user", "delete", &id], Some("n\n"), &[])
        .code(1);
    assert!(r.stderr.contains("Delete user #") && r.stderr.contains("Aborted."));
    root.run_with(&["user", "delete", &id], None, &[]).code(1);
    let r = root
        .run_with(&["user", "delete", &id, "-o", "table"], Some("y\n"), &[])
        .ok();
    assert!(r.stdout.contains(&format!("User #{id} deleted.")));
    let r = root.run(&["user", "show", &id]).code(1);
    assert!(r.stderr.contains("Error 404"), "{r:#?}");
    let bob = root.json(&["user", "list"])[1]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(
        root.json(&["user", "delete", &bob, "--force"]),
        json!({"id": bob.parse::<i64>().unwrap(), "deleted": true})
    );
}

#[test]
fn organizations_in_both_formats() {
    let (_server, root) = root_session();
    let v = root.json(&["org", "create", "-n", "acme", "-d", "ACME Corp"]);
    assert_eq!(
        (v["name"].clone(), v["description"].clone()),
        (json!("acme"), json!("ACME Corp"))
    );
    let id = v["id"].as_i64().unwrap().to_string();
    let t = root.table(&["org", "create", "--name", "globex"]);
    assert!(t.contains("Organization Created") && t.contains("globex"));
    let list = root.json(&["org", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(root.table(&["org", "list"]).contains("ACME Corp"));
    assert_eq!(root.json(&["org", "show", &id])["name"], "acme");
    assert!(
        root.table(&["org", "show", &id])
            .contains(&format!("Organization #{id}"))
    );
    assert_eq!(
        root.json(&["org", "update", &id, "-d", "Acme"])["description"],
        "Acme"
    );
    assert!(
        root.table(&["org", "update", &id, "-n", "acme-inc"])
            .contains("acme-inc")
    );
    root.run(&["org", "update", &id]).code(2);

    let user = root.json(&[
        "user",
        "create",
        "-u",
        "carol",
        "-e",
        "carol@example.com",
        "-p",
        PASSWORD,
    ]);
    let uid = user["id"].as_i64().unwrap().to_string();
    let added = root.json(&["org", "add-user", &id, &uid]);
    assert_eq!(added["organization_id"].as_i64().unwrap().to_string(), id);
    let members = root.json(&["org", "users", &id]);
    assert_eq!(members[0]["username"], "carol");
    assert!(root.table(&["org", "users", &id]).contains("carol"));
    // An organization with users cannot go: the server's 400 detail.
    let r = root.run(&["org", "delete", &id, "-f"]).code(1);
    assert!(r.stderr.starts_with("Error 400:"), "{r:#?}");
    let t = root.table(&["org", "remove-user", &id, &uid]);
    assert!(t.contains("User carol removed from organization"));
    let r = root
        .run(&["org", "add-user", &id, &uid, "-o", "table"])
        .ok();
    assert!(
        r.stdout.contains("User carol added to organization"),
        "{r:#?}"
    );
    root.json(&["org", "remove-user", &id, &uid]);
    assert_eq!(root.json(&["org", "users", &id]), json!([]));
    let r = root
        .run_with(&["org", "delete", &id], Some("yes\n"), &[])
        .ok();
    assert!(r.stdout.contains("deleted."));
    root.run(&["org", "show", &id]).code(1);
}

#[test]
fn audit_list_with_every_filter() {
    let (_server, root) = root_session();
    let org = root.json(&["org", "create", "-n", "audited"])["id"]
        .as_i64()
        .unwrap();
    let all = root.json(&["audit", "list"]);
    let actions: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"org_create") && actions.contains(&"login_success"),
        "{actions:?}"
    );
    let v = root.json(&["audit", "list", "-a", "org_create"]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["resource_id"], org);
    let v = root.json(&[
        "audit",
        "list",
        "--resource-type",
        "organization",
        "--resource-id",
        &org.to_string(),
    ]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let v = root.json(&["audit", "list", "-t", "organization", "-r", "999"]);
    assert_eq!(v, json!([]));
    let v = root.json(&["audit", "list", "--user", "1", "--action", "login_success"]);
    assert!(!v.as_array().unwrap().is_empty());
    assert!(v.as_array().unwrap().iter().all(|e| e["user_id"] == 1));
    assert_eq!(
        root.json(&["audit", "list", "--since", "2999-01-01T00:00:00Z"]),
        json!([])
    );
    assert_eq!(
        root.json(&["audit", "list", "--until", "2000-01-01"]),
        json!([])
    );
    assert_eq!(
        root.json(&["audit", "list", "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let skipped = root.json(&["audit", "list", "--skip", "1"]);
    assert_eq!(
        skipped.as_array().unwrap().len(),
        all.as_array().unwrap().len() - 1
    );
    let t = root.table(&["audit", "list", "-a", "org_create"]);
    assert!(t.contains("Audit Logs") && t.contains("Resource Type") && t.contains("org_create"));
    // A bad time: the server's validation detail.
    let r = root.run(&["audit", "list", "--since", "yesterday"]).code(1);
    assert!(
        r.stderr.contains("Error 422") && r.stderr.contains("since"),
        "{r:#?}"
    );
    // `-o` may also come before the subcommand, as in the Python client.
    let r = root
        .run(&["audit", "-o", "json", "list", "--limit", "1"])
        .ok();
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}

#[test]
fn usage_errors_exit_2() {
    let u = User::without_env();
    for args in [
        vec!["ca", "nope"],
        vec!["ca", "show", "not-a-number"],
        vec!["user", "list", "--output", "yaml"],
        vec!["cert", "sign-csr", "--ca", "1"],
        vec!["cert", "sign-csr", "req.pem"],
        vec!["cert", "sign-csr", "req.pem", "--ca", "1", "--ca-name", "x"],
        vec!["ca", "create", "-s", "CN=x"],
        vec!["org", "create"],
    ] {
        let r = u.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:#?}");
        assert!(!r.stderr.is_empty());
    }
    // `defaults.output_format` with a bad value is a usage error too.
    let mut cfg = json!({"defaults": {"output_format": "yaml"}});
    std::fs::create_dir_all(u.config_path().parent().unwrap()).unwrap();
    u.write_config(&cfg);
    u.run(&["org", "list"]).code(2);
    cfg["defaults"]["output_format"] = "json".into();
    u.write_config(&cfg);
    // Not logged in: exit 1 with the hint.
    let r = u.run(&["org", "list"]).code(1);
    assert!(r.stderr.contains("fastpki auth login"));
}

/// A self-signed certificate and a CSR made with rcgen, to inspect.
fn sample_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["inspect.example".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "inspect.example");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("10.0.0.7".parse().unwrap()));
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, b, r) = (dir.join("c.pem"), dir.join("bundle.pem"), dir.join("r.csr"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&b, format!("{}{}", cert.pem(), cert.pem())).unwrap();
    std::fs::write(&r, csr).unwrap();
    std::fs::write(dir.join("c.der"), cert.der()).unwrap();
    (c, b, r)
}

#[test]
fn inspect_reads_certificates_bundles_and_csrs_locally() {
    let u = User::without_env();
    let (cert, bundle, csr) = sample_files(u.cwd());
    let v = u.json(&["cert", "inspect", cert.to_str().unwrap()]);
    assert_eq!(v["subject"], "CN=inspect.example");
    assert_eq!(v["subject_alt_names"]["dns"], json!(["inspect.example"]));
    assert_eq!(v["subject_alt_names"]["ip"], json!(["10.0.0.7"]));
    assert_eq!(v["key_algorithm"], "ecdsa-p256");
    assert_eq!(v["self_issued"], true);
    assert_eq!(v["validity"], "valid");
    assert_eq!(v["sha256_fingerprint"].as_str().unwrap().len(), 95);
    let der = u.json(&["cert", "inspect", "c.der"]);
    assert_eq!(der["sha256_fingerprint"], v["sha256_fingerprint"]);
    let both = u.json(&["cert", "inspect", bundle.to_str().unwrap()]);
    assert_eq!(both.as_array().unwrap().len(), 2);
    let t = u.table(&["cert", "inspect", bundle.to_str().unwrap()]);
    assert!(t.contains("Certificate 2 of 2") && t.contains("SHA-256 Fingerprint"));
    let r = u.json(&["cert", "inspect", csr.to_str().unwrap()]);
    assert_eq!(r["type"], "certificate request");
    assert_eq!(r["common_name"], "inspect.example");
    assert_eq!(r["signature_valid"], true);
    assert!(
        u.table(&["cert", "inspect", csr.to_str().unwrap()])
            .contains("Signature Valid")
    );
    std::fs::write(u.cwd().join("junk.pem"), "hello").unwrap();
    u.run(&["cert", "inspect", "junk.pem"]).code(1);
    u.run(&["cert", "inspect", "missing.pem"]).code(1);
}

#[test]
fn generate_key_writes_a_private_key_and_never_overwrites_one() {
    // No server is needed to see the key and CSR made and kept locally: the
    // submission then fails (nothing listens on port 9), after both are written.
    let u = User::without_env();
    let mut cfg = json!({"server": {"url": "http://127.0.0.1:9"}, "auth": {"token": "x"}});
    std::fs::create_dir_all(u.config_path().parent().unwrap()).unwrap();
    u.write_config(&cfg);
    let r = u.run(&[
        "cert",
        "sign-csr",
        "--generate-key",
        "--cn",
        "svc.example.com",
        "--san-dns",
        "svc.example.com",
        "--key-algorithm",
        "ecdsa-p384",
        "--csr-out",
        "svc.csr",
        "--ca",
        "1",
    ]);
    assert_eq!(r.code, 1, "{r:#?}");
    let key = u.cwd().join("svc.example.com.key");
    assert_eq!(mode(&key), 0o600);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let csr = std::fs::read_to_string(u.cwd().join("svc.csr")).unwrap();
    let info = pki::parse_csr(&csr).unwrap();
    assert_eq!(info.common_name.as_deref(), Some("svc.example.com"));
    assert_eq!(info.sans.dns, ["svc.example.com"]);
    let key = pki::PrivateKey::from_pem(&pem).unwrap();
    assert_eq!(info.public_key_der, key.public_key_der());
    // An existing key file is never replaced.
    let r = u.run(&[
        "cert",
        "sign-csr",
        "--generate-key",
        "--cn",
        "svc.example.com",
        "--ca",
        "1",
    ]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read_to_string(u.cwd().join("svc.example.com.key")).unwrap(),
        pem
    );
    cfg["defaults"] = json!({"cert_key_size": 3072});
    u.write_config(&cfg);
    u.run(&[
        "cert",
        "sign-csr",
        "--generate-key",
        "--subject-dn",
        "CN=rsa.example,O=Example",
        "--key-out",
        "rsa.key",
        "--ca",
        "1",
    ]);
    let key = pki::PrivateKey::from_pem(&std::fs::read_to_string(u.cwd().join("rsa.key")).unwrap())
        .unwrap();
    assert_eq!(key.algorithm(), pki::KeyAlgorithm::Rsa { bits: 3072 });
}

// ---- CAs, certificates, exports, service accounts. ----

/// Creates a root CA and an intermediate; returns their ids.
fn two_cas(root: &User) -> (String, String) {
    let ca = root.json(&[
        "ca",
        "create",
        "-n",
        "Root CA",
        "-s",
        "CN=Root CA,O=Example",
        "-k",
        "2048",
        "-v",
        "3650",
        "-d",
        "the root",
    ]);
    assert!(ca["private_key"].as_str().unwrap().contains("PRIVATE KEY"));
    assert_eq!(ca["is_root"], true);
    let root_id = ca["id"].as_i64().unwrap().to_string();
    let sub = root.json(&[
        "ca",
        "create",
        "-n",
        "Issuing CA",
        "-s",
        "CN=Issuing CA,O=Example",
        "-p",
        &root_id,
        "--allow-leaf-certs",
    ]);
    assert_eq!(sub["parent_ca_id"].as_i64().unwrap().to_string(), root_id);
    (root_id, sub["id"].as_i64().unwrap().to_string())
}

#[test]

fn cas_in_both_formats() {
    let (_server, root) = root_session();
    root.run(&["config", "set", "defaults.ca_key_size", "2048"])
        .ok();
    let (root_id, sub_id) = two_cas(&root);
    let list = root.json(&["ca", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let t = root.table(&["ca", "list"]);
    assert!(t.contains("Certificate Authorities") && t.contains("Issuing CA"));
    let show = root.json(&["ca", "show", &sub_id]);
    assert!(show.get("private_key").is_none_or(Value::is_null));
    assert!(root.table(&["ca", "show", &root_id]).contains("the root"));
    let chain = root.json(&["ca", "chain", &sub_id]);
    let ids: Vec<String> = chain
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(ids, [sub_id.clone(), root_id.clone()]);
    assert!(
        root.table(&["ca", "chain", &sub_id])
            .contains(&format!("Chain for CA #{sub_id}"))
    );
    assert_eq!(
        root.json(&["ca", "children", &root_id])[0]["id"].to_string(),
        sub_id
    );
    assert!(
        root.table(&["ca", "children", &root_id])
            .contains("Issuing CA")
    );
    let key = root.json(&["ca", "private-key", &sub_id]);
    assert!(key["private_key"].as_str().unwrap().contains("PRIVATE KEY"));
    root.run(&["ca", "private-key", &sub_id, "--key-out", "sub.key"])
        .ok();
    assert_eq!(mode(&root.cwd().join("sub.key")), 0o600);
    let t = root.table(&[
        "ca",
        "create",
        "-n",
        "Third",
        "-s",
        "CN=Third",
        "--key-out",
        "third.key",
    ]);
    assert!(t.contains("CA Created") && !t.contains("PRIVATE KEY"));
    assert_eq!(mode(&root.cwd().join("third.key")), 0o600);
    // Assigning to an organization (superuser): with --cascade the sub-CA follows.
    let org = root.json(&["org", "create", "-n", "adopters"])["id"].to_string();
    let v = root.json(&["ca", "assign-org", &root_id, "--org", &org]);
    assert_eq!(v["organization_id"].to_string(), org);
    assert!(root.json(&["ca", "show", &sub_id])["organization_id"].is_null());
    let t = root.table(&["ca", "assign-org", &root_id, "--org", &org, "--cascade"]);
    assert!(t.contains(&format!("CA #{root_id}")), "{t}");
    assert_eq!(
        root.json(&["ca", "show", &sub_id])["organization_id"].to_string(),
        org
    );
    // A CA with children cannot go (409); confirmation first.
    let r = root.run(&["ca", "delete", &root_id, "--force"]).code(1);
    assert!(r.stderr.contains("Error 409"), "{r:#?}");
    root.run_with(&["ca", "delete", &sub_id], Some("n\n"), &[])
        .code(1);
    let r = root
        .run_with(&["ca", "delete", &sub_id, "-o", "table"], Some("y\n"), &[])
        .ok();
    assert!(r.stdout.contains(&format!("CA #{sub_id} deleted.")));
    assert_eq!(
        root.json(&["ca", "delete", &root_id, "-f"])["deleted"],
        true
    );
    root.run(&["ca", "show", &root_id]).code(1);
}

#[test]
fn certificates_in_both_formats() {
    let (_server, root) = root_session();
    let (_root_id, ca) = two_cas(&root);
    let c = root.json(&[
        "cert",
        "create",
        "--ca",
        &ca,
        "--cn",
        "www.example.com",
        "--san-dns",
        "www.example.com",
        "--san-ip",
        "10.0.0.1",
        "-k",
        "2048",
        "-v",
        "90",
    ]);
    assert_eq!(c["status"], "valid");
    assert!(c["private_key"].as_str().unwrap().contains("PRIVATE KEY"));
    let id = c["id"].as_i64().unwrap().to_string();
    let t = root.table(&[
        "cert",
        "create",
        "-c",
        &ca,
        "-n",
        "client@example.com",
        "-t",
        "client",
        "--no-private-key",
    ]);
    assert!(t.contains("Certificate Created") && !t.contains("PRIVATE KEY"));
    root.run(&[
        "cert",
        "create",
        "-c",
        &ca,
        "-n",
        "k.example.com",
        "--key-out",
        "k.key",
        "--cert-out",
        "k.pem",
    ])
    .ok();
    assert_eq!(mode(&root.cwd().join("k.key")), 0o600);
    assert!(
        std::fs::read_to_string(root.cwd().join("k.pem"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert_eq!(root.json(&["cert", "list"]).as_array().unwrap().len(), 3);
    assert_eq!(
        root.json(&["cert", "list", "--ca", &ca, "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(root.table(&["cert", "list"]).contains("www.example.com"));
    assert_eq!(
        root.json(&["cert", "show", &id])["common_name"],
        "www.example.com"
    );
    assert!(root.table(&["cert", "show", &id]).contains("Serial Number"));
    assert!(
        root.json(&["cert", "private-key", &id])["private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );

    // sign-csr from a file, by CA id and by CA name, and with a key made here.
    let (_, _, csr) = sample_files(root.cwd());
    let s = root.json(&["cert", "sign-csr", csr.to_str().unwrap(), "--ca", &ca]);
    assert_eq!(s["common_name"], "inspect.example");
    assert!(s.get("private_key").is_none_or(Value::is_null));
    let t = root.table(&[
        "cert",
        "sign-csr",
        csr.to_str().unwrap(),
        "--ca-name",
        "Issuing CA",
        "-n",
        "override.example",
    ]);
    assert!(t.contains("CSR Signed") && t.contains("override.example"));
    let g = root.json(&[
        "cert",
        "sign-csr",
        "--generate-key",
        "--cn",
        "gen.example.com",
        "--ca",
        &ca,
        "--key-algorithm",
        "ecdsa-p256",
        "--cert-out",
        "gen.pem",
    ]);
    assert_eq!(g["common_name"], "gen.example.com");
    assert_eq!(mode(&root.cwd().join("gen.example.com.key")), 0o600);
    let inspected = root.json(&["cert", "inspect", "gen.pem"]);
    assert_eq!(inspected["key_algorithm"], "ecdsa-p256");
    let gen_id = g["id"].as_i64().unwrap().to_string();

    // Renewal: a server-key certificate with {}, a CSR-origin one with a new CSR.
    let r = root.json(&["cert", "renew", &id]);
    assert_eq!(r["renewed_from_id"].to_string(), id);
    assert!(r["private_key"].as_str().unwrap().contains("PRIVATE KEY"));
    let t = root.table(&["cert", "renew", &id, "--server-key-out", "renewed.key"]);
    assert!(t.contains(&format!("Certificate renewed from #{id}")));
    assert_eq!(mode(&root.cwd().join("renewed.key")), 0o600);
    let r = root.run(&["cert", "renew", &gen_id]).code(1);
    assert!(
        r.stderr.contains("csr_required_for_csr_origin_cert"),
        "{r:#?}"
    );
    let r = root.json(&[
        "cert",
        "renew",
        &gen_id,
        "--generate-key",
        "--key-out",
        "gen2.key",
    ]);
    assert_eq!(r["renewed_from_id"].to_string(), gen_id);
    assert_eq!(mode(&root.cwd().join("gen2.key")), 0o600);
    let r = root.json(&["cert", "renew", &gen_id, "--csr", csr.to_str().unwrap()]);
    assert_eq!(r["renewed_from_id"].to_string(), gen_id);

    // Revocation asks first, then shows the revoked certificate.
    root.run_with(&["cert", "revoke", &id], Some("\n"), &[])
        .code(1);
    let v = root.json(&["cert", "revoke", &id, "-r", "keyCompromise", "-f"]);
    assert_eq!(v["status"], "revoked");
    assert!(!v["revoked_at"].is_null());
    let r = root.run(&["cert", "revoke", &id, "-f"]).code(1);
    assert!(r.stderr.contains("Error 409"), "{r:#?}");
    let t = root
        .run_with(
            &["cert", "revoke", &gen_id, "-o", "table"],
            Some("y\n"),
            &[],
        )
        .ok();
    assert!(t.stdout.contains("Revoked"));
}

#[test]
fn cert_list_expiring_shows_what_to_renew() {
    let (_server, root) = root_session();
    let ca = root.json(&[
        "ca",
        "create",
        "-n",
        "Expiry CA",
        "-s",
        "CN=Expiry CA",
        "--key-algorithm",
        "ecdsa-p256",
        "--allow-leaf-certs",
    ])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let issue = |cn: &str, days: &str| {
        root.json(&[
            "cert",
            "create",
            "-c",
            &ca,
            "-n",
            cn,
            "--key-algorithm",
            "ecdsa-p256",
            "-v",
            days,
        ])["id"]
            .as_i64()
            .unwrap()
    };
    let soon = issue("soon.example.com", "10");
    let _later = issue("later.example.com", "90");
    let revoked = issue("revoked.example.com", "10");
    root.run(&["cert", "revoke", &revoked.to_string(), "-f"])
        .ok();
    let ids = |v: Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(root.json(&["cert", "list", "--expiring", "30"])),
        [soon]
    );
    assert_eq!(
        ids(root.json(&[
            "cert",
            "list",
            "--expiring",
            "30",
            "--ca",
            &ca,
            "--limit",
            "5"
        ])),
        [soon]
    );
    assert_eq!(
        ids(root.json(&["cert", "list", "--expiring", "30", "--status", "revoked"])),
        [revoked]
    );
    assert_eq!(
        ids(root.json(&["cert", "list", "--expiring", "5"])),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(root.json(&["cert", "list", "--status", "revoked"])),
        [revoked]
    );
    let t = root.table(&["cert", "list", "--expiring", "30"]);
    assert!(
        t.contains("soon.example.com") && !t.contains("later.example.com"),
        "{t}"
    );
    let r = root.run(&["cert", "list", "--expiring", "0"]).code(1);
    assert!(
        r.stderr.contains("422") || r.stderr.contains("expiring_within_days"),
        "{r:#?}"
    );
    root.run(&["cert", "list", "--status", "bogus"]).code(2);
}

#[test]
fn exports_write_pem_files() {
    let (_server, root) = root_session();
    let (root_id, ca) = two_cas(&root);
    let c = root.json(&["cert", "create", "--ca", &ca, "--cn", "e.example.com"]);
    let id = c["id"].as_i64().unwrap().to_string();
    let cases: [(&str, &str, String, bool, &str); 5] = [
        (
            "ca-cert",
            root_id.as_str(),
            format!("ca_{root_id}_certificate.pem"),
            false,
            "CERTIFICATE",
        ),
        (
            "ca-key",
            root_id.as_str(),
            format!("ca_{root_id}_private_key.pem"),
            true,
            "PRIVATE KEY",
        ),
        (
            "cert",
            id.as_str(),
            format!("certificate_{id}.pem"),
            false,
            "CERTIFICATE",
        ),
        (
            "cert-key",
            id.as_str(),
            format!("certificate_{id}_private_key.pem"),
            true,
            "PRIVATE KEY",
        ),
        (
            "cert-chain",
            id.as_str(),
            format!("certificate_{id}_chain.pem"),
            false,
            "CERTIFICATE",
        ),
    ];
    for (what, rid, file, private, label) in cases {
        let r = root.run(&["export", what, rid]).ok();
        assert!(r.stdout.contains(&format!("Saved to {file}")), "{r:#?}");
        let path = root.cwd().join(&file);
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(
            pem.contains(&format!("-----BEGIN {label}-----")),
            "{what}: {pem}"
        );
        if private {
            assert_eq!(mode(&path), 0o600, "{what}");
        }
        root.run(&["export", what, rid, "-o", "custom.pem"]).ok();
        assert_eq!(
            std::fs::read_to_string(root.cwd().join("custom.pem")).unwrap(),
            pem
        );
        let r = root.run(&["export", what, rid, "-o", "-"]).ok();
        assert_eq!(r.stdout, pem);
    }
    let chain =
        std::fs::read_to_string(root.cwd().join(format!("certificate_{id}_chain.pem"))).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3);
    let v = root.json(&["cert", "inspect", &format!("certificate_{id}_chain.pem")]);
    assert_eq!(v[0]["common_name"], "e.example.com");
    assert_eq!(v[2]["self_issued"], true);
    let r = root.run(&["export", "cert", "999"]).code(1);
    assert!(r.stderr.contains("Error 404"), "{r:#?}");
}

#[test]
fn service_accounts_tokens_and_policies() {
    let (server, root) = root_session();
    let org = root.json(&["org", "create", "-n", "ops"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // Service accounts are organization-scoped: act as an admin of `ops`.
    root.json(&[
        "user",
        "create",
        "-u",
        "ops-admin",
        "-e",
        "ops@example.com",
        "-p",
        PASSWORD,
        "-r",
        "admin",
        "--org",
        &org,
    ]);
    let admin = User::new(&server);
    admin.login("ops-admin");
    let (_root_id, ca) = two_cas(admin_with_ca_rights(&root, &admin));

    let sa = admin.json(&[
        "service-account",
        "create",
        "-n",
        "deployer",
        "-d",
        "CI",
        "--can-create-cert",
    ]);
    assert_eq!(sa["can_create_cert"], true);
    let sa_id = sa["id"].as_i64().unwrap().to_string();
    assert!(
        admin
            .table(&["service-account", "create", "--name", "other"])
            .contains("Service Account Created")
    );
    assert_eq!(
        admin
            .json(&["service-account", "list"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        admin
            .table(&["service-account", "list"])
            .contains("deployer")
    );
    assert_eq!(
        admin.json(&["service-account", "show", &sa_id])["name"],
        "deployer"
    );
    assert!(
        admin
            .table(&["service-account", "show", &sa_id])
            .contains("Can Create Cert")
    );
    let v = admin.json(&[
        "service-account",
        "update",
        &sa_id,
        "-d",
        "CI/CD",
        "--no-can-revoke-cert",
    ]);
    assert_eq!(v["description"], "CI/CD");
    admin.run(&["service-account", "update", &sa_id]).code(2);

    let tok = admin.json(&[
        "service-account",
        "token",
        "create",
        &sa_id,
        "-n",
        "ci",
        "--expires-at",
        "2099-01-01T00:00:00Z",
    ]);
    let secret = tok["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("fpki_sa_"));
    let t = admin.table(&["service-account", "token", "create", &sa_id, "-n", "second"]);
    assert!(t.contains("Token Created") && t.contains("fpki_sa_"));
    let tokens = admin.json(&["service-account", "token", "list", &sa_id]);
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    assert!(tokens[0].get("token").is_none());
    assert!(
        admin
            .table(&["service-account", "token", "list", &sa_id])
            .contains("Public ID")
    );

    // Deny by default: no policy, no certificate.
    let sa_user = User::new(&server);
    let as_sa = |args: &[&str]| sa_user.run_with(args, None, &[("FASTPKI_TOKEN", &secret)]);
    let r = as_sa(&[
        "cert",
        "create",
        "--ca",
        &ca,
        "--cn",
        "app.svc.example.com",
        "-o",
        "json",
    ])
    .code(1);
    assert!(r.stderr.contains("service_account_has_no_policy"), "{r:#?}");

    let p = admin.json(&[
        "service-account",
        "policy",
        "set",
        &sa_id,
        "--max-validity-days",
        "30",
        "--cn-pattern",
        "*.svc.example.com",
        "--san-dns-pattern",
        "*.svc.example.com",
        "--allowed-ca-id",
        &ca,
        "--cert-type",
        "server",
    ]);
    assert_eq!(p["max_validity_days"], 30);
    assert_eq!(p["cn_patterns"], json!(["*.svc.example.com"]));
    assert!(
        admin
            .table(&["service-account", "policy", "show", &sa_id])
            .contains("*.svc.example.com")
    );
    assert_eq!(
        admin.json(&["service-account", "policy", "show", &sa_id])["allowed_ca_ids"],
        json!([ca.parse::<i64>().unwrap()])
    );

    let ok = as_sa(&[
        "cert",
        "create",
        "--ca",
        &ca,
        "--cn",
        "app.svc.example.com",
        "-v",
        "30",
        "-o",
        "json",
    ])
    .ok();
    assert_eq!(ok.json()["common_name"], "app.svc.example.com");
    let r = as_sa(&[
        "cert",
        "create",
        "--ca",
        &ca,
        "--cn",
        "evil.example.com",
        "-v",
        "30",
    ])
    .code(1);
    assert!(r.stderr.contains("policy_violation"), "{r:#?}");

    assert_eq!(
        admin.json(&["service-account", "policy", "clear", &sa_id, "-f"])["policy_cleared"],
        true
    );
    admin
        .run(&["service-account", "policy", "show", &sa_id])
        .code(1);
    let tid = tokens[0]["id"].as_i64().unwrap().to_string();
    admin
        .run_with(
            &["service-account", "token", "revoke", &sa_id, &tid],
            Some("n\n"),
            &[],
        )
        .code(1);
    let r = admin
        .run(&[
            "service-account",
            "token",
            "revoke",
            &sa_id,
            &tid,
            "-f",
            "-o",
            "table",
        ])
        .ok();
    assert!(r.stdout.contains(&format!("Token #{tid} revoked.")));
    let r = admin
        .run_with(
            &["service-account", "delete", &sa_id, "-o", "table"],
            Some("y\n"),
            &[],
        )
        .ok();
    assert!(r.stdout.contains("deleted."));
    admin.run(&["service-account", "show", &sa_id]).code(1);
}

/// Gives `admin` the right to create CAs (root grants it) and returns it.
fn admin_with_ca_rights<'a>(root: &User, admin: &'a User) -> &'a User {
    let me = admin.json(&["user", "me"]);
    let id = me["id"].as_i64().unwrap().to_string();
    root.json(&[
        "user",
        "update",
        &id,
        "--can-create-ca",
        "--can-create-cert",
    ]);
    admin
}

// ---- Compatibility with scripts written for the Python client. ----

/// A superuser session with an organization and a service account in it: (sa id).
fn service_account_of_root(root: &User) -> String {
    let org = root.json(&["org", "create", "-n", "ci"])["id"].to_string();
    root.json(&[
        "service-account",
        "create",
        "-n",
        "deployer",
        "--organization-id",
        &org,
    ])["id"]
        .to_string()
}

#[test]
fn token_create_prints_the_token_alone_on_stdout_and_the_warning_on_stderr() {
    let (_server, root) = root_session();
    let sa = service_account_of_root(&root);

    let r = root
        .run(&[
            "service-account",
            "token",
            "create",
            &sa,
            "-n",
            "ci",
            "-o",
            "table",
        ])
        .ok();
    // The last line of stdout is the token and nothing else; no other line has one.
    let token = r.stdout.lines().last().unwrap_or_default();
    assert!(
        token.starts_with("fpki_sa_") && !token.contains(char::is_whitespace),
        "{r:#?}"
    );
    let with_prefix: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("fpki_sa_"))
        .collect();
    assert_eq!(with_prefix, [token], "{r:#?}");
    assert!(r.stdout.contains("Token Created"), "{r:#?}");
    // The one-time warning is for the person at the terminal, not for the pipe.
    assert!(!r.stdout.contains("Store this token now"), "{r:#?}");
    assert!(
        r.stderr
            .contains("Store this token now — it will not be shown again"),
        "{r:#?}"
    );
    // The token works.
    let me = User::without_env();
    let as_sa = me
        .run_with(
            &["cert", "list", "-o", "json"],
            None,
            &[
                ("FASTPKI_URL", root.url.as_deref().unwrap()),
                ("FASTPKI_TOKEN", token),
            ],
        )
        .ok();
    assert_eq!(as_sa.json(), json!([]));

    // What scripts do with it, through a real shell and pipe.
    for script in [
        r#""$FASTPKI" service-account token create SA_ID -n grep -o table 2>/dev/null | grep fpki_sa_"#,
        r#""$FASTPKI" service-account token create SA_ID -n awk -o table 2>/dev/null | awk '/^fpki_sa_/ { print $1 }'"#,
        r#""$FASTPKI" service-account token create SA_ID -n tail -o table 2>/dev/null | tail -n 1"#,
    ] {
        let r = root.shell(&script.replace("SA_ID", &sa)).ok();
        let out = r.stdout.trim_end_matches('\n');
        assert!(
            out.starts_with("fpki_sa_") && !out.contains(char::is_whitespace),
            "{script}: {r:#?}"
        );
    }

    // JSON for machines is unchanged: one document with the token, the warning on stderr.
    let r = root
        .run(&["service-account", "token", "create", &sa, "-o", "json"])
        .ok();
    assert!(r.json()["token"].as_str().unwrap().starts_with("fpki_sa_"));
    assert!(r.stderr.contains("Store this token now"), "{r:#?}");
}

/// Exit status and stderr of a command whose reader went away: quiet, like `cat | head`.
#[track_caller]
fn assert_quiet_on_closed_pipe(what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe") && stderr.is_empty(),
        "{what}: stderr {stderr:?}"
    );
    assert_eq!(status.code(), Some(141), "{what}: {status:?}");
}

#[test]
fn a_closed_pipe_ends_the_client_quietly() {
    let (_server, root) = root_session();
    // A bundle whose readable form is far larger than a pipe's buffer, so the writer
    // is still writing when `head -1` has gone.
    let (cert, _, _) = sample_files(root.cwd());
    let pem = std::fs::read_to_string(cert).unwrap();
    std::fs::write(root.cwd().join("big.pem"), pem.repeat(300)).unwrap();
    let r = root
        .shell(r#"{ "$FASTPKI" cert inspect big.pem -o table; echo "status=$?" >&2; } | head -1"#)
        .ok();
    assert_eq!(r.stdout.lines().count(), 1, "{r:#?}");
    assert_eq!(r.stderr, "status=141\n", "{r:#?}");

    // Commands that ask the server first, into a pipe already closed.
    let (_root_ca, ca) = two_cas(&root);
    root.json(&["cert", "create", "--ca", &ca, "--cn", "pipe.example.com"]);
    for args in [
        vec!["cert", "list"],
        vec!["cert", "list", "-o", "json"],
        vec!["ca", "list", "-o", "table"],
        vec!["export", "ca-cert", &ca, "-o", "-"],
        vec!["config", "path"],
    ] {
        let (status, stderr) = root.run_into_closed_pipe(&args);
        assert_quiet_on_closed_pipe(&format!("{args:?}"), status, &stderr);
    }
}

#[test]
fn key_algorithm_for_server_made_keys() {
    let (_server, root) = root_session();
    // A configured RSA size is not sent with another algorithm.
    root.run(&["config", "set", "defaults.ca_key_size", "2048"])
        .ok();
    root.run(&["config", "set", "defaults.cert_key_size", "2048"])
        .ok();
    let ca = root.json(&[
        "ca",
        "create",
        "-n",
        "EC Root",
        "-s",
        "CN=EC Root",
        "--key-algorithm",
        "ecdsa-p384",
    ]);
    assert_eq!(ca["key_algorithm"], "ecdsa-p384", "{ca:#}");
    assert_eq!(ca["key_size"], 384);
    let key = pki::PrivateKey::from_pem(ca["private_key"].as_str().unwrap()).unwrap();
    assert_eq!(key.algorithm(), pki::KeyAlgorithm::EcdsaP384);
    let ca_id = ca["id"].to_string();
    assert!(root.table(&["ca", "show", &ca_id]).contains("ecdsa-p384"));

    for (alg, expect) in [
        ("ed25519", pki::KeyAlgorithm::Ed25519),
        ("ecdsa-p256", pki::KeyAlgorithm::EcdsaP256),
        ("rsa", pki::KeyAlgorithm::Rsa { bits: 2048 }),
    ] {
        let cn = format!("{alg}.example.com");
        let c = root.json(&[
            "cert",
            "create",
            "--ca",
            &ca_id,
            "--cn",
            &cn,
            "--key-algorithm",
            alg,
        ]);
        assert_eq!(c["key_algorithm"], alg, "{c:#}");
        let key = pki::PrivateKey::from_pem(c["private_key"].as_str().unwrap()).unwrap();
        assert_eq!(key.algorithm(), expect);
    }
    let t = root.table(&[
        "cert",
        "create",
        "-c",
        &ca_id,
        "-n",
        "table.example.com",
        "--key-algorithm",
        "ed25519",
        "--key-out",
        "table.key",
    ]);
    assert!(t.contains("Key Algorithm") && t.contains("ed25519"), "{t}");

    // A typo is a usage error that names the choices; so is an RSA size with a curve.
    for args in [
        vec![
            "ca",
            "create",
            "-n",
            "x",
            "-s",
            "CN=x",
            "--key-algorithm",
            "ecdsa-p521",
        ],
        vec![
            "cert",
            "create",
            "-c",
            &ca_id,
            "-n",
            "x",
            "--key-algorithm",
            "ED-25519",
        ],
    ] {
        let r = root.run(&args).code(2);
        assert!(
            r.stderr.contains("invalid value")
                && r.stderr.contains("ecdsa-p256, ecdsa-p384, ed25519"),
            "{args:?}: {r:#?}"
        );
    }
    let r = root
        .run(&[
            "cert",
            "create",
            "-c",
            &ca_id,
            "-n",
            "x",
            "--key-algorithm",
            "ed25519",
            "-k",
            "4096",
        ])
        .code(2);
    assert!(r.stderr.contains("--key-size"), "{r:#?}");
    assert_eq!(root.json(&["cert", "list"]).as_array().unwrap().len(), 4);
}

#[test]
fn ca_assign_org_moves_a_ca_into_an_organization() {
    let (server, root) = root_session();
    let (root_ca, sub_ca) = two_cas(&root);
    let org = root.json(&["org", "create", "-n", "acme"])["id"].to_string();
    let other = root.json(&["org", "create", "-n", "other"])["id"].to_string();
    let org_of = |id: &str| root.json(&["ca", "show", id])["organization_id"].to_string();
    assert_eq!(org_of(&root_ca), "null");

    // `-o` is `--org` here, as in the Python client; `--output` still chooses the format.
    let v = root
        .run(&["ca", "assign-org", &root_ca, "-o", &org, "--output", "json"])
        .ok()
        .json();
    assert_eq!(v["id"].to_string(), root_ca);
    assert_eq!(v["organization_id"].to_string(), org);
    assert_eq!(org_of(&sub_ca), "null", "no --cascade: the child stays");

    // With --cascade the org-less descendants follow; the group's -o sets the format.
    let v = root
        .run(&[
            "ca",
            "-o",
            "json",
            "assign-org",
            &root_ca,
            "--org",
            &org,
            "--cascade",
        ])
        .ok()
        .json();
    assert_eq!(v["organization_id"].to_string(), org);
    assert_eq!(org_of(&sub_ca), org);

    let t = root.table(&["ca", "assign-org", &sub_ca, "--org", &org]);
    assert!(
        t.contains(&format!("CA #{sub_ca}")) && t.contains("Organization"),
        "{t}"
    );

    // Another organization's CA moves too (FastPKI's rule); the server refuses a
    // non-superuser, the client a missing --org.
    let v = root.json(&["ca", "assign-org", &root_ca, "--org", &other]);
    assert_eq!(v["organization_id"].to_string(), other);
    root.json(&[
        "user",
        "create",
        "-u",
        "admin",
        "-e",
        "admin@example.com",
        "-p",
        PASSWORD,
        "-r",
        "admin",
        "--org",
        &org,
    ]);
    let admin = User::new(&server);
    admin.login("admin");
    let r = admin
        .run(&["ca", "assign-org", &root_ca, "--org", &org])
        .code(1);
    assert!(r.stderr.contains("Error 403"), "{r:#?}");
    root.run(&["ca", "assign-org", &root_ca]).code(2);
}

#[test]
fn acme_directories_and_eab_keys() {
    use base64::Engine;
    let (server, root) = root_session();
    let org = root.json(&["org", "create", "-n", "web"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    root.json(&[
        "user",
        "create",
        "-u",
        "web-admin",
        "-e",
        "web@example.com",
        "-p",
        PASSWORD,
        "-r",
        "admin",
        "--org",
        &org,
    ]);
    let admin = User::new(&server);
    admin.login("web-admin");
    let (_root_ca, ca) = two_cas(admin_with_ca_rights(&root, &admin));
    let sa = admin.json(&["service-account", "create", "-n", "acme"])["id"]
        .as_i64()
        .unwrap()
        .to_string();

    let d = admin.json(&[
        "acme",
        "directory",
        "create",
        "-n",
        "prod",
        "--ca",
        &ca,
        "--service-account",
        &sa,
    ]);
    assert_eq!(d["url"], format!("{}/acme/prod/directory", server.url));
    assert_eq!(d["require_eab"], true);
    assert_eq!(
        d["challenge_types"],
        json!(["http-01", "dns-01", "tls-alpn-01"])
    );
    let id = d["id"].as_i64().unwrap().to_string();
    let t = admin.table(&[
        "acme",
        "directory",
        "create",
        "-n",
        "lab",
        "--ca",
        &ca,
        "--service-account",
        &sa,
        "--no-eab",
        "--challenge",
        "dns-01",
        "--challenge",
        "http-01",
        "-t",
        "client",
    ]);
    assert!(
        t.contains("ACME Directory Created") && t.contains("client"),
        "{t}"
    );
    let list = admin.json(&["acme", "directory", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["require_eab"], false);
    assert_eq!(list[1]["challenge_types"], json!(["dns-01", "http-01"]));
    assert!(admin.table(&["acme", "directory", "list"]).contains("prod"));
    assert_eq!(
        admin.json(&["acme", "directory", "show", &id])["name"],
        "prod"
    );
    assert!(
        admin
            .table(&["acme", "directory", "show", &id])
            .contains("Challenge Types")
    );
    let v = admin.json(&[
        "acme",
        "directory",
        "update",
        &id,
        "-n",
        "production",
        "--no-require-eab",
    ]);
    assert_eq!(
        (v["name"].as_str(), v["require_eab"].as_bool()),
        (Some("production"), Some(false))
    );
    admin.run(&["acme", "directory", "update", &id]).code(2);
    let r = admin
        .run(&[
            "acme",
            "directory",
            "create",
            "-n",
            "Bad Name",
            "--ca",
            &ca,
            "--service-account",
            &sa,
        ])
        .code(1);
    assert!(r.stderr.contains("422"), "{r:#?}");

    // The HMAC key, once: in the JSON document, or alone on the last line of stdout.
    let r = admin
        .run(&["acme", "eab", "create", &id, "-o", "json"])
        .ok();
    let k = r.json();
    assert!(r.stderr.contains("Store this HMAC key now"), "{r:#?}");
    let decoded = |key: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .unwrap()
            .len()
    };
    assert_eq!(decoded(k["hmac_key"].as_str().unwrap()), 32);
    assert!(
        k["directory_url"]
            .as_str()
            .unwrap()
            .ends_with("/acme/production/directory")
    );
    let r = admin
        .run(&[
            "acme",
            "eab",
            "create",
            &id,
            "--service-account",
            &sa,
            "-o",
            "table",
        ])
        .ok();
    assert!(r.stdout.contains("EAB Key Created"), "{r:#?}");
    let last = r.stdout.trim_end().lines().last().unwrap().trim();
    assert_eq!(decoded(last), 32, "{r:#?}");
    let keys = admin.json(&["acme", "eab", "list", &id]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(keys[0].get("hmac_key").is_none());
    assert_eq!(keys[1]["service_account_id"].to_string(), sa);
    assert!(
        admin
            .table(&["acme", "eab", "list", &id])
            .contains("Key ID")
    );
    let kid = k["kid"].as_str().unwrap();
    admin
        .run_with(&["acme", "eab", "revoke", &id, kid], Some("n\n"), &[])
        .code(1);
    assert_eq!(
        admin.json(&["acme", "eab", "revoke", &id, kid, "-f"])["revoked"],
        true
    );
    assert!(admin.json(&["acme", "eab", "list", &id])[0]["revoked_at"].is_string());

    // A plain user of the organization is refused.
    root.json(&[
        "user",
        "create",
        "-u",
        "web-user",
        "-e",
        "wu@example.com",
        "-p",
        PASSWORD,
        "--org",
        &org,
    ]);
    let user = User::new(&server);
    user.login("web-user");
    let r = user.run(&["acme", "directory", "list"]).code(1);
    assert!(r.stderr.contains("403"), "{r:#?}");

    let r = admin
        .run(&["acme", "directory", "delete", &id, "-f", "-o", "table"])
        .ok();
    assert!(
        r.stdout.contains(&format!("ACME directory #{id} deleted.")),
        "{r:#?}"
    );
    admin.run(&["acme", "directory", "show", &id]).code(1);
}

#[test]
fn ca_import_csr_and_install_cert() {
    let (_server, root) = root_session();
    // A root made by openssl; its key encrypted (PKCS#8), its certificate in DER.
    root.shell(
        "openssl ecparam -genkey -name prime256v1 -noout -out k.pem \
         && openssl pkcs8 -topk8 -v2 aes256 -passout pass:pw -in k.pem -out enc.pem \
         && openssl req -x509 -new -key k.pem -days 30 -subj '/CN=CLI Root' -out root.pem \
         && openssl x509 -in root.pem -outform DER -out root.der \
         && printf 'pw\\n' > pass.txt \
         && openssl ecparam -genkey -name prime256v1 -noout -out other.pem",
    )
    .ok();
    // Encrypted, and no passphrase nor terminal to ask it on.
    let import = [
        "ca", "import", "-n", "cli root", "--cert", "root.der", "--key", "enc.pem",
    ];
    let r = root.run(&import).code(2);
    assert!(r.stderr.contains("--passphrase-file"), "{r:#?}");
    let mut with_pass = import.to_vec();
    with_pass.extend(["--passphrase-file", "pass.txt"]);
    let v = root.json(&with_pass);
    assert_eq!(v["is_root"], true);
    assert_eq!(v["key_algorithm"], "ecdsa-p256");
    let id = v["id"].to_string();
    let r = root
        .run(&[
            "ca",
            "import",
            "-n",
            "x",
            "--cert",
            "root.pem",
            "--key",
            "other.pem",
        ])
        .code(1);
    assert!(
        r.stderr.contains("Error 400") && r.stderr.contains("does not match"),
        "{r:#?}"
    );

    // A pending CA: its CSR to a file, signed by the root with openssl, installed.
    let p = root.json(&[
        "ca",
        "csr",
        "-n",
        "cli issuing",
        "-s",
        "CN=CLI Issuing,O=Example",
        "--key-algorithm",
        "ecdsa-p256",
        "--csr-out",
        "issuing.csr",
    ]);
    assert_eq!(p["pending"], true);
    assert!(p.get("csr").is_none(), "written to the file instead: {p}");
    let pid = p["id"].to_string();
    root.shell(
        "printf '[v3]\\nbasicConstraints=critical,CA:TRUE,pathlen:0\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ext.cnf \
         && openssl req -in issuing.csr -noout -verify \
         && openssl x509 -req -in issuing.csr -CA root.pem -CAkey k.pem -CAcreateserial -days 10 \
            -extfile ext.cnf -extensions v3 -out issuing.pem",
    )
    .ok();
    let v = root.json(&[
        "ca",
        "install-cert",
        &pid,
        "--cert",
        "issuing.pem",
        "--parent",
        &id,
    ]);
    assert_eq!(v["pending"], false);
    assert_eq!(v["parent_ca_id"].to_string(), id);
    let cert = root.json(&["cert", "create", "--ca", &pid, "--cn", "svc.example.com"]);
    assert!(
        cert["certificate"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    // A CSR for an existing CA's own key, shown in the table; key options need --new-key.
    let t = root.table(&["ca", "csr", &id]);
    assert!(t.contains("BEGIN CERTIFICATE REQUEST"), "{t}");
    root.run(&["ca", "csr", &id, "-n", "renamed"]).code(2);
    let next = root.json(&["ca", "csr", &id, "--new-key"]);
    assert_eq!(next["name"], "cli root (new key)");
    assert_eq!(next["pending"], true);
}

#[test]
fn org_webhooks_in_both_formats() {
    let (_server, root) = root_session();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(test_support::webhooks::Receiver::start());
    let org = root.json(&["org", "create", "-n", "hooked"])["id"].to_string();
    let url = receiver.url("/hook");

    // The secret appears once: the JSON's `secret`, or the table's last line alone.
    let v = root.json(&[
        "org",
        "webhook",
        "create",
        &org,
        "--url",
        &url,
        "-e",
        "certificate.issued",
        "--event",
        "certificate.revoked",
        "-d",
        "inventory",
    ]);
    assert_eq!(
        v["events"],
        json!(["certificate.issued", "certificate.revoked"])
    );
    assert_eq!(v["description"], "inventory");
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = v["id"].to_string();
    let r = root
        .run(&[
            "org",
            "webhook",
            "create",
            &org,
            "--url",
            "https://hooks.example.com/",
            "-o",
            "table",
        ])
        .ok();
    assert!(r.stdout.contains("Webhook Created"), "{r:#?}");
    assert!(
        r.stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("whsec_"),
        "{r:#?}"
    );
    assert!(r.stderr.contains("will not be shown again"), "{r:#?}");

    let list = root.json(&["org", "webhook", "list", &org]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("whsec_"));
    assert!(
        root.table(&["org", "webhook", "list", &org])
            .contains("inventory")
    );
    assert_eq!(
        root.json(&["org", "webhook", "show", &org, &id])["url"],
        url
    );
    let rotated = root.json(&["org", "webhook", "rotate-secret", &org, &id]);
    let secret2 = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(secret2, secret);

    // A certificate of the organization: its event is delivered, and listed.
    let ca = root.json(&[
        "ca",
        "create",
        "-n",
        "Hooked CA",
        "-s",
        "CN=Hooked CA",
        "--key-algorithm",
        "ecdsa-p256",
        "--allow-leaf-certs",
    ])["id"]
        .to_string();
    root.run(&["ca", "assign-org", &ca, "-o", &org]).ok();
    root.json(&[
        "cert",
        "create",
        "-c",
        &ca,
        "-n",
        "hooked.example.com",
        "--key-algorithm",
        "ecdsa-p256",
    ]);
    let got = rt.block_on(receiver.wait_until(
        std::time::Duration::from_secs(60),
        "the issued event",
        |r| !r.is_empty(),
    ));
    test_support::webhooks::verify_with_openssl(&secret2, &got[0]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let deliveries = loop {
        let d = root.json(&["org", "webhook", "deliveries", &org, &id]);
        if d[0]["status"] == "delivered" {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(deliveries[0]["event_type"], "certificate.issued");
    assert_eq!(deliveries[0]["event_id"], got[0].event_id().as_str());
    let t = root.table(&["org", "webhook", "deliveries", &org, &id]);
    assert!(
        t.contains("certificate.issued") && t.contains("delivered"),
        "{t}"
    );

    // The server's 422 says what is wrong; deleting asks first.
    let r = root
        .run(&[
            "org",
            "webhook",
            "create",
            &org,
            "--url",
            &url,
            "-e",
            "certificate.deleted",
        ])
        .code(1);
    assert!(r.stderr.starts_with("Error 422:"), "{r:#?}");
    let r = root
        .run(&[
            "org",
            "webhook",
            "create",
            &org,
            "--url",
            "ftp://x.example.com/",
        ])
        .code(1);
    assert!(r.stderr.contains("http:// or https://"), "{r:#?}");
    root.run_with(&["org", "webhook", "delete", &org, &id], Some("no\n"), &[])
        .code(1);
    let v = root.json(&["org", "webhook", "delete", &org, &id, "-f"]);
    assert_eq!(v["deleted"], true);
    root.run(&["org", "webhook", "show", &org, &id]).code(1);
}
