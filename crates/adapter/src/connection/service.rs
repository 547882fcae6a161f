//! The router as a hyper service: each request counts as in flight (so an idle timeout never cuts
//! it) until its response body is done, its body reads time out after `BODY_READ_TIMEOUT_SECS`,
//! and an event stream still open when the drain deadline passes ends with a shutdown error event.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, Version, header};
use axum::routing::future::RouteFuture;
use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::sync::watch;
use tower::Service as _;
use tower_http::timeout::TimeoutBody;

use super::Phase;
use super::activity::Activity;
use crate::access::{Delivery, Exchange};
use crate::error::AppError;
use crate::streaming::CutEvent;

/// Serves one connection's requests with the router.
#[derive(Clone)]
pub(super) struct AdapterService {
    router: Router,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
    phase: watch::Receiver<Phase>,
}

impl AdapterService {
    pub(super) fn new(
        router: Router,
        activity: Arc<Activity>,
        body_read_timeout: Duration,
        phase: watch::Receiver<Phase>,
    ) -> Self {
        Self {
            router,
            activity,
            body_read_timeout,
            phase,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for AdapterService {
    type Response = Response<ServedBody>;
    type Error = Infallible;
    type Future = Served;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let timeout = self.body_read_timeout;
        let http1 = request.version() < Version::HTTP_2;
        let head = request.method() == Method::HEAD;
        let request = request.map(|body| TimeoutBody::new(timeout, body));
        Served {
            routed: self.router.clone().call(request),
            in_flight: Some(InFlight::new(self.activity.clone())),
            phase: self.phase.clone(),
            http1,
            head,
        }
    }
}

/// Counts one request as in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.request_started();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A request being routed; its response keeps it in flight until the body is done.
pub(super) struct Served {
    routed: RouteFuture<Infallible>,
    in_flight: Option<InFlight>,
    phase: watch::Receiver<Phase>,
    http1: bool,
    /// A HEAD request: its answer's body is never sent.
    head: bool,
}

impl Future for Served {
    type Output = Result<Response<ServedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Poll::Ready(Ok(mut response)) = Pin::new(&mut self.routed).poll(cx) else {
            return Poll::Pending;
        };
        if self.http1 && response.status() == StatusCode::REQUEST_TIMEOUT {
            // The body stalled part-way, so the connection cannot carry another request: hyper
            // closes it after this answer, and the client is told so.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let is_stream = crate::access::is_event_stream(response.headers());
        let cut = is_stream.then(|| cut(self.phase.clone()));
        let cut_event = response.extensions_mut().remove::<CutEvent>();
        let in_flight = self.in_flight.take();
        let access = response
            .extensions_mut()
            .remove::<Arc<Exchange>>()
            .map(|exchange| Access {
                exchange,
                delivery: Delivery {
                    status: response.status().as_u16(),
                    stream: is_stream,
                    bytes_out: 0,
                    first_bytes: None,
                    // An empty body, or any body of a HEAD answer, is never polled: it is done.
                    finished: self.head || hyper::body::Body::is_end_stream(response.body()),
                },
            });
        Poll::Ready(Ok(response.map(|body| ServedBody {
            body,
            _in_flight: in_flight,
            cut,
            cut_event,
            ended: false,
            access,
        })))
    }
}

/// Resolves once the drain deadline has passed (never, if the server is gone without saying so).
fn cut(mut phase: watch::Receiver<Phase>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if phase.wait_for(|phase| *phase == Phase::Cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// A response body; an event stream's also ends, with one error event, at the drain deadline.
/// When it goes (sent, or the client gone), its request's access log line is written.
pub(super) struct ServedBody {
    body: Body,
    _in_flight: Option<InFlight>,
    cut: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The stream's own event for the cut, if it has one (else OpenAI's error envelope).
    cut_event: Option<CutEvent>,
    ended: bool,
    access: Option<Access>,
}

/// A request to write the access log line of, and how its body is going out.
struct Access {
    exchange: Arc<Exchange>,
    delivery: Delivery,
}

impl ServedBody {
    /// Counts what `frame` hands the connection (and whether it was the body's end).
    fn note(&mut self, frame: &Option<Result<Frame<Bytes>, axum::Error>>) {
        let end = hyper::body::Body::is_end_stream(&self.body);
        let Some(access) = self.access.as_mut() else {
            return;
        };
        let delivery = &mut access.delivery;
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    delivery.bytes_out += data.len() as u64;
                    delivery.first_bytes.get_or_insert_with(Instant::now);
                }
                delivery.finished |= end;
            }
            Some(Err(_)) => {}
            None => delivery.finished = true,
        }
    }
}

impl Drop for ServedBody {
    fn drop(&mut self) {
        if let Some(access) = &self.access {
            access.exchange.delivered(access.delivery);
        }
    }
}

impl hyper::body::Body for ServedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            self.note(&frame);
            return Poll::Ready(frame);
        }
        let Some(cut) = self.cut.as_mut() else {
            return Poll::Pending;
        };
        if cut.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.ended = true;
        self.cut = None;
        let request_id = self.access.as_ref().map(|access| {
            access.exchange.failed(AppError::ShuttingDown.label());
            access.exchange.id()
        });
        tracing::warn!(
            request_id,
            "drain deadline reached: ending an open event stream"
        );
        let event = match self.cut_event.take() {
            Some(CutEvent(event)) => event,
            None => {
                let mut event = BytesMut::new();
                crate::streaming::frame_into(&mut event, &AppError::ShuttingDown.envelope());
                event.freeze()
            }
        };
        Poll::Ready(Some(Ok(Frame::data(event))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}
