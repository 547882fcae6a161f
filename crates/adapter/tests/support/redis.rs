//! A real `redis-server` for tests, started on a free loopback port and killed on drop
//! (shared by the store tests and the adapter's integration tests).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A real `redis-server` on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one (fails loudly when redis-server is not installed).
    pub async fn start() -> Self {
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = tempfile::tempdir().unwrap();
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                    "redis-server is not on PATH: the Redis store tests need a real one. Install \
                     the package `redis-server` (Debian/Ubuntu: apt-get install -y redis-server; \
                     .ci/run does it) and run the tests again"
                ),
                Err(err) => panic!("cannot start redis-server: {err}"),
            };
            let mut server = Self {
                child,
                url: format!("redis://127.0.0.1:{port}/"),
                _dir: dir,
            };
            if server.wait_ready().await {
                return server;
            }
        }
        panic!("redis-server did not start (three tries on free ports)");
    }

    /// Whether the server answers PING within 10 s (false if it exited, e.g. port taken).
    async fn wait_ready(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(mut conn) = self.raw().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// A plain connection, to look at keys behind the store's back.
    #[allow(dead_code)]
    pub async fn raw(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url.as_str())?
            .get_multiplexed_async_connection()
            .await
    }
}

impl RedisServer {
    /// Kills the server now (Redis going down under a running adapter).
    #[allow(dead_code)]
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
