use super::*;
use crate::resp::ServerErrorKind;
use proptest::prelude::*;

#[test]
fn n_commands_give_exactly_n_replies() {
    let body = b"+OK\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n-NOSCRIPT No matching script.\r\n";
    let r = decode_replies(body, 6).unwrap();
    assert_eq!(r[0], Reply::Status("OK".into()));
    assert_eq!(r[1], Reply::Int(42));
    assert_eq!(r[2], Reply::Bulk(b"abc".to_vec()));
    assert_eq!(r[3], Reply::Nil);
    assert_eq!(r[4], Reply::Array(vec![Reply::Int(1), Reply::Bulk(vec![])]));
    assert_eq!(r[5].error().unwrap().kind, ServerErrorKind::NoScript);
}

#[test]
fn fewer_replies_than_commands_is_truncated() {
    let e = decode_replies(b"+OK\r\n:1\r\n", 3).unwrap_err();
    assert!(matches!(e, RedisError::Protocol(m) if m.contains("truncated: 2 of 3")));
    assert!(decode_replies(b"$10\r\nabc", 1).is_err());
}

#[test]
fn extra_bytes_are_refused() {
    let e = decode_replies(b"+OK\r\n+OK\r\n", 1).unwrap_err();
    assert!(matches!(e, RedisError::Protocol(m) if m.contains("unexpected bytes")));
}

#[test]
fn binary_bulk_round_trips() {
    let cmd = Command::new("ECHO").arg(&b"\r\n\0\xff"[..]);
    let enc = encode_pipeline([&cmd, &cmd]);
    assert!(enc.starts_with(b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\0\xff\r\n*2"));
    let r = decode_replies(b"$4\r\n\r\n\0\xff\r\n", 1).unwrap();
    assert_eq!(r[0].as_bytes(), Some(&b"\r\n\0\xff"[..]));
}

#[test]
fn an_http_body_is_a_protocol_error() {
    assert!(decode_replies(b"<html>502 Bad Gateway</html>", 1).is_err());
    assert!(decode_replies(b"", 1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), n in 0usize..6) {
        let _ = decode_replies(&bytes, n);
    }

    #[test]
    fn resp_shaped_garbage_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b":".to_vec()),
                Just(b"+".to_vec()), Just(b"-".to_vec()), Just(b"\r\n".to_vec()),
                Just(b"-1".to_vec()), Just(b"3".to_vec()), Just(b"99999999999999999999".to_vec()),
                Just(b"MOVED 1 a:1".to_vec()), proptest::collection::vec(any::<u8>(), 0..4),
            ],
            0..40,
        ),
        n in 0usize..6,
    ) {
        let _ = decode_replies(&parts.concat(), n);
    }

    #[test]
    fn every_prefix_of_a_valid_pipeline_is_an_error_not_a_panic(cut in 0usize..60) {
        let body = b"+OK\r\n*2\r\n$3\r\nabc\r\n:7\r\n-ERR x\r\n$-1\r\n";
        let cut = cut.min(body.len() - 1);
        prop_assert!(decode_replies(&body[..cut], 4).is_err());
        prop_assert!(decode_replies(body, 4).is_ok());
    }
}

#[test]
fn split_frames_counts_whole_frames_and_keeps_the_rest() {
    let (frames, rest) = split_frames(b"*1\r\n$4\r\nPING\r\n+OK\r\n:1").unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(rest, b":1");
}
