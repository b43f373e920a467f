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

#[derive(Parser)]
#[command(
    name = "quartet",
    version,
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
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file; print every error with its key path; exit 1 on error.
    CheckConfig {
        #[arg(short, long)]
        config: PathBuf,
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
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import identities from Kratos' identity-import JSON (one `createIdentityBody` or an
    /// array), through the identity admin API's rules; prints each created identity as a JSON
    /// line. Identities whose identifier is taken are skipped.
    Identities {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Import OAuth2 clients from Hydra's client JSON (one client or an array), through the
    /// oauth2 admin API's rules; prints each created client as a JSON line (a generated
    /// `client_secret` is shown there only). Clients whose `client_id` is taken are skipped.
    Clients {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Import relation tuples from a JSON array or Keto's text lines (`ns:obj#rel@subject`);
    /// tuples already stored are skipped, so re-running a file is harmless.
    Tuples {
        /// The file to read; `-` for stdin.
        file: PathBuf,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OplCommand {
    /// Parse and type-check OPL files; print every error as file:line:col; exit 1 on error.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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
        Command::CheckConfig { config } => check_config(config),
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
        Command::Version => {
            println!("quartet {}", quartet::http::health::version());
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
    let Some((config, _)) = load(config, false) else {
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
    let Some((config, _)) = load(config, false) else {
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
        use quartet::permission::import::{import_tuples, Progress};
        let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
        let progress = if std::io::IsTerminal::is_terminal(&stderr) {
            Progress::Bar(&mut stderr)
        } else {
            Progress::Lines(&mut stdout)
        };
        let summary = import_tuples(&store, &input, progress).await;
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

fn check_config(file: PathBuf) -> ExitCode {
    let shown = file.display().to_string();
    let Some((config, warnings)) = load(Some(file), false) else {
        return ExitCode::FAILURE;
    };
    for warning in warnings {
        println!("warning: {warning}");
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
