//! The chat, tools, attachments and streaming suites again, with the adapter on GigaChat's v2
//! contract (`GIGACHAT_API_VERSION=2`) against the emulator's v2 endpoint: every feature they
//! prove on v1 must hold on v2. The suites reach their harness as `super::common`, which here
//! is [`common`]: the shared one with v2 set first (a test may still set its own contract).

mod common {
    pub use crate::common::*;

    use gigachat::Contract;

    /// Puts an adapter started without the harness on v2, then applies the test's own settings.
    fn on_v2(
        change: Box<dyn FnOnce(&mut gigachat::Settings)>,
    ) -> Box<dyn FnOnce(&mut gigachat::Settings)> {
        Box::new(move |settings| {
            settings.api_version = Contract::V2;
            change(settings);
        })
    }

    pub async fn start() -> Harness {
        start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Harness {
        crate::common::start_with(Options {
            contract: Contract::V2,
            ..options
        })
        .await
    }

    pub async fn spawn_adapter(
        emulator: &gigachat_emulator::Emulator,
        dir: &std::path::Path,
        args: Vec<String>,
        change: Box<dyn FnOnce(&mut gigachat::Settings)>,
        key: &str,
    ) -> (String, tokio::task::JoinHandle<()>) {
        crate::common::spawn_adapter(emulator, dir, args, on_v2(change), key).await
    }
}

#[path = "../attachments.rs"]
mod attachments;
#[path = "../chat.rs"]
mod chat;
#[path = "../streaming.rs"]
mod streaming;
#[path = "../tools.rs"]
mod tools;
