//! Request bodies at the HTTP edge: reading them (decoded, bounded in bytes)
//! and parsing JSON strictly, so every route gets the same guarantees from
//! one place:
//! - a member sent twice is refused (`400 duplicate_member`): parsers
//!   disagree on which one wins, so a proxy, a log and the server could
//!   each read a different body;
//! - text holding a NUL character is refused (`422`, `invalid_value` naming
//!   the field): no database column keeps one;
//! - maps and lists nest at most [`MAX_DEPTH`] levels (`422`, `too_deep`
//!   naming the field), checked while parsing, before anything walks the
//!   body.
//!
//! [`Json`] is the extractor every JSON route takes; the sync endpoint
//! parses its JSON bodies with [`parse_json`] too.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::mime;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use kam_sync_core::doc::nul_violation;
use kam_sync_core::limits::{MAX_DEPTH, too_deep};
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Reads the body, decoding `Content-Encoding` (gzip, br, zstd, deflate),
/// and stops at `limit` decoded bytes; `advice` tells a client whose body
/// is too large what to do instead.
pub async fn read_body(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
    advice: &str,
) -> ApiResult<web::BytesMut> {
    let mut payload = actix_web::dev::Decompress::from_headers(payload, req.headers());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::bad_request("unreadable_body", err.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request is larger than {limit} bytes; {advice}"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
    fn into_error(self) -> ApiError {
        match self {
            Self::Duplicate(path) => ApiError::bad_request(
                "duplicate_member",
                format!("the member `{path}` is sent twice; send each member once"),
            ),
            Self::Nul(path) => ApiError::invalid(vec![nul_violation(&path)]),
            Self::TooDeep(path) => ApiError::invalid(vec![too_deep(&path)]),
        }
    }
}

/// Parses a JSON body into a value, refusing members sent twice, NUL
/// characters and nesting past [`MAX_DEPTH`]; anything that is not JSON is
/// `400 malformed_json`.
pub fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
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
        (_, Some(refusal)) => Err(refusal.into_error()),
        (Ok(value), None) => Ok(value),
        (Err(err), None) => Err(ApiError::bad_request("malformed_json", err.to_string())),
    }
}

/// Parses a JSON body strictly ([`parse_json`]) into `T`; a body of the
/// wrong shape is `422 invalid_body`.
pub fn parse_json_as<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value = parse_json(bytes)?;
    T::deserialize(value).map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            err.to_string(),
        )
    })
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

/// Whether a `Content-Type` is JSON (`application/json` or `+json`).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        })
}

/// A JSON request body, read within the server's body limit and parsed
/// strictly ([`parse_json`]); the extractor every JSON route takes.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send Content-Type: application/json",
                )
                .into());
            }
            let limit = req
                .app_data::<web::Data<AppState>>()
                .map_or(usize::MAX, |state| state.settings.server.max_body_bytes);
            let bytes = read_body(&req, payload, limit, "send a smaller body").await?;
            Ok(Self(parse_json_as(&bytes)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(result: ApiResult<Value>) -> String {
        match result {
            Ok(value) => format!("ok: {value}"),
            Err(err) => format!("{} {}", err.code(), err.specific_code()),
        }
    }

    #[test]
    fn a_member_twice_at_any_level_is_a_duplicate_member() {
        assert_eq!(
            code_of(parse_json(br#"{"a": 1, "a": 2}"#)),
            "duplicate_member duplicate_member"
        );
        let err = parse_json(br#"{"a": {"b": [{"c": 1, "c": 1}]}}"#).err();
        assert!(err.is_some_and(|e| e.detail().contains("`a.b.0.c`")));
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
