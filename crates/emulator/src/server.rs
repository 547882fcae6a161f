//! Listeners: accept TCP (with `TCP_NODELAY`), optionally TLS with ALPN, then serve HTTP/1.1 or HTTP/2.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::log::Listener;
use crate::state::AppState;

/// Facts about the connection a request arrived on, put into every request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// Which listener accepted the connection.
    pub(crate) listener: Listener,
    /// The connection's number, counted from 1 across both listeners in accept order.
    pub(crate) connection: u64,
    /// CN of the verified TLS client certificate, if one was presented.
    pub(crate) client_cert_cn: Option<String>,
}

impl Default for ConnInfo {
    fn default() -> Self {
        Self {
            listener: Listener::Api,
            connection: 0,
            client_cert_cn: None,
        }
    }
}

/// A bound listener and the task accepting on it.
pub(crate) struct Running {
    /// The bound address (with the real port when 0 was asked for).
    pub(crate) addr: SocketAddr,
    /// The accept loop; ends when shutdown is signalled.
    pub(crate) task: JoinHandle<()>,
}

/// Binds `addr` and serves `router` on it until `shutdown` turns true.
pub(crate) async fn serve(
    addr: SocketAddr,
    listener: Listener,
    tls: Option<TlsAcceptor>,
    router: Router,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<Running> {
    let tcp = TcpListener::bind(addr).await?;
    let addr = tcp.local_addr()?;
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                accepted = tcp.accept() => {
                    while connections.try_join_next().is_some() {}
                    match accepted {
                        Ok((stream, _)) => {
                            // Without it SSE events stall ~40 ms on Nagle + delayed ACK.
                            if let Err(error) = stream.set_nodelay(true) {
                                tracing::debug!(%error, "set_nodelay failed");
                            }
                            connections.spawn(connection(
                                stream,
                                listener,
                                tls.clone(),
                                router.clone(),
                                state.clone(),
                            ));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        }
        connections.abort_all();
    });
    Ok(Running { addr, task })
}

/// Serves one accepted connection to its end.
async fn connection(
    stream: tokio::net::TcpStream,
    listener: Listener,
    tls: Option<TlsAcceptor>,
    router: Router,
    state: AppState,
) {
    let connection = state.log.next_connection();
    let mut builder = Builder::new(TokioExecutor::new());
    // HTTP/1.1 header names as SynGX writes them (`Content-Type`, `X-Request-Id`).
    builder.http1().title_case_headers(true);
    builder
        .http2()
        .max_concurrent_streams(state.config.http2_max_streams);
    match tls {
        None => {
            let info = Arc::new(ConnInfo {
                listener,
                connection,
                client_cert_cn: None,
            });
            let service = service(router, info);
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            let tls_stream = match handshake {
                Ok(Ok(tls_stream)) => tls_stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let client_cert_cn = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| state.pki.as_ref().and_then(|pki| pki.client_cn(cert)));
            let info = Arc::new(ConnInfo {
                listener,
                connection,
                client_cert_cn,
            });
            let service = service(router, info);
            if let Err(error) = builder
                .serve_connection(TokioIo::new(tls_stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
    }
}

/// The per-connection hyper service: tags each request with the connection's facts, then routes it.
fn service(
    router: Router,
    info: Arc<ConnInfo>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send + 'static,
> + Clone {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        let info = info.clone();
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnInfo::clone(&info));
            router.oneshot(request).await
        }
    })
}
