//! Property tests of the lossless model.

use envsync::envfile::EnvFile;
use proptest::prelude::*;

fn env_like() -> impl Strategy<Value = Vec<u8>> {
    // Lines built from the pieces that matter, joined by LF or CRLF, plus arbitrary bytes.
    let piece = prop_oneof![
        Just(b"KEY".to_vec()),
        Just(b"export ".to_vec()),
        Just(b"=".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"`".to_vec()),
        Just(b"#".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"<<<<<<< ".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(vec![0u8]),
        Just(vec![0xff]),
        "[a-zA-Z0-9_.]{1,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn render_of_parse_is_identity_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(EnvFile::parse(&bytes).render(), bytes);
    }

    #[test]
    fn render_of_parse_is_identity_on_env_like_input(bytes in env_like()) {
        prop_assert_eq!(EnvFile::parse(&bytes).render(), bytes);
    }

    #[test]
    fn decoders_never_panic(bytes in env_like()) {
        for d in envsync::dialect::Dialect::ALL {
            let _ = d.decode(&bytes, &|_| None);
        }
    }
}
