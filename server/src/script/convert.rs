//! Conversions between RESP and Lua, as Redis 7 makes them.
//!
//! A command's reply reaches the script as a Lua value by the script's
//! protocol (`redis.setresp`, 2 by default): integers become numbers,
//! bulk strings strings, a RESP2 null `false` (RESP3's null `nil`), a
//! status `{ok=...}`, an error `{err=...}`, arrays tables, and in RESP3 a
//! map `{map={...}}`, a set `{set={member=true}}`, a double
//! `{double=n}`, a boolean a boolean, a big number `{big_number=s}`.
//!
//! The script's return value becomes the reply by the caller's protocol:
//! a string a bulk string, a number an integer (truncated), a table with
//! `err` an error, with `ok` a status, with `double`, `big_number`, `map`
//! or `set` that type, any other table an array of its items up to the
//! first nil; `false` is a null in RESP2 scripts and `#f` in RESP3 ones,
//! `true` is `1` or `#t`.

use bytes::{Bytes, BytesMut};
use mlua::{Lua, Table, Value};

use crate::resp::{format_double, Frame};

/// A command's reply as the script sees it.
pub fn frame_to_lua(lua: &Lua, frame: Frame) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Simple(text) => single(lua, "ok", Value::String(lua.create_string(&text)?))?,
        Frame::Error(text) | Frame::BulkError(text) => {
            single(lua, "err", Value::String(lua.create_string(&text)?))?
        }
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(bytes) => Value::String(lua.create_string(&bytes)?),
        Frame::NullBulk | Frame::NullArray => Value::Boolean(false),
        Frame::Null => Value::Nil,
        Frame::Array(items) | Frame::Push(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                table.raw_set(i + 1, frame_to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
        Frame::Map(pairs) => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(frame_to_lua(lua, key)?, frame_to_lua(lua, value)?)?;
            }
            single(lua, "map", Value::Table(map))?
        }
        Frame::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(frame_to_lua(lua, item)?, true)?;
            }
            single(lua, "set", Value::Table(set))?
        }
        Frame::Double(value) => single(lua, "double", Value::Number(value))?,
        Frame::Boolean(value) => Value::Boolean(value),
        Frame::BigNumber(digits) => single(
            lua,
            "big_number",
            Value::String(lua.create_string(&digits)?),
        )?,
        Frame::Verbatim { format, text } => {
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            single(lua, "verbatim_string", Value::Table(inner))?
        }
    })
}

/// `{field = value}`.
fn single(lua: &Lua, field: &str, value: Value) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.raw_set(field, value)?;
    Ok(Value::Table(table))
}

/// How a Lua value becomes the reply.
pub struct Reply {
    /// The script's protocol (`redis.setresp`): how booleans reply.
    pub script_resp3: bool,
    /// The caller's protocol: how every type is encoded.
    pub client_resp3: bool,
}

impl Reply {
    /// `value` as the reply frame (see the module docs).
    pub fn frame(&self, value: &Value) -> Frame {
        match value {
            Value::String(text) => Frame::Bulk(Bytes::copy_from_slice(&text.as_bytes())),
            Value::Boolean(true) if !self.script_resp3 => Frame::Integer(1),
            Value::Boolean(false) if !self.script_resp3 => self.null(),
            Value::Boolean(value) if self.client_resp3 => Frame::Boolean(*value),
            Value::Boolean(value) => Frame::Integer(i64::from(*value)),
            Value::Integer(n) => Frame::Integer(*n),
            Value::Number(n) => Frame::Integer(truncate(*n)),
            Value::Table(table) => self.table(table),
            _ => self.null(),
        }
    }

    fn null(&self) -> Frame {
        if self.client_resp3 {
            Frame::Null
        } else {
            Frame::NullBulk
        }
    }

    fn table(&self, table: &Table) -> Frame {
        if let Ok(Value::String(text)) = table.raw_get::<Value>("err") {
            return Frame::Error(one_line(&text.as_bytes()));
        }
        if let Ok(Value::String(text)) = table.raw_get::<Value>("ok") {
            return Frame::Simple(one_line(&text.as_bytes()));
        }
        if let Ok(Value::Number(n)) = table.raw_get::<Value>("double") {
            return self.double(n);
        }
        if let Ok(Value::Integer(n)) = table.raw_get::<Value>("double") {
            return self.double(n as f64);
        }
        if let Ok(Value::String(digits)) = table.raw_get::<Value>("big_number") {
            let digits = one_line(&digits.as_bytes());
            return if self.client_resp3 {
                Frame::BigNumber(digits)
            } else {
                Frame::Bulk(digits)
            };
        }
        if let Ok(Value::Table(verbatim)) = table.raw_get::<Value>("verbatim_string") {
            if let Some(frame) = self.verbatim(&verbatim) {
                return frame;
            }
        }
        if let Ok(Value::Table(map)) = table.raw_get::<Value>("map") {
            return self.map(&map);
        }
        if let Ok(Value::Table(set)) = table.raw_get::<Value>("set") {
            return self.set(&set);
        }
        let mut items = Vec::new();
        for i in 1.. {
            match table.raw_get::<Value>(i) {
                Ok(Value::Nil) | Err(_) => break,
                Ok(item) => items.push(self.frame(&item)),
            }
        }
        Frame::Array(items)
    }

    fn double(&self, value: f64) -> Frame {
        if self.client_resp3 {
            Frame::Double(value)
        } else {
            Frame::Bulk(Bytes::copy_from_slice(format_double(value).as_bytes()))
        }
    }

    fn verbatim(&self, verbatim: &Table) -> Option<Frame> {
        let Ok(Value::String(format)) = verbatim.raw_get::<Value>("format") else {
            return None;
        };
        let Ok(Value::String(text)) = verbatim.raw_get::<Value>("string") else {
            return None;
        };
        let text = Bytes::copy_from_slice(&text.as_bytes());
        let format = format.as_bytes();
        match <[u8; 3]>::try_from(&format[..]) {
            Ok(format) if self.client_resp3 => Some(Frame::Verbatim { format, text }),
            _ => Some(Frame::Bulk(text)),
        }
    }

    fn map(&self, map: &Table) -> Frame {
        let mut pairs = Vec::new();
        for (key, value) in map.clone().pairs::<Value, Value>().flatten() {
            pairs.push((self.frame(&key), self.frame(&value)));
        }
        if self.client_resp3 {
            Frame::Map(pairs)
        } else {
            Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
        }
    }

    fn set(&self, set: &Table) -> Frame {
        let members = set
            .clone()
            .pairs::<Value, Value>()
            .flatten()
            .map(|(member, _)| self.frame(&member))
            .collect();
        if self.client_resp3 {
            Frame::Set(members)
        } else {
            Frame::Array(members)
        }
    }
}

/// A double as C casts it to `long long` (Redis's `(long long)n`),
/// saturating where C's cast is undefined.
fn truncate(n: f64) -> i64 {
    n as i64
}

/// `text` with CR and LF turned into spaces, as Redis writes a status or
/// an error from a script.
fn one_line(text: &[u8]) -> Bytes {
    let mut line = BytesMut::from(text);
    for byte in line.iter_mut() {
        if *byte == b'\r' || *byte == b'\n' {
            *byte = b' ';
        }
    }
    line.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lua: &Lua, code: &str, script_resp3: bool, client_resp3: bool) -> Frame {
        let value: Value = lua.load(code).eval().unwrap();
        Reply {
            script_resp3,
            client_resp3,
        }
        .frame(&value)
    }

    #[test]
    fn lua_values_reply_as_redis_7_does() {
        let lua = Lua::new();
        let cases: &[(&str, bool, bool, Frame)] = &[
            ("return 3.99", false, false, Frame::Integer(3)),
            ("return -3.99", false, false, Frame::Integer(-3)),
            ("return true", false, false, Frame::Integer(1)),
            ("return false", false, false, Frame::NullBulk),
            ("return false", false, true, Frame::Null),
            ("return false", true, true, Frame::Boolean(false)),
            ("return false", true, false, Frame::Integer(0)),
            (
                "return {1, 2, nil, 4}",
                false,
                false,
                Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
            ),
            (
                "return {err='My\\nError'}",
                false,
                false,
                Frame::Error(Bytes::from_static(b"My Error")),
            ),
            (
                "return {ok='fine'}",
                false,
                false,
                Frame::Simple(Bytes::from_static(b"fine")),
            ),
            (
                "return {double=1.5}",
                false,
                false,
                Frame::Bulk(Bytes::from_static(b"1.5")),
            ),
            ("return {double=1.5}", false, true, Frame::Double(1.5)),
        ];
        for (code, script, client, expected) in cases {
            assert_eq!(&reply(&lua, code, *script, *client), expected, "{code}");
        }
    }

    #[test]
    fn replies_reach_lua_by_the_scripts_protocol() {
        let lua = Lua::new();
        let value = frame_to_lua(&lua, Frame::NullBulk).unwrap();
        assert_eq!(value, Value::Boolean(false));
        let value = frame_to_lua(&lua, Frame::Null).unwrap();
        assert_eq!(value, Value::Nil);
        let Value::Table(table) = frame_to_lua(&lua, Frame::Double(2.5)).unwrap() else {
            panic!("a double is a table");
        };
        assert_eq!(table.raw_get::<f64>("double").unwrap(), 2.5);
    }
}
