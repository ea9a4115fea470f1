//! The storage schema: the partition and sort keys of the items of both tables, built here
//! (docs/ARCHITECTURE.md §4, whose key table the tests below hold this module to). The keys are
//! the persisted format: changing one orphans what is stored under the old one.
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

/// Sort key of a history row: the value's history name (`{setting}`, or
/// `@{instance}/{setting}`), the change's time (RFC 3339) and the value's version
/// (zero-padded: a setting's rows sort by time, then version).
pub fn history_sk(history_name: &str, time: &str, value_version: u64) -> String {
    format!("{history_name}#{time}#{value_version:010}")
}

/// Partition-key prefix of the heartbeats.
pub const CLIENT_STATUS_PREFIX: &str = "CLIENTSTATUS#";

/// Partition of a client's heartbeats (one item per run session, with a TTL).
pub fn client_status_pk(client: &str) -> String {
    format!("{CLIENT_STATUS_PREFIX}{client}")
}

/// The count of clients (bounded by `maxClients`).
pub const CLIENT_COUNT: (&str, &str) = ("CLIENTCOUNT", "COUNT");

/// The server configuration.
pub const SERVER_CONFIG: (&str, &str) = ("CONFIG", "SERVER");

/// Partition of the service keys (token signing keys, the pepper, the origin secret).
pub const KEYS_PK: &str = "KEYS";

/// Sort key of the client-secret pepper.
pub const PEPPER_SK: &str = "PEPPER#1";

/// Sort key of the origin secret.
pub const ORIGIN_SK: &str = "ORIGIN";

/// Sort key of the token signing key `kid`.
pub fn signing_key_sk(kid: &str) -> String {
    format!("JWT#{kid}")
}

/// Partition of the outbox events of `hour` (`YYYY-MM-DDTHH`) in `shard`.
pub fn outbox_pk(hour: &str, shard: u32) -> String {
    format!("EVENT#{hour}#{shard}")
}

/// Partition of the webhooks.
pub const WEBHOOKS_PK: &str = "WEBHOOKS";

/// Sort-key prefix of the webhooks.
pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";

/// Sort key of webhook `id`.
pub fn webhook_sk(id: &str) -> String {
    format!("{WEBHOOK_PREFIX}{id}")
}

/// Partition of the delivery states of one event (one item per webhook).
pub fn delivery_pk(event_id: &str) -> String {
    format!("DELIVERY#{event_id}")
}

/// Partition of a webhook's dead letters (one item per event).
pub fn dead_letter_pk(webhook_id: &str) -> String {
    format!("DEADLETTER#{webhook_id}")
}

/// The audit digest chain's head.
pub const AUDIT_CHAIN: (&str, &str) = ("AUDIT", "CHAIN");

/// The last hour the reconciliation fully checked.
pub const AUDIT_RECONCILED: (&str, &str) = ("AUDIT", "RECONCILED");

/// Partition of a user (in the identity table).
pub fn user_pk(username: &str) -> String {
    format!("USER#{username}")
}

/// Sort key of a user's session (refresh-token family).
pub fn session_sk(family: &str) -> String {
    format!("SESSION#{family}")
}

/// Partition of the user index and the Administrator count (identity table).
pub const USERS_PK: &str = "USERS";

/// The count of enabled Administrators.
pub const ADMIN_COUNT: (&str, &str) = (USERS_PK, "ADMINISTRATORS");

/// Partition of an account's login throttle (identity table).
pub fn account_throttle_pk(username: &str) -> String {
    format!("THROTTLE#USER#{username}")
}

/// The same for a name that is no user's (it may be a password typed into the wrong field),
/// kept only as its digest (32 hex characters).
pub fn unknown_account_throttle_pk(digest_hex: &str) -> String {
    format!("THROTTLE#USER#~{digest_hex}")
}

/// Sort key of a known-good address's own failure counter on an account.
pub fn known_good_sk(ip: &str) -> String {
    format!("GOOD#{ip}")
}

/// Partition of an address's login failures (identity table; sort key the hour).
pub fn address_throttle_pk(address: &str) -> String {
    format!("THROTTLE#IP#{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented key table: each row starts `` | `PK` | `SK` ``.
    const ARCHITECTURE: &str = include_str!("../../../docs/ARCHITECTURE.md");

    fn documented(pk: &str, sk: &str) -> bool {
        ARCHITECTURE.contains(&format!("| `{pk}` | `{sk}`"))
    }

    #[test]
    fn every_key_is_the_documented_one() {
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
            (user_pk("{username}"), session_sk("{family}")),
            (USERS_PK.to_owned(), user_pk("{username}")),
            (ADMIN_COUNT.0.to_owned(), ADMIN_COUNT.1.to_owned()),
            (account_throttle_pk("{username}"), META.to_owned()),
            (unknown_account_throttle_pk("{32 hex}"), META.to_owned()),
            (account_throttle_pk("{username}"), known_good_sk("{ip}")),
            (
                address_throttle_pk("{address}"),
                "{YYYY-MM-DDTHH}".to_owned(),
            ),
            (CLIENT_COUNT.0.to_owned(), CLIENT_COUNT.1.to_owned()),
            (SERVER_CONFIG.0.to_owned(), SERVER_CONFIG.1.to_owned()),
            (KEYS_PK.to_owned(), signing_key_sk("{kid}")),
            (KEYS_PK.to_owned(), PEPPER_SK.to_owned()),
            (KEYS_PK.to_owned(), ORIGIN_SK.to_owned()),
            (
                outbox_pk("{YYYY-MM-DDTHH}", 0).replace("#0", "#{shard}"),
                "{event ULID}".to_owned(),
            ),
            (WEBHOOKS_PK.to_owned(), webhook_sk("{id}")),
            (delivery_pk("{event id}"), "{webhook id}".to_owned()),
            (dead_letter_pk("{webhook id}"), "{event id}".to_owned()),
            (AUDIT_CHAIN.0.to_owned(), AUDIT_CHAIN.1.to_owned()),
            (AUDIT_RECONCILED.0.to_owned(), AUDIT_RECONCILED.1.to_owned()),
        ] {
            assert!(documented(&pk, &sk), "{pk} / {sk} is not in the key table");
        }
        assert!(documented(
            &history_pk("{client}"),
            &history_sk("{setting}", "{time}", 0).replace("#0000000000", "#{valueVersion:010}")
        ));
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
        assert_eq!(
            history_sk("@eu/Retries", "2026-12-02T14:00:00Z", 7),
            "@eu/Retries#2026-12-02T14:00:00Z#0000000007"
        );
        assert_eq!(client_status_pk("billing"), "CLIENTSTATUS#billing");
        assert_eq!(user_pk("ada"), "USER#ada");
        assert_eq!(session_sk("01J"), "SESSION#01J");
        assert_eq!(outbox_pk("2026-12-02T14", 3), "EVENT#2026-12-02T14#3");
        assert_eq!(signing_key_sk("01J"), "JWT#01J");
        assert_eq!(webhook_sk("w1"), "WEBHOOK#w1");
        assert_eq!(delivery_pk("e1"), "DELIVERY#e1");
        assert_eq!(dead_letter_pk("w1"), "DEADLETTER#w1");
        assert_eq!(account_throttle_pk("ada"), "THROTTLE#USER#ada");
        assert_eq!(unknown_account_throttle_pk("ab"), "THROTTLE#USER#~ab");
        assert_eq!(known_good_sk("192.0.2.1"), "GOOD#192.0.2.1");
        assert_eq!(address_throttle_pk("192.0.2.1"), "THROTTLE#IP#192.0.2.1");
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
