//! One run of a script in a fresh Lua state: the sandbox (libraries,
//! `redis.*`, protected globals), the instruction limit, and the error
//! reply Redis 7 gives for a script that fails.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;
use mlua::{ChunkMode, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value, VmState};
use redraft_engine::Random;

use super::call::{self, CallCtx};
use super::convert::{frame_to_lua, Reply};
use super::HOOK_STEP;
use crate::apply::{sha1_hex, ScriptRun};
use crate::resp::{decode_frame, Frame};

/// Lua code run once per state, after the Rust functions are in place:
/// the error handler Redis installs, `redis.pcall`, `pcall` as Redis 7
/// replaces it (an error table caught becomes its `err` string), `pcall`
/// and `xpcall` that cannot swallow the instruction limit, and the
/// protection of globals.
const PRELUDE: &str = r#"
local getinfo, rawpcall, rawxpcall, error, type, tostring, rawget =
  debug.getinfo, pcall, xpcall, error, type, tostring, rawget
local limited, rcall = __redraft_limited, __redraft_call
-- The message of mlua's error userdata (a Rust function's error).
local function message(err)
  local text = tostring(err):gsub('^runtime error: ', ''):gsub('\n?stack traceback:.*$', '')
  return text
end
function __redraft_handler(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  if i and i.what == 'C' then level = level + 1; i = getinfo(level, 'nSl') end
  if i and i.source == '@redraft_prelude' then level = level + 1; i = getinfo(level, 'nSl') end
  if type(err) == 'userdata' then
    err = message(err)
    if i and i.currentline and i.currentline > 0 then
      err = i.short_src .. ':' .. i.currentline .. ': ' .. err
    end
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if i then err['source'] = i.source; err['line'] = i.currentline end
  return err
end
function __redraft_run(f) return rawxpcall(f, __redraft_handler) end
redis.pcall = function(...) return (rcall(...)) end
local function pass(ok, ...)
  if limited() then error('instruction limit', 0) end
  return ok, ...
end
local function plain(ok, ...)
  if limited() then error('instruction limit', 0) end
  if not ok then
    local e = ...
    if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then return false, rawget(e, 'err') end
    if type(e) == 'userdata' then return false, message(e) end
  end
  return ok, ...
end
pcall = function(...) return plain(rawpcall(...)) end
xpcall = function(...) return pass(rawxpcall(...)) end
__redraft_limited, __redraft_call, loadfile, dofile, debug = nil, nil, nil, nil, nil
setmetatable(_G, {
  __index = function(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = function(_, name)
    error("Attempt to modify a readonly table", 2)
  end,
})
"#;

/// A fresh state with the libraries Redis loads that mlua vendors.
fn new_state() -> mlua::Result<Lua> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
    // SAFETY: the debug library is only reachable from PRELUDE's error
    // handler, which captures `debug.getinfo`; PRELUDE removes `debug`
    // from the globals before any script runs.
    Ok(unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) })
}

/// Compiles `source` (a body after its shebang) without running it; the
/// error reply's text otherwise.
pub fn compile_check(source: &[u8]) -> Result<(), String> {
    let lua = new_state().map_err(|e| format!("ERR {e}"))?;
    compile(&lua, source).map(|_| ())
}

fn compile(lua: &Lua, source: &[u8]) -> Result<mlua::Function, String> {
    lua.load(source)
        .set_name("@user_script")
        .set_mode(ChunkMode::Text)
        .into_function()
        .map_err(|error| {
            let text = match &error {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            format!("ERR Error compiling script (new function): {text}")
        })
}

/// Runs the script; its reply frame in the caller's protocol, or an error
/// text for a failure outside the script (the state could not be made).
pub fn run(run: &mut ScriptRun<'_>) -> Result<Frame, String> {
    let shebang = super::parse_shebang(run.body)?;
    let lua = new_state().map_err(|e| format!("ERR {e}"))?;
    lua.set_memory_limit(run.memory_max)
        .map_err(|e| format!("ERR {e}"))?;
    let function = compile(&lua, &run.body[shebang.skip..])?;
    let sha = sha1_hex(run.body);
    let executed = Rc::new(Cell::new(0u64));
    let counter = executed.clone();
    let instructions_max = run.instructions_max;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_STEP),
        move |_, _| {
            counter.set(counter.get() + u64::from(HOOK_STEP));
            if counter.get() > instructions_max {
                return Err(mlua::Error::runtime("instruction limit"));
            }
            Ok(VmState::Continue)
        },
    );
    let ctx = RefCell::new(CallCtx {
        engine: run.engine,
        db: run.db,
        now_ms: run.now_ms,
        resp3: false,
        read_only: run.read_only || shebang.no_writes,
        random: Random::new(run.call.seed),
        on_write: &mut *run.on_write,
    });
    let math_random = RefCell::new(Random::new(run.call.seed ^ 0x9e37_79b9_7f4a_7c15));
    let outcome = lua.scope(|scope| {
        let globals = lua.globals();
        let redis = lua.create_table()?;
        globals.raw_set("redis", redis.clone())?;
        let limit = executed.clone();
        globals.raw_set(
            "__redraft_limited",
            lua.create_function(move |_, ()| Ok(limit.get() > instructions_max))?,
        )?;
        globals.raw_set(
            "__redraft_call",
            scope.create_function(|lua, args: MultiValue| redis_call(lua, &ctx, args))?,
        )?;
        let rcall: mlua::Function = globals.raw_get("__redraft_call")?;
        set_raising(&lua, &redis, "call", rcall)?;
        super::cjson::install(&lua)?;
        super::redis_lib::install(&lua, &redis, scope, &ctx, &math_random)?;
        lua.load(PRELUDE).set_name("@redraft_prelude").exec()?;
        set_array(&lua, "KEYS", &run.call.keys)?;
        set_array(&lua, "ARGV", &run.call.args)?;
        let runner: mlua::Function = globals.raw_get("__redraft_run")?;
        let (ok, value): (bool, Value) = runner.call(function.clone())?;
        let script_resp3 = ctx.borrow().resp3;
        let reply = Reply {
            script_resp3,
            client_resp3: run.call.resp3,
        };
        Ok(if ok {
            reply.frame(&value)
        } else {
            error_frame(&value, &sha)
        })
    });
    if executed.get() > instructions_max {
        return Ok(Frame::Error(Bytes::from(format!(
            "ERR script exceeded the limit of {instructions_max} Lua instructions, script: {sha}"
        ))));
    }
    outcome.map_err(|error| format!("ERR Error running script {sha}, {error}"))
}

/// The `redis` functions that raise Redis's error tables, each behind a
/// C function ([`raising`]) that finds its Rust body in the registry
/// under `redraft_<name>`.
const RAISING: [&std::ffi::CStr; 5] = [
    c"redraft_call",
    c"redraft_sha1hex",
    c"redraft_log",
    c"redraft_setresp",
    c"redraft_set_repl",
];

/// Sets `redis[name]` to a C function that calls `body` and raises the
/// value it returns when its second result is true (see [`raising`]).
pub fn set_raising(
    lua: &Lua,
    redis: &mlua::Table,
    name: &str,
    body: mlua::Function,
) -> mlua::Result<()> {
    let key = format!("redraft_{name}");
    let index = RAISING
        .iter()
        .position(|known| known.to_bytes() == key.as_bytes())
        .expect("a raising helper is listed in RAISING");
    lua.set_named_registry_value(&key, body)?;
    let shim: mlua::ffi::lua_CFunction = match index {
        0 => raising::<0>,
        1 => raising::<1>,
        2 => raising::<2>,
        3 => raising::<3>,
        _ => raising::<4>,
    };
    // SAFETY: `raising` follows the Lua C API's stack rules (see there).
    redis.raw_set(name, unsafe { lua.create_c_function(shim)? })
}

/// A `redis` function as Redis writes them, in C: a script's `return
/// redis.call(...)` keeps the script's frame (a Lua wrapper would be
/// tail-called, and the error would lose the script's line), and an error
/// is raised as the table Redis raises. It calls its Rust body with its
/// arguments and raises the first result if the second is true; it holds
/// no Rust value that needs dropping when `lua_error` unwinds. (Other
/// Rust functions, `cjson`'s, raise mlua's error userdata; PRELUDE's
/// handler and `pcall` turn it into its message, the handler with the
/// caller's position as `luaL_error` gives it.)
unsafe extern "C-unwind" fn raising<const N: usize>(
    state: *mut mlua::ffi::lua_State,
) -> std::ffi::c_int {
    use mlua::ffi;
    let argc = ffi::lua_gettop(state);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, RAISING[N].as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, argc, 2);
    let raise = ffi::lua_toboolean(state, -1) != 0;
    ffi::lua_settop(state, -2);
    if raise {
        ffi::lua_error(state);
    }
    1
}

/// Sets global `name` to an array of `items` (past the protection).
fn set_array(lua: &Lua, name: &str, items: &[Bytes]) -> mlua::Result<()> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    lua.globals().raw_set(name, table)
}

/// Redis 7's reply for a script that raised `value` (after its error
/// handler): `-<err> script: <sha>, on <source>:<line>.`
fn error_frame(value: &Value, sha: &str) -> Frame {
    let Value::Table(table) = value else {
        // The handler did not run or could not make its table (Lua out
        // of memory): Redis's reply for an error that is no table.
        let message = match value {
            Value::String(text) => text.to_string_lossy(),
            Value::Error(error) => error.to_string(),
            _ => "execution failure".to_string(),
        };
        let message: String = message.chars().take(100).collect();
        return Frame::Error(Bytes::from(
            format!("ERR Error running script {sha}, {message}").replace(['\r', '\n'], " "),
        ));
    };
    let message = match table.raw_get::<Value>("err") {
        Ok(Value::String(text)) => text.to_string_lossy(),
        _ => "execution failure".to_string(),
    };
    let mut text = message.replace(['\r', '\n'], " ");
    let source = table.raw_get::<Option<String>>("source").ok().flatten();
    let line = table.raw_get::<Option<i64>>("line").ok().flatten();
    if let (Some(source), Some(line)) = (source, line) {
        text.push_str(&format!(" script: {sha}, on {source}:{line}."));
    }
    Frame::Error(Bytes::from(text))
}

/// `redis.call`'s and `redis.pcall`'s body: the reply as a Lua value, and
/// whether `redis.call` should raise it (an error).
fn redis_call(
    lua: &Lua,
    ctx: &RefCell<CallCtx<'_>>,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    let error = |text: &str| -> mlua::Result<(Value, bool)> {
        let table = lua.create_table()?;
        table.raw_set("err", text)?;
        Ok((Value::Table(table), true))
    };
    if args.is_empty() {
        return error("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in args.iter() {
        match arg {
            Value::String(text) => argv.push(Bytes::copy_from_slice(&text.as_bytes())),
            Value::Integer(n) => argv.push(Bytes::from(format_number(*n as f64))),
            Value::Number(n) => argv.push(Bytes::from(format_number(*n))),
            _ => return error("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let reply = call::run(&mut ctx.borrow_mut(), &argv);
    let encoded = match reply {
        Ok(encoded) => encoded,
        Err(text) => return error(&text),
    };
    let frame = match decode_frame(&encoded) {
        Ok(Some((frame, _))) => frame,
        _ => return Err(mlua::Error::runtime("a command's reply did not decode")),
    };
    let raise = matches!(frame, Frame::Error(_) | Frame::BulkError(_));
    Ok((frame_to_lua(lua, frame)?, raise))
}

/// A Lua number as Redis passes it to a command: C's `%.17g`.
pub fn format_number(n: f64) -> String {
    format_g(n, 17)
}

/// C's `%.<precision>g` of a finite `n`.
pub fn format_g(n: f64, precision: usize) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let text = format!("{n:.*e}", precision - 1);
    let (mantissa, exponent) = text.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("an exponent");
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_fraction(&format!("{n:.decimals$}")).to_string()
}

/// `text` without the trailing zeros of its fraction (and a bare point).
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ScriptCall, Source};
    use redraft_engine::Engine;

    /// Runs `body` on `engine` with an instruction limit of `limit`.
    fn run_limited(engine: &Engine, body: &str, limit: u64) -> Frame {
        run_bounded(engine, body, limit, 64 << 20)
    }

    /// Runs `body` with both limits given.
    fn run_bounded(engine: &Engine, body: &str, limit: u64, memory_max: usize) -> Frame {
        let call = ScriptCall {
            source: Source::Body(Bytes::copy_from_slice(body.as_bytes())),
            keys: Vec::new(),
            args: Vec::new(),
            resp3: false,
            seed: 1,
            read_only: false,
        };
        let mut on_write = |_: usize, _: &redraft_engine::WriteOp| {};
        run(&mut ScriptRun {
            engine,
            db: 0,
            body: body.as_bytes(),
            call: &call,
            now_ms: 1,
            read_only: false,
            on_write: &mut on_write,
            instructions_max: limit,
            memory_max,
        })
        .unwrap()
    }

    fn is_limit_error(frame: &Frame) -> bool {
        matches!(frame, Frame::Error(text) if text.starts_with(b"ERR script exceeded the limit of 100000 Lua instructions"))
    }

    #[test]
    fn a_script_stops_at_the_instruction_limit_and_keeps_its_writes() {
        let engine = Engine::new();
        let looping = "redis.call('set', 'before', '1') while true do end";
        assert!(is_limit_error(&run_limited(&engine, looping, 100_000)));
        let mut out = bytes::BytesMut::new();
        let mut writer = crate::resp::ReplyWriter::new(&mut out, false);
        let query = redraft_engine::Query::Get {
            key: Bytes::from_static(b"before"),
        };
        engine.query(0, &query, 1, &mut writer);
        assert_eq!(&out[..], b"$1\r\n1\r\n", "the write before the limit stays");
    }

    #[test]
    fn a_script_stops_at_the_memory_limit() {
        let engine = Engine::new();
        let body =
            "local t = {} for i = 1, 100 do t[i] = string.rep('x', 16 * 1024 * 1024) .. i end";
        let frame = run_limited(&engine, body, u64::MAX);
        assert!(
            matches!(&frame, Frame::Error(text)
                if text.starts_with(b"ERR Error running script ")
                    && text.windows(6).any(|w| w == b"memory")),
            "{frame:?}"
        );
    }

    #[test]
    fn pcall_cannot_swallow_the_instruction_limit() {
        let engine = Engine::new();
        for body in [
            "while true do pcall(function() while true do end end) end",
            "while true do xpcall(function() while true do end end, function() end) end",
            "while true do pcall(error, 'x') end",
        ] {
            assert!(
                is_limit_error(&run_limited(&engine, body, 100_000)),
                "{body}"
            );
        }
        let quick = run_limited(
            &engine,
            "local n = 0 for i = 1, 1000 do n = n + i end return n",
            100_000,
        );
        assert_eq!(quick, Frame::Integer(500_500));
    }

    #[test]
    fn numbers_format_as_c_does_with_17_digits() {
        for (n, text) in [
            (3.0, "3"),
            (-12.0, "-12"),
            (0.5, "0.5"),
            (2.2, "2.2000000000000002"),
            (1e20, "1e+20"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
        ] {
            assert_eq!(format_number(n), text);
        }
        for (n, text) in [
            (0.1, "0.1"),
            (1.0 / 3.0, "0.33333333333333"),
            (1e15, "1e+15"),
        ] {
            assert_eq!(format_g(n, 14), text);
        }
    }
}
