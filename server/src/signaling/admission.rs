//! Whether a device takes one more viewer: the one rule for `max_sessions_per_device`.
//!
//! The viewer side asks it what place the asker may count on (by their role on the device),
//! and the hub asks it, with the device's count of sessions, whether the watch is admitted:
//! for a device on this server whether its viewer is here or on another server, since the
//! device's server holds the count and the rule travels with a watch across servers.
//!
//! **Invariant**: a device serves at most `max_sessions_per_device` sessions, of which people it
//! was shared with hold all but one (the owner always finds a place), and a renewal overlaps
//! its own session by one place, never more.

use crate::error::{Error, Result};
use mumu_shared::api::AccessRole;
use mumu_shared::{DeviceId, ErrorCode};
use serde::{Deserialize, Serialize};

/// How many sessions a device may serve, counting the one asked for, for one watch. Across
/// servers it travels as `max_sessions`: a bare number, as it always has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Admission {
    max_sessions: usize,
}

impl Admission {
    /// For someone with `role` on a device that serves at most `per_device` sessions: the
    /// owner always finds a place, people it shared with take all but one (at least one).
    pub fn for_role(role: AccessRole, per_device: usize) -> Self {
        let max_sessions = match role {
            AccessRole::Owner => per_device,
            AccessRole::Viewer | AccessRole::Admin => per_device.saturating_sub(1).max(1),
        };
        Self { max_sessions }
    }

    /// Whether `device_id`, serving `serving` sessions, takes this watch. `renewing`: the
    /// watch replaces a session of the same viewer and device (the caller checked that it
    /// does), and the two overlap until the new one plays.
    pub fn admit(self, device_id: &DeviceId, serving: usize, renewing: bool) -> Result<()> {
        let places = self.max_sessions + usize::from(renewing);
        if serving >= places {
            return Err(Error::client(
                ErrorCode::MaxSessions,
                format!(
                    "device {device_id} already serves {serving} viewers, the most it takes for you right now"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(admission: Admission, serving: usize, renewing: bool) -> bool {
        admission
            .admit(&DeviceId::from("d1"), serving, renewing)
            .is_ok()
    }

    #[test]
    fn the_owner_finds_a_place_that_people_it_shared_with_do_not() {
        let owner = Admission::for_role(AccessRole::Owner, 4);
        let guest = Admission::for_role(AccessRole::Viewer, 4);
        assert!(admitted(owner, 3, false));
        assert!(!admitted(guest, 3, false));
        assert!(admitted(guest, 2, false));
        assert!(!admitted(owner, 4, false));
    }

    #[test]
    fn a_guest_always_has_one_place_even_on_a_device_of_one() {
        let guest = Admission::for_role(AccessRole::Viewer, 1);
        assert!(admitted(guest, 0, false));
        assert!(!admitted(guest, 1, false));
    }

    #[test]
    fn a_renewal_overlaps_its_own_session_by_one_place_only() {
        let owner = Admission::for_role(AccessRole::Owner, 1);
        assert!(!admitted(owner, 1, false));
        assert!(admitted(owner, 1, true));
        assert!(!admitted(owner, 2, true));
    }

    #[test]
    fn a_refusal_says_max_sessions() {
        let refused = Admission::for_role(AccessRole::Owner, 1).admit(&"d1".into(), 1, false);
        assert_eq!(refused.unwrap_err().code(), ErrorCode::MaxSessions);
    }

    #[test]
    fn it_travels_between_servers_as_the_bare_number_it_was() {
        let admission = Admission::for_role(AccessRole::Viewer, 4);
        assert_eq!(serde_json::to_string(&admission).unwrap(), "3");
        assert_eq!(serde_json::from_str::<Admission>("3").unwrap(), admission);
    }
}
