//! The sync endpoint's engine: one request pushes a device's changes and
//! pulls what it lacks. See `docs/sync-protocol.md` for the protocol and
//! the reasons behind it.

pub mod cursor;
pub mod pull;
pub mod push;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use kam_sync_core::cursor::SyncCursor;
use kam_sync_core::protocol::{PushStatus, SyncRequest, SyncResponse};

/// Handles one sync request: checks the cursor, applies the pushes (one
/// transaction), then computes the pull (one consistent read).
pub async fn sync(
    state: &AppState,
    caller: &AuthUser,
    request: SyncRequest,
) -> ApiResult<SyncResponse> {
    if request.limit == Some(0) {
        return Err(ApiError::invalid_field(
            "limit",
            "invalid_value",
            format!(
                "a pull brings at least one document: send 1 to {} (more is capped), or no limit",
                pull::MAX_PULL_DOCS
            ),
        ));
    }
    let cursor = request
        .cursor
        .as_deref()
        .map(SyncCursor::parse)
        .transpose()?;
    let (pushed, notices) = push::apply(state, caller, request.push).await?;
    // The server's corrections of what was just pushed come in this
    // response whatever its page holds: a device that lacked them would
    // take its document for unpushed and send it again whole.
    let corrected: Vec<_> = pushed
        .iter()
        .filter(|result| result.status == PushStatus::Corrected)
        .map(|result| result.id)
        .collect();
    let page = pull::pull(
        &state.db,
        &state.cache,
        caller,
        pull::Wanted {
            cursor,
            resend: &request.resend,
            corrected: &corrected,
            limit: request.limit,
        },
    )
    .await?;
    for doc in &page.pull {
        crate::metrics::pulled_document(doc.whole, doc.data.0.len());
    }
    Ok(SyncResponse {
        cursor: page.cursor,
        has_more: page.has_more,
        reset: page.reset,
        pushed,
        pull: page.pull,
        removed: page.removed,
        notices,
    })
}
