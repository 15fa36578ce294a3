//! A literal inside a regex, for both renderers: Envoy's regexes are RE2 (route rewrites, the
//! method and `:authority` matches), nginx's are PCRE (`rewrite`). The two agree on what needs a
//! backslash to stand for itself: the metacharacters `\ . + * ? ( ) | [ ] { } ^ $`. Nothing else
//! gets one, because both take a backslash before a letter or a digit as a class, an escape or
//! a back-reference, and RE2 refuses one before a non-ASCII character. What the nginx config
//! language makes of the result (spaces, `;`, quotes) is the nginx renderer's business: it
//! quotes the whole pattern.

/// `s` as a regex that matches exactly `s`, in RE2 and in PCRE.
pub fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::hir::HirKind;

    /// The bytes a pattern matches, when it matches one string only (regex-syntax reads RE2's
    /// syntax).
    fn literal_of(pattern: &str) -> Option<Vec<u8>> {
        let hir = regex_syntax::parse(pattern).ok()?;
        match hir.kind() {
            HirKind::Literal(l) => Some(l.0.to_vec()),
            HirKind::Empty => Some(Vec::new()),
            _ => None,
        }
    }

    #[test]
    fn every_metacharacter_is_escaped_and_nothing_else() {
        assert_eq!(
            regex_literal(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o"),
            r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o"
        );
        assert_eq!(regex_literal("/v1/my-api_2:8080"), "/v1/my-api_2:8080");
        assert_eq!(regex_literal("[::1]:6379"), r"\[::1\]:6379");
        assert_eq!(regex_literal("/café space"), "/café space");
    }

    #[test]
    fn the_result_matches_exactly_its_input() {
        let every_ascii_punctuation: String = (b'!'..=b'~')
            .map(char::from)
            .filter(|c| !c.is_ascii_alphanumeric())
            .collect();
        for s in [
            "",
            "/",
            "/api/v1",
            "/a.b/c+d",
            "/x(y)|z",
            "127.0.0.1:7000",
            "[fd00::1]:7000",
            "/ünïcode/路径",
            "/with space/and\ttab",
            &every_ascii_punctuation,
        ] {
            assert_eq!(
                literal_of(&regex_literal(s)),
                Some(s.as_bytes().to_vec()),
                "{s:?} as {:?}",
                regex_literal(s)
            );
        }
    }
}
