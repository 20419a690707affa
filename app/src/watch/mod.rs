//! Watching a camera: the signaling state machine (`machine`), the browser's peer connection
//! (`peer`), its statistics (`stats`) and the session that ties them to the socket (`session`).

pub mod machine;
pub mod peer;
pub mod session;
pub mod stats;
