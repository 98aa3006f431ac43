//! The `cjson` library Redis gives scripts (lua-cjson 2.1): `encode`,
//! `decode` and `null`, written over serde_json's parser.
//!
//! Encoding follows lua-cjson's defaults: numbers as `%.14g`, `/` escaped
//! as `\/`, a table whose keys are all positive integers is an array (up
//! to its largest key, holes as `null`; refused when it has more than
//! twice as many holes as items and more than 10 slots), an empty table
//! `{}`, any other table an object whose number keys become strings, in
//! the table's own iteration order. Decoding gives tables for objects and
//! 1-based arrays, numbers for numbers, and `cjson.null` for `null`.

use mlua::{LightUserData, Lua, Table, Value};

/// Deepest nesting `encode` and `decode` accept (lua-cjson's default).
const DEPTH_MAX: usize = 1000;

pub fn install(lua: &Lua) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.raw_set("null", null())?;
    cjson.raw_set(
        "encode",
        lua.create_function(|_, value: Value| {
            let mut out = Vec::new();
            encode(&value, 0, &mut out).map_err(mlua::Error::runtime)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let json: serde_json::Value =
                serde_json::from_slice(&text.as_bytes()).map_err(|e| {
                    mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
                })?;
            decode(lua, &json, 0)
        })?,
    )?;
    lua.globals().raw_set("cjson", cjson)
}

/// `cjson.null`: the NULL light userdata.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn encode(value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(data) if data.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(format_g14(*n as f64)?.as_bytes()),
        Value::Number(n) => out.extend_from_slice(format_g14(*n)?.as_bytes()),
        Value::String(text) => quote(&text.as_bytes(), out),
        Value::Table(table) => {
            if depth + 1 > DEPTH_MAX {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            encode_table(table, depth + 1, out)?
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

fn encode_table(table: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match array_length(table)? {
        Some(len) if len > 0 => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let item: Value = table.raw_get(i).map_err(|e| e.to_string())?;
                encode(&item, depth, out)?;
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in table.clone().pairs::<Value, Value>() {
                let (key, value) = pair.map_err(|e| e.to_string())?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &key {
                    Value::String(text) => quote(&text.as_bytes(), out),
                    Value::Integer(n) => quote(format_g14(*n as f64)?.as_bytes(), out),
                    Value::Number(n) => quote(format_g14(*n)?.as_bytes(), out),
                    _ => return Err("table key must be a number or string".into()),
                }
                out.push(b':');
                encode(&value, depth, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The array length of `table` if every key is a positive integer
/// (lua-cjson's `lua_array_length`); `None` for an object.
fn array_length(table: &Table) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in table.clone().pairs::<Value, Value>() {
        let (key, _) = pair.map_err(|e| e.to_string())?;
        let n = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        max = max.max(n as usize);
        items += 1;
    }
    if max > 10 && max > items * 2 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

/// `text` as a JSON string, escaped as lua-cjson escapes.
fn quote(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in text {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// A number as lua-cjson writes it: C's `%.14g`; NaN and infinities are
/// refused, as lua-cjson refuses them by default.
fn format_g14(n: f64) -> Result<String, String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    Ok(super::vm::format_g(n, 14))
}

fn decode(lua: &Lua, json: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    if depth > DEPTH_MAX {
        return Err(mlua::Error::runtime(
            "Found too many nested data structures",
        ));
    }
    Ok(match json {
        serde_json::Value::Null => null(),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(text) => Value::String(lua.create_string(text)?),
        serde_json::Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, decode(lua, item, depth + 1)?)?;
            }
            Value::Table(table)
        }
        serde_json::Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, value) in fields {
                table.raw_set(key.as_str(), decode(lua, value, depth + 1)?)?;
            }
            Value::Table(table)
        }
    })
}
