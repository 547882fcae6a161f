//! The `gigachat-adapter` binary: configuration, logging, and the server (or the healthcheck probe).

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use secrecy::SecretString;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use gigachat_adapter::config::{Cli, Command, Config};
use gigachat_adapter::log_output::{JsonLines, JsonSpanFields, LogOutput};
use gigachat_adapter::traces::Traces;
use gigachat_adapter::{demo, workers};

fn main() -> ExitCode {
    // `.env` first, so its values reach both the flags and the GIGACHAT_* settings.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let runtime = match workers::event_loop() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Healthcheck { url }) => runtime.block_on(healthcheck(url, cli.config.port)),
        None => run(&runtime, cli.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the log output (returned: it holds access lines that wait to be written) and, when the
/// `OTEL_*` variables ask for it, the trace export (returned, to be shut down at exit so its last
/// spans are sent).
fn init_logging(config: &Config) -> anyhow::Result<(LogOutput, Option<Traces>)> {
    let default = if config.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only for a person at a terminal: never in a file, a pipe or a log collector.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let json = config.environment.eq_ignore_ascii_case("production");
    let output = LogOutput::stdout();
    let Some(traces) = Traces::from_env()? else {
        // No export: the log output alone, with no other layer to consult on any span or event;
        // JSON lines name their request without a span per request.
        if json {
            gigachat_adapter::log_output::carry_request_ids_by_thread();
        }
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour)
            .with_writer(output.clone());
        if json {
            builder
                .fmt_fields(JsonSpanFields)
                .event_format(JsonLines::default())
                .init();
            if tracing::enabled!(target: gigachat_adapter::access::TARGET, tracing::Level::INFO) {
                gigachat_adapter::log_output::write_access_lines_to(output.clone());
            }
        } else {
            builder.init();
        }
        return Ok((output, None));
    };
    // Each layer filters for itself: the log keeps its level, the export takes our crates' spans.
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(output.clone());
    let log = if json {
        log.fmt_fields(JsonSpanFields)
            .event_format(JsonLines::default())
            .boxed()
    } else {
        log.boxed()
    };
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(traces.layer())
        .init();
    Ok((output, Some(traces)))
}

/// Builds the router on `runtime` (which keeps running its background tasks) and serves.
fn run(runtime: &tokio::runtime::Runtime, config: Config) -> anyhow::Result<()> {
    let (output, traces) = init_logging(&config)?;
    let served = serve(runtime, &config);
    // After the drain: the spans of the last requests are sent before the process exits.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    output.flush();
    served
}

/// Prepares the router and serves until the drain after SIGTERM/Ctrl-C is done.
fn serve(runtime: &tokio::runtime::Runtime, config: &Config) -> anyhow::Result<()> {
    let (router, client, metrics_listener, demo) = runtime.block_on(prepare(config))?;
    let addr = SocketAddr::new(config.host, config.port);
    let listener = std::net::TcpListener::bind(addr).map_err(|err| listen_error(addr, &err))?;
    // The demo's address and key, once nothing can fail before serving any more.
    if let Some(demo) = &demo {
        print_demo(config, demo.kept_key.as_ref());
    }
    let prepare_thread = move || {
        if let Err(err) = client.prepare_thread() {
            tracing::warn!(%err, "could not prepare this thread's GigaChat client");
        }
    };
    let served = workers::serve(
        runtime,
        router,
        listener,
        config.threads(),
        config.connection_limits(),
        prepare_thread,
    );
    // The signal that stopped the server stopped the metrics listener too; wait for its drain
    // (and stop it when the server ended for another reason).
    let metrics_stopped = metrics_listener.map_or(Ok(()), |metrics_listener| {
        runtime.block_on(metrics_listener.stop())
    });
    drop(demo);
    served.and(metrics_stopped)
}

/// Why the address cannot be listened on, and the settings that choose another one.
fn listen_error(addr: SocketAddr, err: &std::io::Error) -> anyhow::Error {
    let port = addr.port();
    let hint = match err.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program already listens on port {port}; choose a free port with --port or \
             PORT (and the address with --host or HOST)"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine; choose one with --host or HOST (0.0.0.0 for \
             every interface)",
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need privileges; choose another port with --port or PORT \
             (port {port} was asked for)"
        ),
        _ => "choose the address with --host or HOST and the port with --port or PORT".to_owned(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {err}; {hint}")
}

/// The running demo emulator and the client key kept for it (none when keys were configured).
struct DemoRun {
    _emulator: demo::Demo,
    kept_key: Option<DemoKey>,
}

/// The demo's client key and the file under `DATA_DIR` that keeps it across restarts.
struct DemoKey {
    key: String,
    path: PathBuf,
}

/// File under `DATA_DIR` holding the demo's client key.
const DEMO_KEY_FILE: &str = "demo-key";

/// The demo's client key: the one kept in `<data_dir>/demo-key`, or a new one written there
/// (readable by the owner only), so clients configured once keep working after a restart.
fn demo_key(data_dir: &Path) -> anyhow::Result<DemoKey> {
    let path = data_dir.join(DEMO_KEY_FILE);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
    let key = format!("sk-emulator-{}", uuid::Uuid::new_v4().simple());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let key = match options.open(&path) {
        Ok(mut file) => {
            writeln!(file, "{key}")
                .with_context(|| format!("cannot write the demo key to {}", path.display()))?;
            key
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut kept = String::new();
            std::fs::File::open(&path)
                .and_then(|mut file| file.read_to_string(&mut kept))
                .with_context(|| format!("cannot read the demo key from {}", path.display()))?;
            let kept = kept.trim();
            anyhow::ensure!(
                !kept.is_empty() && !kept.contains(char::is_whitespace),
                "{} does not hold a key: delete it (a new key is made) or set BEARER_TOKEN",
                path.display()
            );
            kept.to_owned()
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot create the demo key file {}", path.display()));
        }
    };
    Ok(DemoKey { key, path })
}

/// What [`prepare`] makes: the router, its GigaChat client, the `METRICS_ADDR` listener, the demo.
type Prepared = (
    axum::Router,
    gigachat::GigaChat,
    Option<gigachat_adapter::MetricsListener>,
    Option<DemoRun>,
);

/// Checks the configuration, starts the demo emulator when asked, and builds the router.
async fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    let mut settings = gigachat::Settings::from_env()?;
    let mut keys = config.api_keys();
    let demo = if config.emulator {
        let emulator = demo::start(&mut settings).await?;
        let kept_key =
            if keys.is_empty() && config.keys_file.is_none() && !config.allow_unauthenticated {
                let kept = demo_key(&config.data_dir)?;
                keys.push(SecretString::from(kept.key.clone()));
                Some(kept)
            } else {
                None
            };
        Some(DemoRun {
            _emulator: emulator,
            kept_key,
        })
    } else {
        None
    };
    let no_keys = keys.is_empty() && config.keys_file.is_none();
    if no_keys && !config.allow_unauthenticated {
        anyhow::bail!(
            "no client keys configured: set BEARER_TOKEN (comma-separated keys) or KEYS_FILE, \
             or set ALLOW_UNAUTHENTICATED=true to serve without keys"
        );
    }
    if no_keys {
        tracing::warn!(
            "ALLOW_UNAUTHENTICATED=true: anyone who can reach this port can use GigaChat through it"
        );
    }
    if !settings.has_auth() && settings.cert_file.is_none() {
        // A lean build (no `emulator` feature) does not suggest a flag it refuses.
        let or_emulator = if cfg!(feature = "emulator") {
            ", or run with --emulator"
        } else {
            ""
        };
        anyhow::bail!(
            "no GigaChat credentials: set GIGACHAT_CREDENTIALS (or GIGACHAT_USER/GIGACHAT_PASSWORD, \
             GIGACHAT_ACCESS_TOKEN, or a client certificate){or_emulator}"
        );
    }
    let (router, client, metrics_listener) =
        gigachat_adapter::build(config, settings, keys).await?;
    Ok((router, client, metrics_listener, demo))
}

/// Prints the demo's address and key in one write (a reader that stops after the key line cannot
/// make a later line fail).
fn print_demo(config: &Config, kept_key: Option<&DemoKey>) {
    let host = if config.host.is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        config.host.to_string()
    };
    let key = match kept_key {
        Some(DemoKey { key, path }) => format!(
            "  OPENAI_API_KEY={key}\n  (kept in {}, so it stays the same across restarts; set \
             BEARER_TOKEN to choose your own)",
            path.display()
        ),
        None if config.api_keys().is_empty() => {
            "  OPENAI_API_KEY=<any value: ALLOW_UNAUTHENTICATED is on>".to_owned()
        }
        None => "  OPENAI_API_KEY=<one of BEARER_TOKEN>".to_owned(),
    };
    let banner = format!(
        "gigachat-adapter is running against a built-in GigaChat emulator (no real GigaChat is \
         called).\n  OPENAI_BASE_URL=http://{host}:{}/v1\n{key}\n",
        config.port
    );
    // Nothing to do when stdout is gone (e.g. piped into `head`): the adapter serves regardless.
    let _ = std::io::stdout().lock().write_all(banner.as_bytes());
}

/// Probes `/health/live`; used by Docker's HEALTHCHECK, so no curl is needed in the image.
async fn healthcheck(url: Option<String>, port: u16) -> anyhow::Result<()> {
    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:{port}/health/live"));
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("probing {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}
