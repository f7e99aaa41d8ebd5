//! How columns become typed row fields, once, at the store's edge: booleans,
//! times, JSON lists and the capability flags. sqlx's `Any` driver decodes
//! only booleans, integers, floats, text and blobs, so each type here reads
//! one of those and says what it turns into; a value that does not decode is
//! an error, never a default.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyArguments, AnyRow, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::query::QueryAs;
use sqlx::{Any, Decode, FromRow, Row, Type, ValueRef};

use super::parse_ts;
use crate::capabilities::Capabilities;

/// A boolean column: BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite (the `Any`
/// driver reads neither as the other). Rows use `#[sqlx(try_from = "Flag")]`.
#[derive(Clone, Copy, Debug)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        use sqlx::any::AnyTypeInfoKind as K;
        matches!(ty.kind(), K::Bool | K::SmallInt | K::Integer | K::BigInt)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if let Ok(b) = <bool as Decode<Any>>::decode(value.clone()) {
            return Ok(Flag(b));
        }
        Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
    }
}

/// Implements `Type<Any>` for a wrapper read from a text column.
macro_rules! text_column {
    ($ty:ty) => {
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <str as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <str as Type<Any>>::compatible(ty)
            }
        }
    };
}

/// A time column, stored as text in the one format of [`super::ts`]. Rows use
/// `#[sqlx(try_from = "Time")]` for a `DateTime<Utc>`.
#[derive(Clone, Copy, Debug)]
pub struct Time(pub DateTime<Utc>);

text_column!(Time);

impl<'r> Decode<'r, Any> for Time {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Any>>::decode(value)?;
        parse_ts(text)
            .map(Time)
            .ok_or_else(|| format!("not a stored time: {text:?}").into())
    }
}

impl From<Time> for DateTime<Utc> {
    fn from(t: Time) -> Self {
        t.0
    }
}

/// A nullable time column: `#[sqlx(try_from = "OptTime")]` for an
/// `Option<DateTime<Utc>>`.
#[derive(Clone, Copy, Debug)]
pub struct OptTime(pub Option<DateTime<Utc>>);

text_column!(OptTime);

impl<'r> Decode<'r, Any> for OptTime {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(OptTime(None));
        }
        Ok(OptTime(Some(Time::decode(value)?.0)))
    }
}

impl From<OptTime> for Option<DateTime<Utc>> {
    fn from(t: OptTime) -> Self {
        t.0
    }
}

/// A list stored as JSON text (`["a", "b"]`): `#[sqlx(try_from =
/// "JsonList<String>")]` for a `Vec<String>`. Each item must decode as a `T`
/// (an `IpAddr` from its text, say).
#[derive(Clone, Debug)]
pub struct JsonList<T>(pub Vec<T>);

impl<T> Type<Any> for JsonList<T> {
    fn type_info() -> AnyTypeInfo {
        <str as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <str as Type<Any>>::compatible(ty)
    }
}

impl<'r, T: DeserializeOwned> Decode<'r, Any> for JsonList<T> {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Any>>::decode(value)?;
        Ok(JsonList(serde_json::from_str(text)?))
    }
}

impl<T> From<JsonList<T>> for Vec<T> {
    fn from(l: JsonList<T>) -> Self {
        l.0
    }
}

/// A list as the database stores it: JSON text, each item as it serializes
/// (an `IpAddr` as its text).
pub fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// The five flag columns of a row, by their names: `#[sqlx(flatten)]`.
impl<'r> FromRow<'r, AnyRow> for Capabilities {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let mut values = [false; 5];
        for (value, name) in values.iter_mut().zip(Capabilities::NAMES) {
            *value = row.try_get::<Flag, _>(name)?.0;
        }
        Ok(Capabilities::from(values))
    }
}

/// Binds the five flags, in the order of [`Capabilities::NAMES`].
pub fn bind_capabilities<O>(
    q: QueryAs<'_, Any, O, AnyArguments>,
    caps: Capabilities,
) -> QueryAs<'_, Any, O, AnyArguments> {
    caps.values().into_iter().fold(q, |q, v| q.bind(v))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn lists_round_trip_through_their_text() {
        let ips: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let text = json_list(&ips);
        assert_eq!(text, r#"["10.1.2.3","2001:db8::1"]"#);
        assert_eq!(serde_json::from_str::<Vec<IpAddr>>(&text).unwrap(), ips);
        assert!(serde_json::from_str::<Vec<IpAddr>>(r#"["10.1.2.300"]"#).is_err());
        assert_eq!(json_list::<String>(&[]), "[]");
    }
}
