//! The values pack: everything a base-client fetch answers, sealed as one ciphertext in one
//! small item beside `META`.
//!
//! A fetch used to read the whole client partition (the sealed definitions and one item per
//! value: about 21 KB, 6 read units, for 50 settings) and open every value. A warm client's
//! fetch now reads one short range: `META` (auth, versions), the failure counters and this
//! pack (one read unit for the same 50 settings), and opens one ciphertext. The pack is a
//! cache with the values' own protection: sealed with the client's data key under the binding
//! (client and its incarnation, `#values`, client and definitions versions, data-key
//! version, secret), it opens only for the client state it was made for, and it is used only
//! when `META` says that state is current. A pack that does not open is not an answer: the
//! fetch reads the whole partition instead and packs again. Its encoding is compact (one
//! type letter per setting, names and values in definition order) because its size is what a
//! fetch pays for.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::{self, ValueBinding};
use crate::error::{Error, Result};
use crate::model::SettingType;
use crate::secret::SecretBytes;

/// Binding name of the pack (not a valid setting name, so it cannot collide with a value).
const BINDING: &str = "#values";

/// Every type, for the decoder.
const TYPES: [SettingType; 9] = [
    SettingType::String,
    SettingType::Int,
    SettingType::Long,
    SettingType::Double,
    SettingType::Bool,
    SettingType::DateTime,
    SettingType::TimeSpan,
    SettingType::Json,
    SettingType::DataGrid,
];

/// One letter per type, in the pack. Persisted: never reuse a letter.
fn letter(kind: SettingType) -> char {
    match kind {
        SettingType::String => 's',
        SettingType::Int => 'i',
        SettingType::Long => 'l',
        SettingType::Double => 'd',
        SettingType::Bool => 'b',
        SettingType::DateTime => 't',
        SettingType::TimeSpan => 'p',
        SettingType::Json => 'j',
        SettingType::DataGrid => 'g',
    }
}

fn kind(letter: char) -> Option<SettingType> {
    TYPES.into_iter().find(|k| self::letter(*k) == letter)
}

/// One setting of a fetch: name, type and value.
pub type Packed = (String, SettingType, Value);

#[derive(Serialize, Deserialize)]
struct Encoded {
    /// One type letter per setting.
    t: String,
    /// Names and values, in the same order.
    s: Vec<(String, Value)>,
}

/// Where a pack belongs: the client (this incarnation of it), the versions it shows and the
/// data key that seals it. All of it is bound into the ciphertext: a pack opens only for the
/// client state it was made for.
#[derive(Clone, Copy, Debug)]
pub struct PackPlace<'a> {
    /// Client name.
    pub client: &'a str,
    /// The client's incarnation (`ClientMeta::incarnation`): a client deleted and registered
    /// again under the same name gets a new one, so a pack of the old client, copied back from
    /// a backup, never opens for the new one. (The pack names its data key by its wrapped
    /// form, which the old client's key also has, so the key alone would not tell them apart.)
    pub incarnation: &'a str,
    /// The client version the pack shows.
    pub version: u64,
    /// The client's definitions version the pack shows.
    pub definitions_version: u64,
    /// The data key's version.
    pub dek_version: u32,
}

impl PackPlace<'_> {
    /// The binding's setting name: `#values`, the definitions version and the incarnation,
    /// `#`-separated. Setting names never start with `#`, so it names no value; the binding
    /// length-prefixes it, so no two places share one.
    fn setting(&self) -> String {
        format!(
            "{BINDING}#{}#{}",
            self.definitions_version, self.incarnation
        )
    }

    fn binding<'s>(&'s self, setting: &'s str) -> ValueBinding<'s> {
        ValueBinding {
            client: self.client,
            setting,
            value_version: self.version,
            key_version: self.dek_version,
            // It holds secret values: sealed as a secret, never opened as anything else.
            secret: true,
        }
    }
}

/// Seals `settings` (in order) for `place`.
pub fn seal(place: PackPlace<'_>, settings: &[Packed], key: &SecretBytes) -> Result<Vec<u8>> {
    let encoded = Encoded {
        t: settings.iter().map(|(_, k, _)| letter(*k)).collect(),
        s: settings
            .iter()
            .map(|(n, _, v)| (n.clone(), v.clone()))
            .collect(),
    };
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&encoded).map_err(|e| Error::internal(format!("pack: {e}")))?,
    );
    crypto::seal(key, &place.binding(&place.setting()), &plain)
}

/// Opens a pack sealed for `place`. Fails (500) for any other place, key or content.
pub fn open(place: PackPlace<'_>, sealed: &[u8], key: &SecretBytes) -> Result<Vec<Packed>> {
    let plain =
        zeroize::Zeroizing::new(crypto::open(key, &place.binding(&place.setting()), sealed)?);
    let encoded: Encoded =
        serde_json::from_slice(&plain).map_err(|e| Error::internal(format!("pack: {e}")))?;
    if encoded.t.chars().count() != encoded.s.len() {
        return Err(Error::internal("pack: types and values differ in number"));
    }
    encoded
        .t
        .chars()
        .zip(encoded.s)
        .map(|(c, (name, value))| {
            kind(c)
                .map(|k| (name, k, value))
                .ok_or_else(|| Error::internal("pack: unknown type letter"))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key() -> SecretBytes {
        SecretBytes::new(crypto::random_bytes(32))
    }

    fn place(version: u64) -> PackPlace<'static> {
        PackPlace {
            client: "billing",
            incarnation: "01JEXAMPLE",
            version,
            definitions_version: 3,
            dek_version: 1,
        }
    }

    #[test]
    fn a_pack_opens_to_what_was_sealed_in_order() {
        let key = key();
        let settings: Vec<Packed> = vec![
            ("Greeting".into(), SettingType::String, json!("hello")),
            ("Retries".into(), SettingType::Int, json!(3)),
            ("Unset".into(), SettingType::Json, Value::Null),
            ("Grid".into(), SettingType::DataGrid, json!([{"a": 1}])),
        ];
        let sealed = seal(place(7), &settings, &key).unwrap();
        assert_eq!(open(place(7), &sealed, &key).unwrap(), settings);
        assert!(
            open(place(7), &seal(place(7), &[], &key).unwrap(), &key)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_pack_opens_only_for_its_client_version_and_key() {
        let key = key();
        let settings: Vec<Packed> = vec![("A".into(), SettingType::Bool, json!(true))];
        let sealed = seal(place(7), &settings, &key).unwrap();
        assert!(open(place(8), &sealed, &key).is_err(), "another version");
        let other = PackPlace {
            client: "orders",
            ..place(7)
        };
        assert!(open(other, &sealed, &key).is_err(), "another client");
        let rotated = PackPlace {
            dek_version: 2,
            ..place(7)
        };
        assert!(open(rotated, &sealed, &key).is_err(), "another key version");
        let reborn = PackPlace {
            incarnation: "01JOTHER",
            ..place(7)
        };
        assert!(
            open(reborn, &sealed, &key).is_err(),
            "another incarnation of the client"
        );
        let redefined = PackPlace {
            definitions_version: 4,
            ..place(7)
        };
        assert!(open(redefined, &sealed, &key).is_err(), "other definitions");
        assert!(
            open(place(7), &sealed, &self::key()).is_err(),
            "another key"
        );
        // Nor does a value's ciphertext open as a pack (the binding names differ).
        let value = crypto::seal(
            &key,
            &ValueBinding {
                client: "billing",
                setting: "A",
                value_version: 7,
                key_version: 1,
                secret: true,
            },
            b"{\"t\":\"\",\"s\":[]}",
        )
        .unwrap();
        assert!(open(place(7), &value, &key).is_err());
    }

    #[test]
    fn every_type_has_its_own_letter() {
        let mut letters: Vec<char> = TYPES.iter().map(|k| letter(*k)).collect();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), TYPES.len());
        for k in TYPES {
            assert_eq!(kind(letter(k)), Some(k));
        }
        assert_eq!(kind('?'), None);
    }
}
