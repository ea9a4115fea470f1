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
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use fig_core::error::{Error, Result};
use fig_core::events::AuditEvent;

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
    client: aws_sdk_dynamodb::Client,
    table: String,
    identity_table: String,
    event_ttl_days: u32,
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
    match item.get("SK") {
        Some(AttributeValue::S(sk)) => sk,
        _ => "",
    }
}

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
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        identity_table: impl Into<String>,
        event_ttl_days: u32,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            identity_table: identity_table.into(),
            event_ttl_days,
        }
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

    /// The DynamoDB client, for reads this type has no helper for.
    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The outbox `Put` of `event`, for a transaction.
    pub fn event_put(&self, event: &AuditEvent) -> Result<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .put(self.put(self.event_item(event)?, Some("attribute_not_exists(PK)"))?)
            .build())
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
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.event_item(event)?))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem event: {e:?}")))?;
        Ok(())
    }

    /// A `Put` of `item`, with an optional condition.
    pub fn put(&self, item: Item, condition: Option<&str>) -> Result<Put> {
        Put::builder()
            .table_name(self.table_for(pk_of(&item)))
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| Error::internal(format!("put builder: {e}")))
    }

    /// An unconditional delete of one item, for a transaction.
    pub fn delete_in_transaction(&self, pk: &str, sk: &str) -> Result<TransactWriteItem> {
        aws_sdk_dynamodb::types::Delete::builder()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .build()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .map_err(|e| Error::internal(format!("delete builder: {e}")))
    }

    /// A conditional `Update` of one item. `#ttl` in the expression names the TTL attribute
    /// (`ttl` is a reserved word in DynamoDB expressions).
    pub fn update(
        &self,
        pk: &str,
        sk: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Update> {
        Update::builder()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(Some(
                values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .set_expression_attribute_names(expression.contains("#ttl").then(|| {
                [("#ttl".to_owned(), "ttl".to_owned())]
                    .into_iter()
                    .collect()
            }))
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
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Item>> {
        let update = self.update(pk, sk, expression, None, values)?;
        let out = self
            .client
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
        items: Vec<TransactWriteItem>,
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
        mut items: Vec<TransactWriteItem>,
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
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
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
        let out = self
            .client
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
                .client
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
        self.client
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
        self.client
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
                    .client
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
        let mut query = self
            .client
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
        let out = self
            .client
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
        let mut query = self
            .client
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
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<()> {
        let mut request = self
            .client
            .update_item()
            .table_name(self.table_for(pk))
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .update_expression(update)
            .condition_expression("attribute_exists(PK)");
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
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
        let out = self
            .client
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
        let result = self
            .client
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
