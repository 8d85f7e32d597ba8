//! The scripts the pages load, carried in the binary. SortableJS is vendored at a pinned
//! version (MIT, its licence beside it) and its bytes are checked against a pinned hash,
//! so an accidental edit or a silent upgrade fails the tests. Nothing is fetched from
//! elsewhere: the UI works offline.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// SortableJS 1.15.7, as `npm pack sortablejs@1.15.7` ships `Sortable.min.js`.
pub(crate) const SORTABLE: &[u8] = include_bytes!("../static/vendor/Sortable-1.15.7.min.js");
/// Its SHA-256.
#[cfg(test)]
const SORTABLE_SHA256: &str = "bf4241bc73fef7f11c59a283a69fe8051cdd31c6d8ff5a2b9ba219e7831fcf76";
/// Drag and drop on the board, on top of its forms.
pub(crate) const BOARD_JS: &[u8] = include_bytes!("../static/board.js");
/// Live updates of a conversation page.
pub(crate) const CONVERSATION_JS: &[u8] = include_bytes!("../static/conversation.js");

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let body = match name.as_str() {
        "Sortable-1.15.7.min.js" => SORTABLE,
        "board.js" => BOARD_JS,
        "conversation.js" => CONVERSATION_JS,
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // They change only with the binary.
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_vendored_sortable_is_the_pinned_release() {
        let digest: String = Sha256::digest(SORTABLE)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, SORTABLE_SHA256);
    }
}
