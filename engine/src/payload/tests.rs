//! The payload codec: round trips of every type and encoding, and every
//! kind of damage refused with Redis's error.

use proptest::prelude::*;

use super::*;

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn list(items: &[String]) -> Value {
    Value::List(Box::new(List::from_items(items.iter().map(|i| bytes(i)))))
}

/// A set built as `SADD` builds it.
fn set(members: &[String]) -> Value {
    let mut set = Set::default();
    for member in members {
        set.insert(member.as_bytes());
    }
    Value::Set(Box::new(set))
}

/// A sorted set built as `ZADD` builds it.
fn zset(members: &[(f64, String)]) -> Value {
    let mut zset = ZSet::default();
    for (score, member) in members {
        zset.insert(*score, member.as_bytes());
    }
    Value::ZSet(zset)
}

/// A hash built as `HSET` builds it.
fn hash(pairs: &[(String, String)]) -> Value {
    let mut hash = Hash::default();
    for (field, value) in pairs {
        hash.insert(field.as_bytes(), &bytes(value));
    }
    Value::Hash(hash)
}

fn encoding(value: &Value) -> &'static str {
    match value {
        Value::Str(_) => "string",
        Value::List(list) => list.encoding(),
        Value::Hash(hash) => hash.encoding(),
        Value::Set(set) => set.encoding(),
        Value::ZSet(zset) => zset.encoding(),
        Value::Stream(stream) => stream.encoding(),
    }
}

/// Decodes what `value` encodes to and rebuilds the value.
fn round_trip(value: &Value) -> Value {
    into_value(decode(&encode(value)).expect("a payload we made decodes"))
}

/// `body` (type byte first) sealed with a good version and checksum.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    let checksum = xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

fn strings(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn every_type_and_encoding_round_trips() {
    let long = "x".repeat(100);
    let values = [
        (Value::Str(SmallBytes::from(&b"v"[..])), "string"),
        (Value::Str(SmallBytes::from(long.as_bytes())), "string"),
        (Value::Str(SmallBytes::from(&b""[..])), "string"),
        (list(&strings("", 3)), "quicklist"),
        (
            list(&[String::new(), long.clone(), "a".into(), "a".into()]),
            "quicklist",
        ),
        (set(&["5".into(), "-3".into(), "10".into()]), "intset"),
        (set(&strings("", 512)), "intset"),
        (set(&strings("", 513)), "hashtable"),
        (set(&["b".into(), "a".into(), "7".into()]), "listpack"),
        (set(&strings("m", 200)), "hashtable"),
        (set(std::slice::from_ref(&long)), "hashtable"),
        (
            zset(&[
                (1.5, "a".into()),
                (-0.0, "b".into()),
                (f64::INFINITY, "c".into()),
            ]),
            "listpack",
        ),
        (
            zset(
                &strings("m", 200)
                    .into_iter()
                    .map(|m| (1.0, m))
                    .collect::<Vec<_>>(),
            ),
            "skiplist",
        ),
        (
            hash(&[("f".into(), "v".into()), ("g".into(), String::new())]),
            "listpack",
        ),
        (
            hash(
                &strings("f", 200)
                    .into_iter()
                    .map(|f| (f.clone(), f))
                    .collect::<Vec<_>>(),
            ),
            "hashtable",
        ),
        (hash(&[("f".into(), long.clone())]), "hashtable"),
    ];
    for (value, expected_encoding) in &values {
        assert_eq!(encoding(value), *expected_encoding, "{value:?}");
        let back = round_trip(value);
        assert_eq!(&back, value);
        assert_eq!(encoding(&back), *expected_encoding);
        if !matches!(value, Value::ZSet(_)) {
            // A large sorted set's tree, built in bulk here and one insert
            // at a time by ZADD, may be shaped (and estimated) differently.
            assert_eq!(back.memory_bytes(), value.memory_bytes());
        }
    }
}

#[test]
fn a_shrunk_collection_comes_back_in_the_encoding_its_contents_call_for() {
    let Value::Set(mut large) = set(&strings("m", 200)) else {
        unreachable!()
    };
    for member in strings("m", 200).iter().skip(2) {
        large.remove(member.as_bytes());
    }
    assert_eq!(large.encoding(), "hashtable");
    let back = round_trip(&Value::Set(large.clone()));
    let Value::Set(back) = back else {
        panic!("a set comes back a set")
    };
    assert_eq!(back.encoding(), "listpack");
    let mut members: Vec<&[u8]> = back.iter().collect();
    members.sort();
    assert_eq!(members, [&b"m0"[..], b"m1"]);
}

#[test]
fn any_changed_byte_is_refused() {
    let payloads = [
        encode(&Value::Str(SmallBytes::from(&b"hello"[..]))),
        encode(&list(&strings("i", 4))),
        encode(&zset(&[(1.0, "a".into()), (2.0, "b".into())])),
    ];
    for payload in &payloads {
        for at in 0..payload.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut damaged = payload.clone();
                damaged[at] ^= flip;
                assert_eq!(
                    decode(&damaged),
                    Err(WRONG_PAYLOAD),
                    "byte {at} ^ {flip:#x}"
                );
            }
        }
        for len in 0..payload.len() {
            assert_eq!(decode(&payload[..len]), Err(WRONG_PAYLOAD), "cut to {len}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(WRONG_PAYLOAD));
    }
}

#[test]
fn redis_payloads_and_other_versions_are_refused() {
    // `DUMP k` of the string "v" on redis-server 7.0.15.
    let redis = b"\x00\x01v\n\x00\x91\x08\xce\xb2\x198\x8a\xce";
    assert_eq!(decode(redis), Err(WRONG_PAYLOAD));
    let mut other = encode(&Value::Str(SmallBytes::from(&b"v"[..])));
    let at = other.len() - 10;
    other[at] = 0x02;
    let checksum = xxh3_64(&other[..other.len() - 8]);
    let len = other.len();
    other[len - 8..].copy_from_slice(&checksum.to_le_bytes());
    assert_eq!(
        decode(&other),
        Err(WRONG_PAYLOAD),
        "a version we do not know"
    );
}

#[test]
fn a_checked_payload_must_hold_a_valid_value() {
    let string = |text: &[u8]| {
        let mut out = (text.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(text);
        out
    };
    let count = |n: u32| n.to_le_bytes().to_vec();
    let score = |s: f64| s.to_bits().to_le_bytes().to_vec();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("an unknown type", [vec![9], string(b"v")].concat()),
        ("no body", vec![STRING]),
        (
            "a short string",
            [vec![STRING], 5u32.to_le_bytes().to_vec(), b"abc".to_vec()].concat(),
        ),
        (
            "bytes after the value",
            [vec![STRING], string(b"v"), vec![0]].concat(),
        ),
        ("an empty list", [vec![LIST], count(0)].concat()),
        (
            "a list shorter than its count",
            [vec![LIST], count(2), string(b"a")].concat(),
        ),
        (
            "a huge count",
            [vec![LIST], count(u32::MAX), string(b"a")].concat(),
        ),
        ("an empty set", [vec![SET], count(0)].concat()),
        (
            "a repeated member",
            [vec![SET], count(2), string(b"a"), string(b"a")].concat(),
        ),
        ("an empty hash", [vec![HASH], count(0)].concat()),
        (
            "a repeated field",
            [
                vec![HASH],
                count(2),
                string(b"f"),
                string(b"1"),
                string(b"f"),
                string(b"2"),
            ]
            .concat(),
        ),
        (
            "a field without value",
            [vec![HASH], count(1), string(b"f")].concat(),
        ),
        ("an empty sorted set", [vec![ZSET], count(0)].concat()),
        (
            "a NaN score",
            [vec![ZSET], count(1), score(f64::NAN), string(b"a")].concat(),
        ),
        (
            "a repeated member",
            [
                vec![ZSET],
                count(2),
                score(1.0),
                string(b"a"),
                score(2.0),
                string(b"a"),
            ]
            .concat(),
        ),
    ];
    for (what, body) in bodies {
        assert_eq!(decode(&sealed(&body)), Err(BAD_FORMAT), "{what}");
    }
    // The same framing with valid contents decodes.
    let good = [
        vec![ZSET],
        count(2),
        score(2.0),
        string(b"a"),
        score(1.0),
        string(b"b"),
    ]
    .concat();
    let value = into_value(decode(&sealed(&good)).unwrap());
    assert_eq!(value, zset(&[(1.0, "b".into()), (2.0, "a".into())]));
}

/// A member that is short or long, numeric or not, so values land in every
/// encoding.
fn member() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        (-300i64..300).prop_map(|n| n.to_string()),
        "[a-c]{0,3}",
        "[a-z]{60,70}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let members = proptest::collection::vec(member(), 1..200);
    prop_oneof![
        member().prop_map(|m| Value::Str(SmallBytes::from(m.as_bytes()))),
        members.clone().prop_map(|m: Vec<String>| list(&m)),
        members.prop_map(|m: Vec<String>| set(&m)),
        proptest::collection::vec(
            ((-8i32..8).prop_map(|s| f64::from(s) / 2.0), member()),
            1..200
        )
        .prop_map(|m| zset(&m)),
        proptest::collection::vec((member(), member()), 1..200).prop_map(|p| hash(&p)),
    ]
}

proptest! {
    #[test]
    fn random_values_round_trip(value in value()) {
        let payload = encode(&value);
        let back = into_value(decode(&payload).unwrap());
        prop_assert_eq!(encoding(&back), encoding(&value));
        prop_assert_eq!(&back, &value);
        prop_assert_eq!(encode(&back), payload);
    }
}
