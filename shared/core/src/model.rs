//! The domain model: validated names, setting definitions and value rules.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $chars:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The rule a valid name follows, as callers are told it.
            pub const RULE: &'static str = concat!("1 to ", $max, " ", $chars);

            /// Validates and wraps a name.
            pub fn parse(value: &str) -> Result<Self> {
                let allowed: fn(char) -> bool = $allowed;
                if value.is_empty() || value.chars().count() > $max {
                    return Err(Error::bad_request(
                        "INVALID_NAME",
                        format!(concat!("A ", $what, " must be 1 to {} characters long."), $max),
                    ));
                }
                if !value.chars().all(allowed) {
                    return Err(Error::bad_request(
                        "INVALID_NAME",
                        concat!("A ", $what, " may contain only ", $chars, "."),
                    ));
                }
                Ok(Self(value.to_owned()))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(|_| serde::de::Error::custom(concat!("invalid ", $what)))
            }
        }
    };
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

name_type!(
    /// A setting client's name (`demo`, `billing-api`).
    ClientName, "client name", 64, "letters, digits, '.', '_' or '-'", name_char
);
name_type!(
    /// A setting's name within its client.
    SettingName, "setting name", 128, "letters, digits, '.', '_' or '-'", name_char
);
name_type!(
    /// An admin user's name. Lower-case, so `Admin` and `admin` cannot both exist.
    UserName, "user name", 64, "lower-case letters, digits, '.', '_', '-' or '@'", |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
);

/// The value types of Fig settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SettingType {
    /// Text.
    String,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// true / false.
    Bool,
    /// RFC 3339 date and time.
    DateTime,
    /// A duration, as text (`00:05:00` or ISO 8601 `PT5M`).
    TimeSpan,
    /// Any JSON document.
    Json,
    /// A list of records (JSON objects).
    DataGrid,
}

impl SettingType {
    /// Checks that `value` has this type; `null` means "no value" and is always accepted.
    pub fn check(self, value: &Value) -> std::result::Result<(), &'static str> {
        let ok = match (self, value) {
            (_, Value::Null) => true,
            (Self::String | Self::TimeSpan, Value::String(_)) => true,
            (Self::Int, Value::Number(n)) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
            (Self::Long, Value::Number(n)) => n.as_i64().is_some(),
            (Self::Double, Value::Number(_)) => true,
            (Self::Bool, Value::Bool(_)) => true,
            (Self::DateTime, Value::String(s)) => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            }
            (Self::Json, _) => true,
            (Self::DataGrid, Value::Array(rows)) => rows.iter().all(Value::is_object),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                Self::String => "must be a string",
                Self::Int => "must be a whole number between -2147483648 and 2147483647",
                Self::Long => "must be a whole number",
                Self::Double => "must be a number",
                Self::Bool => "must be true or false",
                Self::DateTime => "must be an RFC 3339 date and time",
                Self::TimeSpan => "must be a duration as text",
                Self::Json => "must be JSON",
                Self::DataGrid => "must be a list of records",
            })
        }
    }
}

/// Largest serialised value accepted for one setting.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Most settings one client may register.
pub const MAX_SETTINGS_PER_CLIENT: usize = 500;
const MAX_TEXT: usize = 2_000;

/// A setting definition as a client registers it (Fig's fields, camelCase on the wire).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingDefinition {
    /// Name, unique within the client.
    pub name: SettingName,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// Value used until an admin sets one. Not allowed for secret settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// What the setting does.
    #[serde(default)]
    pub description: String,
    /// Secret settings are never shown to the web client.
    #[serde(default)]
    pub secret: bool,
    /// Group, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Category, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Classification (e.g. `Technical`, `Functional`, `Special`), used by user permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Regex a value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_regex: Option<String>,
    /// What the regex means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_explanation: Option<String>,
    /// The only values allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_values: Option<Vec<String>>,
    /// Smallest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Folded away in the web client.
    #[serde(default)]
    pub advanced: bool,
    /// Order in the web client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
    /// The client applies changes without a restart.
    #[serde(default)]
    pub supports_live_update: bool,
}

impl SettingDefinition {
    /// Checks the definition's own rules; the error names the setting and the problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Error::bad_request(
                "INVALID_DEFINITION",
                format!("Setting '{}': {what}.", self.name),
            )
        };
        let texts = [
            Some(&self.description),
            self.group.as_ref(),
            self.category.as_ref(),
            self.classification.as_ref(),
            self.validation_regex.as_ref(),
            self.validation_explanation.as_ref(),
        ];
        if texts.iter().flatten().any(|t| t.chars().count() > MAX_TEXT) {
            return Err(bad("a text field is longer than 2000 characters"));
        }
        if let Some(pattern) = &self.validation_regex {
            compile_validation(pattern).map_err(|_| {
                bad("the validation regex does not compile (the engine runs in linear time: no look-around or back-references)")
            })?;
        }
        if self.secret && self.default_value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(bad("a secret setting cannot have a default value"));
        }
        if let Some(default) = &self.default_value {
            self.check_value(default)
                .map_err(|_| bad("the default value does not fit the definition"))?;
        }
        Ok(())
    }

    /// Validates a value against this definition (type, allowed values, range, size).
    pub fn check_value(&self, value: &Value) -> Result<()> {
        let bad = |what: &str| {
            Error::bad_request("INVALID_VALUE", format!("Value of '{}' {what}.", self.name))
        };
        self.kind.check(value).map_err(bad)?;
        if value.to_string().len() > MAX_VALUE_BYTES {
            return Err(bad("is larger than 32 KiB"));
        }
        if let (Some(allowed), Value::String(s)) = (&self.valid_values, value)
            && !allowed.iter().any(|a| a == s)
        {
            return Err(bad("is not one of the allowed values"));
        }
        if let Some(n) = value.as_f64()
            && (self.minimum.is_some_and(|min| n < min) || self.maximum.is_some_and(|max| n > max))
        {
            return Err(bad("is outside the allowed range"));
        }
        if let (Some(pattern), Value::String(s)) = (&self.validation_regex, value) {
            let matches = compile_validation(pattern).is_ok_and(|re| re.is_match(s));
            if !matches {
                let why = self
                    .validation_explanation
                    .as_deref()
                    .unwrap_or("it does not match the setting's pattern");
                return Err(bad(&format!(
                    "is not valid: {}",
                    why.chars().take(200).collect::<String>()
                )));
            }
        }
        Ok(())
    }
}

/// Compiles a validation regex, anchored, with a bounded size. The `regex` engine runs in
/// linear time in the input, so no value can make validation slow. The pattern must be a whole
/// expression on its own, so it cannot close the anchoring group and escape it.
pub fn compile_validation(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    if let Err(e) = regex_syntax::Parser::new().parse(pattern) {
        return Err(regex::Error::Syntax(e.to_string()));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 18)
        .build()
}

/// A value a client sets from its environment at registration (a client override).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingOverride {
    /// Setting name.
    pub name: SettingName,
    /// The value.
    pub value: Value,
}

/// A registration request (`POST /api/clients`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    /// Client name.
    pub name: ClientName,
    /// What the client is.
    #[serde(default)]
    pub description: String,
    /// Optional instance name.
    #[serde(default)]
    pub instance: Option<ClientName>,
    /// Its settings.
    pub settings: Vec<SettingDefinition>,
    /// Values the client takes from its environment (applied only when the server allows
    /// client overrides for this client).
    #[serde(default)]
    pub client_setting_overrides: Vec<SettingOverride>,
}

impl Registration {
    /// Validates the registration as a whole: sizes, unique names, each definition.
    pub fn validate(&self) -> Result<()> {
        if self.description.chars().count() > MAX_TEXT {
            return Err(Error::bad_request(
                "INVALID_REGISTRATION",
                "The description is longer than 2000 characters.",
            ));
        }
        if self.settings.len() > MAX_SETTINGS_PER_CLIENT {
            return Err(Error::bad_request(
                "INVALID_REGISTRATION",
                format!("A client may register at most {MAX_SETTINGS_PER_CLIENT} settings."),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for def in &self.settings {
            if !seen.insert(def.name.as_str()) {
                return Err(Error::bad_request(
                    "INVALID_REGISTRATION",
                    format!("Setting '{}' is defined twice.", def.name),
                ));
            }
            def.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(ClientName::parse("billing-api.v2_x").is_ok());
        for bad in ["", "a b", "a/b", "CLIENT#x", "é", &"x".repeat(65)] {
            assert!(ClientName::parse(bad).is_err(), "{bad}");
        }
        assert!(UserName::parse("Admin").is_err());
        assert!(UserName::parse("ops@example.com").is_ok());
    }

    #[test]
    fn types_check_values() {
        assert!(SettingType::Int.check(&json!(5)).is_ok());
        assert!(SettingType::Int.check(&json!(5_000_000_000i64)).is_err());
        assert!(SettingType::Long.check(&json!(5_000_000_000i64)).is_ok());
        assert!(SettingType::Bool.check(&json!("true")).is_err());
        assert!(
            SettingType::DateTime
                .check(&json!("2026-11-25T10:00:00Z"))
                .is_ok()
        );
        assert!(SettingType::DateTime.check(&json!("yesterday")).is_err());
        assert!(SettingType::DataGrid.check(&json!([{"a": 1}])).is_ok());
        assert!(SettingType::DataGrid.check(&json!([1])).is_err());
        assert!(SettingType::String.check(&Value::Null).is_ok());
    }

    #[test]
    fn definitions_reject_unknown_fields_and_secret_defaults() {
        let unknown = serde_json::from_value::<SettingDefinition>(
            json!({"name": "a", "type": "string", "colour": "red"}),
        );
        assert!(unknown.is_err());
        let def: SettingDefinition = serde_json::from_value(
            json!({"name": "a", "type": "string", "secret": true, "defaultValue": "x"}),
        )
        .unwrap();
        assert!(def.validate().is_err());
    }

    #[test]
    fn validation_regexes_are_anchored_and_linear() {
        let def: SettingDefinition = serde_json::from_value(json!({"name": "port", "type": "string", "validationRegex": "[0-9]{2,5}", "validationExplanation": "a port number"})).unwrap();
        assert!(def.validate().is_ok());
        assert!(def.check_value(&json!("8080")).is_ok());
        let err = def.check_value(&json!("80a80")).unwrap_err();
        assert!(err.to_string().contains("a port number"));
        assert!(def.check_value(&json!("x8080")).is_err(), "anchored");
        // A pattern cannot close the anchoring group to escape it.
        assert!(compile_validation("[0-9]+)|(.*").is_err());
        let lookaround: SettingDefinition = serde_json::from_value(
            json!({"name": "x", "type": "string", "validationRegex": "(?=a)a"}),
        )
        .unwrap();
        assert!(lookaround.validate().is_err());
        // A pattern that backtracks exponentially in other engines finishes here (linear time).
        let evil: SettingDefinition = serde_json::from_value(
            json!({"name": "x", "type": "string", "validationRegex": "(a+)+b"}),
        )
        .unwrap();
        assert!(evil.check_value(&json!("a".repeat(30_000))).is_err());
    }

    #[test]
    fn values_respect_allowed_values_and_ranges() {
        let def: SettingDefinition = serde_json::from_value(
            json!({"name": "n", "type": "int", "minimum": 1, "maximum": 10}),
        )
        .unwrap();
        assert!(def.check_value(&json!(5)).is_ok());
        assert!(def.check_value(&json!(11)).is_err());
        let def: SettingDefinition = serde_json::from_value(
            json!({"name": "mode", "type": "string", "validValues": ["a", "b"]}),
        )
        .unwrap();
        assert!(def.check_value(&json!("a")).is_ok());
        assert!(def.check_value(&json!("c")).is_err());
    }
}
