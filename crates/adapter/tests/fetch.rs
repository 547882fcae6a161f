//! The URL fetcher against real sockets: address policy, redirects, size and time caps, sniffing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::convert::Infallible;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream;
use gigachat_adapter::attachments::fetch::{FetchConfig, FetchError, Fetched, Fetcher};
use gigachat_adapter::attachments::ssrf::{AddressPolicy, is_forbidden, parse_networks};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::{Host, Url};

/// A valid 2×2 RGBA PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00, 0x00, 0x00, 0x72, 0xb6, 0x0d,
    0x24, 0x00, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x0c, 0x81, 0x34, 0x18, 0x00, 0x00, 0x49, 0xc8, 0x09, 0xf7, 0x03, 0xd9, 0x64, 0xf1, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|net| net.parse().unwrap()).collect()
}

fn config(allowed: &[&str]) -> FetchConfig {
    FetchConfig {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_redirects: 3,
        allowed_networks: nets(allowed),
    }
}

fn fetcher(allowed: &[&str]) -> Fetcher {
    Fetcher::new(config(allowed)).unwrap()
}

/// A listener that must never see a connection; checked without blocking.
struct Tripwire {
    listener: StdListener,
}

impl Tripwire {
    fn bind(ip: &str) -> Option<Self> {
        let listener = StdListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).ok()?;
        listener.set_nonblocking(true).unwrap();
        Some(Self { listener })
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("a connection was made from {peer}"),
            Err(err) => panic!("accept failed: {err}"),
        }
    }
}

/// Serves `app` on `ip`, port chosen by the OS.
async fn serve_on(ip: &str, app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

async fn serve(app: Router) -> SocketAddr {
    serve_on("127.0.0.1", app).await
}

fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// A router whose `/go` answers 302 to `location`.
fn redirector(location: String) -> Router {
    Router::new().route("/go", get(move || async move { found(location) }))
}

fn assert_forbidden(result: Result<Fetched, FetchError>, host: &str) {
    match result {
        Err(FetchError::ForbiddenAddress { host: refused }) => assert_eq!(refused, host),
        other => panic!("expected ForbiddenAddress for {host}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- address policy

#[test]
fn policy_refuses_non_public_ipv4() {
    for ip in [
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.0.9",
        "169.254.169.254",
        "169.254.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        assert!(is_forbidden(ip.parse().unwrap()), "{ip} should be refused");
    }
}

#[test]
fn policy_permits_public_ipv4_at_range_edges() {
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.1",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "203.0.114.1",
        "223.255.255.255",
    ] {
        assert!(
            !is_forbidden(ip.parse().unwrap()),
            "{ip} should be permitted"
        );
    }
}

#[test]
fn policy_refuses_non_public_ipv6_and_wrapped_ipv4() {
    for ip in [
        "::",
        "::1",
        "::127.0.0.1",
        "::10.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "::ffff:169.254.169.254",
        "::ffff:10.1.2.3",
        "::ffff:0:127.0.0.1",
        "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::8.8.8.8",
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2002:a9fe:a9fe::1",
        "2001::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:2::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "5f00::1",
    ] {
        assert!(is_forbidden(ip.parse().unwrap()), "{ip} should be refused");
    }
}

#[test]
fn policy_permits_public_ipv6_and_wrapped_public_ipv4() {
    for ip in [
        "2606:4700:4700::1111",
        "2a00:1450:4001:82a::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert!(
            !is_forbidden(ip.parse().unwrap()),
            "{ip} should be permitted"
        );
    }
}

#[test]
fn allow_list_reopens_only_its_networks() {
    let policy = AddressPolicy::new(nets(&["10.0.0.0/8", "fd00::/8"]));
    assert!(policy.permits("10.1.2.3".parse().unwrap()));
    assert!(policy.permits("::ffff:10.1.2.3".parse().unwrap()));
    assert!(policy.permits("fd12::1".parse().unwrap()));
    assert!(policy.permits("8.8.8.8".parse().unwrap()));
    assert!(!policy.permits("192.168.0.1".parse().unwrap()));
    assert!(!policy.permits("127.0.0.1".parse().unwrap()));
    assert!(!policy.permits("fc00::1".parse().unwrap()));
    assert!(!AddressPolicy::default().permits("10.1.2.3".parse().unwrap()));
}

#[test]
fn allow_list_parses_cidrs_and_bare_addresses() {
    assert_eq!(
        parse_networks("10.0.0.0/8, 127.0.0.1 ::1,fd00::/8 192.168.1.7/16").unwrap(),
        nets(&[
            "10.0.0.0/8",
            "127.0.0.1/32",
            "::1/128",
            "fd00::/8",
            "192.168.0.0/16"
        ])
    );
    assert!(parse_networks("").unwrap().is_empty());
    assert!(parse_networks(" , ").unwrap().is_empty());
    let err = parse_networks("10.0.0.0/8,intranet").unwrap_err();
    assert_eq!(err.entry, "intranet");
}

#[test]
fn url_crate_normalises_ipv4_spellings() {
    for spelling in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://127.0.0.1./",
    ] {
        let url = Url::parse(spelling).unwrap();
        assert_eq!(
            url.host(),
            Some(Host::Ipv4([127, 0, 0, 1].into())),
            "{spelling}"
        );
    }
}

// ---------------------------------------------------------------- refusals before connecting

#[tokio::test]
async fn refuses_forbidden_literals_and_schemes() {
    let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
    // Canary: should the literal check ever regress, fail here, on loopback, before any of the
    // cases below could send a packet towards a private network.
    let canary = Tripwire::bind("127.0.0.1").unwrap();
    let canary_url = format!("http://127.0.0.1:{}/", canary.port());
    assert_forbidden(fetcher.fetch(&canary_url).await, "127.0.0.1");
    canary.assert_untouched();
    let cases = [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://172.16.5.4/", "172.16.5.4"),
        ("http://192.168.1.1/", "192.168.1.1"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("http://[::1]/", "[::1]"),
        ("http://[fc00::1]/", "[fc00::1]"),
        ("http://[fd12::1]/", "[fd12::1]"),
        ("http://[fe80::1]/", "[fe80::1]"),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
        ("http://[::ffff:7f00:1]/", "[::ffff:7f00:1]"),
        ("http://[64:ff9b::a9fe:a9fe]/", "[64:ff9b::a9fe:a9fe]"),
        ("http://[2002:a00:1::1]/", "[2002:a00:1::1]"),
        ("http://[2001::1]/", "[2001::1]"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://0/", "0.0.0.0"),
        ("http://255.255.255.255/", "255.255.255.255"),
        ("https://192.0.2.1/", "192.0.2.1"),
        ("http://user:pw@10.0.0.1:8080/x?y#z", "10.0.0.1"),
    ];
    for (url, host) in cases {
        // Same reason: a policy regression fails here rather than connecting out.
        let ip: IpAddr = match Url::parse(url).unwrap().host().unwrap() {
            Host::Ipv4(ip) => ip.into(),
            Host::Ipv6(ip) => ip.into(),
            Host::Domain(name) => panic!("{name} is not a literal"),
        };
        assert!(is_forbidden(ip), "{url}");
        let started = Instant::now();
        assert_forbidden(fetcher.fetch(url).await, host);
        // Refused up front: no connect attempt, no timeout waited out.
        assert!(started.elapsed() < Duration::from_millis(500), "{url}");
    }
    for url in [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:image/png;base64,AAAA",
    ] {
        assert!(
            matches!(fetcher.fetch(url).await, Err(FetchError::UnsupportedScheme)),
            "{url}"
        );
    }
    for url in [
        "",
        "not a url",
        "/relative/path.png",
        "http://",
        "http://[::1/",
    ] {
        assert!(
            matches!(fetcher.fetch(url).await, Err(FetchError::InvalidUrl)),
            "{url:?}"
        );
    }
}

#[tokio::test]
async fn loopback_spellings_never_connect() {
    let trip = Tripwire::bind("127.0.0.1").unwrap();
    let port = trip.port();
    let fetcher = fetcher(&[]);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.0.0.1.:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
    ] {
        assert!(
            matches!(
                fetcher.fetch(&url).await,
                Err(FetchError::ForbiddenAddress { .. })
            ),
            "{url}"
        );
    }
    trip.assert_untouched();
}

#[tokio::test]
async fn ipv6_loopback_never_connects() {
    let Some(trip) = Tripwire::bind("::1") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let url = format!("http://[::1]:{}/", trip.port());
    assert_forbidden(fetcher(&[]).fetch(&url).await, "[::1]");
    trip.assert_untouched();
}

#[tokio::test]
async fn host_name_resolving_to_loopback_is_refused_by_the_resolver() {
    let trip = Tripwire::bind("127.0.0.1").unwrap();
    let trip6 = Tripwire::bind("::1");
    let url = format!("http://localhost:{}/image.png", trip.port());
    let result = fetcher(&[]).fetch(&url).await;
    let err = result.unwrap_err();
    assert_eq!(
        err,
        FetchError::ForbiddenAddress {
            host: "localhost".to_owned()
        }
    );
    // The message names the host only, never what it resolved to.
    let message = err.to_string();
    assert!(message.contains("localhost"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "{message}"
    );
    trip.assert_untouched();
    if let Some(trip6) = trip6 {
        trip6.assert_untouched();
    }
}

// ---------------------------------------------------------------- redirects

#[tokio::test]
async fn redirect_to_a_refused_literal_is_not_followed() {
    let trip = Tripwire::bind("127.0.0.2").unwrap();
    let target = format!("http://127.0.0.2:{}/secret", trip.port());
    let addr = serve(redirector(target)).await;
    let result = fetcher(&["127.0.0.1/32"])
        .fetch(&format!("http://{addr}/go"))
        .await;
    assert_forbidden(result, "127.0.0.2");
    trip.assert_untouched();
}

#[tokio::test]
async fn redirect_to_ipv6_loopback_is_not_followed() {
    let Some(trip) = Tripwire::bind("::1") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let addr = serve(redirector(format!("http://[::1]:{}/", trip.port()))).await;
    let result = fetcher(&["127.0.0.1/32"])
        .fetch(&format!("http://{addr}/go"))
        .await;
    assert_forbidden(result, "[::1]");
    trip.assert_untouched();
}

#[tokio::test]
async fn redirect_to_a_name_resolving_to_a_refused_address_is_not_followed() {
    // First hop on 127.0.0.2 (allowed); `localhost` resolves to 127.0.0.1 (not allowed).
    let trip = Tripwire::bind("127.0.0.1").unwrap();
    let app = redirector(format!("http://localhost:{}/", trip.port()));
    let addr = serve_on("127.0.0.2", app).await;
    let result = fetcher(&["127.0.0.2/32"])
        .fetch(&format!("http://{addr}/go"))
        .await;
    assert_forbidden(result, "localhost");
    trip.assert_untouched();
}

#[tokio::test]
async fn redirect_to_another_scheme_is_refused() {
    for location in ["file:///etc/passwd", "ftp://example.com/x"] {
        let addr = serve(redirector(location.to_owned())).await;
        let result = fetcher(&["127.0.0.1/32"])
            .fetch(&format!("http://{addr}/go"))
            .await;
        assert!(
            matches!(result, Err(FetchError::UnsupportedScheme)),
            "{location}: {result:?}"
        );
    }
}

/// `/hop/{n}` redirects to `/hop/{n-1}`; `/hop/0` serves the PNG. `/loop` redirects to itself.
fn hops() -> Router {
    Router::new()
        .route(
            "/hop/{n}",
            get(
                |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                    if n == 0 {
                        PNG.into_response()
                    } else {
                        found(format!("/hop/{}", n - 1))
                    }
                },
            ),
        )
        .route("/loop", get(|| async { found("/loop".to_owned()) }))
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let addr = serve(hops()).await;
    let fetcher = fetcher(&["127.0.0.0/8"]); // max_redirects = 3
    let fetched = fetcher
        .fetch(&format!("http://{addr}/hop/3"))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, PNG);
    assert_eq!(fetched.mime.as_deref(), Some("image/png"));
    assert_eq!(
        fetcher.fetch(&format!("http://{addr}/hop/4")).await,
        Err(FetchError::TooManyRedirects)
    );
}

#[tokio::test]
async fn redirect_loop_is_too_many_redirects() {
    let addr = serve(hops()).await;
    let result = fetcher(&["127.0.0.0/8"])
        .fetch(&format!("http://{addr}/loop"))
        .await;
    assert_eq!(result, Err(FetchError::TooManyRedirects));
}

// ---------------------------------------------------------------- the allowed path

#[tokio::test]
async fn png_is_sniffed_from_the_bytes_not_the_header() {
    let app = Router::new()
        .route(
            "/lying.png",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], PNG) }),
        )
        .route(
            "/unknown",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], "just some text") }),
        );
    let addr = serve(app).await;
    let fetcher = fetcher(&["127.0.0.0/8"]);
    let fetched = fetcher
        .fetch(&format!("http://{addr}/lying.png"))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, PNG);
    assert_eq!(fetched.mime.as_deref(), Some("image/png"));

    let fetched = fetcher
        .fetch(&format!("http://{addr}/unknown"))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, Bytes::from_static(b"just some text"));
    assert_eq!(fetched.mime, None);
}

#[tokio::test]
async fn same_server_is_refused_without_the_allow_list() {
    let app = Router::new().route("/x.png", get(|| async { PNG }));
    let addr = serve(app).await;
    assert_forbidden(
        fetcher(&[]).fetch(&format!("http://{addr}/x.png")).await,
        "127.0.0.1",
    );
}

#[tokio::test]
async fn non_success_status_is_reported() {
    let app = Router::new()
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/no-location",
            get(|| async { StatusCode::FOUND.into_response() }),
        );
    let addr = serve(app).await;
    let fetcher = fetcher(&["127.0.0.0/8"]);
    assert_eq!(
        fetcher.fetch(&format!("http://{addr}/missing")).await,
        Err(FetchError::Status(404))
    );
    assert_eq!(
        fetcher.fetch(&format!("http://{addr}/boom")).await,
        Err(FetchError::Status(500))
    );
    assert_eq!(
        fetcher.fetch(&format!("http://{addr}/no-location")).await,
        Err(FetchError::Status(302))
    );
}

#[tokio::test]
async fn refused_connection_is_a_network_error() {
    // Bind then drop, so nothing listens on the port.
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = fetcher(&["127.0.0.0/8"])
        .fetch(&format!("http://127.0.0.1:{port}/"))
        .await;
    assert!(matches!(result, Err(FetchError::Network(_))), "{result:?}");
}

// ---------------------------------------------------------------- size cap

fn chunked(chunk: usize, count: usize) -> Body {
    let piece = Bytes::from(vec![0u8; chunk]);
    Body::from_stream(stream::repeat(piece).take(count).map(Ok::<_, Infallible>))
}

#[tokio::test]
async fn body_over_the_cap_is_too_large() {
    let limit = config(&[]).max_bytes;
    let app = Router::new()
        // Declared length over the cap.
        .route(
            "/declared",
            get(move || async move { vec![0u8; limit + 1] }),
        )
        // Chunked, no Content-Length, far more than the cap.
        .route("/chunked", get(|| async { chunked(1024, 100_000) }))
        // Chunked, one byte over the cap.
        .route(
            "/just-over",
            get(move || async move { chunked(limit / 4 + 1, 4) }),
        )
        // Chunked, exactly the cap.
        .route("/exact", get(move || async move { chunked(limit / 4, 4) }));
    let addr = serve(app).await;
    let fetcher = fetcher(&["127.0.0.0/8"]);
    for path in ["declared", "chunked", "just-over"] {
        assert_eq!(
            fetcher.fetch(&format!("http://{addr}/{path}")).await,
            Err(FetchError::TooLarge { limit }),
            "{path}"
        );
    }
    let fetched = fetcher
        .fetch(&format!("http://{addr}/exact"))
        .await
        .unwrap();
    assert_eq!(fetched.bytes.len(), limit);
}

/// A raw HTTP/1.1 server: answers every connection with `head` and `body`, then holds it open.
async fn raw_server(head: &'static str, body: &'static [u8]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn declared_length_over_the_cap_is_refused_before_reading() {
    // Claims a huge body, sends a few bytes and stalls: only the early check can answer quickly.
    let addr = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\nContent-Type: image/png\r\n\r\n",
        b"\x89PNG",
    )
    .await;
    let started = Instant::now();
    let result = fetcher(&["127.0.0.0/8"])
        .fetch(&format!("http://{addr}/"))
        .await;
    assert_eq!(result, Err(FetchError::TooLarge { limit: 64 * 1024 }));
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------- timeouts

#[tokio::test]
async fn slow_server_times_out() {
    let app = Router::new()
        .route(
            "/slow-head",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                PNG
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                let first = stream::once(async { Ok::<_, Infallible>(Bytes::from_static(PNG)) });
                Body::from_stream(first.chain(stream::pending()))
            }),
        );
    let addr = serve(app).await;
    let fetcher = Fetcher::new(FetchConfig {
        timeout: Duration::from_millis(400),
        ..config(&["127.0.0.0/8"])
    })
    .unwrap();
    for path in ["slow-head", "slow-body"] {
        let started = Instant::now();
        let result = fetcher.fetch(&format!("http://{addr}/{path}")).await;
        assert_eq!(result, Err(FetchError::Timeout), "{path}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }
}

#[tokio::test]
async fn a_stalled_redirect_chain_times_out_as_a_whole() {
    // Each hop is quick, but together they exceed the deadline.
    let app = Router::new().route(
        "/hop/{n}",
        get(
            |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                if n == 0 {
                    PNG.into_response()
                } else {
                    found(format!("/hop/{}", n - 1))
                }
            },
        ),
    );
    let addr = serve(app).await;
    let fetcher = Fetcher::new(FetchConfig {
        timeout: Duration::from_millis(400),
        ..config(&["127.0.0.0/8"])
    })
    .unwrap();
    assert_eq!(
        fetcher.fetch(&format!("http://{addr}/hop/3")).await,
        Err(FetchError::Timeout)
    );
}

// ---------------------------------------------------------------- config and messages

#[test]
fn defaults_match_the_documented_limits() {
    let config = FetchConfig::default();
    assert_eq!(config.max_bytes, 20 * 1024 * 1024);
    assert_eq!(config.timeout, Duration::from_secs(20));
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.max_redirects, 5);
    assert!(config.allowed_networks.is_empty());
}

#[test]
fn error_messages_are_client_facing() {
    let cases = [
        (
            FetchError::UnsupportedScheme,
            "only http and https URLs can be fetched",
        ),
        (
            FetchError::InvalidUrl,
            "the URL is not a valid absolute http(s) URL",
        ),
        (
            FetchError::InvalidRedirect,
            "the URL redirected to an invalid location",
        ),
        (
            FetchError::ForbiddenAddress {
                host: "10.0.0.1".to_owned(),
            },
            "fetching from `10.0.0.1` is not allowed: it is not a public internet address",
        ),
        (
            FetchError::TooLarge { limit: 1024 },
            "the file is larger than the 1024-byte limit",
        ),
        (
            FetchError::TooManyRedirects,
            "the URL redirected too many times",
        ),
        (FetchError::Timeout, "fetching the URL timed out"),
        (
            FetchError::Status(404),
            "the server answered with HTTP status 404",
        ),
        (
            FetchError::Network("could not connect to the host".to_owned()),
            "could not fetch the URL: could not connect to the host",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
    }
}
