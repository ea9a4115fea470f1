//! The storage schema of setting clients: every partition and sort key of a client's items,
//! built here and nowhere else (docs/ARCHITECTURE.md §4, whose key table the tests below hold
//! this module to). The keys are the persisted format: changing one orphans what is stored
//! under the old one.
//!
//! A client's partition, in sort-key order (the order the reads rely on):
//!
//! | sort key | item |
//! |---|---|
//! | [`DEFINITIONS_SK`] | the definitions, sealed |
//! | [`dek_sk`] | a wrapped data key |
//! | [`instance_sk`], [`instance_setting_sk`] | an instance, an instance's value |
//! | [`META`] | the client |
//! | [`throttle_sk`] (up to [`HEAD_END`]) | a failure counter of one address and hour |
//! | [`VALUES_SK`] | the values pack |
//! | [`setting_sk`] | a value |
//!
//! so that `META`..[`HEAD_END`] holds the client and its counters, `META`..[`VALUES_SK`] also
//! the pack, and neither holds a value, a key, the definitions or an instance.

/// Sort key of an entity's own item (a client's, a user's).
pub const META: &str = "META";

/// Partition of a client.
pub fn client_pk(name: &str) -> String {
    format!("CLIENT#{name}")
}

/// Partition of the client index (one item per client, sort key [`client_pk`]).
pub const CLIENTS_PK: &str = "CLIENTS";

/// Sort key of a client's sealed definitions.
pub const DEFINITIONS_SK: &str = "DEFINITIONS";

/// Sort-key prefix of a client's wrapped data keys.
pub const DEK_PREFIX: &str = "DEK#";

/// Sort key of a client's data key `version` (zero-padded: they sort by version).
pub fn dek_sk(version: u32) -> String {
    format!("{DEK_PREFIX}{version:010}")
}

/// Sort-key prefix of a client's values.
pub const SETTING_PREFIX: &str = "SETTING#";

/// Sort key of a client's value of `setting`.
pub fn setting_sk(setting: &str) -> String {
    format!("{SETTING_PREFIX}{setting}")
}

/// Sort-key prefix of a client's instances and their values.
pub const INSTANCE_PREFIX: &str = "INSTANCE#";

/// Between an instance and a setting in [`instance_setting_sk`].
pub const INSTANCE_SETTING: &str = "#SETTING#";

/// Sort key of an instance's marker.
pub fn instance_sk(instance: &str) -> String {
    format!("{INSTANCE_PREFIX}{instance}")
}

/// Sort key of an instance's value of `setting`.
pub fn instance_setting_sk(instance: &str, setting: &str) -> String {
    format!("{INSTANCE_PREFIX}{instance}{INSTANCE_SETTING}{setting}")
}

/// Sort-key prefix of the failure counters: right after [`META`], so that one short range
/// (`META` to [`HEAD_END`]) reads the client's `META` item and its counters, and nothing else.
pub const THROTTLE_PREFIX: &str = "META#THROTTLE#";

/// Upper bound of that range (`~` sorts after every character of an address and an hour).
pub const HEAD_END: &str = "META#THROTTLE#~";

/// Sort key of the failure counter of `address` (an IPv4 address or an IPv6 /64) in `hour`
/// (`YYYY-MM-DDTHH`).
pub fn throttle_sk(address: &str, hour: &str) -> String {
    format!("{THROTTLE_PREFIX}{address}#{hour}")
}

/// Sort key of the client's values pack: after the counters, so that the range
/// `META`..[`VALUES_SK`] holds `META`, the counters and the pack, and nothing else.
pub const VALUES_SK: &str = "META#VALUES";

/// Partition of a client's value history (its own, so that no client read reads it).
pub fn history_pk(client: &str) -> String {
    format!("HISTORY#{client}")
}

/// Partition-key prefix of the heartbeats.
pub const CLIENT_STATUS_PREFIX: &str = "CLIENTSTATUS#";

/// Partition of a client's heartbeats (one item per run session, with a TTL).
pub fn client_status_pk(client: &str) -> String {
    format!("{CLIENT_STATUS_PREFIX}{client}")
}

/// Partition of a user (in the identity table).
pub fn user_pk(username: &str) -> String {
    format!("USER#{username}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented key table, `| PK | SK |` at the start of each row.
    const ARCHITECTURE: &str = include_str!("../../docs/ARCHITECTURE.md");

    fn documented(pk: &str, sk: &str) -> bool {
        ARCHITECTURE.contains(&format!("| `{pk}` | `{sk}` |"))
    }

    #[test]
    fn every_client_key_is_the_documented_one() {
        let name = "{name}";
        for (pk, sk) in [
            (client_pk(name), META.to_owned()),
            (client_pk(name), DEFINITIONS_SK.to_owned()),
            (client_pk(name), format!("{DEK_PREFIX}{{version:010}}")),
            (client_pk(name), setting_sk("{setting}")),
            (client_pk(name), instance_sk("{instance}")),
            (
                client_pk(name),
                instance_setting_sk("{instance}", "{setting}"),
            ),
            (client_pk(name), throttle_sk("{address}", "{YYYY-MM-DDTHH}")),
            (client_pk(name), VALUES_SK.to_owned()),
            (CLIENTS_PK.to_owned(), client_pk(name)),
            (client_status_pk("{client}"), "{runSessionId}".to_owned()),
            (user_pk("{username}"), META.to_owned()),
        ] {
            assert!(documented(&pk, &sk), "{pk} / {sk} is not in the key table");
        }
        assert!(ARCHITECTURE.contains(&format!("| `{}` |", history_pk("{client}"))));
    }

    #[test]
    fn keys_are_built_exactly() {
        assert_eq!(client_pk("billing"), "CLIENT#billing");
        assert_eq!(dek_sk(7), "DEK#0000000007");
        assert_eq!(setting_sk("DbPassword"), "SETTING#DbPassword");
        assert_eq!(instance_sk("eu"), "INSTANCE#eu");
        assert_eq!(
            instance_setting_sk("eu", "Retries"),
            "INSTANCE#eu#SETTING#Retries"
        );
        assert_eq!(
            throttle_sk("2001:db8:1:2::/64", "2026-12-02T14"),
            "META#THROTTLE#2001:db8:1:2::/64#2026-12-02T14"
        );
        assert_eq!(history_pk("billing"), "HISTORY#billing");
        assert_eq!(client_status_pk("billing"), "CLIENTSTATUS#billing");
        assert_eq!(user_pk("ada"), "USER#ada");
    }

    /// The order the head and pack reads rely on.
    #[test]
    fn a_clients_sort_keys_sort_as_the_reads_need() {
        let counter = throttle_sk("255.255.255.255", "2026-12-31T23");
        let v6 = throttle_sk("ffff:ffff:ffff:ffff::/64", "2026-12-31T23");
        let order = [
            DEFINITIONS_SK.to_owned(),
            dek_sk(u32::MAX),
            instance_setting_sk("zz", "Zz"),
            META.to_owned(),
            counter.clone(),
            HEAD_END.to_owned(),
            VALUES_SK.to_owned(),
            setting_sk("A"),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(v6.as_str() < HEAD_END && counter.as_str() > THROTTLE_PREFIX);
    }
}
