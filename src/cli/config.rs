//! The client's configuration file, shared with the Python FastPKI client:
//! `$XDG_CONFIG_HOME/fastpki/config.json` (else `~/.config/fastpki/config.json`),
//! a JSON object addressed with dotted keys (`server.url`, `auth.token`, `defaults.*`).
//!
//! Unlike the Python client we always write it with mode 0600 (it holds tokens),
//! atomically (a temporary file renamed over the old one), and keep keys we do not
//! know untouched so both clients can share one file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Failure, Res};

/// Where the Python client's default server lives; ours listens there too.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:8000";

/// The configuration file's path, computed exactly as the Python client does.
pub fn path() -> PathBuf {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".config")
        }
    };
    base.join("fastpki").join("config.json")
}

/// The parsed file; an absent file is an empty object.
#[derive(Debug, Clone, Default)]
pub struct Config {
    root: Map<String, Value>,
    path: PathBuf,
}

impl Config {
    /// Reads the configuration file (missing: empty).
    pub fn load() -> Res<Config> {
        Self::load_from(path())
    }

    pub fn load_from(path: PathBuf) -> Res<Config> {
        let root = match fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Map::new(),
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(Failure::Other(format!(
                        "{} does not hold a JSON object",
                        path.display()
                    )));
                }
                Err(e) => {
                    return Err(Failure::Other(format!(
                        "{} is not valid JSON: {e}",
                        path.display()
                    )));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Failure::Other(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(Config { root, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    pub fn as_value(&self) -> Value {
        Value::Object(self.root.clone())
    }

    /// The value at a dotted key, if any (JSON null counts as unset, as in Python).
    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for part in parts {
            cur = cur.as_object()?.get(part)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// A string value (numbers are shown as text too).
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A positive integer default (`defaults.*`), accepting `4096` and `"4096"` alike;
    /// 0, false and empty fall back, as Python's `or` does.
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        match self.get(key)? {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| *n > 0)
    }

    /// Sets a dotted key, turning non-objects on the way into objects (as Python does).
    pub fn set(&mut self, key: &str, value: Value) {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, dirs) = parts.split_last().expect("split yields at least one part");
        let mut obj = &mut self.root;
        for part in dirs {
            let entry = obj
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            obj = entry.as_object_mut().expect("made an object just above");
        }
        obj.insert(last.to_string(), value);
    }

    /// Removes a dotted key; false when it was not there.
    pub fn unset(&mut self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, dirs) = parts.split_last().expect("split yields at least one part");
        let mut obj = &mut self.root;
        for part in dirs {
            match obj.get_mut(*part).and_then(Value::as_object_mut) {
                Some(o) => obj = o,
                None => return false,
            }
        }
        obj.remove(*last).is_some()
    }

    /// Writes the file with mode 0600, atomically; the folder is made 0700 when new.
    pub fn save(&self) -> Res<()> {
        let io = |what: &str, e: std::io::Error| {
            Failure::Other(format!("cannot {what} {}: {e}", self.path.display()))
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io("create the folder of", e))?;
        }
        let mut text = serde_json::to_string_pretty(&self.root)
            .map_err(|e| Failure::Other(format!("cannot serialize the configuration: {e}")))?;
        text.push('\n');
        let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            // An existing temporary file keeps its mode through open(): force it.
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io("write", e)
        })
    }
}

/// Parses a `config set` value as the Python client does: true, false, null, an integer, else text.
pub fn parse_value(raw: &str) -> Value {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => match raw.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(raw.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::load_from(dir.path().join("x").join("config.json")).unwrap();
        assert!(c.is_empty());
        c.set("server.url", "http://a".into());
        c.set("defaults.cert_key_size", parse_value("4096"));
        c.set("auth.token", "t".into());
        assert_eq!(c.get_str("server.url").as_deref(), Some("http://a"));
        assert_eq!(c.get_u32("defaults.cert_key_size"), Some(4096));
        assert!(c.unset("auth.token"));
        assert!(!c.unset("auth.token"));
        assert!(!c.unset("nope.deeper"));
        c.save().unwrap();
        let mode = fs::metadata(c.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Config::load_from(c.path().to_path_buf()).unwrap();
        assert_eq!(again.get("auth"), Some(&serde_json::json!({})));
        assert_eq!(again.get_u32("defaults.cert_key_size"), Some(4096));
    }

    #[test]
    fn values_parse_like_python() {
        assert_eq!(parse_value("TRUE"), Value::Bool(true));
        assert_eq!(parse_value("null"), Value::Null);
        assert_eq!(parse_value("-3"), Value::from(-3));
        assert_eq!(parse_value("json"), Value::from("json"));
    }
}
