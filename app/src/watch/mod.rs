//! Watching a camera: the signaling state machine (`machine`), the browser's peer connection
//! (`peer`), its statistics (`stats`) and the session that ties them to the socket (`session`);
//! the camera's recordings over the session's `history` data channel (`history`), played
//! through Media Source Extensions (`playback`); its motion events (`events`) and the owner's
//! zones and privacy masks (`zones`) over the same channel.

pub mod events;
pub mod history;
pub mod machine;
pub mod peer;
pub mod playback;
pub mod session;
pub mod stats;
pub mod zones;
