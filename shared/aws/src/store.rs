//! The DynamoDB store: one table, single-table keys (docs/ARCHITECTURE.md §4).
//!
//! Every state change is one `TransactWriteItems` holding the change and its outbox event, so
//! a change cannot happen without its audit record. Reads that must be audited write their
//! event with one `PutItem` before the response is sent. SDK failures become domain errors:
//! a failed condition is `Conflict`, anything else `Unavailable` (fail closed).
//!
//! The keys of every item, in both tables, are in docs/ARCHITECTURE.md §4: they are the
//! persisted format and must not change.
//!
//! History lives in its own partition (`HISTORY#{client}`) so that a client's partition read
//! never reads it.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use fig_core::error::{Error, Result};
use fig_core::events::AuditEvent;

#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "memory")]
use memory::Failure as MemoryFailure;

/// An in-memory request's failure as a domain error (a failed condition the caller did not
/// expect is a conflict; an invalid request a bug).
#[cfg(feature = "memory")]
fn failure(e: MemoryFailure) -> Error {
    match e {
        MemoryFailure::Condition => Error::Conflict {
            code: "CONFLICT",
            message: "Try again.",
        },
        MemoryFailure::Invalid(why) => Error::internal(format!("memory store: {why}")),
    }
}

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Which sort keys of a partition a `Query` reads.
#[derive(Debug, Clone, Copy)]
pub enum SortKeys<'a> {
    /// All of them.
    All,
    /// From the first to the second, both included.
    Between(&'a str, &'a str),
    /// Those starting with this prefix.
    Prefix(&'a str),
    /// Those after this one (excluded).
    After(&'a str),
}

/// Number of outbox partitions per hour, so no partition runs hot.
pub const EVENT_SHARDS: u32 = 4;

// The keys of a client's items are built in the schema module; re-exported for the callers.
pub use fig_core::schema::{client_pk, dek_sk, setting_sk, user_pk};

/// Access to the tables.
#[derive(Clone, Debug)]
pub struct Store {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    identity_table: String,
    event_ttl_days: u32,
    /// The in-memory tables that answer instead of DynamoDB ([`Store::in_memory`]).
    #[cfg(feature = "memory")]
    memory: Option<std::sync::Arc<memory::Tables>>,
}

/// Whether items of partition `pk` live in the identity table: users (password hashes,
/// sessions, MFA), the user index and counters, and login throttles. That table has no stream,
/// so none of it ever reaches the stream's consumers (the audit trail and the webhook
/// function, which talks to URLs administrators chose); its changes are still audited, by
/// outbox events written to the main table in the same transaction.
pub fn is_identity_partition(pk: &str) -> bool {
    pk.starts_with("USER#")
        || pk == "USERS"
        || pk.starts_with("THROTTLE#USER#")
        || pk.starts_with("THROTTLE#IP#")
}

fn pk_of(item: &Item) -> &str {
    match item.get("PK") {
        Some(AttributeValue::S(pk)) => pk,
        _ => "",
    }
}

/// Serialises `value` into an item with the given keys.
pub fn to_item<T: Serialize>(pk: &str, sk: &str, value: &T) -> Result<Item> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| Error::internal(format!("to_item: {e}")))?;
    item.insert("PK".into(), AttributeValue::S(pk.to_owned()));
    item.insert("SK".into(), AttributeValue::S(sk.to_owned()));
    Ok(item)
}

/// Reads a typed value from an item; the keys (`PK`, `SK`) and the TTL attribute are not
/// part of the value.
pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T> {
    item.remove("PK");
    item.remove("SK");
    serde_dynamo::from_item(item).map_err(|e| Error::internal(format!("from_item: {e}")))
}

/// The sort key of an item.
pub fn sort_key(item: &Item) -> &str {
    text(item, "SK").unwrap_or("")
}

/// A string attribute of an item.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// A number attribute of an item, parsed as `T`; `None` when absent, not a number, or out of
/// `T`'s range.
pub fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

/// A binary attribute of an item.
pub fn bytes<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    match item.get(name) {
        Some(AttributeValue::B(b)) => Some(b.as_ref()),
        _ => None,
    }
}

/// Takes a binary attribute out of an item (the bytes move, they are not copied).
pub fn take_bytes(item: &mut Item, name: &str) -> Option<Vec<u8>> {
    match item.remove(name) {
        Some(AttributeValue::B(b)) => Some(b.into_inner()),
        _ => None,
    }
}

/// Takes a string attribute out of an item.
pub fn take_text(item: &mut Item, name: &str) -> Option<String> {
    match item.remove(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// Sets (or replaces) one attribute of an item.
pub fn set(item: &mut Item, name: &str, value: AttrValue) {
    item.insert(name.to_owned(), value.0);
}

/// An item made of the given attributes (keys included), for items whose layout is not a
/// serde type (the values pack's one-letter attributes).
pub fn item_of<'a>(attributes: impl IntoIterator<Item = (&'a str, AttrValue)>) -> Item {
    attributes
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.0))
        .collect()
}

/// A value in a condition or update expression, or an attribute set by hand: the operations
/// build these instead of SDK attribute values, so only this crate speaks DynamoDB's types.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrValue(AttributeValue);

impl AttrValue {
    /// A string.
    pub fn text(s: impl Into<String>) -> Self {
        Self(AttributeValue::S(s.into()))
    }

    /// An integer.
    pub fn number(n: impl Integer) -> Self {
        Self(AttributeValue::N(n.to_string()))
    }

    /// Bytes.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Self(AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
            b,
        )))
    }

    /// A boolean.
    pub fn bool(b: bool) -> Self {
        Self(AttributeValue::Bool(b))
    }

    /// A list of strings.
    pub fn texts(list: impl IntoIterator<Item = String>) -> Self {
        Self(AttributeValue::L(
            list.into_iter().map(AttributeValue::S).collect(),
        ))
    }

    /// Any serde value, as [`to_item`] would store it.
    pub fn serialized<T: Serialize>(value: &T) -> Result<Self> {
        serde_dynamo::to_attribute_value(value)
            .map(Self)
            .map_err(|e| Error::internal(format!("to_attribute_value: {e}")))
    }
}

/// The integer types an [`AttrValue::number`] takes.
pub trait Integer: std::fmt::Display {}
impl Integer for i32 {}
impl Integer for i64 {}
impl Integer for u32 {}
impl Integer for u64 {}
impl Integer for usize {}

/// Expression values as the SDK takes them.
fn expression_values(values: Vec<(&str, AttrValue)>) -> Option<HashMap<String, AttributeValue>> {
    (!values.is_empty()).then(|| {
        values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.0))
            .collect()
    })
}

/// The attribute-name placeholders the expressions use (`#ttl` names `ttl`): every `#name`
/// stands for the attribute `name`, the way to write attributes whose names are reserved
/// words in DynamoDB expressions (`ttl`, `count`, `description`).
fn expression_names(expressions: &[Option<&str>]) -> Option<HashMap<String, String>> {
    let mut names = HashMap::new();
    for expression in expressions.iter().flatten() {
        let mut rest = *expression;
        while let Some(at) = rest.find('#') {
            let name: String = rest[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + 1 + name.len()..];
            if !name.is_empty() {
                names.insert(format!("#{name}"), name);
            }
        }
    }
    (!names.is_empty()).then_some(names)
}

/// One write of a transaction (a put, an update, a delete or a condition check), built by the
/// [`Store`], which picks the table from the key; the operations hand these to
/// [`Store::transact`] and never see the SDK's request types.
#[derive(Debug, Clone)]
pub struct Write(TransactWriteItem);

/// The outbox item of an event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    /// Always `EVENT`.
    pub item_type: String,
    /// The event type.
    pub event_type: String,
    /// The whole event as JSON (what the events function reads from the stream).
    pub event: String,
    /// Expiry (epoch seconds): the outbox is a queue, S3 is the record.
    pub ttl: i64,
}

fn is_conditional_failure(err: &SdkError<TransactWriteItemsError>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

impl Store {
    /// A store over `table` (with its stream) and `identity_table` (without one; see
    /// [`is_identity_partition`]).
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        identity_table: impl Into<String>,
        event_ttl_days: u32,
    ) -> Self {
        Self {
            dynamodb,
            table: table.into(),
            identity_table: identity_table.into(),
            event_ttl_days,
            #[cfg(feature = "memory")]
            memory: None,
        }
    }

    /// A store whose tables live in this process's memory (the `memory` submodule): for unit
    /// tests of the operations. Its SDK client is never called.
    #[cfg(feature = "memory")]
    pub fn in_memory(event_ttl_days: u32) -> Self {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("memory"))
            .build();
        Self {
            memory: Some(std::sync::Arc::default()),
            ..Self::new(
                aws_sdk_dynamodb::Client::from_conf(config),
                "fig",
                "fig-identity",
                event_ttl_days,
            )
        }
    }

    /// The audit events written so far to an in-memory store, oldest first, as the JSON
    /// lines the audit trail receives (empty for a store on DynamoDB): what the operations'
    /// unit tests assert about audit records.
    #[cfg(feature = "memory")]
    pub fn recorded_events(&self) -> Vec<String> {
        self.memory
            .as_deref()
            .map(memory::Tables::events)
            .unwrap_or_default()
    }

    /// The main table's name (clients, keys, configuration, webhooks, outbox).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The table that holds partition `pk`.
    pub fn table_for(&self, pk: &str) -> &str {
        if is_identity_partition(pk) {
            &self.identity_table
        } else {
            &self.table
        }
    }

    /// The DynamoDB SDK client, for the audit trail in this crate.
    pub(crate) fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }

    /// The outbox `Put` of `event`, for a transaction.
    pub fn event_put(&self, event: &AuditEvent) -> Result<Write> {
        self.put(self.event_item(event)?, Some("attribute_not_exists(PK)"))
    }

    fn event_item(&self, event: &AuditEvent) -> Result<Item> {
        let hour = event.time.get(..13).unwrap_or("unknown");
        let shard = u32::from(event.id.as_bytes().last().copied().unwrap_or(0)) % EVENT_SHARDS;
        let expires = time::OffsetDateTime::now_utc().unix_timestamp()
            + i64::from(self.event_ttl_days) * 86_400;
        to_item(
            &fig_core::schema::outbox_pk(hour, shard),
            &event.id,
            &OutboxItem {
                item_type: "EVENT".into(),
                event_type: event.kind.name().into(),
                event: event.to_json_line(),
                ttl: expires,
            },
        )
    }

    /// Writes one event on its own (reads, failed logins, denials). Fails closed: callers
    /// return 503 when the audit record cannot be written.
    pub async fn record(&self, event: &AuditEvent) -> Result<()> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return memory
                .transact(vec![self.put(self.event_item(event)?, None)?.0])
                .map_err(failure);
        }
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.event_item(event)?))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem event: {e:?}")))?;
        Ok(())
    }

    /// A `Put` of `item`, with an optional condition.
    pub fn put(&self, item: Item, condition: Option<&str>) -> Result<Write> {
        self.put_checked(item, condition, Vec::new())
    }

    /// A `Put` of `item` under a condition that compares with `values`.
    pub fn put_checked(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Write> {
        Put::builder()
            .table_name(self.table_for(pk_of(&item)))
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(expression_names(&[condition]))
            .set_expression_attribute_values(expression_values(values))
            .build()
            .map(|put| Write(TransactWriteItem::builder().put(put).build()))
            .map_err(|e| Error::internal(format!("put builder: {e}")))
    }

    /// An unconditional delete of one item, for a transaction.
    pub fn delete_in_transaction(&self, pk: &str, sk: &str) -> Result<Write> {
        self.delete_checked(pk, sk, None, Vec::new())
    }

    /// A delete of one item under a condition that compares with `values`, for a
    /// transaction.
    pub fn delete_checked(
        &self,
        pk: &str,
        sk: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Write> {
        Delete::builder()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(expression_names(&[condition]))
            .set_expression_attribute_values(expression_values(values))
            .build()
            .map(|d| Write(TransactWriteItem::builder().delete(d).build()))
            .map_err(|e| Error::internal(format!("delete builder: {e}")))
    }

    /// A condition on one item that writes nothing: the transaction fails unless
    /// `condition` holds.
    pub fn check(
        &self,
        pk: &str,
        sk: &str,
        condition: &str,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Write> {
        ConditionCheck::builder()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .condition_expression(condition)
            .set_expression_attribute_names(expression_names(&[Some(condition)]))
            .set_expression_attribute_values(expression_values(values))
            .build()
            .map(|c| Write(TransactWriteItem::builder().condition_check(c).build()))
            .map_err(|e| Error::internal(format!("condition check builder: {e}")))
    }

    /// A conditional `Update` of one item, for a transaction. `#ttl` in the expression names
    /// the TTL attribute (`ttl` is a reserved word in DynamoDB expressions).
    pub fn update(
        &self,
        pk: &str,
        sk: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Write> {
        self.update_request(pk, sk, expression, condition, values)
            .map(|update| Write(TransactWriteItem::builder().update(update).build()))
    }

    fn update_request(
        &self,
        pk: &str,
        sk: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Update> {
        Update::builder()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(expression_values(values))
            .set_expression_attribute_names(expression_names(&[Some(expression), condition]))
            .build()
            .map_err(|e| Error::internal(format!("update builder: {e}")))
    }

    /// Applies `expression` to one item at once (atomically, no condition) and returns the
    /// item as it was just before: the way to reserve a counter (`ADD`) and learn the state
    /// every concurrent writer before this one left.
    pub async fn update_returning_old(
        &self,
        pk: &str,
        sk: &str,
        expression: &str,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<Option<Item>> {
        let update = self.update_request(pk, sk, expression, None, values)?;
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return memory
                .write_one(TransactWriteItem::builder().update(update).build())
                .map_err(failure);
        }
        let out = self
            .dynamodb
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb UpdateItem: {e:?}")))?;
        Ok(out.attributes.filter(|a| !a.is_empty()))
    }

    /// Writes `items` and `event` in one transaction: all or nothing. A failed condition
    /// becomes `Conflict` with the given code and message.
    pub async fn transact(
        &self,
        items: Vec<Write>,
        event: &AuditEvent,
        conflict: (&'static str, &'static str),
    ) -> Result<()> {
        self.transact_events(items, std::slice::from_ref(event), conflict)
            .await
    }

    /// Like [`Store::transact`], with several events (one action that is several facts, such
    /// as a role change that also ends sessions).
    pub async fn transact_events(
        &self,
        mut items: Vec<Write>,
        events: &[AuditEvent],
        conflict: (&'static str, &'static str),
    ) -> Result<()> {
        for event in events {
            items.push(self.event_put(event)?);
        }
        if items.len() > 100 {
            return Err(Error::bad_request(
                "TOO_MANY_CHANGES",
                "At most 99 items can change in one request.",
            ));
        }
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return memory
                .transact(items.into_iter().map(|w| w.0).collect())
                .map_err(|e| match e {
                    MemoryFailure::Condition => Error::Conflict {
                        code: conflict.0,
                        message: conflict.1,
                    },
                    other => failure(other),
                });
        }
        self.dynamodb
            .transact_write_items()
            .set_transact_items(Some(items.into_iter().map(|w| w.0).collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_conditional_failure(&e) {
                    Error::Conflict {
                        code: conflict.0,
                        message: conflict.1,
                    }
                } else {
                    Error::unavailable(format!("dynamodb TransactWriteItems: {e:?}"))
                }
            })
    }

    /// One item by key.
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return Ok(memory.get(self.table_for(pk), pk, sk));
        }
        let out = self
            .dynamodb
            .get_item()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb GetItem: {e:?}")))?;
        Ok(out.item)
    }

    /// Several items by key in one strongly consistent `BatchGetItem` (at most 100 keys, in
    /// whichever tables hold them); the items that exist, in no particular order.
    pub async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Item>> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return Ok(keys
                .iter()
                .filter_map(|(pk, sk)| memory.get(self.table_for(pk), pk, sk))
                .collect());
        }
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut by_table: HashMap<String, Vec<Item>> = HashMap::new();
        for (pk, sk) in keys {
            by_table
                .entry(self.table_for(pk).to_owned())
                .or_default()
                .push(
                    [
                        ("PK".to_owned(), AttributeValue::S((*pk).to_owned())),
                        ("SK".to_owned(), AttributeValue::S((*sk).to_owned())),
                    ]
                    .into_iter()
                    .collect(),
                );
        }
        let mut request = HashMap::new();
        for (table, keys) in by_table {
            let wanted = KeysAndAttributes::builder()
                .consistent_read(true)
                .set_keys(Some(keys))
                .build()
                .map_err(|e| Error::internal(format!("batch get builder: {e}")))?;
            request.insert(table, wanted);
        }
        let mut items = Vec::new();
        // Unprocessed keys (throttling) are asked for again, a bounded number of times.
        for _ in 0..5 {
            if request.is_empty() {
                return Ok(items);
            }
            let out = self
                .dynamodb
                .batch_get_item()
                .set_request_items(Some(std::mem::take(&mut request)))
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb BatchGetItem: {e:?}")))?;
            items.extend(
                out.responses
                    .into_iter()
                    .flat_map(|r| r.into_values().flatten()),
            );
            request = out
                .unprocessed_keys
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, k)| !k.keys.is_empty())
                .collect();
        }
        if request.is_empty() {
            Ok(items)
        } else {
            Err(Error::unavailable(
                "dynamodb BatchGetItem: keys left unprocessed",
            ))
        }
    }

    /// Every item of a partition, following pagination. Strongly consistent.
    pub async fn query_partition(&self, pk: &str) -> Result<Vec<Item>> {
        self.query_all(pk, SortKeys::All).await
    }

    /// Puts one item unconditionally (heartbeats; audited state changes go through
    /// [`Store::transact`]).
    pub async fn put_item(&self, item: Item) -> Result<()> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return memory
                .transact(vec![self.put(item, None)?.0])
                .map_err(failure);
        }
        self.dynamodb
            .put_item()
            .table_name(self.table_for(pk_of(&item)))
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {e:?}")))
    }

    /// Deletes one item (service keys; state changes go through [`Store::transact`]).
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<()> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            return memory
                .transact(vec![self.delete_in_transaction(pk, sk)?.0])
                .map_err(failure);
        }
        self.dynamodb
            .delete_item()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::unavailable(format!("dynamodb DeleteItem: {e:?}")))
    }

    /// Deletes every item of a partition (no transaction: for data that is already
    /// unreachable, such as a deleted client's history). Unprocessed items are retried.
    pub async fn delete_partition(&self, pk: &str) -> Result<()> {
        let items = self.query_partition(pk).await?;
        self.delete_items(&items).await
    }

    /// Deletes the given items by their keys, in batches (no transaction: for data that is
    /// already unreachable or never shown). Unprocessed items are retried.
    pub async fn delete_items(&self, items: &[Item]) -> Result<()> {
        let mut by_table: HashMap<&str, Vec<&Item>> = HashMap::new();
        for item in items {
            by_table
                .entry(self.table_for(pk_of(item)))
                .or_default()
                .push(item);
        }
        for (table, items) in by_table {
            self.delete_in_table(table, &items).await?;
        }
        Ok(())
    }

    async fn delete_in_table(&self, table: &str, items: &[&Item]) -> Result<()> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            for item in items {
                let (pk, sk) = (pk_of(item), sort_key(item));
                memory
                    .transact(vec![self.delete_in_transaction(pk, sk)?.0])
                    .map_err(failure)?;
            }
            return Ok(());
        }
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        for chunk in items.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|item| {
                    let key = ["PK", "SK"]
                        .into_iter()
                        .filter_map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
                        .collect();
                    DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| Error::internal(format!("delete request: {e}")))
                })
                .collect::<Result<Vec<_>>>()?;
            for _ in 0..5 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(table, requests)
                    .send()
                    .await
                    .map_err(|e| Error::unavailable(format!("dynamodb BatchWriteItem: {e:?}")))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(Error::unavailable(
                    "dynamodb BatchWriteItem: items left unprocessed",
                ));
            }
        }
        Ok(())
    }

    /// The items of a partition whose sort key starts with `prefix`, following pagination.
    pub async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>> {
        self.query_all(pk, SortKeys::Prefix(prefix)).await
    }

    /// Every item of `pk` in `range`, following pagination. Strongly consistent.
    pub async fn query_all(&self, pk: &str, range: SortKeys<'_>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_page(pk, range, None, start).await?;
            items.extend(page);
            match next {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// One page of a strongly consistent `Query` of `pk` in `range`, from `start` (a key a
    /// previous page returned), of at most `limit` items when given: the items, and the key to
    /// go on from when there are more. A limit bounds what one read can cost however many
    /// items the range holds.
    pub async fn query_page(
        &self,
        pk: &str,
        range: SortKeys<'_>,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let limit = limit.map(|l| usize::try_from(l).unwrap_or(0));
            return Ok(memory.query(memory::Query {
                table: self.table_for(pk),
                pk,
                range,
                below: None,
                descending: false,
                limit,
                start: start.as_ref(),
            }));
        }
        let mut query = self
            .dynamodb
            .query()
            .table_name(self.table_for(pk))
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        query = match range {
            SortKeys::All => query.key_condition_expression("PK = :pk"),
            SortKeys::Between(from, to) => query
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to)),
            SortKeys::Prefix(prefix) => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            SortKeys::After(after) => query
                .key_condition_expression("PK = :pk AND SK > :after")
                .expression_attribute_values(":after", s(after)),
        };
        let out = query
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query: {e:?}")))?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((out.items.unwrap_or_default(), next))
    }

    /// How many items partition `pk` holds: one `Select: COUNT` query (up to 1 MB of items
    /// read; none returned).
    pub async fn count(&self, pk: &str) -> Result<usize> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let (items, _) = memory.query(memory::Query {
                table: self.table_for(pk),
                pk,
                range: SortKeys::All,
                below: None,
                descending: false,
                limit: None,
                start: None,
            });
            return Ok(items.len());
        }
        let out = self
            .dynamodb
            .query()
            .table_name(self.table_for(pk))
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query (count): {e:?}")))?;
        Ok(usize::try_from(out.count).unwrap_or(0))
    }

    /// One page of partition `pk`, newest (highest sort key) first, strongly consistent: the
    /// items below sort key `below`, or from `start` (a page's `next`), at most `limit` read;
    /// with `only`, just the items whose attribute equals the value. Returns how many items
    /// were read, the ones that matched, and where the next page starts.
    pub async fn query_page_descending(
        &self,
        pk: &str,
        below: Option<&str>,
        start: Option<Item>,
        only: Option<(&str, &str)>,
        limit: i32,
    ) -> Result<(usize, Vec<Item>, Option<Item>)> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let (page, next) = memory.query(memory::Query {
                table: self.table_for(pk),
                pk,
                range: SortKeys::All,
                below,
                descending: true,
                limit: Some(usize::try_from(limit).unwrap_or(0)),
                start: start.as_ref(),
            });
            let scanned = page.len();
            let matched = page
                .into_iter()
                .filter(|item| only.is_none_or(|(name, value)| text(item, name) == Some(value)))
                .collect();
            return Ok((scanned, matched, next));
        }
        let mut query = self
            .dynamodb
            .query()
            .table_name(self.table_for(pk))
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .set_exclusive_start_key(start);
        query = match below {
            Some(sk) => query
                .key_condition_expression("PK = :pk AND SK < :before")
                .expression_attribute_values(":before", AttributeValue::S(sk.to_owned())),
            None => query.key_condition_expression("PK = :pk"),
        };
        if let Some((attribute, value)) = only {
            query = query
                .filter_expression("#only = :only")
                .expression_attribute_names("#only", attribute)
                .expression_attribute_values(":only", AttributeValue::S(value.to_owned()));
        }
        let page = query
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query (page): {e:?}")))?;
        let scanned = usize::try_from(page.scanned_count()).unwrap_or(0);
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok((scanned, page.items.unwrap_or_default(), next))
    }

    /// Updates an item that exists (`update` is a DynamoDB update expression over `values`);
    /// an item that does not exist is left absent (a `Conflict`).
    pub async fn update_existing(
        &self,
        pk: &str,
        sk: &str,
        update: &str,
        values: Vec<(&str, AttrValue)>,
    ) -> Result<()> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let update = self.update(pk, sk, update, Some("attribute_exists(PK)"), values)?;
            return memory.write_one(update.0).map(|_| ()).map_err(|e| match e {
                MemoryFailure::Condition => Error::Conflict {
                    code: "NOT_FOUND",
                    message: "The item no longer exists.",
                },
                other => failure(other),
            });
        }
        let mut request = self
            .dynamodb
            .update_item()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .update_expression(update)
            .condition_expression("attribute_exists(PK)")
            .set_expression_attribute_names(expression_names(&[Some(update)]));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value.0);
        }
        request.send().await.map(|_| ()).map_err(|e| {
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception())
            {
                Error::Conflict {
                    code: "NOT_FOUND",
                    message: "The item no longer exists.",
                }
            } else {
                Error::unavailable(format!("dynamodb UpdateItem: {e:?}"))
            }
        })
    }

    /// Whether any item of partition `pk` has a sort key starting with `prefix` (one read of
    /// at most one item).
    pub async fn any_with_prefix(&self, pk: &str, prefix: &str) -> Result<bool> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let (items, _) = memory.query(memory::Query {
                table: self.table_for(pk),
                pk,
                range: SortKeys::Prefix(prefix),
                below: None,
                descending: false,
                limit: Some(1),
                start: None,
            });
            return Ok(!items.is_empty());
        }
        let out = self
            .dynamodb
            .query()
            .table_name(self.table_for(pk))
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .projection_expression("PK")
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query: {e:?}")))?;
        Ok(out.count() > 0)
    }

    /// Puts one item if no item has its key; `false` if one already did.
    pub async fn put_if_absent(&self, item: Item) -> Result<bool> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory.as_deref() {
            let put = self.put(item, Some("attribute_not_exists(PK)"))?;
            return match memory.transact(vec![put.0]) {
                Ok(()) => Ok(true),
                Err(MemoryFailure::Condition) => Ok(false),
                Err(other) => Err(failure(other)),
            };
        }
        let result = self
            .dynamodb
            .put_item()
            .table_name(self.table_for(pk_of(&item)))
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(err) if err.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(Error::unavailable(format!("dynamodb PutItem: {e:?}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .build();
        Store::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            "main",
            "identity",
            7,
        )
    }

    #[test]
    fn every_name_placeholder_is_defined_and_no_other() {
        let names = expression_names(&[
            Some("ADD #count :d SET lastFailure = :now, #ttl = :ttl"),
            Some("attribute_not_exists(#count) OR #count < :max"),
            None,
        ])
        .unwrap_or_default();
        assert_eq!(
            names,
            HashMap::from([
                ("#count".to_owned(), "count".to_owned()),
                ("#ttl".to_owned(), "ttl".to_owned()),
            ])
        );
        assert_eq!(expression_names(&[Some("version = :v"), None]), None);
    }

    #[test]
    fn writes_go_to_the_table_that_holds_their_partition() {
        let store = store();
        let user = item_of([
            ("PK", AttrValue::text("USER#ada")),
            ("SK", AttrValue::text("META")),
        ]);
        let Write(put) = store
            .put_checked(
                user,
                Some("version = :v"),
                vec![(":v", AttrValue::number(3_u64))],
            )
            .expect("put");
        let put = put.put.expect("a put");
        assert_eq!(put.table_name, "identity");
        assert_eq!(put.condition_expression.as_deref(), Some("version = :v"));
        assert_eq!(
            put.expression_attribute_values,
            Some(HashMap::from([(
                ":v".to_owned(),
                AttributeValue::N("3".into())
            )]))
        );
        let Write(check) = store
            .check("CLIENT#svc", "META", "attribute_not_exists(PK)", Vec::new())
            .expect("check");
        let check = check.condition_check.expect("a condition check");
        assert_eq!(check.table_name, "main");
        assert_eq!(check.expression_attribute_values, None);
        assert_eq!(
            check.key.get("PK"),
            Some(&AttributeValue::S("CLIENT#svc".into()))
        );
        let Write(delete) = store
            .delete_checked(
                "THROTTLE#IP#1.2.3.4",
                "2026-12-02T10",
                Some("failures = :n"),
                vec![(":n", AttrValue::number(1_u32))],
            )
            .expect("delete");
        assert_eq!(delete.delete.expect("a delete").table_name, "identity");
        let Write(update) = store
            .update(
                "CLIENTCOUNT",
                "COUNT",
                "ADD #count :d",
                None,
                vec![(":d", AttrValue::number(-1_i64))],
            )
            .expect("update");
        let update = update.update.expect("an update");
        assert_eq!(update.table_name, "main");
        assert_eq!(
            update.expression_attribute_names,
            Some(HashMap::from([("#count".to_owned(), "count".to_owned())]))
        );
    }

    #[test]
    fn attributes_read_back_as_they_were_set() {
        let mut item = item_of([
            ("SK", AttrValue::text("SETTING#Greeting")),
            ("n", AttrValue::number(u64::MAX)),
            ("b", AttrValue::bytes(vec![1, 2, 3])),
            ("l", AttrValue::texts(["a".to_owned(), "b".to_owned()])),
        ]);
        set(&mut item, "ttl", AttrValue::number(-5_i64));
        assert_eq!(sort_key(&item), "SETTING#Greeting");
        assert_eq!(text(&item, "SK"), Some("SETTING#Greeting"));
        assert_eq!(number::<u64>(&item, "n"), Some(u64::MAX));
        assert_eq!(number::<u32>(&item, "n"), None, "out of range is no number");
        assert_eq!(number::<i64>(&item, "ttl"), Some(-5));
        assert_eq!(number::<i64>(&item, "SK"), None, "a string is no number");
        assert_eq!(bytes(&item, "b"), Some(&[1_u8, 2, 3][..]));
        assert_eq!(take_bytes(&mut item, "b"), Some(vec![1, 2, 3]));
        assert_eq!(bytes(&item, "b"), None, "taken");
        assert_eq!(
            take_text(&mut item, "SK").as_deref(),
            Some("SETTING#Greeting")
        );
        assert_eq!(sort_key(&item), "");
        assert_eq!(
            item.get("l"),
            Some(&AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::S("b".into())
            ]))
        );
        assert_eq!(
            AttrValue::serialized(&serde_json::json!({ "time": "t" })).expect("serialised"),
            AttrValue(AttributeValue::M(HashMap::from([(
                "time".to_owned(),
                AttributeValue::S("t".into())
            )])))
        );
    }

    #[cfg(feature = "memory")]
    fn event() -> AuditEvent {
        AuditEvent::new(
            fig_core::events::EventKind::OriginSecretRotated,
            fig_core::events::Actor::System,
            Default::default(),
            fig_core::clock::now(),
        )
    }

    #[cfg(feature = "memory")]
    fn row(pk: &str, sk: &str, version: u64) -> Item {
        item_of([
            ("PK", AttrValue::text(pk)),
            ("SK", AttrValue::text(sk)),
            ("version", AttrValue::number(version)),
        ])
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn a_transaction_in_memory_is_all_or_nothing_with_its_event() {
        let store = Store::in_memory(7);
        let conflict = ("STALE", "stale");
        let first = store.put(row("CLIENT#a", "META", 1), Some("attribute_not_exists(PK)"));
        store
            .transact(vec![first.expect("put")], &event(), conflict)
            .await
            .expect("written");
        let again = store.put(row("CLIENT#a", "META", 1), Some("attribute_not_exists(PK)"));
        let refused = store
            .transact(vec![again.expect("put")], &event(), conflict)
            .await;
        assert!(matches!(
            refused,
            Err(Error::Conflict { code: "STALE", .. })
        ));
        // A write whose companion condition fails is not applied, nor is its event.
        let events = |store: Store| async move {
            let hour = fig_core::clock::now_rfc3339();
            let mut n = 0;
            for shard in 0..EVENT_SHARDS {
                n += store
                    .count(&fig_core::schema::outbox_pk(&hour[..13], shard))
                    .await
                    .expect("count");
            }
            n
        };
        assert_eq!(events(store.clone()).await, 1);
        let writes = vec![
            store
                .put(row("CLIENT#a", "SETTING#x", 1), None)
                .expect("put"),
            store
                .check(
                    "CLIENT#a",
                    "META",
                    "version = :v",
                    vec![(":v", AttrValue::number(2_u64))],
                )
                .expect("check"),
        ];
        let refused = store.transact(writes, &event(), conflict).await;
        assert!(matches!(
            refused,
            Err(Error::Conflict { code: "STALE", .. })
        ));
        assert_eq!(
            store.get("CLIENT#a", "SETTING#x").await.expect("read"),
            None
        );
        assert_eq!(
            events(store.clone()).await,
            1,
            "no event for a change not made"
        );
        // One item twice in a transaction is refused, as DynamoDB does.
        let twice = vec![
            store
                .put(row("CLIENT#a", "SETTING#y", 1), None)
                .expect("put"),
            store
                .delete_in_transaction("CLIENT#a", "SETTING#y")
                .expect("delete"),
        ];
        assert!(store.transact(twice, &event(), conflict).await.is_err());
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn queries_in_memory_read_in_sort_key_order_by_pages() {
        let store = Store::in_memory(7);
        for sk in ["SETTING#c", "META", "SETTING#a", "SETTING#b", "DEK#1"] {
            store.put_item(row("CLIENT#q", sk, 1)).await.expect("put");
        }
        store
            .put_item(row("CLIENT#other", "SETTING#z", 1))
            .await
            .expect("put");
        store
            .put_item(row("USER#ada", "META", 1))
            .await
            .expect("put");
        let sks = |items: &[Item]| {
            items
                .iter()
                .map(|i| sort_key(i).to_owned())
                .collect::<Vec<_>>()
        };
        let all = store.query_partition("CLIENT#q").await.expect("query");
        assert_eq!(
            sks(&all),
            ["DEK#1", "META", "SETTING#a", "SETTING#b", "SETTING#c"]
        );
        let (page, next) = store
            .query_page("CLIENT#q", SortKeys::Prefix("SETTING#"), Some(2), None)
            .await
            .expect("page");
        assert_eq!(sks(&page), ["SETTING#a", "SETTING#b"]);
        let (rest, end) = store
            .query_page("CLIENT#q", SortKeys::Prefix("SETTING#"), Some(2), next)
            .await
            .expect("page");
        assert_eq!((sks(&rest), end), (vec!["SETTING#c".to_owned()], None));
        let (scanned, newest, _) = store
            .query_page_descending("CLIENT#q", Some("SETTING#c"), None, None, 2)
            .await
            .expect("page");
        assert_eq!(
            (scanned, sks(&newest)),
            (2, vec!["SETTING#b".to_owned(), "SETTING#a".to_owned()])
        );
        assert_eq!(store.count("CLIENT#q").await.expect("count"), 5);
        assert!(
            store
                .any_with_prefix("CLIENT#q", "DEK#")
                .await
                .expect("query")
        );
        assert!(
            !store
                .any_with_prefix("CLIENT#q", "INSTANCE#")
                .await
                .expect("query")
        );
        assert_eq!(
            store
                .query_partition("USER#ada")
                .await
                .expect("query")
                .len(),
            1
        );
        let old = store
            .update_returning_old(
                "USER#ada",
                "META",
                "ADD version :one",
                vec![(":one", AttrValue::number(1_u64))],
            )
            .await
            .expect("update");
        assert_eq!(
            old.as_ref().and_then(|i| number::<u64>(i, "version")),
            Some(1)
        );
        let now = store.get("USER#ada", "META").await.expect("read");
        assert_eq!(
            now.as_ref().and_then(|i| number::<u64>(i, "version")),
            Some(2)
        );
        assert!(
            !store
                .put_if_absent(row("USER#ada", "META", 9))
                .await
                .expect("put")
        );
    }
}
