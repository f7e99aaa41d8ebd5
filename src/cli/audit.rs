//! `fastpki audit list` with every filter the server has.

use clap::{Args, Subcommand};

use super::output::Fields;
use super::{Ctx, OutputArg, Res};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// List audit log entries.
    List {
        /// Filter by action type (e.g. login_success, cert_create)
        #[arg(short = 'a', long)]
        action: Option<String>,
        /// Filter by user ID
        #[arg(short = 'u', long = "user")]
        user_id: Option<i64>,
        #[arg(short = 't', long)]
        resource_type: Option<String>,
        #[arg(short = 'r', long)]
        resource_id: Option<i64>,
        /// ISO datetime
        #[arg(long)]
        since: Option<String>,
        /// ISO datetime
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 0)]
        skip: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

const COLUMNS: Fields<'static> = &[
    ("ID", "id"),
    ("Action", "action"),
    ("User", "username"),
    ("Resource Type", "resource_type"),
    ("Resource ID", "resource_id"),
    ("Detail", "detail"),
    ("Created At", "created_at"),
];

pub fn run(a: AuditArgs) -> Res<()> {
    let mut ctx = Ctx::new(&a.output)?;
    let AuditCmd::List {
        action,
        user_id,
        resource_type,
        resource_id,
        since,
        until,
        skip,
        limit,
    } = a.cmd;
    let mut q = vec![("skip", skip.to_string()), ("limit", limit.to_string())];
    let opt = [
        ("action", action),
        ("user_id", user_id.map(|v| v.to_string())),
        ("resource_type", resource_type),
        ("resource_id", resource_id.map(|v| v.to_string())),
        ("since", since),
        ("until", until),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    let data = ctx.api.get("/audit-logs/", &q)?;
    ctx.out.list(&data, COLUMNS, "Audit Logs");
    Ok(())
}
