//! A process a test started (the adapter binary), with its working directory; killed on drop.
//! Shared by the tests that run the real binary (`shutdown.rs`, `demo.rs`).

use std::process::Child;

/// A running child process and the temporary directory it runs in, both gone on drop.
pub struct Running {
    pub child: Child,
    _dir: tempfile::TempDir,
}

impl Running {
    pub fn new(child: Child, dir: tempfile::TempDir) -> Self {
        Self { child, _dir: dir }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
