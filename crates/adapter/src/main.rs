//! The `gigachat-adapter` binary: configuration, logging, and the server (or the healthcheck probe).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use secrecy::SecretString;
use tracing_subscriber::EnvFilter;

use gigachat_adapter::config::{Cli, Command, Config};
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

fn init_logging(config: &Config) {
    let default = if config.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.environment.eq_ignore_ascii_case("production") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Builds the router on `runtime` (which keeps running its background tasks) and serves.
fn run(runtime: &tokio::runtime::Runtime, config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let (router, client, demo) = runtime.block_on(prepare(&config))?;
    let addr = SocketAddr::new(config.host, config.port);
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    // The demo's address and key, once nothing can fail before serving any more.
    if let Some(demo) = &demo {
        print_demo(&config, demo.generated_key.as_deref());
    }
    let prepare_thread = move || {
        if let Err(err) = client.prepare_thread() {
            tracing::warn!(%err, "could not prepare this thread's GigaChat client");
        }
    };
    workers::serve(
        runtime,
        router,
        listener,
        config.threads(),
        config.connection_limits(),
        prepare_thread,
    )?;
    drop(demo);
    Ok(())
}

/// The running demo emulator and the client key made up for it (none when keys were configured).
struct DemoRun {
    _emulator: demo::Demo,
    generated_key: Option<String>,
}

/// Checks the configuration, starts the demo emulator when asked, and builds the router.
async fn prepare(
    config: &Config,
) -> anyhow::Result<(axum::Router, gigachat::GigaChat, Option<DemoRun>)> {
    let mut settings = gigachat::Settings::from_env()?;
    let mut keys = config.api_keys();
    let demo = if config.emulator {
        let emulator = demo::start(&mut settings).await?;
        let generated_key = (keys.is_empty() && !config.allow_unauthenticated).then(|| {
            let key = format!("sk-emulator-{}", uuid::Uuid::new_v4().simple());
            keys.push(SecretString::from(key.clone()));
            key
        });
        Some(DemoRun {
            _emulator: emulator,
            generated_key,
        })
    } else {
        None
    };
    if keys.is_empty() && !config.allow_unauthenticated {
        anyhow::bail!(
            "no client keys configured: set BEARER_TOKEN (comma-separated keys), or set \
             ALLOW_UNAUTHENTICATED=true to serve without keys"
        );
    }
    if keys.is_empty() {
        tracing::warn!(
            "ALLOW_UNAUTHENTICATED=true: anyone who can reach this port can use GigaChat through it"
        );
    }
    if !settings.has_auth() && settings.cert_file.is_none() {
        anyhow::bail!(
            "no GigaChat credentials: set GIGACHAT_CREDENTIALS (or GIGACHAT_USER/GIGACHAT_PASSWORD, \
             GIGACHAT_ACCESS_TOKEN, or a client certificate), or run with --emulator"
        );
    }
    let (router, client) = gigachat_adapter::build(config, settings, keys).await?;
    Ok((router, client, demo))
}

fn print_demo(config: &Config, generated_key: Option<&str>) {
    let host = if config.host.is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        config.host.to_string()
    };
    println!(
        "gigachat-adapter is running against a built-in GigaChat emulator (no real GigaChat is called)."
    );
    println!("  OPENAI_BASE_URL=http://{host}:{}/v1", config.port);
    match generated_key {
        Some(key) => println!("  OPENAI_API_KEY={key}"),
        None if config.api_keys().is_empty() => {
            println!("  OPENAI_API_KEY=<any value: ALLOW_UNAUTHENTICATED is on>");
        }
        None => println!("  OPENAI_API_KEY=<one of BEARER_TOKEN>"),
    }
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
