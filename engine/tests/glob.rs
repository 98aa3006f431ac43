//! `glob_match` against Redis's `stringmatchlen`.

use redraft_engine::glob_match;

#[test]
fn hand_written_cases() {
    let cases: &[(&[u8], &[u8], bool)] = &[
        (b"*", b"anything", true),
        (b"*", b"", false),
        (b"", b"", true),
        (b"a*", b"a", true),
        (b"a*b", b"a", false),
        (b"*a*b*", b"xxaxxbxx", true),
        (b"h?llo", b"hello", true),
        (b"h?llo", b"hllo", false),
        (b"h[ae]llo", b"hallo", true),
        (b"h[^e]llo", b"hello", false),
        (b"h[^e]llo", b"hallo", true),
        (b"h[a-c]llo", b"hbllo", true),
        (b"h[c-a]llo", b"hbllo", true),
        (b"h\\*llo", b"h*llo", true),
        (b"h\\*llo", b"hello", false),
        (b"a\\", b"a\\", true),
        (b"a[b", b"ab", true),
        (b"a[\\]]b", b"a]b", true),
        (b"[]", b"]", false),
        // "a-]" is the range a..] (swapped to ]..a), and the class is
        // then unterminated.
        (b"[a-]", b"-", false),
        (b"[a-]", b"^", true),
        (b"*****a", b"a", true),
        (b"a*****", b"a", true),
    ];
    for &(pattern, text, expected) in cases {
        let shown = (
            String::from_utf8_lossy(pattern),
            String::from_utf8_lossy(text),
        );
        assert_eq!(glob_match(pattern, text, false), expected, "{shown:?}");
    }
}

#[test]
fn nocase_folds_ascii_letters_only() {
    assert!(glob_match(b"HeLLo", b"hello", true));
    assert!(!glob_match(b"HeLLo", b"hello", false));
    assert!(glob_match(b"h[A-Z]llo", b"hello", true));
    assert!(glob_match(b"[\xc3]", b"\xc3", true));
    // Redis swaps a reversed range before folding case, so [Z-a] folds to
    // the empty range z..a.
    assert!(!glob_match(b"[Z-a]", b"_", true));
    assert!(glob_match(b"[Z-a]", b"_", false));
}

#[test]
fn ranges_compare_signed_chars() {
    // As C's signed char: 0xff is -1, so [a-\xff] is -1..=97.
    assert!(glob_match(b"[a-\xff]", b"\xff", false));
    assert!(glob_match(b"[a-\xff]", b"0", false));
    assert!(!glob_match(b"[a-\xff]", b"b", false));
}

#[test]
fn long_hostile_pattern_does_not_recurse() {
    let pattern = b"*a".repeat(100_000);
    let text = vec![b'a'; 50_000];
    assert!(!glob_match(&pattern, &text, false));
}

/// Pairs drawn from 3,000 random patterns run through `KEYS` on
/// redis-server 7.0.15 over 300 random keys (all 3,000 agreed when this
/// was written).
#[test]
fn matches_redis_keys() {
    let cases: &[(&[u8], &[u8], bool)] = &[
        (b"[\\b[z", b"[", true),
        (b"[c", b"c", true),
        (b"]", b"]", true),
        (b"\\", b"\\", true),
        (b"^?", b"^]", true),
        (b"*[[\xff[", b"*b[bb\xff", true),
        (b"-*z", b"--\x80cbz", true),
        (b"*a", b"c^a", true),
        (b"-?", b"-?", true),
        (b"[Ab", b"b", true),
        (b"c*z", b"c-az", true),
        (b"[\x80", b"\x80", true),
        (b"A", b"A", true),
        (b"?-?*", b"^-\\", true),
        (b"\\z", b"z", true),
        (b"]", b"]", true),
        (b"\\^*", b"^^a\xff^", true),
        (b"?", b"A", true),
        (b"*\xff**", b"\xff", true),
        (b"[c\xff", b"c", true),
        (b"z[b\xff\\c", b"zb", true),
        (b"a[?\\*", b"a*", true),
        (b"*\\\x80*", b"^cA\x80", true),
        (b"[\xff\\*A[", b"\xff", true),
        (b"[AA\\\\bz", b"A", true),
        (b"*a[\xff\x80*", b"b-a\xff", true),
        (b"^^", b"^^", true),
        (b"\\a", b"a", true),
        (b"c*^a", b"c^a", true),
        (b"[\x80", b"\x80", true),
        (b"]?", b"]?", true),
        (b"^]", b"^]", true),
        (b"*c", b"[c", true),
        (b"]*-", b"][]-", true),
        (b"\\z", b"z", true),
        (b"]*", b"]?", true),
        (b"z?^[A-z", b"z\xff^c", true),
        (b"\x80", b"\x80", true),
        (b"a*a", b"a]\xffa", true),
        (b"[^", b"^", true),
        (b"b\x80*", b"z^", false),
        (b"\\", b"?aa", false),
        (b"Ab", b"[a", false),
        (b"\xff[", b"a^", false),
        (b"[\x80?a", b"^b^A-a", false),
        (b"bc-", b"cb]\x80^\x80", false),
        (b"z\\", b"\xff][a", false),
        (b"z\x80c]", b"\x80\xffa", false),
        (b"-", b"^]b", false),
        (b"z]*[-A", b"Ab", false),
        (b"\\A\x80z", b"\\[\x80z[", false),
        (b"]z\\b\\]A", b"[\x80*\xff", false),
        (b"\xffz", b"?A]", false),
        (b"-", b"*aabac", false),
        (b"c[\x80^", b"*??c^", false),
        (b"*[", b"*zabA", false),
        (b"^][z-\\", b"cc\x80", false),
        (b"A", b"z^]^?", false),
        (b"\xff\\]^A^^", b"^\\^-", false),
        (b"Az", b"*-^", false),
        (b"a", b"ab\xff?", false),
        (b"a^\xff]-*\\", b"cz\xff*", false),
        (b"b[\x80z?]", b"\x80^\x80", false),
        (b"a*?\xff[^?", b"[c-?", false),
        (b"\xff*", b"[A]zA", false),
        (b"Aa*", b"\\a", false),
        (b"\x80A", b"z\xff", false),
        (b"b\x80\x80bb", b"*b", false),
        (b"[ba*-", b"[]\xffc?\x80", false),
        (b"\x80", b"?\xff\x80\x80b", false),
        (b"]", b"[\x80?", false),
        (b"\\", b"?--]\xff]", false),
        (b"bc*[", b"-", false),
        (b"\\\xff\x80\x80[cA", b"^zz", false),
        (b"za\xff*-^", b"zAA[", false),
        (b"[c\xff", b"\x80\x80a?-^", false),
        (b"\\a", b"ac", false),
        (b"\x80[\x80a*", b"^a]", false),
        (b"\x80*-\\", b"?c\xffz^b", false),
        (b"\\A\x80a", b"c", false),
    ];
    for &(pattern, text, expected) in cases {
        let shown = (
            String::from_utf8_lossy(pattern),
            String::from_utf8_lossy(text),
        );
        assert_eq!(glob_match(pattern, text, false), expected, "{shown:?}");
    }
}
