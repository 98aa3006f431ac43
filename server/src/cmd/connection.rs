//! Connection commands: QUIT, HELLO, AUTH, SELECT, CLIENT, RESET.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use redraft_engine::int_arg::{CLIENT_ID, PROTOCOL_VERSION};
use redraft_engine::{Error, ReplySink};

use super::args::{is, Args};
use super::flags::{ADMIN, FAST, LOADING, NOSCRIPT, NO_AUTH, STALE};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        flags,
        (0, 0, 0),
        handler,
        "connection",
        summary,
    )
}

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "client|setname",
        3,
        NOSCRIPT | LOADING | STALE,
        client_setname,
        "Sets the connection name.",
    ),
    spec(
        "client|getname",
        2,
        NOSCRIPT | LOADING | STALE,
        client_getname,
        "Returns the name of the connection.",
    ),
    spec(
        "client|id",
        2,
        NOSCRIPT | LOADING | STALE,
        client_id,
        "Returns the unique client ID of the connection.",
    ),
    spec(
        "client|list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        client_list,
        "Lists open connections.",
    ),
    spec(
        "client|info",
        2,
        NOSCRIPT | LOADING | STALE,
        client_info,
        "Returns information about the connection.",
    ),
    spec(
        "client|setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        client_setinfo,
        "Sets information specific to the client or connection.",
    ),
    spec(
        "client|help",
        2,
        LOADING | STALE,
        client_help,
        "Returns helpful text about the different subcommands.",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "quit",
        -1,
        NO_AUTH | FAST | LOADING | STALE,
        quit,
        "Closes the connection.",
    ),
    spec(
        "hello",
        -1,
        NO_AUTH | FAST | NOSCRIPT | LOADING | STALE,
        hello,
        "Handshakes with the Redis server.",
    ),
    spec(
        "auth",
        -2,
        NO_AUTH | FAST | NOSCRIPT | LOADING | STALE,
        auth,
        "Authenticates the connection.",
    ),
    spec(
        "select",
        2,
        FAST | LOADING | STALE,
        select,
        "Changes the selected database.",
    ),
    spec(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        reset,
        "Reset the connection",
    )
    .since("6.2.0"),
    spec(
        "client",
        -2,
        0,
        client,
        "A container for client connection commands.",
    )
    .with_subcommands(CLIENT_SUBCOMMANDS),
];

fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.ok();
    Action::Close
}

/// `RESET`: the connection as a new one would be, as Redis 7.0's
/// `clearClientConnectionState` leaves it: out of `MULTI` with nothing
/// watched, subscribed to nothing (silently), no longer a monitor, on
/// database 0, RESP2, unnamed, unauthenticated if a password is set, and
/// with the node's read consistency (no `READONLY` or `CONSISTENCY`).
/// It runs even inside `MULTI` (`multi::controls_multi`) and in RESP2's
/// subscribed mode, and asks nothing of apply: it only drops this
/// connection's own state.
fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    if ctx.client.monitoring {
        ctx.shared.diag.monitors.remove(ctx.client.info.id);
        ctx.client.monitoring = false;
    }
    ctx.client.set_db(0);
    ctx.client.set_resp3(false);
    ctx.client.authenticated = ctx.shared.runtime.read().requirepass.is_none();
    ctx.client.multi = None;
    ctx.client.watches.clear();
    super::pubsub::leave_all(ctx);
    *ctx.client.info.name.lock() = None;
    ctx.client.consistency = None;
    ctx.out.set_resp3(false);
    ctx.out.simple("RESET");
    Action::Replied
}

/// Checks a password against `requirepass`. `Err` holds Redis's reply.
fn check_password(ctx: &Ctx<'_>, user: Option<&[u8]>, password: &[u8]) -> Result<(), &'static str> {
    let runtime = ctx.shared.runtime.read();
    let user_ok = user.is_none_or(|user| user == b"default");
    match &runtime.requirepass {
        None if user.is_none() => Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
        None if user_ok => Ok(()),
        Some(expected) if user_ok && expected.as_bytes() == password => Ok(()),
        _ => Err("WRONGPASS invalid username-password pair or user is disabled."),
    }
}

fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let result = match args {
        [password] => check_password(ctx, None, password),
        [user, password] => check_password(ctx, Some(user), password),
        _ => return ctx.fail(Error::Syntax),
    };
    match result {
        Ok(()) => {
            ctx.client.authenticated = true;
            ctx.out.ok();
        }
        Err(text) => ctx.out.error_text(text),
    }
    Action::Replied
}

fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut rest = Args::new(args);
    let mut resp3 = ctx.client.resp3;
    if let Some(version) = rest.next_opt() {
        match PROTOCOL_VERSION.parse(version) {
            Ok(2) => resp3 = false,
            Ok(3) => resp3 = true,
            Ok(_) => {
                ctx.out.error_text("NOPROTO unsupported protocol version");
                return Action::Replied;
            }
            Err(error) => return ctx.fail(error),
        }
    }
    let mut name = None;
    while let Some(opt) = rest.next_opt() {
        if is(opt, "auth") && rest.remaining() >= 2 {
            let (user, password) = (
                rest.next_opt().expect("counted"),
                rest.next_opt().expect("counted"),
            );
            if let Err(text) = check_password(ctx, Some(user), password) {
                ctx.out.error_text(text);
                return Action::Replied;
            }
            ctx.client.authenticated = true;
        } else if is(opt, "setname") && rest.remaining() >= 1 {
            let value = rest.next_opt().expect("counted");
            if let Err(text) = validate_name(value) {
                ctx.out.error_text(text);
                return Action::Replied;
            }
            name = Some(value.clone());
        } else {
            ctx.out.error_text(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            ));
            return Action::Replied;
        }
    }
    if !ctx.client.authenticated {
        ctx.out.error_text("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return Action::Replied;
    }
    if let Some(name) = name {
        set_name(ctx, &name);
    }
    ctx.client.set_resp3(resp3);
    ctx.out.set_resp3(resp3);
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(crate::info::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(if resp3 { 3 } else { 2 });
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.info.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out.bulk(crate::info::redis_mode(ctx.shared).as_bytes());
    // Redis's replica says `replica`: here, a node that does not lead
    // (it redirects writes, as a replica refuses them).
    let leads = ctx.shared.raft.role() == crate::raft::status::Role::Leader;
    ctx.out.bulk(b"role");
    ctx.out.bulk(if leads { b"master" } else { b"replica" });
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
    Action::Replied
}

fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match super::keys::parse_db(&args[0]) {
        Ok(db) => {
            ctx.client.set_db(db);
            ctx.out.ok();
            Action::Replied
        }
        Err(error) => ctx.fail(error),
    }
}

fn client(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"client").expect("client is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// Redis accepts client names of printable ASCII without spaces.
fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().all(|&byte| (b'!'..=b'~').contains(&byte)) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    }
}

fn set_name(ctx: &mut Ctx<'_>, name: &[u8]) {
    let name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    *ctx.client.info.name.lock() = name;
}

fn client_setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if let Err(text) = validate_name(&args[0]) {
        ctx.out.error_text(text);
        return Action::Replied;
    }
    set_name(ctx, &args[0]);
    ctx.out.ok();
    Action::Replied
}

fn client_getname(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let name = ctx.client.info.name.lock().clone();
    match name {
        Some(name) => ctx.out.bulk(name.as_bytes()),
        None => ctx.out.nil(),
    }
    Action::Replied
}

fn client_id(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.int(ctx.client.info.id as i64);
    Action::Replied
}

/// The name of a client's last command, for `cmd=` in CLIENT LIST.
fn last_command_name(address: usize) -> &'static str {
    super::name_by_address(address).unwrap_or("NULL")
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`, parsed as Redis 7.0 does:
/// `TYPE` takes exactly one type, `ID` one or more integers (any, even
/// non-positive ones, which match no client), listed in the order given.
fn client_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let clients = ctx.shared.clients.list();
    let listed: Vec<&_> = match args {
        [] => clients.iter().collect(),
        [option, kind] if is(option, "type") => {
            if ["normal", "pubsub"].iter().any(|name| is(kind, name)) {
                clients
                    .iter()
                    .filter(|info| is(kind, info.figures.read().kind()))
                    .collect()
            } else if ["master", "replica", "slave"]
                .iter()
                .any(|name| is(kind, name))
            {
                Vec::new()
            } else {
                ctx.out.error_text(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(kind)
                ));
                return Action::Replied;
            }
        }
        [option, ids @ ..] if is(option, "id") && !ids.is_empty() => {
            let mut listed = Vec::with_capacity(ids.len());
            for text in ids {
                let id = match CLIENT_ID.parse(text) {
                    Ok(id) => id,
                    Err(error) => return ctx.fail(error),
                };
                listed.extend(clients.iter().find(|info| i64::try_from(info.id) == Ok(id)));
            }
            listed
        }
        _ => return ctx.fail(Error::Syntax),
    };
    let now = Instant::now();
    let mut text = String::new();
    for info in listed {
        text.push_str(&info.render(
            now,
            last_command_name(info.last_command.load(Ordering::Relaxed)),
        ));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Action::Replied
}

fn client_info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let info = &ctx.client.info;
    let mut text = info.render(
        Instant::now(),
        last_command_name(info.last_command.load(Ordering::Relaxed)),
    );
    text.push('\n');
    ctx.out.verbatim("txt", text.as_bytes());
    Action::Replied
}

fn client_setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let value = &args[1];
    if !value.iter().all(|&byte| (b'!'..=b'~').contains(&byte)) {
        ctx.out.error_text(&format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        ));
        return Action::Replied;
    }
    let text = (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
    if is(&args[0], "lib-name") {
        *ctx.client.info.lib_name.lock() = text;
    } else if is(&args[0], "lib-ver") {
        *ctx.client.info.lib_ver.lock() = text;
    } else {
        ctx.out.error_text(&format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&args[0])
        ));
        return Action::Replied;
    }
    ctx.out.ok();
    Action::Replied
}

fn client_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "    * ID <client-id> [<client-id> ...]",
            "      Return clients of specified IDs only.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    )
}
