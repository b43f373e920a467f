//! The `quartet` command line: parse, load the config, call the library. Nothing else lives
//! here (see `quartet::app` for the composition root).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quartet::app::import::{self, FixtureKind};
use quartet::config::{Config, Loader, LogFormat, Role};
use quartet::store::Db;
use quartet::Stack;

/// mimalloc instead of glibc's malloc: per-thread free lists without arena locks; glibc's
/// malloc/free took ~20 % of the proxy's CPU under load (docs/decisions/0004-allocator.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version `quartet version`, `quartet --version` and every `/version` endpoint show.
const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

#[derive(Parser)]
#[command(
    name = "quartet",
    version = VERSION,
    about = "The four Ory roles — identity, oauth2, permission, proxy — in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve all four roles, or only those named (identity oauth2 permission proxy).
    Serve {
        /// Roles to serve; all four when none is named.
        #[arg(value_parser = parse_role)]
        roles: Vec<Role>,
        /// Config file (YAML or JSON).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Development mode: `dsn: memory` when none is set, relaxed cookies, plain-HTTP
        /// issuer, generated secrets, verbose errors.
        #[arg(long)]
        dev: bool,
        /// Fixture file to load at start, repeatable: identities, OAuth2 clients or relation
        /// tuples (as `import identities|clients|tuples`, told apart by content). Items
        /// already stored are skipped.
        #[arg(long = "import", value_name = "FILE")]
        imports: Vec<PathBuf>,
    },
    /// Apply database migrations and exit (`serve` also migrates at start).
    Migrate {
        /// Config file (YAML or JSON) naming the database (`dsn`); without it, the env DSN.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file; print every error with its key path; exit 1 on error.
    CheckConfig {
        /// Config file (YAML or JSON) to validate; optional with --dev (then the built-in
        /// development config is checked).
        #[arg(short, long, required_unless_present = "dev")]
        config: Option<PathBuf>,
        /// Validate as `serve --dev` would: `dsn: memory` when none is set, and the dev
        /// defaults applied and listed.
        #[arg(long)]
        dev: bool,
    },
    /// Ory Permission Language tools.
    Opl {
        #[command(subcommand)]
        command: OplCommand,
    },
    /// Bulk-load data into the database.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Delete expired rows: self-service flows and sessions (Kratos' `cleanup sql`), OAuth2
    /// tokens, codes, login/consent/logout requests and trust relationships (Hydra's
    /// `janitor`). Only what has expired and is older than --keep-if-younger goes; run it
    /// against the database `serve` uses (`serve` also runs it every `janitor.interval`).
    Janitor(JanitorArgs),
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct JanitorArgs {
    /// The database, e.g. `postgres://user:pw@host:5432/db` or `sqlite:///var/lib/quartet.db`;
    /// without it, the config file's `dsn` or the env DSN.
    dsn: Option<String>,
    /// Config file (YAML or JSON): its `dsn`, `janitor` bounds and the roles' lifespans.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Read the DSN from the environment variable DSN (always done when no DSN is given;
    /// accepted for Hydra's and Kratos' command lines).
    #[arg(short = 'e', long)]
    read_from_env: bool,
    /// Only OAuth2 tokens: expired access and refresh tokens, authorization codes, JWT ids.
    #[arg(long)]
    tokens: bool,
    /// Only OAuth2 requests: expired login/consent/logout challenges, expired login sessions,
    /// revoked consents.
    #[arg(long)]
    requests: bool,
    /// Only expired OAuth2 trust relationships (jwt-bearer grant issuers).
    #[arg(long)]
    grants: bool,
    /// Only identity rows: expired sessions and self-service flows, old flow errors, stale
    /// failed-login counters. With none of --tokens, --requests, --grants, --identity,
    /// everything is cleaned.
    #[arg(long)]
    identity: bool,
    /// Keep rows younger than this even when expired, e.g. `24h` (default: the config's
    /// `janitor.keep_if_younger`, 1h).
    #[arg(long, visible_alias = "keep-last", value_parser = parse_duration)]
    keep_if_younger: Option<std::time::Duration>,
    /// Count access tokens requested longer ago than this as expired too, e.g. `1h`.
    #[arg(long, value_parser = parse_duration)]
    access_lifespan: Option<std::time::Duration>,
    /// Count refresh tokens requested longer ago than this as expired too, e.g. `720h`.
    #[arg(long, value_parser = parse_duration)]
    refresh_lifespan: Option<std::time::Duration>,
    /// How long a login/consent/logout challenge lives (default: `ttl.login_consent_request`,
    /// 30m).
    #[arg(long, value_parser = parse_duration)]
    consent_request_lifespan: Option<std::time::Duration>,
    /// Most rows deleted per table (default: the config's `janitor.limit`, 100000).
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per DELETE statement (default: the config's `janitor.batch_size`, 100).
    #[arg(short = 'b', long)]
    batch_size: Option<usize>,
    /// Pause between two tables, e.g. `1m`.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    sleep: std::time::Duration,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import identities from Kratos' identity-import JSON (one `createIdentityBody` or an
    /// array), through the identity admin API's rules; an item's `id` (a UUID, beyond Kratos)
    /// is kept. Prints each created identity as a JSON line. Identities whose id or identifier
    /// is taken are skipped.
    Identities {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        /// Config file (YAML or JSON) naming the database (`dsn`, not `memory`) and the
        /// roles' settings; without it, the env DSN.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Import OAuth2 clients from Hydra's client JSON (one client or an array), through the
    /// oauth2 admin API's rules; prints each created client as a JSON line (a generated
    /// `client_secret` is shown there only). Clients whose `client_id` is taken are skipped.
    Clients {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        /// Config file (YAML or JSON) naming the database (`dsn`, not `memory`) and the
        /// roles' settings; without it, the env DSN.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Import relation tuples from a JSON array or Keto's text lines (`ns:obj#rel@subject`),
    /// each checked against the configured namespaces as the write API checks it; tuples
    /// already stored are skipped, so re-running a file is harmless.
    Tuples {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        /// Config file (YAML or JSON) naming the database (`dsn`, not `memory`) and the
        /// roles' settings; without it, the env DSN.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OplCommand {
    /// Parse and type-check OPL files; print every error as file:line:col; exit 1 on error.
    Check {
        /// OPL files to check (`.ts`), e.g. `namespaces.keto.ts`.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    quartet::config::duration::parse(text)
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).ok_or_else(|| {
        format!("unknown role `{name}`: expected identity, oauth2, permission or proxy")
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            roles,
            config,
            dev,
            imports,
        } => serve(roles, config, dev, &imports).await,
        Command::Migrate { config } => migrate(config).await,
        Command::CheckConfig { config, dev } => check_config(config, dev),
        Command::Opl {
            command: OplCommand::Check { files },
        } => {
            if quartet::permission::cli::opl_check(&files, &mut std::io::stdout()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Import {
            command: ImportCommand::Tuples { file, config },
        } => import_tuples(file, config).await,
        Command::Import {
            command: ImportCommand::Identities { file, config },
        } => import_objects(FixtureKind::Identities, file, config).await,
        Command::Import {
            command: ImportCommand::Clients { file, config },
        } => import_objects(FixtureKind::Clients, file, config).await,
        Command::Janitor(args) => janitor(args).await,
        Command::Version => {
            println!("quartet {VERSION}");
            ExitCode::SUCCESS
        }
    }
}

/// Loads the config or prints every error (one line each) and returns `None`.
fn load(file: Option<PathBuf>, dev: bool) -> Option<(Config, Vec<String>)> {
    let mut loader = Loader::new().env(std::env::vars()).dev(dev);
    if let Some(file) = file {
        loader = loader.file(file);
    }
    match loader.load() {
        Ok(loaded) => Some((loaded.config, loaded.warnings)),
        Err(errors) => {
            for error in errors {
                eprintln!("quartet: config error: {error}");
            }
            None
        }
    }
}

/// The one warning naming every development-grade setting that serving `roles` runs on without
/// `--dev` (none under `--dev`).
fn development_warning(config: &Config, roles: &[Role]) -> Option<String> {
    let settings = config.development_grade_settings(roles);
    (!settings.is_empty()).then(|| {
        format!(
            "development-grade settings (fine with --dev, not in production): {}",
            settings.join("; ")
        )
    })
}

fn init_logs(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("{},sqlx=warn", config.log.level.as_str()))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(
    roles: Vec<Role>,
    file: Option<PathBuf>,
    dev: bool,
    imports: &[PathBuf],
) -> ExitCode {
    let Some((mut config, warnings)) = load(file, dev) else {
        return ExitCode::FAILURE;
    };
    init_logs(&config);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    if config.dev {
        for note in config.apply_dev_defaults() {
            tracing::info!("{note}");
        }
    }
    let roles = if roles.is_empty() {
        Role::ALL.to_vec()
    } else {
        roles
    };
    if let Some(warning) = development_warning(&config, &roles) {
        tracing::warn!("{warning}");
    }
    let stack = match Stack::start_with_imports(config, &roles, imports).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("quartet: {error}");
            return ExitCode::FAILURE;
        }
    };
    for (role, listener, url) in stack.listeners() {
        tracing::info!(role = role.name(), listener, url, "listening");
    }
    tracing::info!("ready");
    wait_for_signal().await;
    tracing::info!("shutting down");
    stack.shutdown().await;
    ExitCode::SUCCESS
}

async fn migrate(file: Option<PathBuf>) -> ExitCode {
    let Some((config, _)) = load(file, false) else {
        return ExitCode::FAILURE;
    };
    init_logs(&config);
    let result = async {
        let db = Db::connect(&config.dsn).await?;
        db.migrate().await?;
        db.close().await;
        Ok::<_, quartet::store::StoreError>(())
    }
    .await;
    match result {
        Ok(()) => {
            println!("migrations applied to {}", config.dsn.redacted());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("quartet: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads an import's config; `dsn: memory` is refused: the imported data would live only as
/// long as this command.
fn load_for_import(file: Option<PathBuf>) -> Option<Config> {
    let (config, _) = load(file, false)?;
    if config.dsn == quartet::config::Dsn::Memory {
        eprintln!("quartet: cannot import into `dsn: memory`: the data would vanish with the process; name a database `serve` reads (`sqlite://PATH` or `postgres://…`, in -c FILE or the env DSN), or load fixtures with `quartet serve --dev --import FILE`");
        return None;
    }
    Some(config)
}

/// Reads an import's input: the file, or stdin for `-`.
fn read_input(file: &std::path::Path) -> Result<String, ExitCode> {
    let shown = file.display().to_string();
    let input = if shown == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    input.map_err(|error| {
        eprintln!("quartet: cannot read {shown}: {error}");
        ExitCode::FAILURE
    })
}

/// `import identities|clients`: each created object on stdout as a JSON line, the summary on
/// stderr.
async fn import_objects(kind: FixtureKind, file: PathBuf, config: Option<PathBuf>) -> ExitCode {
    let Some(config) = load_for_import(config) else {
        return ExitCode::FAILURE;
    };
    init_logs(&config);
    let input = match read_input(&file) {
        Ok(input) => input,
        Err(code) => return code,
    };
    let result = async {
        let db = Db::connect(&config.dsn).await.map_err(|e| e.to_string())?;
        db.migrate().await.map_err(|e| e.to_string())?;
        let imported = match kind {
            FixtureKind::Identities => import::identities(&config, &db, &input).await,
            FixtureKind::Clients => import::clients(&config, &db, &input).await,
            FixtureKind::Tuples => Err("relation tuples: use `quartet import tuples`".into()),
        };
        db.close().await;
        imported
    }
    .await;
    match result {
        Ok(imported) => {
            for created in &imported.created {
                println!("{created}");
            }
            eprintln!(
                "imported {} new {} ({} already present) from {}",
                imported.created.len(),
                kind.noun(),
                imported.present,
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("quartet: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn import_tuples(file: PathBuf, config: Option<PathBuf>) -> ExitCode {
    let Some(config) = load_for_import(config) else {
        return ExitCode::FAILURE;
    };
    init_logs(&config);
    let shown = file.display().to_string();
    let input = match read_input(&file) {
        Ok(input) => input,
        Err(code) => return code,
    };
    let result = async {
        let db = Db::connect(&config.dsn).await?;
        db.migrate().await?;
        let store = quartet::permission::TupleStore::new(db.clone());
        let namespaces = quartet::permission::Namespaces::load(&config.permission.namespaces).await;
        use quartet::permission::import::{import_tuples, Progress};
        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        let progress = if std::io::IsTerminal::is_terminal(&stderr) {
            Progress::Bar(&mut stderr)
        } else {
            Progress::Lines(&mut stdout)
        };
        let summary = import_tuples(&store, &namespaces.current(), &input, progress).await;
        db.close().await;
        summary
    }
    .await;
    match result {
        Ok(summary) => {
            println!(
                "imported {} new tuples ({} already present) from {shown}",
                summary.inserted, summary.skipped_existing
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("quartet: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `janitor`: one cleanup run; each table's count on stdout.
async fn janitor(args: JanitorArgs) -> ExitCode {
    let mut loader = Loader::new()
        .env(std::env::vars().chain(args.dsn.clone().map(|dsn| ("DSN".to_string(), dsn))));
    if let Some(file) = &args.config {
        loader = loader.file(file);
    }
    let config = match loader.load() {
        Ok(loaded) => loaded.config,
        Err(errors) => {
            for error in errors {
                eprintln!("quartet: config error: {error}");
            }
            return ExitCode::FAILURE;
        }
    };
    init_logs(&config);
    let mut options = quartet::app::janitor::Options::from_config(&config, &Role::ALL);
    let only = args.tokens || args.requests || args.grants || args.identity;
    if only {
        options.identity = args.identity;
        options.oauth2.tokens = args.tokens;
        options.oauth2.requests = args.requests;
        options.oauth2.grants = args.grants;
    }
    options.keep_if_younger = args.keep_if_younger.unwrap_or(options.keep_if_younger);
    options.limit = args.limit.unwrap_or(options.limit);
    options.batch_size = args.batch_size.unwrap_or(options.batch_size);
    options.sleep = args.sleep;
    options.drain = false;
    options.oauth2.access_lifespan = args.access_lifespan;
    options.oauth2.refresh_lifespan = args.refresh_lifespan;
    if let Some(lifespan) = args.consent_request_lifespan {
        options.oauth2.consent_request_lifespan = lifespan;
    }
    if options.limit == 0 || options.batch_size == 0 {
        eprintln!("quartet: --limit and --batch-size must both be greater than 0");
        return ExitCode::FAILURE;
    }
    if options.batch_size > options.limit {
        eprintln!("quartet: --batch-size must not be greater than --limit");
        return ExitCode::FAILURE;
    }
    if config.dsn == quartet::config::Dsn::Memory {
        eprintln!("quartet: `dsn: memory` is private to one process; the janitor of `serve` cleans it (janitor.interval)");
        return ExitCode::FAILURE;
    }
    let result = async {
        let db = Db::connect(&config.dsn).await?;
        db.migrate().await?;
        let deleted = quartet::app::janitor::run(&db, &options)
            .await
            .map_err(quartet::store::StoreError::from);
        db.close().await;
        deleted
    }
    .await;
    match result {
        Ok(deleted) => {
            for d in deleted {
                println!("deleted {} {}", d.rows, d.what);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "quartet: janitor failed on {}: {error}",
                config.dsn.redacted()
            );
            ExitCode::FAILURE
        }
    }
}

/// `check-config [-c FILE] [--dev]`: the config as `serve` (or `serve --dev`) would load it.
fn check_config(file: Option<PathBuf>, dev: bool) -> ExitCode {
    let shown = file.as_ref().map_or_else(
        || "the built-in --dev config".to_string(),
        |f| f.display().to_string(),
    );
    let Some((mut config, warnings)) = load(file, dev) else {
        return ExitCode::FAILURE;
    };
    for warning in warnings {
        println!("warning: {warning}");
    }
    if config.dev {
        for note in config.apply_dev_defaults() {
            println!("note: {note}");
        }
    }
    if let Some(warning) = development_warning(&config, &Role::ALL) {
        println!("warning: {warning}");
    }
    println!("{shown}: ok (dsn {})", config.dsn.redacted());
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
