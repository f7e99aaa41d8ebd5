//! `fastpki config show|get|set|unset|path`: the same file and keys as the Python client.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::config::{self, Config};
use super::output::Out;
use super::{Failure, OutputArg, Res};

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(flatten)]
    output: OutputArg,
    #[command(subcommand)]
    cmd: ConfigCmd,
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Show all configuration (tokens masked unless --show-secrets).
    Show {
        /// Print tokens in full
        #[arg(long)]
        show_secrets: bool,
    },
    /// Get a configuration value (exit 1 when unset).
    Get {
        /// Config key (dot-separated, e.g. server.url)
        key: String,
    },
    /// Set a configuration value.
    ///
    /// Common keys:
    ///   server.url               API server URL
    ///   server.ca_bundle         PEM file of CAs to trust for https (ours)
    ///   defaults.output_format   table or json
    ///   defaults.ca_key_size     Default CA key size
    ///   defaults.ca_valid_days   Default CA validity
    ///   defaults.cert_key_size   Default cert key size
    ///   defaults.cert_valid_days Default cert validity
    #[command(verbatim_doc_comment)]
    Set {
        /// Config key (dot-separated)
        key: String,
        /// Value to set (true, false, null and integers are stored as such)
        value: String,
    },
    /// Remove a configuration value.
    Unset {
        /// Config key to remove
        key: String,
    },
    /// Show the config file path.
    Path,
}

const SECRET_KEYS: [&str; 2] = ["token", "refresh_token"];

pub fn check_url(url: &str) -> Res<()> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "server.url must start with http:// or https://, got {url:?}"
        )))
    }
}

fn mask(v: &mut Value) {
    if let Some(auth) = v.get_mut("auth").and_then(Value::as_object_mut) {
        for k in SECRET_KEYS {
            if let Some(Value::String(s)) = auth.get_mut(k) {
                let head: String = s.chars().take(8).collect();
                *s = format!("{head}…");
            }
        }
    }
}

pub fn run(a: ConfigArgs) -> Res<()> {
    let mut cfg = Config::load()?;
    let out = Out::new(a.output.output, &cfg)?;
    let path = cfg.path().display().to_string();
    match a.cmd {
        ConfigCmd::Show { show_secrets } => {
            let mut v = cfg.as_value();
            if !show_secrets {
                mask(&mut v);
            }
            if out.is_json() {
                out.json(&v);
            } else if cfg.is_empty() {
                outln!("No configuration set.");
                outln!("Config file: {path}");
            } else {
                out.json(&v);
                outln!("\nConfig file: {path}");
            }
        }
        // Text stays raw unless `-o json` is given, so `$(fastpki config get server.url)` works
        // whatever defaults.output_format says.
        ConfigCmd::Get { key } => match cfg.get(&key) {
            None => {
                eprintln!("{key} is not set.");
                return Err(Failure::Silent);
            }
            Some(Value::String(s)) if a.output.output != Some(super::Format::Json) => {
                outln!("{s}")
            }
            Some(v @ (Value::Object(_) | Value::Array(_))) => out.json(v),
            Some(v) => outln!("{v}"),
        },
        ConfigCmd::Set { key, value } => {
            if key.split('.').any(str::is_empty) {
                return Err(Failure::Usage(format!("{key:?} is not a dotted key")));
            }
            let mut parsed = config::parse_value(&value);
            match key.as_str() {
                "server.url" => {
                    let url = value.trim().trim_end_matches('/').to_string();
                    check_url(&url)?;
                    parsed = Value::String(url);
                }
                "defaults.output_format" => {
                    let f = value.trim().to_ascii_lowercase();
                    if f != "table" && f != "json" {
                        return Err(Failure::Usage(format!(
                            "defaults.output_format must be table or json, got {value:?}"
                        )));
                    }
                    parsed = Value::String(f);
                }
                _ => {}
            }
            cfg.set(&key, parsed.clone());
            cfg.save()?;
            let shown = match &parsed {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.done(&format!("{key} = {shown}"), json!({ key: parsed }));
        }
        ConfigCmd::Unset { key } => {
            let removed = cfg.unset(&key);
            if removed {
                cfg.save()?;
            }
            let text = if removed {
                format!("{key} removed.")
            } else {
                format!("{key} was not set.")
            };
            out.done(&text, json!({"key": key, "removed": removed}));
        }
        ConfigCmd::Path => {
            if out.is_json() {
                out.json(&json!({ "path": path }));
            } else {
                outln!("{path}");
            }
        }
    }
    Ok(())
}
