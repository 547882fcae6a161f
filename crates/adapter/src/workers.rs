//! Thread-per-core serving: one single-threaded event loop per CPU, all accepting on one listening
//! socket, so a connection, its request tasks and the GigaChat connections they use stay on one
//! thread and a request never wakes another (each cross-thread wake-up is a context switch, and an
//! inter-processor interrupt when that thread sleeps).

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::server;

/// A single-threaded runtime with I/O and timers: one event loop.
pub fn event_loop() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Serves `router` on `listener` from `threads` event loops: `main` (which must stay alive, as it
/// runs whatever was spawned while building the router) plus `threads - 1` new ones. SIGTERM or
/// Ctrl-C stops every loop; each drains its own connections for up to `grace`.
pub fn serve(
    main: &Runtime,
    router: Router,
    listener: std::net::TcpListener,
    threads: usize,
    grace: Duration,
) -> anyhow::Result<()> {
    listener
        .set_nonblocking(true)
        .context("cannot make the listening socket non-blocking")?;
    tracing::info!(local = %listener.local_addr()?, threads, "gigachat-adapter listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut others = Vec::with_capacity(threads.saturating_sub(1));
    for index in 1..threads {
        let listener = listener
            .try_clone()
            .context("cannot share the listening socket")?;
        let (router, stop) = (router.clone(), stop_rx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("gigachat-adapter-{index}"))
            .spawn(move || -> anyhow::Result<()> {
                event_loop()?.block_on(serve_one(router, listener, grace, stop))
            })
            .context("cannot start an event-loop thread")?;
        others.push(thread);
    }
    let result = main.block_on(async move {
        tokio::spawn(async move {
            server::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        serve_one(router, listener, grace, stop_rx).await
    });
    for thread in others {
        match thread.join() {
            Ok(outcome) => outcome?,
            Err(_) => anyhow::bail!("an event-loop thread crashed"),
        }
    }
    result
}

async fn serve_one(
    router: Router,
    listener: std::net::TcpListener,
    grace: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    server::serve_until(router, listener, grace, stop).await
}
