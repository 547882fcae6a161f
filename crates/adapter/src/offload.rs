//! Work too slow for an event loop (it would hold up every connection the loop serves) runs on
//! tokio's blocking threads; light work stays inline.

use crate::error::AppError;

/// Runs `work` on a blocking thread when `heavy`, inline otherwise; `what` names the work if that
/// thread fails.
pub async fn run<T: Send + 'static>(
    heavy: bool,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    if !heavy {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| AppError::Internal(format!("{what} failed ({err})")))
}
