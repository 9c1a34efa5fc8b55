//! `/callbacks`: calls back to customers, routine, after a sale or after a
//! ticket, with their satisfaction.

use super::{child_record_routes, merge_patch_schema, new_record_schema};
use crate::records::callbacks::{CallbackFilter, CallbackView, Callbacks};
use kam_sync_core::Callback;
use utoipa_actix_web::service_config::ServiceConfig;

merge_patch_schema!(
    /// A merge patch of a callback.
    CallbackPatch for Callback
);

new_record_schema!(
    /// A new callback; `owner_id` defaults to the caller.
    NewCallback for Callback, defaulted: ["owner_id"]
);

mod crud {
    //! The five record routes of callbacks.
    use super::{CallbackFilter, CallbackPatch, CallbackView, Callbacks, NewCallback};

    super::child_record_routes!(
        kind: Callbacks,
        tag: "callbacks",
        names: { one: "Callback", many: "Callbacks" },
        list: "/callbacks",
        item: "/callbacks/{id}",
        view: CallbackView,
        filter: CallbackFilter,
        new: NewCallback,
        patch: CallbackPatch,
        docs: {
            list: "List the callbacks at the accounts in the caller's scope, newest first.",
            create: "Plan or log a callback at an account the caller can see; `owner_id` defaults to the caller.",
            get: "Read a callback: the merged record and any concurrent values.",
            update: "Change a callback with a JSON merge patch. Status moves planned → done | missed (missed → planned to retry); others answer 422 `invalid_status_move`. A done callback records `satisfaction` (1-5).",
            delete: "Delete a callback (soft: `deleted` becomes true).",
        },
    );
}

/// Mounts the callback routes.
pub fn configure(config: &mut ServiceConfig) {
    crud::configure(config);
}
