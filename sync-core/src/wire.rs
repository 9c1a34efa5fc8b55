//! Decoding request bodies: untrusted bytes in, a value or a
//! [`Rejection`] out, never a panic (the fuzz targets in `sync-core/fuzz`
//! hold these functions to that).
//!
//! JSON is parsed strictly ([`parse_json`]), so every route gets the same
//! guarantees from one place:
//! - a member sent twice is refused (`400 duplicate_member`): parsers
//!   disagree on which one wins, so a proxy, a log and the server could
//!   each read a different body;
//! - text holding a NUL character is refused (`422`, `invalid_value` naming
//!   the field): no database column keeps one;
//! - maps and lists nest at most [`MAX_DEPTH`] levels (`422`, `too_deep`
//!   naming the field), checked while parsing, before anything walks the
//!   body.
//!
//! A sync request ([`decode_request`]) is that JSON or CBOR.

use crate::doc::nul_violation;
use crate::error::{Rejection, RejectionCode};
use crate::limits::{MAX_DEPTH, too_deep};
use crate::protocol::SyncRequest;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Decodes a sync request body, CBOR or JSON (both parsed strictly: nesting
/// bounded by [`MAX_DEPTH`]; JSON as [`parse_json`]).
pub fn decode_request(body: &[u8], cbor: bool) -> Result<SyncRequest, Rejection> {
    if cbor {
        ciborium::de::from_reader_with_recursion_limit(body, MAX_DEPTH)
            .map_err(|err| Rejection::new(RejectionCode::MalformedCbor, err.to_string()))
    } else {
        parse_json_as(body)
    }
}

/// Why a body that parses as JSON is still refused.
enum Refusal {
    /// A member appears twice in one object (its dotted path).
    Duplicate(String),
    /// Text holding a NUL character (its dotted path).
    Nul(String),
    /// A map or list nested deeper than [`MAX_DEPTH`] (its dotted path).
    TooDeep(String),
}

impl Refusal {
    fn into_rejection(self) -> Rejection {
        match self {
            Self::Duplicate(path) => Rejection::new(
                RejectionCode::DuplicateMember,
                format!("the member `{path}` is sent twice; send each member once"),
            ),
            Self::Nul(path) => Rejection::invalid(vec![nul_violation(&path)]),
            Self::TooDeep(path) => Rejection::invalid(vec![too_deep(&path)]),
        }
    }
}

/// Parses a JSON body into a value, refusing members sent twice, NUL
/// characters and nesting past [`MAX_DEPTH`]; anything that is not JSON is
/// `400 malformed_json`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, Rejection> {
    let refusal = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Checked {
        path: String::new(),
        depth: 1,
        refusal: &refusal,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, refusal.into_inner()) {
        (_, Some(refusal)) => Err(refusal.into_rejection()),
        (Ok(value), None) => Ok(value),
        (Err(err), None) => Err(Rejection::new(
            RejectionCode::MalformedJson,
            err.to_string(),
        )),
    }
}

/// Parses a JSON body strictly ([`parse_json`]) into `T`; a body of the
/// wrong shape is `422 invalid_body`.
pub fn parse_json_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let value = parse_json(bytes)?;
    T::deserialize(value).map_err(|err| Rejection::new(RejectionCode::InvalidBody, err.to_string()))
}

/// Builds a [`Value`] while parsing, refusing what [`parse_json`] refuses.
/// serde_json bounds the recursion at 128 levels itself; this stops at
/// [`MAX_DEPTH`] first.
struct Checked<'a> {
    path: String,
    /// The level of the value being read (the body itself is 1).
    depth: usize,
    refusal: &'a RefCell<Option<Refusal>>,
}

impl Checked<'_> {
    fn child(&self, segment: &str) -> Self {
        Checked {
            path: if self.path.is_empty() {
                segment.to_owned()
            } else {
                format!("{}.{segment}", self.path)
            },
            depth: self.depth + 1,
            refusal: self.refusal,
        }
    }

    fn refuse<E: serde::de::Error>(&self, refusal: Refusal) -> E {
        let message = match &refusal {
            Refusal::Duplicate(_) => "duplicate member",
            Refusal::Nul(_) => "NUL character",
            Refusal::TooDeep(_) => "nested too deep",
        };
        self.refusal.borrow_mut().get_or_insert(refusal);
        E::custom(message)
    }

    fn container<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_DEPTH {
            Err(self.refuse(Refusal::TooDeep(self.path.clone())))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Value, E> {
        if value.contains('\0') {
            return Err(self.refuse(Refusal::Nul(self.path.clone())));
        }
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Value, E> {
        if value.contains('\0') {
            return Err(self.refuse(Refusal::Nul(self.path.clone())));
        }
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&items.len().to_string()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if key.contains('\0') {
                return Err(child.refuse(Refusal::Nul(child.path.clone())));
            }
            if members.contains_key(&key) {
                return Err(child.refuse(Refusal::Duplicate(child.path.clone())));
            }
            let value = map.next_value_seed(child)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(result: Result<Value, Rejection>) -> String {
        match result {
            Ok(value) => format!("ok: {value}"),
            Err(err) => format!("{} {}", err.code, err.specific_code()),
        }
    }

    #[test]
    fn a_member_twice_at_any_level_is_a_duplicate_member() {
        assert_eq!(
            code_of(parse_json(br#"{"a": 1, "a": 2}"#)),
            "duplicate_member duplicate_member"
        );
        let err = parse_json(br#"{"a": {"b": [{"c": 1, "c": 1}]}}"#).err();
        assert!(err.is_some_and(|e| e.detail.contains("`a.b.0.c`")));
    }

    #[test]
    fn nul_in_a_value_or_a_key_names_the_field() {
        assert_eq!(
            code_of(parse_json(br#"{"a": ["x", "y\u0000"]}"#)),
            "validation_failed invalid_value"
        );
        assert_eq!(
            code_of(parse_json(br#"{"k\u0000": 1}"#)),
            "validation_failed invalid_value"
        );
    }

    #[test]
    fn nesting_past_the_bound_is_too_deep_and_far_past_it_too() {
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        assert!(parse_json(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            code_of(parse_json(nested(MAX_DEPTH + 1).as_bytes())),
            "validation_failed too_deep"
        );
        assert_eq!(
            code_of(parse_json(nested(100_000).as_bytes())),
            "validation_failed too_deep"
        );
    }

    #[test]
    fn anything_else_that_is_not_json_is_malformed() {
        assert_eq!(
            code_of(parse_json(b"{\"a\": 1} trailing")),
            "malformed_json malformed_json"
        );
        assert_eq!(code_of(parse_json(b"")), "malformed_json malformed_json");
    }
}
