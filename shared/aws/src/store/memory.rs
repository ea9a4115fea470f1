//! An in-memory stand-in for the two DynamoDB tables, for the operations' unit tests
//! (feature `memory`; never in a function's build).
//!
//! It answers the requests [`Store`](super::Store) makes, with DynamoDB's rules for
//! what the operations rely on: a transaction's conditions are all checked before any of its
//! writes apply, and it touches no item twice; conditions and update expressions are evaluated
//! (the subset the operations write: comparisons, `AND`, `OR`, `NOT`, parentheses,
//! `attribute_exists`, `attribute_not_exists`, `begins_with`; `SET`, `ADD`, `REMOVE`), and a
//! request is refused, as DynamoDB refuses it, when a reserved word is written bare, a
//! `#name` or `:value` it defines is used by none of its expressions, or it sends an empty map
//! of them; queries
//! read a partition in sort-key order, with limits and continuation keys. It is not an
//! emulator: throughput, item sizes and streams are the emulator suite's business.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::{Item, SortKeys};

/// Why a request failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A condition did not hold (DynamoDB's `ConditionalCheckFailed`).
    Condition,
    /// A request DynamoDB would refuse as invalid.
    Invalid(String),
}

type Names = HashMap<String, String>;
type Values = HashMap<String, AttributeValue>;

/// Each table's items by `(PK, SK)`, by table name.
type Contents = HashMap<String, BTreeMap<(String, String), Item>>;

/// The tables.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    tables: Mutex<Contents>,
}

/// What a query reads: partition `pk` of `table` in `range` (and below `below`), in
/// sort-key order or reversed, from after `start`, at most `limit` items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    pub table: &'a str,
    pub pk: &'a str,
    pub range: SortKeys<'a>,
    pub below: Option<&'a str>,
    pub descending: bool,
    pub limit: Option<usize>,
    pub start: Option<&'a Item>,
}

fn s(v: Option<&AttributeValue>) -> String {
    match v {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    }
}

fn key_of(item: &Item) -> (String, String) {
    (s(item.get("PK")), s(item.get("SK")))
}

/// One write, taken apart.
struct Op {
    table: String,
    key: (String, String),
    condition: Option<String>,
    names: Names,
    values: Values,
    change: Change,
}

enum Change {
    Put(Item),
    Update(String),
    Delete,
    Check,
}

/// A write, taken apart, with DynamoDB's rule that every `#name` and `:value` it defines is
/// used by one of its expressions.
fn op_of(write: TransactWriteItem) -> Result<Op, Failure> {
    let op = parts_of(write)?;
    let mut used = HashSet::new();
    let update = match &op.change {
        Change::Update(expression) => Some(expression.as_str()),
        _ => None,
    };
    for expression in op.condition.as_deref().into_iter().chain(update) {
        for token in tokens(expression)? {
            if let Token::Word(word) = token {
                used.insert(word);
            }
        }
    }
    let defined = op.names.keys().chain(op.values.keys());
    let mut unused: Vec<&String> = defined.filter(|p| !used.contains(*p)).collect();
    if unused.is_empty() {
        Ok(op)
    } else {
        unused.sort();
        Err(Failure::Invalid(format!(
            "defined but unused in the expressions: {unused:?}"
        )))
    }
}

/// DynamoDB refuses an empty map of names or values (send none instead).
fn defined<T>(map: Option<HashMap<String, T>>) -> Result<HashMap<String, T>, Failure> {
    match map {
        Some(map) if map.is_empty() => Err(Failure::Invalid(
            "an empty map of expression names or values".into(),
        )),
        map => Ok(map.unwrap_or_default()),
    }
}

fn parts_of(write: TransactWriteItem) -> Result<Op, Failure> {
    let key = |k: &HashMap<String, AttributeValue>| (s(k.get("PK")), s(k.get("SK")));
    if let Some(p) = write.put {
        return Ok(Op {
            table: p.table_name,
            key: key_of(&p.item),
            condition: p.condition_expression,
            names: defined(p.expression_attribute_names)?,
            values: defined(p.expression_attribute_values)?,
            change: Change::Put(p.item),
        });
    }
    if let Some(u) = write.update {
        return Ok(Op {
            table: u.table_name,
            key: key(&u.key),
            condition: u.condition_expression,
            names: defined(u.expression_attribute_names)?,
            values: defined(u.expression_attribute_values)?,
            change: Change::Update(u.update_expression),
        });
    }
    if let Some(d) = write.delete {
        return Ok(Op {
            table: d.table_name,
            key: key(&d.key),
            condition: d.condition_expression,
            names: defined(d.expression_attribute_names)?,
            values: defined(d.expression_attribute_values)?,
            change: Change::Delete,
        });
    }
    if let Some(c) = write.condition_check {
        return Ok(Op {
            table: c.table_name,
            key: key(&c.key),
            condition: Some(c.condition_expression),
            names: defined(c.expression_attribute_names)?,
            values: defined(c.expression_attribute_values)?,
            change: Change::Check,
        });
    }
    Err(Failure::Invalid("an empty write".into()))
}

impl Tables {
    fn with<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> T {
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut tables)
    }

    /// One item.
    pub(crate) fn get(&self, table: &str, pk: &str, sk: &str) -> Option<Item> {
        self.with(|t| {
            t.get(table)
                .and_then(|items| items.get(&(pk.to_owned(), sk.to_owned())))
                .cloned()
        })
    }

    /// Applies writes all or nothing: every condition is checked first.
    pub(crate) fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), Failure> {
        let ops = writes
            .into_iter()
            .map(op_of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        for op in &ops {
            if !seen.insert((op.table.clone(), op.key.clone())) {
                return Err(Failure::Invalid(
                    "a transaction cannot touch one item twice".into(),
                ));
            }
        }
        self.with(|tables| apply_all(tables, ops))
    }

    /// Applies one write on its own and returns the item as it was before.
    pub(crate) fn write_one(&self, write: TransactWriteItem) -> Result<Option<Item>, Failure> {
        let op = op_of(write)?;
        if matches!(op.change, Change::Check) {
            return Err(Failure::Invalid("a lone condition check".into()));
        }
        self.with(|tables| {
            let before = tables
                .get(&op.table)
                .and_then(|items| items.get(&op.key))
                .cloned();
            apply_all(tables, vec![op])?;
            Ok(before)
        })
    }

    /// The audit events in the outbox, oldest first (their ids are ULIDs), as JSON lines.
    pub(crate) fn events(&self) -> Vec<String> {
        self.with(|tables| {
            let mut events: Vec<(String, String)> = tables
                .values()
                .flat_map(|items| items.iter())
                .filter(|(_, item)| s(item.get("itemType")) == "EVENT")
                .map(|((_, sk), item)| (sk.clone(), s(item.get("event"))))
                .collect();
            events.sort();
            events.into_iter().map(|(_, event)| event).collect()
        })
    }

    /// The items a query reads, and the key to go on from.
    pub(crate) fn query(&self, query: Query<'_>) -> (Vec<Item>, Option<Item>) {
        let Query {
            table,
            pk,
            range,
            below,
            descending,
            limit,
            start,
        } = query;
        self.with(|t| {
            let Some(items) = t.get(table) else {
                return (Vec::new(), None);
            };
            let in_range = |sk: &str| match range {
                SortKeys::All => true,
                SortKeys::Between(from, to) => sk >= from && sk <= to,
                SortKeys::Prefix(prefix) => sk.starts_with(prefix),
                SortKeys::After(after) => sk > after,
            } && below.is_none_or(|below| sk < below);
            let start = start.map(|k| s(k.get("SK")));
            let mut matching: Vec<&Item> = items
                .range((pk.to_owned(), String::new())..)
                .take_while(|((p, _), _)| p == pk)
                .filter(|((_, sk), _)| in_range(sk))
                .map(|(_, item)| item)
                .collect();
            if descending {
                matching.reverse();
            }
            let after_start = matching.into_iter().filter(|item| match &start {
                None => true,
                Some(from) => {
                    let sk = s(item.get("SK"));
                    if descending { sk < *from } else { sk > *from }
                }
            });
            let page: Vec<Item> = after_start
                .take(limit.unwrap_or(usize::MAX))
                .cloned()
                .collect();
            let next = match (limit, page.last()) {
                (Some(limit), Some(last)) if page.len() == limit => Some(Item::from([
                    (
                        "PK".to_owned(),
                        last.get("PK")
                            .cloned()
                            .unwrap_or(AttributeValue::Null(true)),
                    ),
                    (
                        "SK".to_owned(),
                        last.get("SK")
                            .cloned()
                            .unwrap_or(AttributeValue::Null(true)),
                    ),
                ])),
                _ => None,
            };
            (page, next)
        })
    }
}

// ----- expressions -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
    Comma,
    Compare(&'static str),
}

/// Checks every condition and computes every change before it applies any (the caller holds
/// the lock): a failed condition or an expression it cannot apply leaves every item as it was.
/// As on DynamoDB, an invalid write anywhere in the request is reported before a condition
/// that failed: every expression is evaluated even after one condition failed.
fn apply_all(tables: &mut Contents, ops: Vec<Op>) -> Result<(), Failure> {
    let mut changes = Vec::with_capacity(ops.len());
    let mut failed = false;
    for op in ops {
        let current = tables.get(&op.table).and_then(|items| items.get(&op.key));
        if let Some(condition) = &op.condition
            && !holds(condition, current, &op.names, &op.values)?
        {
            failed = true;
        }
        let after = match op.change {
            Change::Put(item) => Some(Some(item)),
            Change::Delete => Some(None),
            Change::Check => None,
            Change::Update(expression) => {
                let mut item = current.cloned().unwrap_or_else(|| {
                    Item::from([
                        ("PK".to_owned(), AttributeValue::S(op.key.0.clone())),
                        ("SK".to_owned(), AttributeValue::S(op.key.1.clone())),
                    ])
                });
                apply(&expression, &mut item, &op.names, &op.values)?;
                Some(Some(item))
            }
        };
        if let Some(after) = after {
            changes.push((op.table, op.key, after));
        }
    }
    if failed {
        return Err(Failure::Condition);
    }
    for (table, key, after) in changes {
        let items = tables.entry(table).or_default();
        match after {
            Some(item) => items.insert(key, item),
            None => items.remove(&key),
        };
    }
    Ok(())
}

fn tokens(expression: &str) -> Result<Vec<Token>, Failure> {
    let mut out = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\n' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            ',' => {
                chars.next();
                out.push(Token::Comma);
            }
            '=' => {
                chars.next();
                out.push(Token::Compare("="));
            }
            '<' | '>' => {
                chars.next();
                let op = match (c, chars.peek()) {
                    ('<', Some('=')) => "<=",
                    ('<', Some('>')) => "<>",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    _ => ">",
                };
                if op.len() == 2 {
                    chars.next();
                }
                out.push(Token::Compare(op));
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '#' | ':' | '.') => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '#' | ':' | '.') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            other => {
                return Err(Failure::Invalid(format!(
                    "unexpected {other:?} in {expression:?}"
                )));
            }
        }
    }
    Ok(out)
}

/// Words DynamoDB reserves in expressions that are, or could plausibly become, our attribute
/// names: written bare, DynamoDB refuses the request, so the stand-in refuses it too (a
/// `#placeholder` is the way to write them). A part of DynamoDB's list of 573, not all of it.
const RESERVED: &[&str] = &[
    "count",
    "data",
    "date",
    "description",
    "group",
    "key",
    "name",
    "order",
    "size",
    "status",
    "table",
    "time",
    "timestamp",
    "ttl",
    "type",
    "user",
    "value",
    "values",
];

/// An attribute name, with `#placeholders` resolved.
fn attribute(word: &str, names: &Names) -> Result<String, Failure> {
    if word.starts_with('#') {
        names
            .get(word)
            .cloned()
            .ok_or_else(|| Failure::Invalid(format!("{word} is not defined")))
    } else if RESERVED.contains(&word.to_ascii_lowercase().as_str()) {
        Err(Failure::Invalid(format!(
            "{word} is a reserved word: write it as a #placeholder"
        )))
    } else {
        Ok(word.to_owned())
    }
}

/// A `:value`.
fn value<'a>(word: &str, values: &'a Values) -> Result<&'a AttributeValue, Failure> {
    values
        .get(word)
        .ok_or_else(|| Failure::Invalid(format!("{word} is not defined")))
}

fn number(v: &AttributeValue) -> Option<f64> {
    match v {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::N(_), AttributeValue::N(_)) => number(a)?.partial_cmp(&number(b)?),
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.as_ref().cmp(y.as_ref())),
        _ => (a == b).then_some(Ordering::Equal),
    }
}

struct Condition<'a> {
    tokens: Vec<Token>,
    at: usize,
    item: Option<&'a Item>,
    names: &'a Names,
    values: &'a Values,
}

impl Condition<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, Failure> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or_else(|| Failure::Invalid("the condition ends too soon".into()))?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, wanted: &Token) -> Result<(), Failure> {
        let token = self.next()?;
        if &token == wanted {
            Ok(())
        } else {
            Err(Failure::Invalid(format!(
                "{wanted:?} expected, {token:?} found"
            )))
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn disjunction(&mut self) -> Result<bool, Failure> {
        let mut result = self.conjunction()?;
        while self.is_word("OR") {
            self.at += 1;
            let right = self.conjunction()?;
            result = result || right;
        }
        Ok(result)
    }

    fn conjunction(&mut self) -> Result<bool, Failure> {
        let mut result = self.unary()?;
        while self.is_word("AND") {
            self.at += 1;
            let right = self.unary()?;
            result = result && right;
        }
        Ok(result)
    }

    fn operand(&mut self, word: &str) -> Result<Option<AttributeValue>, Failure> {
        if word.starts_with(':') {
            return value(word, self.values).map(|v| Some(v.clone()));
        }
        let name = attribute(word, self.names)?;
        Ok(self.item.and_then(|item| item.get(&name)).cloned())
    }

    fn unary(&mut self) -> Result<bool, Failure> {
        match self.next()? {
            Token::Open => {
                let inner = self.disjunction()?;
                self.expect(&Token::Close)?;
                Ok(inner)
            }
            Token::Word(w) if w.eq_ignore_ascii_case("NOT") => Ok(!self.unary()?),
            Token::Word(function)
                if matches!(
                    function.as_str(),
                    "attribute_exists" | "attribute_not_exists" | "begins_with"
                ) =>
            {
                self.expect(&Token::Open)?;
                let Token::Word(path) = self.next()? else {
                    return Err(Failure::Invalid(format!("{function} takes a path")));
                };
                let present = self.operand(&path)?;
                let result = if function == "begins_with" {
                    self.expect(&Token::Comma)?;
                    let Token::Word(prefix) = self.next()? else {
                        return Err(Failure::Invalid("begins_with takes a prefix".into()));
                    };
                    match (present, self.operand(&prefix)?) {
                        (Some(AttributeValue::S(s)), Some(AttributeValue::S(p))) => {
                            s.starts_with(&p)
                        }
                        _ => false,
                    }
                } else {
                    present.is_some() == (function == "attribute_exists")
                };
                self.expect(&Token::Close)?;
                Ok(result)
            }
            Token::Word(left) => {
                let Token::Compare(op) = self.next()? else {
                    return Err(Failure::Invalid(format!(
                        "a comparison expected after {left}"
                    )));
                };
                let Token::Word(right) = self.next()? else {
                    return Err(Failure::Invalid(format!("an operand expected after {op}")));
                };
                let (left, right) = (self.operand(&left)?, self.operand(&right)?);
                // A missing attribute compares as nothing: every comparison with it is false.
                let (Some(left), Some(right)) = (left, right) else {
                    return Ok(false);
                };
                let ordering = compare(&left, &right);
                Ok(match op {
                    "=" => ordering == Some(Ordering::Equal),
                    "<>" => ordering != Some(Ordering::Equal),
                    "<" => ordering == Some(Ordering::Less),
                    "<=" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                    ">" => ordering == Some(Ordering::Greater),
                    _ => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                })
            }
            other => Err(Failure::Invalid(format!("unexpected {other:?}"))),
        }
    }
}

/// Whether `condition` holds for `item` (`None`: no such item).
fn holds(
    condition: &str,
    item: Option<&Item>,
    names: &Names,
    values: &Values,
) -> Result<bool, Failure> {
    let mut parser = Condition {
        tokens: tokens(condition)?,
        at: 0,
        item,
        names,
        values,
    };
    let result = parser.disjunction()?;
    if parser.at == parser.tokens.len() {
        Ok(result)
    } else {
        Err(Failure::Invalid(format!("trailing words in {condition:?}")))
    }
}

/// Applies an update expression (`SET a = :x, b = :y ADD n :d REMOVE c`) to `item`.
fn apply(expression: &str, item: &mut Item, names: &Names, values: &Values) -> Result<(), Failure> {
    let tokens = tokens(expression)?;
    let mut at = 0;
    let mut clause = String::new();
    while at < tokens.len() {
        if let Token::Word(w) = &tokens[at]
            && matches!(w.to_ascii_uppercase().as_str(), "SET" | "ADD" | "REMOVE")
        {
            clause = w.to_ascii_uppercase();
            at += 1;
            continue;
        }
        if tokens[at] == Token::Comma {
            at += 1;
            continue;
        }
        let Token::Word(path) = &tokens[at] else {
            return Err(Failure::Invalid(format!(
                "a path expected in {expression:?}"
            )));
        };
        let name = attribute(path, names)?;
        match clause.as_str() {
            "SET" => {
                let (Some(Token::Compare("=")), Some(Token::Word(v))) =
                    (tokens.get(at + 1), tokens.get(at + 2))
                else {
                    return Err(Failure::Invalid(format!("SET {name} = :value expected")));
                };
                item.insert(name, value(v, values)?.clone());
                at += 3;
            }
            "ADD" => {
                let Some(Token::Word(v)) = tokens.get(at + 1) else {
                    return Err(Failure::Invalid(format!("ADD {name} :value expected")));
                };
                let integer = |v: &AttributeValue| match v {
                    AttributeValue::N(n) => n.parse::<i128>().ok(),
                    _ => None,
                };
                let delta = integer(value(v, values)?)
                    .ok_or_else(|| Failure::Invalid("ADD takes an integer here".into()))?;
                let current = match item.get(&name) {
                    None => 0,
                    Some(v) => integer(v)
                        .ok_or_else(|| Failure::Invalid(format!("{name} is not an integer")))?,
                };
                item.insert(name, AttributeValue::N((current + delta).to_string()));
                at += 2;
            }
            "REMOVE" => {
                item.remove(&name);
                at += 1;
            }
            _ => return Err(Failure::Invalid(format!("no clause before {name}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn conditions_evaluate_as_dynamodb_does() {
        let it = item(&[
            ("PK", AttributeValue::S("CLIENT#a".into())),
            ("version", n(3)),
            ("incarnation", AttributeValue::S("x".into())),
        ]);
        let values: Values = [(":v".to_owned(), n(3)), (":w".to_owned(), n(10))].into();
        let names: Names = [("#count".to_owned(), "count".to_owned())].into();
        let check = |c: &str, item: Option<&Item>| holds(c, item, &names, &values);
        assert_eq!(check("version = :v", Some(&it)), Ok(true));
        assert_eq!(check("version = :w", Some(&it)), Ok(false));
        assert_eq!(
            check("version < :w AND attribute_exists(incarnation)", Some(&it)),
            Ok(true)
        );
        assert_eq!(check("attribute_not_exists(PK)", Some(&it)), Ok(false));
        assert_eq!(check("attribute_not_exists(PK)", None), Ok(true));
        assert_eq!(
            check("version = :v", None),
            Ok(false),
            "no item, no version"
        );
        assert_eq!(
            check("attribute_not_exists(#count) OR #count < :v", Some(&it)),
            Ok(true)
        );
        assert_eq!(check("NOT (version = :v)", Some(&it)), Ok(false));
        assert!(matches!(
            check("version = :nope", Some(&it)),
            Err(Failure::Invalid(_))
        ));
        assert!(matches!(
            check("#undefined = :v", Some(&it)),
            Err(Failure::Invalid(_))
        ));
    }

    #[test]
    fn updates_set_add_and_remove() {
        let mut it = item(&[("failures", n(2)), ("definitions", n(1))]);
        let values: Values = [
            (":one".to_owned(), n(1)),
            (":t".to_owned(), AttributeValue::S("now".into())),
        ]
        .into();
        let names: Names = [("#ttl".to_owned(), "ttl".to_owned())].into();
        apply(
            "ADD failures :one, fresh :one SET lastFailure = :t, #ttl = :one REMOVE definitions",
            &mut it,
            &names,
            &values,
        )
        .expect("applied");
        assert_eq!(it.get("failures"), Some(&n(3)));
        assert_eq!(it.get("fresh"), Some(&n(1)));
        assert_eq!(
            it.get("lastFailure"),
            Some(&AttributeValue::S("now".into()))
        );
        assert_eq!(it.get("ttl"), Some(&n(1)));
        assert!(!it.contains_key("definitions"));
    }

    #[test]
    fn reserved_words_must_be_placeholders_as_on_dynamodb() {
        let mut it = item(&[("count", n(1))]);
        let values: Values = [(":one".to_owned(), n(1))].into();
        let names: Names = [("#count".to_owned(), "count".to_owned())].into();
        assert!(apply("ADD count :one", &mut it, &names, &values).is_err());
        assert!(holds("count > :one", Some(&it), &names, &values).is_err());
        apply("ADD #count :one", &mut it, &names, &values).expect("applied");
        assert_eq!(it.get("count"), Some(&n(2)));
    }

    #[test]
    fn unused_placeholders_are_refused_as_on_dynamodb() {
        use aws_sdk_dynamodb::types::{ConditionCheck, Put, Update};
        let key: Item = item(&[
            ("PK", AttributeValue::S("P".into())),
            ("SK", AttributeValue::S("S".into())),
        ]);
        let update = |expression: &str, condition: Option<&str>, extra: (&str, &str)| {
            let mut u = Update::builder()
                .table_name("t")
                .set_key(Some(key.clone()))
                .update_expression(expression)
                .set_condition_expression(condition.map(str::to_owned))
                .expression_attribute_values(":one", n(1));
            if extra.0.starts_with(':') {
                u = u.expression_attribute_values(extra.0, n(2));
            } else if !extra.0.is_empty() {
                u = u.expression_attribute_names(extra.0, extra.1);
            }
            TransactWriteItem::builder()
                .update(u.build().expect("update"))
                .build()
        };
        let tables = Tables::default();
        for (expression, condition, extra) in [
            ("ADD a :one", None, (":two", "")),
            ("ADD a :one", None, ("#unused", "b")),
            ("ADD a :one", Some("attribute_not_exists(PK)"), (":two", "")),
        ] {
            assert!(
                matches!(
                    tables.transact(vec![update(expression, condition, extra)]),
                    Err(Failure::Invalid(_))
                ),
                "{expression} {condition:?} with {extra:?} is refused"
            );
        }
        assert_eq!(tables.get("t", "P", "S"), None, "nothing written");
        // A placeholder used by the condition alone, or by the update alone, is used.
        tables
            .transact(vec![update(
                "ADD a :one",
                Some("attribute_not_exists(PK) OR a < :two"),
                (":two", ""),
            )])
            .expect("every value used");
        tables
            .write_one(update("ADD #b :one", None, ("#b", "b")))
            .expect("every name used");
        let put = Put::builder()
            .table_name("t")
            .set_item(Some(key.clone()))
            .condition_expression("attribute_not_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("put");
        assert!(matches!(
            tables.write_one(TransactWriteItem::builder().put(put).build()),
            Err(Failure::Invalid(_))
        ));
        let check = ConditionCheck::builder()
            .table_name("t")
            .set_key(Some(key.clone()))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#a", "a")
            .build()
            .expect("check");
        assert!(matches!(
            tables.transact(vec![
                TransactWriteItem::builder().condition_check(check).build()
            ]),
            Err(Failure::Invalid(_))
        ));
        // An invalid write is reported before a failed condition elsewhere in the request.
        let mut other_key = key.clone();
        other_key.insert("SK".into(), AttributeValue::S("other".into()));
        let invalid = Update::builder()
            .table_name("t")
            .set_key(Some(other_key))
            .update_expression("ADD count :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("update");
        assert!(
            tables.get("t", "P", "S").is_some(),
            "so the condition fails"
        );
        assert!(matches!(
            tables.transact(vec![
                update("ADD a :one", Some("attribute_not_exists(PK)"), ("", "")),
                TransactWriteItem::builder().update(invalid).build(),
            ]),
            Err(Failure::Invalid(_))
        ));
        // An empty map is refused too (send none).
        let empty = Update::builder()
            .table_name("t")
            .set_key(Some(key.clone()))
            .update_expression("REMOVE a")
            .set_expression_attribute_values(Some(HashMap::new()))
            .build()
            .expect("update");
        assert!(matches!(
            tables.write_one(TransactWriteItem::builder().update(empty).build()),
            Err(Failure::Invalid(_))
        ));
    }
}
