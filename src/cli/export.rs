//! `fastpki export ca-cert|ca-key|cert|cert-key|cert-chain [-o FILE]`: PEM downloads.
//!
//! Default file names are the server's (and the Python client's); `-o -` writes to
//! stdout. Private keys are written with mode 0600.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Ctx, OutputArg, Res};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    cmd: ExportCmd,
}

#[derive(Subcommand, Debug)]
enum ExportCmd {
    /// Download CA certificate as PEM.
    CaCert {
        /// CA ID
        ca_id: i64,
        /// Output file path ("-" for stdout)
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Download CA private key as PEM.
    CaKey {
        /// CA ID
        ca_id: i64,
        /// Output file path ("-" for stdout)
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Download certificate as PEM.
    Cert {
        /// Certificate ID
        cert_id: i64,
        /// Output file path ("-" for stdout)
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Download certificate private key as PEM.
    CertKey {
        /// Certificate ID
        cert_id: i64,
        /// Output file path ("-" for stdout)
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Download full certificate chain as PEM.
    CertChain {
        /// Certificate ID
        cert_id: i64,
        /// Output file path ("-" for stdout)
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
}

pub fn run(a: ExportArgs) -> Res<()> {
    let (path, default, output, private) = match a.cmd {
        ExportCmd::CaCert { ca_id, output } => (
            format!("/export/ca/{ca_id}/certificate"),
            format!("ca_{ca_id}_certificate.pem"),
            output,
            false,
        ),
        ExportCmd::CaKey { ca_id, output } => (
            format!("/export/ca/{ca_id}/private-key"),
            format!("ca_{ca_id}_private_key.pem"),
            output,
            true,
        ),
        ExportCmd::Cert { cert_id, output } => (
            format!("/export/certificate/{cert_id}"),
            format!("certificate_{cert_id}.pem"),
            output,
            false,
        ),
        ExportCmd::CertKey { cert_id, output } => (
            format!("/export/certificate/{cert_id}/private-key"),
            format!("certificate_{cert_id}_private_key.pem"),
            output,
            true,
        ),
        ExportCmd::CertChain { cert_id, output } => (
            format!("/export/certificate/{cert_id}/chain"),
            format!("certificate_{cert_id}_chain.pem"),
            output,
            false,
        ),
    };
    // Export has no --output format (its -o is the file), so tables/JSON do not apply.
    let mut ctx = Ctx::new(&OutputArg::default())?;
    let data = ctx.api.download(&path)?;
    let out = output.unwrap_or_else(|| PathBuf::from(default));
    super::write_file(&out, &data, private)?;
    if out.as_os_str() != "-" {
        let mode = if private { " (mode 0600)" } else { "" };
        outln!("Saved to {}{mode}", out.display());
    }
    Ok(())
}
