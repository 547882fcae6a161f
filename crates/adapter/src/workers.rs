//! Thread-per-core serving: one single-threaded event loop per CPU, all accepting on one listening
//! socket, so a connection, its request tasks and the GigaChat connections they use stay on one
//! thread and a request never wakes another (each cross-thread wake-up is a context switch, and an
//! inter-processor interrupt when that thread sleeps).

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use tokio::runtime::Runtime;
use tokio::sync::{Barrier, watch};

use crate::connection::{ConnectionLimits, Connections};
use crate::server;

/// A single-threaded runtime with I/O and timers: one event loop.
pub fn event_loop() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// What every event loop shares.
struct Shared {
    router: Router,
    /// The limits, and the connection count shared by every loop.
    connections: Connections,
    /// Turns true on SIGTERM/Ctrl-C, or when a loop fails: every loop stops accepting and drains.
    stop: watch::Sender<bool>,
    /// Every loop waits here after draining, so no runtime (and no connection or task it drives
    /// for the others, such as the Redis connection or the `--emulator` demo) goes away while
    /// another loop still serves.
    drained: Barrier,
    /// Runs first on each loop's thread (builds its GigaChat client off the request path).
    prepare: Box<dyn Fn() + Send + Sync>,
}

/// Serves `router` on `listener` from `threads` event loops: `main` (which built the router and
/// runs whatever was spawned then) plus `threads - 1` new ones, all under `limits` (the connection
/// cap counts every loop's connections). SIGTERM or Ctrl-C stops every loop; each drains its own
/// connections for up to the shutdown grace; all runtimes live until all are done.
pub fn serve(
    main: &Runtime,
    router: Router,
    listener: std::net::TcpListener,
    threads: usize,
    limits: ConnectionLimits,
    prepare: impl Fn() + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let threads = threads.max(1);
    listener
        .set_nonblocking(true)
        .context("cannot make the listening socket non-blocking")?;
    tracing::info!(local = %listener.local_addr()?, threads, "gigachat-adapter listening");
    let shared = Arc::new(Shared {
        router,
        connections: Connections::new(limits),
        stop: watch::channel(false).0,
        drained: Barrier::new(threads),
        prepare: Box::new(prepare),
    });
    // Everything that can fail is done before any loop starts, so none waits for a missing peer.
    let mut others = Vec::with_capacity(threads - 1);
    for _ in 1..threads {
        let listener = listener
            .try_clone()
            .context("cannot share the listening socket")?;
        let runtime = event_loop().context("cannot start an event loop")?;
        others.push((runtime, listener));
    }
    let mut handles = Vec::with_capacity(others.len());
    for (index, (runtime, listener)) in others.into_iter().enumerate() {
        let for_loop = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gigachat-adapter-{}", index + 1))
            .spawn(move || runtime.block_on(run_loop(for_loop, listener)));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                // The loops already started wait at the barrier for the ones that never will:
                // stop them, stand in for the missing ones, and say why.
                let _ = shared.stop.send(true);
                let missing = threads - handles.len();
                main.block_on(futures_util::future::join_all(
                    (0..missing).map(|_| shared.drained.wait()),
                ));
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(err).context("cannot start an event-loop thread");
            }
        }
    }
    let signal = shared.stop.clone();
    let result = main.block_on(async move {
        tokio::spawn(async move {
            server::shutdown_signal().await;
            let _ = signal.send(true);
        });
        run_loop(shared, listener).await
    });
    let mut failures = vec![result];
    for handle in handles {
        failures.push(
            handle
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("an event-loop thread crashed"))),
        );
    }
    failures.into_iter().collect()
}

/// One event loop: prepare, serve until stopped, drain, then wait for the other loops.
async fn run_loop(shared: Arc<Shared>, listener: std::net::TcpListener) -> anyhow::Result<()> {
    (shared.prepare)();
    let served = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => {
            server::serve_until(
                shared.router.clone(),
                listener,
                shared.connections.clone(),
                shared.stop.subscribe(),
            )
            .await
        }
        Err(err) => Err(err.into()),
    };
    if let Err(err) = &served {
        tracing::error!(error = %format!("{err:#}"), "an event loop failed; stopping all of them");
        let _ = shared.stop.send(true);
    }
    shared.drained.wait().await;
    served
}
