//! Splitting ServiceInfo into messages, and putting split values back together.
//!
//! **Sending.** [`Chunker`] holds a queue of logical key/values, each value one complete CBOR
//! item, and hands them out one message at a time ([`Chunker::next_message`]). A message fits
//! a peer's limit when its ServiceInfo array encodes to at most `limit −`
//! [`SERVICE_INFO_OVERHEAD`] bytes: that leaves room for the message framing
//! (`[IsMore, IsDone, ServiceInfo]`, 3 bytes) and for the 3 to 5 bytes of slack go-fdo keeps
//! (FDO reference §2.5), so the whole message stays a few bytes under the limit. A value that
//! would fit in a message of its own is never cut: the message is closed and the value goes
//! whole into the next one. A value too long for any message is cut across consecutive
//! key/values with the same key, filling each message, as go-fdo's `serviceinfo/chunk.go`
//! does.
//!
//! **Receiving.** [`Reassembler`] takes key/values as they arrive, across messages, and
//! concatenates the values of consecutive key/values with the same key until the bytes form
//! complete CBOR items (pitfall 9). A value that arrived whole comes out at once; CBOR items
//! are prefix-free, so a cut value is never mistaken for a complete one. Malformed CBOR is
//! refused as soon as it is seen, a value left unfinished when another key arrives (or when
//! the exchange ends) is refused, and so is a value that would buffer more than the cap.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::{DecodeError, Found};
use crate::types::{ServiceInfo, ServiceInfoKv};

/// Bytes kept free below a peer's ServiceInfo size limit: 3 bytes of message framing
/// (`[IsMore, IsDone, ServiceInfo]`) plus 5 bytes of slack, go-fdo's largest allowance.
pub const SERVICE_INFO_OVERHEAD: usize = 8;

/// The default cap on the bytes a [`Reassembler`] buffers for one unfinished value.
pub const DEFAULT_MAX_BUFFERED: usize = 64 * 1024;

/// Length of a CBOR head with argument `n`.
fn head_len(n: usize) -> usize {
    match n {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Encoded length of `[key, bstr(value_len)]` without the value bytes themselves.
fn kv_framing(key: &str, value_len: usize) -> usize {
    1 + head_len(key.len()) + key.len() + head_len(value_len)
}

/// The largest `n` with `head_len(n) + n <= room`.
fn largest_chunk(room: usize) -> usize {
    let mut n = room.saturating_sub(1);
    while n > 0 && head_len(n) + n > room {
        n -= 1;
    }
    n
}

/// A queue of logical key/values to send, handed out one size-limited message at a time.
///
/// It encodes to CBOR (`[* [key, bstr value-still-to-send]]`) so an owner can store it between
/// requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunker {
    queue: VecDeque<ServiceInfoKv>,
}

impl Chunker {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a logical key/value; `value` should be one complete CBOR item.
    pub fn push(&mut self, kv: ServiceInfoKv) {
        self.queue.push_back(kv);
    }

    /// True when nothing is left to send.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes of value still to send.
    pub fn pending_bytes(&self) -> usize {
        self.queue.iter().map(|kv| kv.value.len()).sum()
    }

    /// The next message's ServiceInfo, for a peer that accepts ServiceInfo messages of `limit`
    /// bytes (see the [module documentation](self) for the accounting). Empty when the queue
    /// is.
    ///
    /// Fails with [`Error::Invalid`] when `limit` leaves no room for even one byte of the next
    /// value after its key.
    pub fn next_message(&mut self, limit: u16) -> Result<ServiceInfo, Error> {
        let budget = usize::from(limit).saturating_sub(SERVICE_INFO_OVERHEAD);
        let mut out: Vec<ServiceInfoKv> = Vec::new();
        let mut used = 0usize; // encoded bytes of the key/values in `out`
        while let Some(front) = self.queue.front_mut() {
            let framing_whole = kv_framing(&front.key, front.value.len());
            let whole = framing_whole + front.value.len();
            let head = head_len(out.len() + 1);
            let room = budget.saturating_sub(head + used);
            if whole <= room {
                used += whole;
                if let Some(kv) = self.queue.pop_front() {
                    out.push(kv);
                }
                continue;
            }
            // Keep a value whole when a message of its own would hold it.
            if !out.is_empty() && whole + head_len(1) <= budget {
                break;
            }
            // Cut: as many bytes as fit after the key.
            let fixed = 1 + head_len(front.key.len()) + front.key.len();
            let n = largest_chunk(room.saturating_sub(fixed));
            if n == 0 {
                if out.is_empty() {
                    return Err(Error::invalid(
                        "ServiceInfo size limit",
                        alloc::format!(
                            "{limit} bytes leave no room for a value after the key {:?}",
                            front.key
                        ),
                    ));
                }
                break;
            }
            let rest = front.value.split_off(n);
            let chunk = core::mem::replace(&mut front.value, rest);
            out.push(ServiceInfoKv {
                key: front.key.clone(),
                value: chunk,
            });
            break;
        }
        Ok(ServiceInfo(out))
    }
}

impl Cbor for Chunker {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        let kvs: Vec<ServiceInfoKv> = crate::cbor::decode_array(d, "ServiceInfo send queue")?;
        Ok(Self { queue: kvs.into() })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(self.queue.len());
        for kv in &self.queue {
            kv.encode(e);
        }
    }
}

/// Puts values cut across consecutive same-key key/values back together (pitfall 9).
///
/// It encodes to CBOR (`[key / null, bstr buffered, max_buffered]`) so an owner can store it
/// between requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembler {
    pending: Option<(String, Vec<u8>)>,
    max_buffered: usize,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BUFFERED)
    }
}

impl Reassembler {
    /// A reassembler that refuses to buffer more than `max_buffered` bytes of one value.
    pub fn new(max_buffered: usize) -> Self {
        Self {
            pending: None,
            max_buffered,
        }
    }

    /// True when no value is half received.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Takes one received key/value; returns the logical key/values it completes, each value
    /// one complete CBOR item (none while a cut value is still incomplete).
    pub fn push(&mut self, kv: ServiceInfoKv) -> Result<Vec<ServiceInfoKv>, Error> {
        let (key, buf) = match self.pending.take() {
            Some((key, mut buf)) if key == kv.key => {
                buf.extend_from_slice(&kv.value);
                (key, buf)
            }
            Some((key, _)) => return Err(unfinished(&key, Some(&kv.key))),
            None => (kv.key, kv.value),
        };
        if buf.is_empty() {
            return Err(Error::invalid(
                "ServiceInfo value",
                alloc::format!("{key}: an empty value is not a CBOR item"),
            ));
        }
        if buf.len() > self.max_buffered {
            return Err(Error::invalid(
                "ServiceInfo value",
                alloc::format!(
                    "{key}: more than {} bytes without a complete CBOR item",
                    self.max_buffered
                ),
            ));
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            let mut d = Decoder::new(&buf[start..]);
            match d.item("ServiceInfo value (CBOR item)") {
                Ok(item) => {
                    out.push(ServiceInfoKv {
                        key: key.clone(),
                        value: item.to_vec(),
                    });
                    start += item.len();
                }
                // The bytes end inside an item: wait for the next key/value.
                Err(Error::Decode(DecodeError {
                    found: Found::End, ..
                })) => break,
                Err(e) => {
                    return Err(Error::invalid(
                        "ServiceInfo value",
                        alloc::format!("{key}: {e}"),
                    ));
                }
            }
        }
        if start < buf.len() {
            let rest = buf.get(start..).unwrap_or_default().to_vec();
            self.pending = Some((key, rest));
        }
        Ok(out)
    }

    /// Fails when a cut value was never completed; call it when the exchange ends.
    pub fn finish(&self) -> Result<(), Error> {
        match &self.pending {
            None => Ok(()),
            Some((key, _)) => Err(unfinished(key, None)),
        }
    }
}

fn unfinished(key: &str, next: Option<&str>) -> Error {
    let why = match next {
        Some(next) => alloc::format!("the value of {key} is incomplete when {next} arrives"),
        None => alloc::format!("the value of {key} is incomplete at the end of ServiceInfo"),
    };
    Error::invalid("ServiceInfo value", why)
}

impl Cbor for Reassembler {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(3, "ServiceInfo reassembly state [key, buffered, max]")?;
        let key = if d.try_null() {
            None
        } else {
            Some(d.text("pending ServiceInfo key")?.to_string())
        };
        let buf = d.bytes("pending ServiceInfo bytes")?.to_vec();
        let max_buffered = d.uint_as("reassembly cap")?;
        let pending = match key {
            Some(k) => Some((k, buf)),
            None if buf.is_empty() => None,
            None => {
                return Err(Error::invalid(
                    "ServiceInfo reassembly state",
                    "buffered bytes without a key",
                ));
            }
        };
        Ok(Self {
            pending,
            max_buffered,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(3);
        match &self.pending {
            Some((k, buf)) => e.text(k).bytes(buf),
            None => e.null().bytes(&[]),
        };
        e.uint(self.max_buffered as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::to2::OwnerServiceInfo;
    use crate::serviceinfo::kv;

    /// A byte string value of `n` bytes of `fill`, encoded.
    fn bstr_value(n: usize, fill: u8) -> Vec<u8> {
        let mut e = Encoder::new();
        e.bytes(&alloc::vec![fill; n]);
        e.into_bytes()
    }

    fn drain(c: &mut Chunker, limit: u16) -> Vec<ServiceInfo> {
        let mut out = Vec::new();
        while !c.is_empty() {
            let m = c.next_message(limit).unwrap();
            assert!(!m.0.is_empty());
            // The whole owner message (the larger framing) stays under the limit.
            let msg = OwnerServiceInfo {
                is_more: true,
                is_done: false,
                service_info: m.clone(),
            };
            assert!(msg.to_cbor().len() + 5 <= usize::from(limit));
            out.push(m);
        }
        out
    }

    fn reassemble(messages: &[ServiceInfo]) -> Vec<ServiceInfoKv> {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        for m in messages {
            for kv in &m.0 {
                out.extend(r.push(kv.clone()).unwrap());
            }
        }
        r.finish().unwrap();
        out
    }

    #[test]
    fn value_split_over_three_messages() {
        let big = ServiceInfoKv {
            key: "fdo.download:data".into(),
            value: bstr_value(3000, 0xa5),
        };
        let mut c = Chunker::new();
        c.push(kv("devmod", "active", &true));
        c.push(big.clone());
        c.push(kv("devmod", "os", &String::from("Linux")));
        let messages = drain(&mut c, 1300);
        assert_eq!(messages.len(), 3);
        // The cut pieces all carry the same key, and none but the last is a CBOR item.
        let pieces: Vec<&ServiceInfoKv> = messages
            .iter()
            .flat_map(|m| m.0.iter())
            .filter(|kv| kv.key == big.key)
            .collect();
        assert_eq!(pieces.len(), 3);
        assert!(crate::cbor::value_from_slice(&pieces[0].value).is_err());
        assert_eq!(
            reassemble(&messages),
            [
                kv("devmod", "active", &true),
                big,
                kv("devmod", "os", &String::from("Linux"))
            ]
        );
    }

    #[test]
    fn go_fdo_style_split_is_reassembled() {
        // go-fdo fills each message and cuts values anywhere, even inside the CBOR head:
        // message 1: ["a:x" whole, first byte of "b:y"], message 2: [rest of "b:y", "c:z"].
        let value = bstr_value(300, 7); // 59 012c ‖ 300 × 07
        let m1 = ServiceInfo(alloc::vec![
            ServiceInfoKv {
                key: "a:x".into(),
                value: alloc::vec![0x01]
            },
            ServiceInfoKv {
                key: "b:y".into(),
                value: value[..1].to_vec()
            },
        ]);
        let m2 = ServiceInfo(alloc::vec![ServiceInfoKv {
            key: "b:y".into(),
            value: value[1..2].to_vec()
        },]);
        let m3 = ServiceInfo(alloc::vec![
            ServiceInfoKv {
                key: "b:y".into(),
                value: value[2..].to_vec()
            },
            ServiceInfoKv {
                key: "c:z".into(),
                value: alloc::vec![0xf5]
            },
        ]);
        let out = reassemble(&[m1, m2, m3]);
        assert_eq!(
            out,
            [
                ServiceInfoKv {
                    key: "a:x".into(),
                    value: alloc::vec![0x01]
                },
                ServiceInfoKv {
                    key: "b:y".into(),
                    value
                },
                ServiceInfoKv {
                    key: "c:z".into(),
                    value: alloc::vec![0xf5]
                },
            ]
        );
    }

    #[test]
    fn consecutive_whole_values_with_one_key_stay_apart() {
        // Two complete values with one key, one after the other, come out one by one.
        let mut r = Reassembler::default();
        let a = kv("m", "x", &true);
        let b = kv("m", "x", &false);
        assert_eq!(r.push(a.clone()).unwrap(), [a]);
        assert_eq!(r.push(b.clone()).unwrap(), [b]);
        assert!(r.is_idle());
        // Two items in one value come out as two values.
        let two = ServiceInfoKv {
            key: "m:x".into(),
            value: alloc::vec![0x01, 0x02],
        };
        assert_eq!(r.push(two).unwrap().len(), 2);
    }

    #[test]
    fn limit_exactly_at_the_boundary() {
        // One key/value whose ServiceInfo array is exactly limit − 8 bytes goes whole.
        let key = "fdo.test:blob";
        let array_len = |n: usize| {
            ServiceInfo(alloc::vec![ServiceInfoKv {
                key: key.into(),
                value: bstr_value(n, 1)
            }])
            .to_cbor()
            .len()
        };
        let n = 500;
        let limit = (array_len(n) + SERVICE_INFO_OVERHEAD) as u16;
        let mut c = Chunker::new();
        c.push(ServiceInfoKv {
            key: key.into(),
            value: bstr_value(n, 1),
        });
        let m = c.next_message(limit).unwrap();
        assert_eq!(
            m.to_cbor().len() + SERVICE_INFO_OVERHEAD,
            usize::from(limit)
        );
        assert!(c.is_empty());
        assert_eq!(m.0[0].value, bstr_value(n, 1));
        // One byte less and the value is cut, the first message filling the space exactly.
        let mut c = Chunker::new();
        c.push(ServiceInfoKv {
            key: key.into(),
            value: bstr_value(n, 1),
        });
        let first = c.next_message(limit - 1).unwrap();
        assert_eq!(
            first.to_cbor().len() + SERVICE_INFO_OVERHEAD,
            usize::from(limit - 1)
        );
        assert!(!c.is_empty());
        let second = c.next_message(limit - 1).unwrap();
        assert!(c.is_empty());
        assert_eq!(reassemble(&[first, second])[0].value, bstr_value(n, 1));
    }

    #[test]
    fn a_value_that_fits_a_message_of_its_own_is_not_cut() {
        let mut c = Chunker::new();
        c.push(ServiceInfoKv {
            key: "m:a".into(),
            value: bstr_value(700, 1),
        });
        c.push(ServiceInfoKv {
            key: "m:b".into(),
            value: bstr_value(700, 2),
        });
        let messages = drain(&mut c, 1300);
        assert_eq!(messages.len(), 2);
        assert!(messages.iter().all(|m| m.0.len() == 1));
        assert_eq!(messages[1].0[0].value, bstr_value(700, 2));
    }

    #[test]
    fn limit_too_small_for_the_key_is_refused() {
        let mut c = Chunker::new();
        c.push(ServiceInfoKv {
            key: "x".repeat(40),
            value: bstr_value(10, 0),
        });
        let err = c.next_message(48).unwrap_err().to_string();
        assert!(err.contains("no room"), "{err}");
        // An empty queue gives an empty message whatever the limit.
        assert_eq!(
            Chunker::new().next_message(0).unwrap(),
            ServiceInfo::default()
        );
    }

    #[test]
    fn malformed_and_oversized_input_is_refused() {
        // A break code is not an item.
        let err = Reassembler::default()
            .push(ServiceInfoKv {
                key: "m:x".into(),
                value: alloc::vec![0xff],
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("m:x"), "{err}");
        // Reserved additional information (0x1c).
        assert!(
            Reassembler::default()
                .push(ServiceInfoKv {
                    key: "m:x".into(),
                    value: alloc::vec![0x1c]
                })
                .is_err()
        );
        // An empty value.
        assert!(
            Reassembler::default()
                .push(ServiceInfoKv {
                    key: "m:x".into(),
                    value: Vec::new()
                })
                .is_err()
        );
        // A cut value interrupted by another key.
        let mut r = Reassembler::default();
        assert!(
            r.push(ServiceInfoKv {
                key: "m:x".into(),
                value: alloc::vec![0x42, 0x00]
            })
            .unwrap()
            .is_empty()
        );
        let err = r
            .push(ServiceInfoKv {
                key: "m:y".into(),
                value: alloc::vec![0xf5],
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("incomplete when m:y arrives"), "{err}");
        // A cut value never finished.
        let mut r = Reassembler::default();
        r.push(ServiceInfoKv {
            key: "m:x".into(),
            value: alloc::vec![0x42],
        })
        .unwrap();
        assert!(!r.is_idle());
        assert!(r.finish().is_err());
        // More than the cap without a complete item: a bstr announcing 100 bytes, fed 10 at a
        // time with a cap of 50.
        let mut r = Reassembler::new(50);
        let value = bstr_value(100, 3);
        let mut result = Ok(Vec::new());
        for piece in value.chunks(10) {
            result = r.push(ServiceInfoKv {
                key: "m:x".into(),
                value: piece.to_vec(),
            });
            if result.is_err() {
                break;
            }
        }
        let err = result.unwrap_err().to_string();
        assert!(err.contains("more than 50 bytes"), "{err}");
        // A huge announced length is only buffered up to the cap, never allocated.
        let mut r = Reassembler::new(50);
        assert!(
            r.push(ServiceInfoKv {
                key: "m:x".into(),
                value: alloc::vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            })
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn states_round_trip() {
        let mut c = Chunker::new();
        c.push(ServiceInfoKv {
            key: "m:a".into(),
            value: bstr_value(2000, 1),
        });
        c.push(kv("m", "b", &true));
        let first = c.next_message(1300).unwrap();
        let back = Chunker::from_cbor(&c.to_cbor()).unwrap();
        assert_eq!(back, c);
        let mut r = Reassembler::default();
        for kv in first.0 {
            r.push(kv).unwrap();
        }
        assert!(!r.is_idle());
        let back = Reassembler::from_cbor(&r.to_cbor()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            Reassembler::from_cbor(&Reassembler::default().to_cbor()).unwrap(),
            Reassembler::default()
        );
        // bytes without a key
        assert!(Reassembler::from_cbor(&[0x83, 0xf6, 0x41, 0x00, 0x00]).is_err());
    }
}
