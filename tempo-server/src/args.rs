//! args: the command line, in Tempo's own flag style (`-config.file=PATH`).
//!
//! With no subcommand the server runs. `block` as the first argument selects the offline block
//! tools instead (`block inspect PATH`, `block list [DIR]`), which read a block directory and
//! print what it holds.

use std::path::PathBuf;

use crate::config::Config;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the server.
    Serve,
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// Read blocks on local disk and describe them (`tempo-server block ...`).
    Block(BlockCommand),
}

/// The subcommands of `tempo-server block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockCommand {
    /// Describe one block: `block inspect PATH [--json]`, or `block inspect
    /// -config.file=F TENANT/BLOCK-ID` for the backend a configuration names.
    Inspect {
        /// The block directory, `<blocks-root>/<tenant>/<block-id>`; with a configuration,
        /// `<tenant>/<block-id>` in its backend.
        path: PathBuf,
        /// Print JSON instead of text.
        json: bool,
        /// The configuration whose `storage.trace` names the backend (a bucket, or a disk).
        config: Option<PathBuf>,
    },
    /// One line per block under a blocks root: `block list [DIR] [--json]`, or `block list
    /// -config.file=F` for the backend a configuration names.
    List {
        /// The blocks root, `<DIR>/<tenant>/<block-id>`.
        dir: PathBuf,
        /// Print JSON instead of text.
        json: bool,
        /// The configuration whose `storage.trace` names the backend (a bucket, or a disk).
        config: Option<PathBuf>,
    },
}

/// Where `block list` looks when no directory is given: the default `storage.trace.local.path`.
pub(crate) const DEFAULT_BLOCKS_DIR: &str = "./tempo-data/blocks";

/// The parsed command line.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) command: Command,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) expand_env: bool,
    multitenancy: Option<bool>,
    http_listen_port: Option<u16>,
    http_listen_address: Option<String>,
    wal_path: Option<PathBuf>,
    local_path: Option<PathBuf>,
    log_level: Option<String>,
}

/// The help text.
pub(crate) const HELP: &str = "\
tempo-server: a trace store that speaks Grafana Tempo's API.

Serves Tempo's HTTP API (trace by ID, v1 and v2) and receives spans over OTLP/gRPC and
OTLP/HTTP (protobuf and JSON). Every acknowledged span is durable in a write-ahead log.

USAGE:
    tempo-server [FLAGS]
    tempo-server block inspect PATH [--json]
    tempo-server block list [DIR] [--json]
    tempo-server block inspect -config.file=F TENANT/BLOCK-ID [--json]
    tempo-server block list -config.file=F [--json]

With no flags, it serves the HTTP API on :3200, OTLP/gRPC on :4317 and OTLP/HTTP on :4318,
and stores under ./tempo-data (write-ahead log in ./tempo-data/wal).

FLAGS (Tempo's own names; `-flag=value`, `-flag value` and `--flag` all work):
    -config.file=PATH
        Read a Tempo-style YAML configuration. A Tempo single-binary configuration works as
        it is; keys this server does not support are logged as warnings and ignored.
    -config.expand-env[=true]
        Replace ${VAR} and ${VAR:-default} in the configuration file with environment
        variables before parsing it.
    -target=all
        Accepted for compatibility: this server always runs every component in one process.
    -multitenancy.enabled[=true]
        Take the tenant from the X-Scope-OrgID header (requests without it get 401).
        Otherwise every span belongs to the tenant 'single-tenant'. Also: -auth.enabled.
    -server.http-listen-address=ADDR
        Address of the HTTP API (default 0.0.0.0).
    -server.http-listen-port=PORT
        Port of the HTTP API (default 3200).
    -storage.trace.wal.path=PATH
        Directory of the write-ahead log (default ./tempo-data/wal).
    -storage.trace.local.path=PATH
        Directory of blocks on local disk (default ./tempo-data/blocks).
    -log.level=LEVEL
        error, warn, info (default), debug or trace. RUST_LOG overrides it.
    -version
        Print the version and exit.
    -h, -help, --help
        Print this help and exit.

BLOCK TOOLS (read-only; safe to run while the server writes to the same directory):
    block inspect PATH
        Describe one block: PATH is a block directory <blocks-root>/<tenant>/<block-id>, such
        as ./tempo-data/blocks/single-tenant/0b7c2d1e-.... Prints its metadata, the bytes of
        each column family, its bloom filter and every column of every row group, reading and
        checking all of its files. Exits with 1 if the block is missing or corrupt.
    block list [DIR]
        One line per block under DIR (default ./tempo-data/blocks): tenant, block ID, state
        (live, set-aside when found corrupt, compacted, incomplete or unreadable), compaction
        level, traces, spans, bytes, bytes per span, time range (UTC) and, for a block that is
        not live, why.
    -config.file=F
        Either of them reads the backend F's storage.trace names instead (a bucket: s3, gcs
        or azure; or its local path); block inspect then takes TENANT/BLOCK-ID.
    --json
        Either of them prints JSON instead.

SIGNALS:
    SIGTERM or SIGINT stops accepting connections, finishes in-flight requests, syncs the
    write-ahead log and exits.
";

fn parse_bool(flag: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("-{flag}: expected true or false, got {other:?}")),
    }
}

/// Parses the arguments of `tempo-server block`, after `block`.
fn parse_block(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut json = false;
    let mut help = false;
    let mut config = None;
    let mut positional = Vec::new();
    for arg in args {
        match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            // A lone `-` or `--` is not a flag; `-` may even name a directory.
            Some(flag) if !flag.is_empty() => {
                let (name, inline) = match flag.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (flag, None),
                };
                match name {
                    "json" => json = parse_bool(name, inline)?,
                    "config.file" => match inline {
                        Some(path) if !path.is_empty() => config = Some(PathBuf::from(path)),
                        _ => return Err("block: -config.file=PATH needs a path".to_owned()),
                    },
                    "h" | "help" => help = true,
                    other => return Err(format!("block: unknown flag -{other}")),
                }
            }
            _ => positional.push(arg),
        }
    }
    if help {
        return Ok(Command::Help);
    }
    let mut positional = positional.into_iter();
    let sub = positional.next();
    let operand = positional.next();
    if let Some(extra) = positional.next() {
        return Err(format!("block: unexpected argument {extra:?}"));
    }
    match sub.as_deref() {
        Some("inspect") => match operand {
            Some(path) => Ok(Command::Block(BlockCommand::Inspect {
                path: PathBuf::from(path),
                json,
                config,
            })),
            None => Err("block inspect: needs the path of a block directory \
                 (<blocks-root>/<tenant>/<block-id>)"
                .to_owned()),
        },
        Some("list") => Ok(Command::Block(BlockCommand::List {
            dir: PathBuf::from(operand.as_deref().unwrap_or(DEFAULT_BLOCKS_DIR)),
            json,
            config,
        })),
        Some(other) => Err(format!(
            "block: unknown subcommand {other:?}; expected inspect or list"
        )),
        None => Err("block: expected a subcommand: inspect PATH or list [DIR]".to_owned()),
    }
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        command: Command::Serve,
        config_file: None,
        expand_env: false,
        multitenancy: None,
        http_listen_port: None,
        http_listen_address: None,
        wal_path: None,
        local_path: None,
        log_level: None,
    };
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|first| first == "block") {
        args.next();
        out.command = parse_block(args)?;
        return Ok(out);
    }
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            if arg == "block" {
                return Err("the block subcommand must come first: tempo-server block ...".into());
            }
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args
                    .next()
                    .ok_or_else(|| format!("flag -{name} needs a value")),
            }
        };
        match name {
            "h" | "help" => out.command = Command::Help,
            "version" => out.command = Command::Version,
            "config.file" => out.config_file = Some(PathBuf::from(value()?)),
            "config.expand-env" => {
                out.expand_env = parse_bool(name, inline.as_deref())?;
            }
            "multitenancy.enabled" | "auth.enabled" => {
                out.multitenancy = Some(parse_bool(name, inline.as_deref())?);
            }
            "target" => {
                let target = value()?;
                if !matches!(target.as_str(), "all" | "scalable-single-binary") {
                    return Err(format!(
                        "-target={target}: this server runs every component in one process; use -target=all"
                    ));
                }
            }
            "server.http-listen-port" => {
                let v = value()?;
                out.http_listen_port = Some(v.parse().map_err(|_| {
                    format!("-server.http-listen-port: {v:?} is not a port number")
                })?);
            }
            "server.http-listen-address" => out.http_listen_address = Some(value()?),
            "storage.trace.wal.path" => out.wal_path = Some(PathBuf::from(value()?)),
            "storage.trace.local.path" => out.local_path = Some(PathBuf::from(value()?)),
            "log.level" => out.log_level = Some(value()?),
            other => return Err(format!("unknown flag -{other}")),
        }
    }
    Ok(out)
}

impl Args {
    /// Applies flags that override the configuration file.
    pub(crate) fn apply_overrides(&self, config: &mut Config) -> anyhow::Result<()> {
        if let Some(m) = self.multitenancy {
            config.multitenancy_enabled = m;
        }
        if let Some(p) = self.http_listen_port {
            config.http_listen_port = p;
        }
        if let Some(a) = &self.http_listen_address {
            config.http_listen_address = a.clone();
        }
        if let Some(p) = &self.wal_path {
            config.wal_path = p.clone();
        }
        if let Some(p) = &self.local_path {
            config.local_path = p.clone();
        }
        if let Some(l) = &self.log_level {
            config.log_level = l.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_style_flags() {
        let a = p(&["-config.file=/etc/tempo.yaml", "-target=all"]).unwrap();
        assert_eq!(a.config_file, Some(PathBuf::from("/etc/tempo.yaml")));
        let a = p(&["--config.file", "x.yaml", "-multitenancy.enabled"]).unwrap();
        assert_eq!(a.config_file, Some(PathBuf::from("x.yaml")));
        assert_eq!(a.multitenancy, Some(true));
        assert_eq!(p(&["-h"]).unwrap().command, Command::Help);
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help);
        assert!(p(&["-bogus"]).unwrap_err().contains("unknown flag -bogus"));
        assert!(p(&["-config.file"]).unwrap_err().contains("needs a value"));
        assert!(p(&["-target=ingester"]).is_err());
        assert!(p(&["-server.http-listen-port=x"]).is_err());
        assert_eq!(p(&[]).unwrap().command, Command::Serve);
        assert!(p(&["inspect"]).unwrap_err().contains("unexpected argument"));
    }

    fn block(args: &[&str]) -> Result<BlockCommand, String> {
        match p(args)?.command {
            Command::Block(b) => Ok(b),
            other => Err(format!("not a block command: {other:?}")),
        }
    }

    #[test]
    fn block_inspect() {
        let dir = "./tempo-data/blocks/single-tenant/0b7c2d1e-0000-4000-8000-000000000000";
        assert_eq!(
            block(&["block", "inspect", dir]).unwrap(),
            BlockCommand::Inspect {
                path: PathBuf::from(dir),
                json: false,
                config: None,
            }
        );
        for args in [
            ["block", "inspect", "b", "--json"],
            ["block", "--json", "inspect", "b"],
            ["block", "inspect", "-json", "b"],
            ["block", "inspect", "b", "--json=true"],
        ] {
            assert_eq!(
                block(&args).unwrap(),
                BlockCommand::Inspect {
                    path: PathBuf::from("b"),
                    json: true,
                    config: None,
                },
                "{args:?}"
            );
        }
        assert_eq!(
            block(&["block", "inspect", "b", "--json=false"]).unwrap(),
            BlockCommand::Inspect {
                path: PathBuf::from("b"),
                json: false,
                config: None,
            }
        );
        let err = block(&["block", "inspect"]).unwrap_err();
        assert!(err.contains("needs the path of a block directory"), "{err}");
        let err = block(&["block", "inspect", "a", "b"]).unwrap_err();
        assert!(err.contains("unexpected argument \"b\""), "{err}");
        let err = block(&["block", "inspect", "a", "--bogus"]).unwrap_err();
        assert!(err.contains("unknown flag -bogus"), "{err}");
        let err = block(&["block", "inspect", "a", "--json=maybe"]).unwrap_err();
        assert!(err.contains("expected true or false"), "{err}");
    }

    #[test]
    fn block_list() {
        assert_eq!(
            block(&["block", "list"]).unwrap(),
            BlockCommand::List {
                dir: PathBuf::from(DEFAULT_BLOCKS_DIR),
                json: false,
                config: None,
            }
        );
        assert_eq!(
            block(&["block", "list", "/data/blocks", "--json"]).unwrap(),
            BlockCommand::List {
                dir: PathBuf::from("/data/blocks"),
                json: true,
                config: None,
            }
        );
        // A lone `-` is an operand, not a flag.
        assert_eq!(
            block(&["block", "list", "-"]).unwrap(),
            BlockCommand::List {
                dir: PathBuf::from("-"),
                json: false,
                config: None,
            }
        );
    }

    #[test]
    fn block_errors_and_help() {
        let err = block(&["block"]).unwrap_err();
        assert!(err.contains("expected a subcommand"), "{err}");
        let err = block(&["block", "dump"]).unwrap_err();
        assert!(err.contains("unknown subcommand \"dump\""), "{err}");
        assert_eq!(p(&["block", "--help"]).unwrap().command, Command::Help);
        assert_eq!(
            p(&["block", "inspect", "-h"]).unwrap().command,
            Command::Help
        );
        // Only as the first argument.
        let err = p(&["-log.level=debug", "block", "list"]).unwrap_err();
        assert!(err.contains("must come first"), "{err}");
        // The server's flags are not block flags.
        let err = block(&["block", "list", "-log.level=debug"]).unwrap_err();
        assert!(err.contains("unknown flag -log.level"), "{err}");
        // But a configuration names the backend to read.
        assert_eq!(
            block(&["block", "list", "-config.file=x.yaml"]).unwrap(),
            BlockCommand::List {
                dir: PathBuf::from(DEFAULT_BLOCKS_DIR),
                json: false,
                config: Some(PathBuf::from("x.yaml")),
            }
        );
        assert!(block(&["block", "list", "-config.file="]).is_err());
    }

    #[test]
    fn help_documents_the_block_tools() {
        assert!(HELP.contains("tempo-server block inspect PATH [--json]"));
        assert!(HELP.contains("tempo-server block list [DIR] [--json]"));
    }
}
