//! Watching a camera: the signaling state machine (`machine`), the browser's peer connection
//! (`peer`), its statistics (`stats`) and the session that ties them to the socket (`session`);
//! the camera's recordings over the session's `history` data channel (`history`), played
//! through Media Source Extensions (`playback`).

pub mod history;
pub mod machine;
pub mod peer;
pub mod playback;
pub mod session;
pub mod stats;
