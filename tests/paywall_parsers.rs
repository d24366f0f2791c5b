//! Nothing a client sends can crash the paywall's parsers: random and mutated µRaiden headers and
//! x402 payloads are read as a payment or refused as malformed, never a panic; well-formed ones
//! round-trip.

use alloy_primitives::{Address, Bytes, aliases::U192};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use uraiden::protocol::{Payment, Protocol, rdn, x402};

fn header_names() -> impl Strategy<Value = &'static str> {
    prop::sample::select(rdn::PAYMENT_HEADERS.iter().copied().chain([x402::PAYMENT_SIGNATURE]).collect::<Vec<_>>())
}

fn values() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[0-9]{0,70}".prop_map(String::into_bytes),
        "(0x)?[0-9a-fA-F]{0,140}".prop_map(String::into_bytes),
        "[A-Za-z0-9+/=]{0,400}".prop_map(String::into_bytes),
    ]
}

fn requirements(contract: Address) -> x402::PaymentRequirements {
    x402::PaymentRequirements {
        scheme: x402::SCHEME.into(),
        network: x402::network(31337),
        amount: "3".into(),
        asset: Address::repeat_byte(2),
        pay_to: Address::repeat_byte(3),
        max_timeout_seconds: 300,
        extra: x402::ChannelExtra {
            name: "RaidenMicroTransferChannels".into(),
            version: "1".into(),
            verifying_contract: contract,
            challenge_period: 10,
            confirmations: 5,
            channel: None,
            session: None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_headers_never_panic(headers in prop::collection::vec((header_names(), values()), 0..8)) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        let _ = Payment::from_headers(&map);
    }

    #[test]
    fn json_mutations_never_panic(json in prop_oneof![
        Just(serde_json::json!({})),
        Just(serde_json::json!({"x402Version": 2})),
        Just(serde_json::json!({"x402Version": 2, "accepted": {}, "payload": {}})),
        any::<i64>().prop_map(|n| serde_json::json!({"x402Version": n, "payload": {"openBlockNumber": n}})),
        ".{0,50}".prop_map(|s| serde_json::json!({"x402Version": 2, "payload": {"balance": s, "signature": s}})),
    ]) {
        let mut map = HeaderMap::new();
        map.insert(x402::PAYMENT_SIGNATURE, STANDARD.encode(json.to_string()).parse().unwrap());
        prop_assert!(Payment::from_headers(&map).is_err());
    }

    #[test]
    fn well_formed_payments_round_trip(
        sender in any::<[u8; 20]>(),
        contract in any::<[u8; 20]>(),
        open_block in any::<u32>(),
        balance in any::<[u8; 24]>(),
        signature in any::<[u8; 65]>(),
    ) {
        let (sender, contract) = (Address::from(sender), Address::from(contract));
        let balance = U192::from_be_bytes(balance);
        let signature = Bytes::copy_from_slice(&signature);
        let mut map = HeaderMap::new();
        map.insert(rdn::CONTRACT_ADDRESS, contract.to_string().parse().unwrap());
        map.insert(rdn::SENDER_ADDRESS, sender.to_string().parse().unwrap());
        map.insert(rdn::OPEN_BLOCK, open_block.to_string().parse().unwrap());
        map.insert(rdn::BALANCE, balance.to_string().parse().unwrap());
        map.insert(rdn::BALANCE_SIGNATURE, signature.to_string().parse().unwrap());
        let payment = Payment::from_headers(&map).unwrap().unwrap();
        prop_assert_eq!(payment.protocol, Protocol::Rdn);
        prop_assert_eq!((payment.sender, payment.contract, payment.open_block, payment.balance), (sender, Some(contract), open_block, balance));
        prop_assert_eq!(&payment.balance_signature, &signature);

        let payload = x402::PaymentPayload {
            x402_version: 2,
            accepted: requirements(contract),
            payload: x402::ChannelPayload {
                sender,
                open_block_number: open_block,
                balance: balance.to_string(),
                signature: signature.to_string(),
                session_requests: None,
            },
        };
        let mut map = HeaderMap::new();
        map.insert(x402::PAYMENT_SIGNATURE, x402::encode_header(&payload));
        let payment = Payment::from_headers(&map).unwrap().unwrap();
        prop_assert_eq!(payment.protocol, Protocol::X402);
        prop_assert_eq!((payment.sender, payment.contract, payment.open_block, payment.balance), (sender, Some(contract), open_block, balance));
        prop_assert_eq!(&payment.balance_signature, &signature);
    }
}

#[test]
fn malformed_values_name_their_header() {
    let good = |map: &mut HeaderMap| {
        map.insert(rdn::SENDER_ADDRESS, Address::repeat_byte(1).to_string().parse().unwrap());
        map.insert(rdn::OPEN_BLOCK, "7".parse().unwrap());
        map.insert(rdn::BALANCE, "10".parse().unwrap());
        map.insert(rdn::BALANCE_SIGNATURE, Bytes::from(vec![1u8; 65]).to_string().parse().unwrap());
    };
    for (name, value) in [
        (rdn::SENDER_ADDRESS, "0x123"),
        (rdn::OPEN_BLOCK, "4294967296"),
        (rdn::OPEN_BLOCK, "-1"),
        (rdn::BALANCE, "0x10"),
        (rdn::BALANCE, "010"),
        (rdn::BALANCE, "6277101735386680763835789423207666416102355444464034512896"),
        (rdn::BALANCE_SIGNATURE, "0x00"),
    ] {
        let mut map = HeaderMap::new();
        good(&mut map);
        map.insert(name, value.parse().unwrap());
        let error = Payment::from_headers(&map).unwrap_err();
        assert_eq!(error.header, name, "{value}");
    }
    let mut missing = HeaderMap::new();
    good(&mut missing);
    missing.remove(rdn::BALANCE_SIGNATURE);
    assert_eq!(Payment::from_headers(&missing).unwrap_err().header, rdn::BALANCE_SIGNATURE);
    let mut twice = HeaderMap::new();
    good(&mut twice);
    twice.append(rdn::BALANCE, "11".parse().unwrap());
    assert_eq!(Payment::from_headers(&twice).unwrap_err().header, rdn::BALANCE);
    assert_eq!(Payment::from_headers(&HeaderMap::new()), Ok(None));
}

#[test]
fn every_payment_header_sent_twice_is_malformed_in_either_protocol() {
    let payload = x402::PaymentPayload {
        x402_version: 2,
        accepted: requirements(Address::repeat_byte(4)),
        payload: x402::ChannelPayload {
            sender: Address::repeat_byte(1),
            open_block_number: 7,
            balance: "10".into(),
            signature: Bytes::from(vec![1u8; 65]).to_string(),
            session_requests: None,
        },
    };
    let mut once = HeaderMap::new();
    once.insert(x402::PAYMENT_SIGNATURE, x402::encode_header(&payload));
    assert!(Payment::from_headers(&once).unwrap().is_some());
    // Twice, identical or not: which payment was meant cannot be known.
    for second in [payload.clone(), x402::PaymentPayload { x402_version: 3, ..payload.clone() }] {
        let mut twice = once.clone();
        twice.append(x402::PAYMENT_SIGNATURE, x402::encode_header(&second));
        let error = Payment::from_headers(&twice).unwrap_err();
        assert_eq!((error.header, error.reason.as_str()), (x402::PAYMENT_SIGNATURE, "sent more than once"));
    }
    for name in rdn::PAYMENT_HEADERS {
        let mut map = HeaderMap::new();
        map.insert(rdn::SENDER_ADDRESS, Address::repeat_byte(1).to_string().parse().unwrap());
        map.insert(rdn::OPEN_BLOCK, "7".parse().unwrap());
        map.insert(rdn::BALANCE, "10".parse().unwrap());
        map.insert(rdn::BALANCE_SIGNATURE, Bytes::from(vec![1u8; 65]).to_string().parse().unwrap());
        let value = map.get(name).cloned().unwrap_or_else(|| HeaderValue::from_static("10"));
        map.append(HeaderName::from_static(name), value.clone());
        map.append(HeaderName::from_static(name), value);
        let error = Payment::from_headers(&map).unwrap_err();
        assert_eq!((error.header, error.reason.as_str()), (name, "sent more than once"));
    }
}
