//! Glob-style pattern matching, exactly as Redis's `stringmatchlen`
//! (`KEYS`, `SCAN MATCH`).
//!
//! Redis's version recurses at every `*` and, since 7.0.9, stops as soon as
//! the rest of the pattern has failed from every later position (any earlier
//! `*` cannot help then). That makes it equivalent to the classic loop that
//! only ever backtracks to the most recent `*`, which is what this is: same
//! answers, no recursion, so no stack overflow on hostile patterns.
//!
//! Quirks kept on purpose, because clients see them:
//! - The empty string matches only the empty pattern (even `*` fails).
//! - An unterminated `[` class ends at the end of the pattern.
//! - A trailing `\` matches itself.
//! - Ranges compare bytes as C's signed `char`, and reversed ranges
//!   (`[z-a]`) are swapped.

/// Whether `text` matches the glob `pattern`, exactly as Redis's
/// `stringmatchlen`. `nocase` folds ASCII letters.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let mut p = 0;
    let mut s = 0;
    // (pattern index after the last `*`, text index its rest was tried at)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while pattern.get(p + 1) == Some(&b'*') {
                p += 1;
            }
            if p + 1 == pattern.len() {
                return true;
            }
            p += 1;
            star = Some((p, s));
            continue;
        }
        let step = if p < pattern.len() {
            match_one(pattern, p, text[s], nocase)
        } else {
            None
        };
        if let Some(next) = step {
            p = next;
            s += 1;
            if s < text.len() {
                continue;
            }
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
        }
        // Mismatch: retry the rest after the last `*` one byte later.
        match star {
            Some((after, tried)) if tried + 1 < text.len() => {
                star = Some((after, tried + 1));
                p = after;
                s = tried + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the single-byte token at `pattern[p]` (`?`, a class, an escape
/// or a literal; never `*`) against `byte`. Returns the index after the
/// token, or `None` on mismatch.
fn match_one(pattern: &[u8], mut p: usize, byte: u8, nocase: bool) -> Option<usize> {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, byte, nocase),
        c => {
            if c == b'\\' && pattern.len() - p >= 2 {
                p += 1;
            }
            (fold(pattern[p]) == fold(byte)).then_some(p + 1)
        }
    }
}

/// Matches a `[...]` class whose body starts at `pattern[p]`.
fn match_class(pattern: &[u8], mut p: usize, byte: u8, nocase: bool) -> Option<usize> {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    // Bytes past the end read as C's terminating NUL.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let negate = at(p) == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        let left = pattern.len().saturating_sub(p);
        if at(p) == b'\\' && left >= 2 {
            p += 1;
            if at(p) == byte {
                matched = true;
            }
        } else if at(p) == b']' {
            break;
        } else if left == 0 {
            // Unterminated: the class is the rest of the pattern.
            return (matched != negate).then_some(pattern.len());
        } else if left >= 3 && at(p + 1) == b'-' {
            // C compares signed chars here, swaps a reversed range, and
            // only then folds case.
            let signed = |c: u8| i32::from(c as i8);
            let fold_signed = |c: i32| {
                if nocase && (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
                    c + 32
                } else {
                    c
                }
            };
            let mut start = signed(at(p));
            let mut end = signed(at(p + 2));
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let (start, end) = (fold_signed(start), fold_signed(end));
            if (start..=end).contains(&fold_signed(signed(byte))) {
                matched = true;
            }
            p += 2;
        } else if fold(at(p)) == fold(byte) {
            matched = true;
        }
        p += 1;
    }
    (matched != negate).then_some(p + 1)
}
