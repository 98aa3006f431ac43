//! The `redis` table's helpers besides `call`/`pcall` (`error_reply`,
//! `status_reply`, `sha1hex`, `log`, `setresp`, `set_repl`,
//! `replicate_commands`, the `LOG_*` and `REPL_*` constants), and the
//! deterministic `math.random`/`math.randomseed`.

use std::cell::RefCell;

use mlua::{Lua, MultiValue, Scope, Table, Value};
use redraft_engine::Random;

use super::call::CallCtx;
use super::vm::set_raising;
use crate::apply::sha1_hex;

/// An `{err=...}` table, as `luaPushError` makes one.
fn err_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    let text = match text.strip_prefix('-') {
        Some(rest) if rest.contains(' ') => rest.to_string(),
        Some(rest) => format!("ERR {rest}"),
        None => format!("ERR {text}"),
    };
    table.raw_set("err", text.trim_end_matches(['\r', '\n']))?;
    Ok(Value::Table(table))
}

/// What a raising helper returns for a misuse: Redis's error table, to
/// raise (see `super::vm::set_raising`).
fn raise(lua: &Lua, text: &str) -> mlua::Result<(Value, bool)> {
    Ok((err_table(lua, text)?, true))
}

/// What a raising helper returns on success.
fn returned(value: impl mlua::IntoLua, lua: &Lua) -> mlua::Result<(Value, bool)> {
    Ok((value.into_lua(lua)?, false))
}

pub fn install<'scope, 'env: 'scope>(
    lua: &Lua,
    redis: &Table,
    scope: &'scope Scope<'scope, 'env>,
    ctx: &'env RefCell<CallCtx<'_>>,
    random: &'env RefCell<Random>,
) -> mlua::Result<()> {
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| match args.into_vec().as_slice() {
            [Value::String(text)] => {
                let text = text.to_string_lossy();
                if text.starts_with('-') {
                    err_table(lua, &text)
                } else {
                    err_table(lua, &format!("-{text}"))
                }
            }
            _ => err_table(lua, "wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| match args.into_vec().as_slice() {
            [Value::String(text)] => {
                let table = lua.create_table()?;
                table.raw_set("ok", text.clone())?;
                Ok(Value::Table(table))
            }
            _ => err_table(lua, "wrong number or type of arguments"),
        })?,
    )?;
    set_raising(
        lua,
        redis,
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| match args.into_vec().as_slice() {
            [value] => {
                let bytes = match value {
                    Value::String(text) => text.as_bytes().to_vec(),
                    Value::Integer(n) => n.to_string().into_bytes(),
                    Value::Number(n) => lua
                        .coerce_string(Value::Number(*n))?
                        .map_or_else(Vec::new, |s| s.as_bytes().to_vec()),
                    _ => Vec::new(),
                };
                returned(sha1_hex(&bytes), lua)
            }
            _ => raise(lua, "wrong number of arguments"),
        })?,
    )?;
    set_raising(
        lua,
        redis,
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return raise(lua, "redis.log() requires two arguments or more.");
            }
            let level = match &args[0] {
                Value::Integer(n) => *n as f64,
                Value::Number(n) => *n,
                _ => return raise(lua, "First argument must be a number (log level)."),
            };
            if !(0.0..=3.0).contains(&level) {
                return raise(lua, "Invalid debug level.");
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .filter_map(|value| lua.coerce_string(value.clone()).ok().flatten())
                .map(|text| text.to_string_lossy())
                .collect();
            // Every node that runs the script logs it (Redis logs on
            // the primary only).
            tracing::info!(target: "redraft::script", level, "{}", text.join(" "));
            returned(Value::Nil, lua)
        })?,
    )?;
    set_raising(
        lua,
        redis,
        "setresp",
        scope.create_function(move |lua, args: MultiValue| {
            let version = match args.into_vec().as_slice() {
                [Value::Integer(n)] => *n as f64,
                [Value::Number(n)] => *n,
                [_] => 0.0,
                _ => return raise(lua, "redis.setresp() requires one argument."),
            };
            if version != 2.0 && version != 3.0 {
                return raise(lua, "RESP version must be 2 or 3.");
            }
            ctx.borrow_mut().resp3 = version == 3.0;
            returned(Value::Nil, lua)
        })?,
    )?;
    set_raising(
        lua,
        redis,
        "set_repl",
        lua.create_function(|lua, args: MultiValue| {
            // The whole script is replicated as one entry: every flag
            // is accepted and changes nothing.
            let flags = match args.into_vec().as_slice() {
                [Value::Integer(n)] => *n as f64,
                [Value::Number(n)] => *n,
                [_] => -1.0,
                _ => return raise(lua, "redis.set_repl() requires two arguments."),
            };
            if !(0.0..=3.0).contains(&flags) {
                return raise(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            returned(Value::Nil, lua)
        })?,
    )?;
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    let math: Table = lua.globals().raw_get("math")?;
    math.raw_set(
        "random",
        scope.create_function(move |lua, args: MultiValue| {
            let mut random = random.borrow_mut();
            // Lua 5.1's semantics over a generator the call's seed starts.
            let r = (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let number = |value: &Value| match value {
                Value::Integer(n) => Ok(*n as f64),
                Value::Number(n) => Ok(*n),
                _ => Err(mlua::Error::runtime(
                    "bad argument to 'random' (number expected)",
                )),
            };
            match args.into_vec().as_slice() {
                [] => Ok(Value::Number(r)),
                [upper] => {
                    let upper = number(upper)?.floor();
                    if upper < 1.0 {
                        return Err(mlua::Error::runtime(
                            "bad argument #1 to 'random' (interval is empty)",
                        ));
                    }
                    Ok(Value::Number((r * upper).floor() + 1.0))
                }
                [lower, upper] => {
                    let (lower, upper) = (number(lower)?.floor(), number(upper)?.floor());
                    if lower > upper {
                        return Err(mlua::Error::runtime(
                            "bad argument #2 to 'random' (interval is empty)",
                        ));
                    }
                    Ok(Value::Number((r * (upper - lower + 1.0)).floor() + lower))
                }
                _ => Err(lua_error(lua, "wrong number of arguments")),
            }
        })?,
    )?;
    math.raw_set(
        "randomseed",
        scope.create_function(move |_, seed: f64| {
            *random.borrow_mut() = Random::new(seed as i64 as u64);
            Ok(())
        })?,
    )?;
    Ok(())
}

fn lua_error(_lua: &Lua, text: &str) -> mlua::Error {
    mlua::Error::runtime(text)
}
