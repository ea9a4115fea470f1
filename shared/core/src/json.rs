//! Request bodies: JSON parsed into our types, with serde's errors turned into messages of our
//! own (a stable `INVALID_BODY` code; no serde text, and field names cleaned, since they come
//! from the caller's body).

use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::model::{ClientName, SettingName, UserName};

/// Parses a JSON document, turning serde's errors into messages of our own.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        let at = format!("(line {}, column {})", e.line(), e.column());
        let text = e.to_string();
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                if let Some(field) = between(&text, "unknown field `", "`") {
                    format!("Unknown field '{}' {at}.", clean(field))
                } else if let Some(field) = between(&text, "missing field `", "`") {
                    format!("Missing field '{}' {at}.", clean(field))
                } else if let Some((what, rule)) = [
                    ("client name", ClientName::RULE),
                    ("setting name", SettingName::RULE),
                    ("user name", UserName::RULE),
                ]
                .into_iter()
                .find(|(what, _)| text.starts_with(&format!("invalid {what}")))
                {
                    format!("Invalid {what}: {rule} {at}.")
                } else {
                    format!("A field has the wrong type or value {at}.")
                }
            }
            _ => format!("The body is not valid UTF-8 JSON {at}."),
        };
        Error::bad_request("INVALID_BODY", message)
    })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Keeps a field name printable and short: it comes from the caller's body.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        count: u32,
    }

    fn message(bytes: &[u8]) -> String {
        match parse_json::<Shape>(bytes) {
            Err(Error::BadRequest {
                code: "INVALID_BODY",
                message,
            }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_errors_are_ours_and_clear() {
        assert!(
            message(br#"{"name":"a","count":1,"evil<b>x":2}"#)
                .starts_with("Unknown field 'evilbx'")
        );
        assert!(message(br#"{"name":"a"}"#).starts_with("Missing field 'count'"));
        assert!(message(br#"{"name":"a","count":"x"}"#).starts_with("A field has the wrong type"));
        assert!(message(b"{\"name\":\"\xff\",\"count\":1}").contains("not valid UTF-8 JSON"));
        assert!(message(b"{").contains("not valid"));
        {
            let m = message(br#"{"name":"a","count":"x"}"#);
            assert!(!m.contains("invalid type"), "serde text leaked: {m}");
        }
    }

    /// The rule in the message is the name's own (a review found every kind told 1 to 64 and
    /// no '@', while setting names go to 128 and user names are lower case and allow '@').
    #[test]
    fn an_invalid_name_is_told_its_own_rule() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Names {
            client: Option<crate::model::ClientName>,
            setting: Option<crate::model::SettingName>,
            user: Option<crate::model::UserName>,
        }
        let told = |body: &str| match parse_json::<Names>(body.as_bytes()) {
            Err(Error::BadRequest {
                code: "INVALID_BODY",
                message,
            }) => message,
            other => panic!("{other:?}"),
        };
        let client = told(r#"{"client":"a#b"}"#);
        assert!(
            client.starts_with("Invalid client name: 1 to 64 letters"),
            "{client}"
        );
        let setting = told(r#"{"setting":"x#SETTING#y"}"#);
        assert!(
            setting.starts_with("Invalid setting name: 1 to 128 letters"),
            "{setting}"
        );
        let user = told(r#"{"user":"Ada"}"#);
        assert!(
            user.starts_with("Invalid user name: 1 to 64 lower-case letters") && user.contains('@'),
            "{user}"
        );
    }
}
