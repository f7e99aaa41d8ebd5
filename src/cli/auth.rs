//! `fastpki auth login|logout|status`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Ctx, OutputArg, Res};

#[derive(Args, Debug)]
pub struct AuthArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: AuthCmd,
}

#[derive(Subcommand, Debug)]
enum AuthCmd {
    /// Authenticate and store the access and refresh tokens.
    Login {
        #[arg(short = 'u', long)]
        username: Option<String>,
        /// Password; asked for without echo when not given (or read from standard input)
        #[arg(short = 'p', long)]
        password: Option<String>,
        /// Server URL (saves to config)
        #[arg(short = 's', long)]
        server: Option<String>,
    },
    /// End the session on the server and clear the stored tokens.
    Logout,
    /// Show current authentication status (exit 1 when not authenticated).
    Status,
}

pub fn run(a: AuthArgs) -> Res<()> {
    match a.cmd {
        AuthCmd::Login {
            username,
            password,
            server,
        } => {
            if let Some(url) = server {
                let url = url.trim().trim_end_matches('/').to_string();
                super::config_cmd::check_url(&url)?;
                let mut cfg = super::config::Config::load()?;
                cfg.set("server.url", url.into());
                cfg.save()?;
            }
            let username = super::need(username, "--username", "Username")?;
            let password = super::password(password, false)?;
            let mut ctx = Ctx::new(&a.output)?;
            ctx.api.login(&username, &password)?;
            if ctx.api.token_from_env() {
                eprintln!("Note: FASTPKI_TOKEN is set and overrides the stored token.");
            }
            let base = ctx.api.base().to_string();
            ctx.out.done(
                &format!("Logged in as {username} at {base}"),
                json!({"username": username, "server": base}),
            );
            Ok(())
        }
        AuthCmd::Logout => {
            let mut ctx = Ctx::new(&a.output)?;
            let confirmed = ctx.api.logout()?;
            ctx.out.done(
                "Logged out.",
                json!({"logged_out": true, "server_session_ended": confirmed}),
            );
            Ok(())
        }
        AuthCmd::Status => {
            let mut ctx = Ctx::new(&a.output)?;
            let base = ctx.api.base().to_string();
            if ctx.api.token().is_none() {
                if ctx.out.is_json() {
                    ctx.out
                        .json(&json!({"server": base, "authenticated": false}));
                } else {
                    outln!("Not authenticated.");
                }
                return Err(super::Failure::Silent);
            }
            let user = ctx.api.get("/users/me", &[])?;
            if ctx.out.is_json() {
                ctx.out
                    .json(&json!({"server": base, "authenticated": true, "user": user}));
                return Ok(());
            }
            let s = |k: &str| super::output::text(user.get(k));
            outln!("Server: {base}");
            outln!("User:   {}", s("username"));
            outln!("Role:   {}", s("role"));
            outln!("Email:  {}", s("email"));
            if !matches!(user.get("organization_id"), None | Some(Value::Null)) {
                outln!("Org ID: {}", s("organization_id"));
            }
            outln!("Token is valid.");
            Ok(())
        }
    }
}
