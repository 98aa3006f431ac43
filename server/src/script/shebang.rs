//! A script's shebang line (`#!lua flags=no-writes`), read as Redis 7
//! reads it: the engine must be `lua`, the only option is `flags=` with
//! Redis's flag names. The line is skipped when the script compiles, but
//! its line feed is kept so line numbers stay the user's.

/// What a script's first line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shebang {
    /// Bytes to skip before compiling (the line, without its line feed).
    pub skip: usize,
    /// The script has a shebang (it is not in EVAL compatibility mode).
    pub present: bool,
    /// `flags=no-writes`: the script may run as a read.
    pub no_writes: bool,
}

/// Redis's script flags.
const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// Reads `body`'s shebang, if any; the error reply's text (with its
/// `ERR` prefix) for one Redis refuses.
pub fn parse(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang::default());
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut shebang = Shebang {
        skip: end,
        present: true,
        no_writes: false,
    };
    for part in parts {
        let Some(flags) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for flag in flags.split(',').filter(|flag| !flag.is_empty()) {
            if !FLAGS.contains(&flag) {
                return Err(format!("ERR Unexpected flag in script shebang: {flag}"));
            }
            shebang.no_writes |= flag == "no-writes";
        }
    }
    Ok(shebang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_parse_as_redis_reads_them() {
        type Expected = Result<(usize, bool), &'static str>;
        let cases: &[(&str, Expected)] = &[
            ("return 1", Ok((0, false))),
            ("#!lua\nreturn 1", Ok((5, false))),
            ("#!lua flags=no-writes,allow-oom\nreturn 1", Ok((31, true))),
            ("#!lua flags=\nreturn 1", Ok((12, false))),
            ("#!lua", Err("ERR Invalid script shebang")),
            (
                "#!python\n",
                Err("ERR Unexpected engine in script shebang: #!python"),
            ),
            (
                "#!lua flags=bad\n",
                Err("ERR Unexpected flag in script shebang: bad"),
            ),
            ("#!lua x=1\n", Err("ERR Unknown lua shebang option: x=1")),
        ];
        for (body, expected) in cases {
            let got = parse(body.as_bytes()).map(|s| (s.skip, s.no_writes));
            assert_eq!(got, expected.map_err(String::from), "{body}");
        }
    }
}
