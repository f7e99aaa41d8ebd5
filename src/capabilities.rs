//! The five capability flags that grant a user or a service account rights
//! on CAs and certificates beyond its role. A leaf: storage, authorization,
//! use cases and the command-line client all speak it.

use serde::{Deserialize, Serialize};

/// The five capability flags, in storage order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capabilities {
    pub can_create_ca: bool,
    pub can_create_cert: bool,
    pub can_revoke_cert: bool,
    pub can_export_private_key: bool,
    pub can_delete_ca: bool,
}

/// The five flag fields of a value whose fields are named as the flags (a
/// request, a command line), as an array in the order of
/// [`Capabilities::NAMES`].
#[macro_export]
macro_rules! capability_fields {
    ($v:expr) => {
        [
            $v.can_create_ca,
            $v.can_create_cert,
            $v.can_revoke_cert,
            $v.can_export_private_key,
            $v.can_delete_ca,
        ]
    };
}

/// A change to some of the flags (in the order of [`Capabilities::NAMES`]):
/// `None` leaves a flag as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapabilityUpdate(pub [Option<bool>; 5]);

impl Capabilities {
    /// The flags' names (their JSON keys and columns), in storage order.
    pub const NAMES: [&'static str; 5] = [
        "can_create_ca",
        "can_create_cert",
        "can_revoke_cert",
        "can_export_private_key",
        "can_delete_ca",
    ];

    /// The flags' values, in the order of [`Capabilities::NAMES`].
    pub fn values(self) -> [bool; 5] {
        capability_fields!(self)
    }

    fn slots(&mut self) -> [&mut bool; 5] {
        [
            &mut self.can_create_ca,
            &mut self.can_create_cert,
            &mut self.can_revoke_cert,
            &mut self.can_export_private_key,
            &mut self.can_delete_ca,
        ]
    }

    /// Sets the flags `update` gives; returns their names, in storage order.
    pub fn apply(&mut self, update: CapabilityUpdate) -> Vec<&'static str> {
        let mut changed = Vec::new();
        for ((name, slot), value) in Self::NAMES.into_iter().zip(self.slots()).zip(update.0) {
            if let Some(v) = value {
                *slot = v;
                changed.push(name);
            }
        }
        changed
    }
}

impl From<[bool; 5]> for Capabilities {
    fn from(v: [bool; 5]) -> Self {
        let mut caps = Capabilities::default();
        for (slot, value) in caps.slots().into_iter().zip(v) {
            *slot = value;
        }
        caps
    }
}

impl CapabilityUpdate {
    /// True when the update names any flag.
    pub fn names_any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }

    /// True when the update grants any flag.
    pub fn grants_any(&self) -> bool {
        self.0.contains(&Some(true))
    }

    /// The flags of something new: those not given are off.
    pub fn or_off(self) -> Capabilities {
        Capabilities::from(self.0.map(|v| v.unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_serde_keys_agree() {
        let caps = Capabilities::from([true, false, true, false, true]);
        let json = serde_json::to_value(caps).unwrap();
        for (name, value) in Capabilities::NAMES.into_iter().zip(caps.values()) {
            assert_eq!(json[name], value, "{name}");
        }
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names = Capabilities::NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(keys, names);
    }

    #[test]
    fn apply_sets_the_given_flags_and_names_them() {
        let mut caps = Capabilities::from([true; 5]);
        let changed = caps.apply(CapabilityUpdate([
            None,
            Some(false),
            None,
            Some(true),
            None,
        ]));
        assert_eq!(changed, ["can_create_cert", "can_export_private_key"]);
        assert_eq!(caps.values(), [true, false, true, true, true]);
        assert!(!CapabilityUpdate::default().names_any());
        assert!(!CapabilityUpdate([Some(false); 5]).grants_any());
        assert_eq!(
            CapabilityUpdate([None, Some(true), None, None, Some(false)]).or_off(),
            Capabilities::from([false, true, false, false, false])
        );
    }
}
