//! `serviceinfo/…`: ServiceInfo split into messages within a peer's limit, and values split
//! across key/values (go-fdo's habit, FDO reference §6 pitfall 9) put back together.

use serde_json::{Value, json};
use vouch_protocol::ErrorCode;
use vouch_protocol::cbor::{Cbor, Encoder};
use vouch_protocol::serviceinfo::{Chunker, SERVICE_INFO_OVERHEAD};
use vouch_protocol::types::{ServiceInfo, ServiceInfoKv};

use super::{Ctx, Group, R, fail, ok, peer, reference};
use crate::format::{Kind, hex_input};

const IMAGE: &str = "vouch.firmware:image";

fn kv(key: &str, value: &[u8]) -> ServiceInfoKv {
    ServiceInfoKv {
        key: key.to_string(),
        value: value.to_vec(),
    }
}

fn kv_json(kv: &ServiceInfoKv) -> Value {
    json!({ "key": kv.key, "value": hex::encode(&kv.value) })
}

fn cbor<T: Cbor>(v: &T) -> Vec<u8> {
    v.to_cbor()
}

/// `bstr` of `n` bytes of `fill`, as one CBOR item.
fn bstr_item(n: usize, fill: u8) -> Vec<u8> {
    let mut e = Encoder::new();
    e.bytes(&vec![fill; n]);
    e.into_bytes()
}

fn reassemble(messages: &[ServiceInfo]) -> Vec<(&'static str, Value)> {
    vec![
        ("op", json!("reassemble")),
        (
            "messages",
            Value::Array(messages.iter().map(|m| hex_input(&cbor(m))).collect()),
        ),
    ]
}

/// The ServiceInfo group.
pub fn group() -> R<Group> {
    let mut g = Group::new(
        "serviceinfo",
        "ServiceInfo across messages (FDO reference §2.5, §6 pitfall 9): values queued and \
         handed out within the peer's size limit, a value too long for one message cut across \
         key/values with the same key, and put back together on receipt.",
    );
    let image = bstr_item(3000, 0xf1);
    let small = vec![
        kv("devmod:active", &true.to_cbor()),
        kv("devmod:os", &String::from("Linux").to_cbor()),
        kv("devmod:arch", &String::from("aarch64").to_cbor()),
    ];
    for (name, values, limit, what) in [
        (
            "chunk-small-values",
            small.clone(),
            1300u16,
            "Three small devmod values fit one message of the default 1300 bytes.",
        ),
        (
            "chunk-value-over-three-messages",
            vec![kv(IMAGE, &image)],
            1300,
            "A 3003-byte value goes over three 1300-byte messages, cut across key/values with the same key.",
        ),
        (
            "chunk-value-small-limit",
            vec![small[0].clone(), kv(IMAGE, &image), small[1].clone()],
            500,
            "A value between two small ones, with a 500-byte limit: each message stays 8 bytes under it.",
        ),
    ] {
        let mut c = Chunker::new();
        for v in &values {
            c.push(v.clone());
        }
        let mut messages = Vec::new();
        while !c.is_empty() {
            let m = c.next_message(limit).ctx("chunk")?;
            let bytes = cbor(&m);
            if bytes.len() > usize::from(limit) - SERVICE_INFO_OVERHEAD {
                return Err(format!("{name}: a message of {} bytes", bytes.len()));
            }
            messages.push(m);
        }
        g.add(
            name,
            what,
            peer(
                "§2.5 (limits, 3 to 5 bytes of slack)",
                "go-fdo (serviceinfo/chunk.go)",
            ),
            Kind::ServiceInfo,
            vec![
                ("op", json!("chunk")),
                ("values", Value::Array(values.iter().map(kv_json).collect())),
                ("limit", json!(limit)),
            ],
            ok(vec![(
                "messages",
                Value::Array(
                    messages
                        .iter()
                        .map(|m| json!(hex::encode(cbor(m))))
                        .collect(),
                ),
            )]),
        );
        g.add(
            &format!("reassemble-{}", name.trim_start_matches("chunk-")),
            "The messages of the chunk case of the same name give back the values sent.",
            peer("§6 pitfall 9", "go-fdo"),
            Kind::ServiceInfo,
            reassemble(&messages),
            ok(vec![(
                "values",
                Value::Array(values.iter().map(kv_json).collect()),
            )]),
        );
    }
    // Cut by hand: three pieces over two messages.
    let (a, rest) = image.split_at(1000);
    let (b, c) = rest.split_at(1200);
    let split = [
        ServiceInfo(vec![small[0].clone(), kv(IMAGE, a)]),
        ServiceInfo(vec![kv(IMAGE, b), kv(IMAGE, c), small[1].clone()]),
    ];
    g.add(
        "reassemble-value-cut-in-three",
        "A value cut in three key/values over two messages, between two whole values.",
        peer("§6 pitfall 9", "go-fdo"),
        Kind::ServiceInfo,
        reassemble(&split),
        ok(vec![(
            "values",
            json!([
                kv_json(&small[0]),
                kv_json(&kv(IMAGE, &image)),
                kv_json(&small[1])
            ]),
        )]),
    );
    let body = ErrorCode::MESSAGE_BODY_ERROR;
    g.add(
        "reassemble-unfinished-then-other-key",
        "A cut value followed by another key before it is complete.",
        reference("§6 pitfall 9"),
        Kind::ServiceInfo,
        reassemble(&[ServiceInfo(vec![kv(IMAGE, a), small[1].clone()])]),
        fail(body, "invalid"),
    );
    g.add(
        "reassemble-unfinished-at-end",
        "A cut value never completed before the exchange ends.",
        reference("§6 pitfall 9"),
        Kind::ServiceInfo,
        reassemble(&[
            ServiceInfo(vec![kv(IMAGE, a)]),
            ServiceInfo(vec![kv(IMAGE, b)]),
        ]),
        fail(body, "invalid"),
    );
    g.add(
        "reassemble-malformed-value",
        "A value that is not CBOR (reserved additional information 28).",
        reference("§2.5 (ServiceInfoVal: bstr .cbor any)"),
        Kind::ServiceInfo,
        reassemble(&[ServiceInfo(vec![kv("devmod:os", &[0x1c])])]),
        fail(body, "invalid"),
    );
    g.add(
        "reassemble-empty-value",
        "An empty value, which is no CBOR item.",
        reference("§2.5 (ServiceInfoVal: bstr .cbor any)"),
        Kind::ServiceInfo,
        reassemble(&[ServiceInfo(vec![kv("devmod:os", &[])])]),
        fail(body, "invalid"),
    );
    let mut i = reassemble(&split);
    i.push(("max_buffered", json!(1500)));
    g.add(
        "reassemble-over-the-cap",
        "A cut value longer than the receiver buffers (1500 bytes here): refused before it ends.",
        reference("§6 pitfall 9"),
        Kind::ServiceInfo,
        i,
        fail(body, "invalid"),
    );
    g.add(
        "chunk-limit-too-small",
        "A limit of 20 bytes leaves no room for any value after its key.",
        reference("§2.5 (limits)"),
        Kind::ServiceInfo,
        vec![
            ("op", json!("chunk")),
            ("values", json!([kv_json(&kv(IMAGE, &image))])),
            ("limit", json!(20)),
        ],
        fail(body, "invalid"),
    );
    Ok(g)
}
