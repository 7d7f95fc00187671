//! What the device makes of its RendezvousInfo (FDO reference §3): the servers to try, in
//! order, and how to reach each one; and the owner addresses of a to1d.
//!
//! Each RVDirective is read on its own. Its instructions say where a rendezvous server is
//! (RVIPAddress, RVDns, RVDevPort, RVProtocol), how to behave (RVDelaysec, RVBypass) and on
//! what network (RVMedium, RVWifiSsid…). A directive this device cannot honour in full is
//! skipped as a whole, with the reason, rather than half-followed: a directive that pins the
//! server certificate (RVSvCertHash) must not be used without the pin, and one meant for a
//! Wi-Fi network the device does not configure would only lead it astray.
//!
//! | Instruction | Reading |
//! |---|---|
//! | RVDevOnly | for the device: used |
//! | RVOwnerOnly | for the owner's TO0: the directive is skipped |
//! | RVIPAddress, RVDns | the server; with both, the name is tried first, then the address |
//! | RVDevPort | the port; default 80 for http, 443 for https |
//! | RVOwnerPort | the owner's port: ignored |
//! | RVProtocol | rest (0) and http (1): `http://`; https (2): `https://`; absent: `https://`; others: skipped |
//! | RVDelaysec | wait that long after this directive failed, before the next one |
//! | RVBypass | the address is the owner's: TO2 directly, no TO1 |
//! | RVMedium | 20 (any Ethernet) and 21 (any Wi-Fi) leave the choice to the system; a numbered interface is skipped |
//! | RVUserInput, RVWifiSsid, RVWifiPw, RVSvCertHash, RVClCertHash, RVExtRV, unknown | skipped |
//!
//! With no RVProtocol at all the device assumes `https`, as the Intel C client does, rather
//! than send its first messages in clear.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use vouch_protocol::messages::to0::RvTo2Addr;
use vouch_protocol::types::{
    RendezvousInfo, RvDirective, RvProtocol, RvValue, RvVariable, TransportProtocol,
};

/// RVMedium 20: any Ethernet interface.
const MEDIUM_ETH_ALL: u64 = 20;
/// RVMedium 21: any Wi-Fi interface.
const MEDIUM_WIFI_ALL: u64 = 21;

/// `http://` or `https://`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP: the FDO messages protect themselves, but the bearer token and the early
    /// messages travel in clear.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The port used when none is given: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// A server's host: an address or a DNS name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP address (an IPv4-mapped IPv6 address is given as IPv4).
    Ip(IpAddr),
    /// A DNS name, checked to hold only letters, digits, `-` and `.`.
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Self::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Self::Dns(name) => f.write_str(name),
        }
    }
}

/// Where a server is: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The base URL, e.g. `https://rv.example.com:8041` or `http://[::1]:8040`.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// One server to try, from one RVDirective.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RvTarget {
    /// The position of the directive in the RendezvousInfo (from 0).
    pub directive: usize,
    /// Where the server is.
    pub endpoint: Endpoint,
    /// RVBypass: the server is the owner; the device runs TO2 there directly, without TO1.
    pub bypass: bool,
    /// RVDelaysec: how long to wait after this directive failed, before the next one.
    pub delay: Option<Duration>,
}

/// A directive the device does not follow, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedDirective {
    /// The position of the directive in the RendezvousInfo (from 0).
    pub directive: usize,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for SkippedDirective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rendezvous directive {} is skipped: {}",
            self.directive + 1,
            self.reason
        )
    }
}

/// The device's reading of a RendezvousInfo: the servers to try, in order, and the directives
/// it skips.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RvPlan {
    /// The servers, in the order of their directives (for a directive with both a name and an
    /// address, the name first).
    pub targets: Vec<RvTarget>,
    /// The directives not followed.
    pub skipped: Vec<SkippedDirective>,
}

/// The servers a device tries for its RendezvousInfo, in order (the table in the module
/// documentation). Directives it cannot follow are left out; [`rv_plan`] says why.
pub fn rv_targets(info: &RendezvousInfo) -> Vec<RvTarget> {
    rv_plan(info).targets
}

/// [`rv_targets`], together with the directives skipped and why.
pub fn rv_plan(info: &RendezvousInfo) -> RvPlan {
    let mut plan = RvPlan::default();
    for (index, directive) in info.0.iter().enumerate() {
        match read_directive(index, directive) {
            Ok(targets) => plan.targets.extend(targets),
            Err(reason) => plan.skipped.push(SkippedDirective {
                directive: index,
                reason,
            }),
        }
    }
    plan
}

/// The targets of one directive, or why it is skipped.
fn read_directive(index: usize, directive: &RvDirective) -> Result<Vec<RvTarget>, String> {
    let mut names = Vec::new();
    let mut addresses = Vec::new();
    let mut port = None;
    let mut scheme = None;
    let mut bypass = false;
    let mut delay = None;
    for instruction in &directive.0 {
        let variable = instruction.variable;
        let value = instruction
            .typed()
            .map_err(|e| format!("its {variable} value cannot be read: {e}"))?;
        match (variable, value) {
            (RvVariable::DEV_ONLY, _) | (RvVariable::OWNER_PORT, _) => {}
            (RvVariable::OWNER_ONLY, _) => {
                return Err("RVOwnerOnly: it is for the owner, not the device".into());
            }
            (RvVariable::IP_ADDRESS, RvValue::Ip(ip)) => addresses.push(ip),
            (RvVariable::DNS, RvValue::Text(name)) => names.push(dns_name(&name)?),
            (RvVariable::DEV_PORT, RvValue::Port(p)) => {
                port.get_or_insert(p);
            }
            (RvVariable::PROTOCOL, RvValue::Uint(p)) => {
                scheme.get_or_insert(scheme_of(RvProtocol(p))?);
            }
            (RvVariable::DELAY_SEC, RvValue::Uint(s)) => {
                delay.get_or_insert(Duration::from_secs(s));
            }
            (RvVariable::BYPASS, _) => bypass = true,
            (RvVariable::MEDIUM, RvValue::Uint(MEDIUM_ETH_ALL | MEDIUM_WIFI_ALL)) => {}
            (RvVariable::MEDIUM, RvValue::Uint(m)) => {
                return Err(format!(
                    "RVMedium {m} names a network interface, and this device does not choose \
                     interfaces (only 20, any Ethernet, and 21, any Wi-Fi, are followed)"
                ));
            }
            (RvVariable::USER_INPUT, _) => {
                return Err("RVUserInput: this device asks no one for input".into());
            }
            (RvVariable::WIFI_SSID | RvVariable::WIFI_PW, _) => {
                return Err(format!("{variable}: this device does not configure Wi-Fi"));
            }
            (RvVariable::SV_CERT_HASH, _) => {
                return Err(
                    "RVSvCertHash: pinning the server certificate by its hash is not supported"
                        .into(),
                );
            }
            (RvVariable::CL_CERT_HASH, _) => {
                return Err("RVClCertHash: TLS client certificates are not supported".into());
            }
            (RvVariable::EXT_RV, _) => {
                return Err("RVExtRV: extended rendezvous mechanisms are not supported".into());
            }
            (other, _) => {
                return Err(format!("{other} is not known to this device"));
            }
        }
    }
    let scheme = scheme.unwrap_or(Scheme::Https);
    let port = port.unwrap_or_else(|| scheme.default_port());
    let hosts: Vec<Host> = names
        .into_iter()
        .map(Host::Dns)
        .chain(addresses.into_iter().map(Host::Ip))
        .collect();
    if hosts.is_empty() {
        return Err("it names no server (no RVDns, no RVIPAddress)".into());
    }
    Ok(hosts
        .into_iter()
        .map(|host| RvTarget {
            directive: index,
            endpoint: Endpoint { scheme, host, port },
            bypass,
            delay,
        })
        .collect())
}

/// The scheme for an RVProtocol value.
fn scheme_of(protocol: RvProtocol) -> Result<Scheme, String> {
    match protocol {
        // rest: "the first supported protocol" — HTTP here, so the device and the owner's
        // rendezvous entry agree on a scheme the owner certainly serves.
        RvProtocol::REST | RvProtocol::HTTP => Ok(Scheme::Http),
        RvProtocol::HTTPS => Ok(Scheme::Https),
        RvProtocol::TCP => Err("RVProtocol tcp (3): only http and https are supported".into()),
        RvProtocol::TLS => Err("RVProtocol tls (4): only http and https are supported".into()),
        RvProtocol::COAP_TCP | RvProtocol::COAP_UDP => Err(format!(
            "RVProtocol CoAP ({}): only http and https are supported",
            protocol.0
        )),
        other => Err(format!("RVProtocol {} is not known", other.0)),
    }
}

/// A DNS name as it may go into a URL: 1 to 253 characters, letters, digits, `-` and `.`.
/// Anything else (a `/`, `@`, `:`, a space) could change what the URL means.
fn dns_name(name: &str) -> Result<String, String> {
    let fits = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if fits {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!("RVDns {name:?} is not a DNS name"))
    }
}

/// The endpoints of one RVTO2AddrEntry of a to1d, the name first: `http` for HTTP (3) and
/// `https` for HTTPS (5); any other transport is refused, with the reason.
pub fn owner_endpoints(addr: &RvTo2Addr) -> Result<Vec<Endpoint>, String> {
    let scheme = match addr.protocol {
        TransportProtocol::HTTP => Scheme::Http,
        TransportProtocol::HTTPS => Scheme::Https,
        other => {
            return Err(format!(
                "the owner's address uses transport protocol {}; only HTTP (3) and HTTPS (5) \
                 are supported",
                other.0
            ));
        }
    };
    let mut hosts = Vec::new();
    if let Some(name) = &addr.dns {
        hosts.push(Host::Dns(
            dns_name(name).map_err(|e| format!("RVDNS: {e}"))?,
        ));
    }
    if let Some(ip) = addr.canonical_ip() {
        hosts.push(Host::Ip(ip));
    }
    if hosts.is_empty() {
        return Err("the owner's address has neither RVIP nor RVDNS".into());
    }
    Ok(hosts
        .into_iter()
        .map(|host| Endpoint {
            scheme,
            host,
            port: addr.port,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use vouch_protocol::cbor::Cbor;
    use vouch_protocol::types::RvInstruction;

    use super::*;

    fn info(directives: Vec<Vec<RvInstruction>>) -> RendezvousInfo {
        RendezvousInfo(directives.into_iter().map(RvDirective).collect())
    }

    fn protocol(p: RvProtocol) -> RvInstruction {
        RvInstruction::uint(RvVariable::PROTOCOL, p.0)
    }

    fn port(p: u64) -> RvInstruction {
        RvInstruction::uint(RvVariable::DEV_PORT, p)
    }

    /// A flag written as fdo-rs writes it: the value `h'f6'`, CBOR null.
    fn null_flag(variable: RvVariable) -> RvInstruction {
        RvInstruction {
            variable,
            value: Some(vec![0xf6]),
        }
    }

    fn urls(info: &RendezvousInfo) -> Vec<String> {
        rv_targets(info).iter().map(|t| t.endpoint.url()).collect()
    }

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn address_port_and_protocol() {
        let i = info(vec![vec![
            RvInstruction::ip(LOCAL),
            port(8041),
            protocol(RvProtocol::HTTP),
        ]]);
        assert_eq!(
            rv_targets(&i),
            vec![RvTarget {
                directive: 0,
                endpoint: Endpoint {
                    scheme: Scheme::Http,
                    host: Host::Ip(LOCAL),
                    port: 8041,
                },
                bypass: false,
                delay: None,
            }]
        );
        assert_eq!(urls(&i), ["http://127.0.0.1:8041"]);
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        let i = info(vec![
            vec![RvInstruction::dns("rv.example"), protocol(RvProtocol::HTTP)],
            vec![
                RvInstruction::dns("rv.example"),
                protocol(RvProtocol::HTTPS),
            ],
        ]);
        assert_eq!(urls(&i), ["http://rv.example:80", "https://rv.example:443"]);
    }

    #[test]
    fn rest_is_http_and_no_protocol_is_https() {
        let i = info(vec![
            vec![RvInstruction::dns("a.example"), protocol(RvProtocol::REST)],
            vec![RvInstruction::dns("b.example"), port(8443)],
        ]);
        assert_eq!(urls(&i), ["http://a.example:80", "https://b.example:8443"]);
    }

    #[test]
    fn name_before_address_and_ipv6_in_brackets() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let i = info(vec![vec![
            RvInstruction::ip(v6),
            RvInstruction::dns("RV.Example.com"),
            port(8041),
            protocol(RvProtocol::HTTPS),
        ]]);
        assert_eq!(
            urls(&i),
            ["https://rv.example.com:8041", "https://[::1]:8041"]
        );
        // both come from the same directive
        assert!(rv_targets(&i).iter().all(|t| t.directive == 0));
    }

    #[test]
    fn ipv4_mapped_addresses_read_as_ipv4() {
        // go-fdo writes IPv4 addresses as 16-byte IPv4-mapped IPv6
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        let i = info(vec![vec![
            RvInstruction::ip(mapped),
            protocol(RvProtocol::HTTP),
        ]]);
        assert_eq!(urls(&i), ["http://192.0.2.7:80"]);
    }

    #[test]
    fn owner_only_directives_are_skipped_in_both_flag_encodings() {
        for owner_only in [
            RvInstruction::flag(RvVariable::OWNER_ONLY),
            null_flag(RvVariable::OWNER_ONLY),
        ] {
            let i = info(vec![
                vec![RvInstruction::dns("owner.example"), owner_only],
                vec![
                    RvInstruction::dns("device.example"),
                    RvInstruction::flag(RvVariable::DEV_ONLY),
                ],
            ]);
            let plan = rv_plan(&i);
            assert_eq!(urls(&i), ["https://device.example:443"]);
            assert_eq!(plan.targets[0].directive, 1);
            assert_eq!(plan.skipped.len(), 1);
            assert_eq!(plan.skipped[0].directive, 0);
            assert!(plan.skipped[0].reason.contains("RVOwnerOnly"));
        }
    }

    #[test]
    fn dev_only_in_both_flag_encodings_is_followed() {
        for dev_only in [
            RvInstruction::flag(RvVariable::DEV_ONLY),
            null_flag(RvVariable::DEV_ONLY),
        ] {
            let i = info(vec![vec![
                dev_only,
                RvInstruction::ip(LOCAL),
                protocol(RvProtocol::HTTP),
            ]]);
            assert_eq!(urls(&i), ["http://127.0.0.1:80"]);
        }
    }

    #[test]
    fn bypass_in_both_flag_encodings() {
        for bypass in [
            RvInstruction::flag(RvVariable::BYPASS),
            null_flag(RvVariable::BYPASS),
        ] {
            let i = info(vec![vec![
                RvInstruction::dns("owner.example"),
                bypass,
                port(8043),
            ]]);
            let t = rv_targets(&i);
            assert_eq!(t.len(), 1);
            assert!(t[0].bypass);
            assert_eq!(t[0].endpoint.url(), "https://owner.example:8043");
        }
        let plain = info(vec![vec![RvInstruction::dns("rv.example")]]);
        assert!(!rv_targets(&plain)[0].bypass);
    }

    #[test]
    fn delay_belongs_to_its_directive() {
        let i = info(vec![
            vec![
                RvInstruction::dns("slow.example"),
                RvInstruction::uint(RvVariable::DELAY_SEC, 30),
            ],
            vec![RvInstruction::dns("fast.example")],
        ]);
        let t = rv_targets(&i);
        assert_eq!(t[0].delay, Some(Duration::from_secs(30)));
        assert_eq!(t[1].delay, None);
    }

    #[test]
    fn unsupported_items_skip_the_whole_directive() {
        let good = vec![RvInstruction::dns("rv.example")];
        let with = |extra: RvInstruction| {
            let mut d = good.clone();
            d.push(extra);
            info(vec![d])
        };
        let mut hash = vouch_protocol::cbor::Encoder::new();
        hash.array(2).int(-16).bytes(&[0; 32]);
        let hash = hash.into_bytes();
        for (instruction, says) in [
            (RvInstruction::uint(RvVariable::MEDIUM, 0), "RVMedium 0"),
            (RvInstruction::uint(RvVariable::MEDIUM, 12), "RVMedium 12"),
            (RvInstruction::flag(RvVariable::USER_INPUT), "RVUserInput"),
            (
                RvInstruction::new(RvVariable::WIFI_SSID, &"lab".to_string()),
                "Wi-Fi",
            ),
            (
                RvInstruction::new(RvVariable::WIFI_PW, &"secret".to_string()),
                "Wi-Fi",
            ),
            (
                RvInstruction {
                    variable: RvVariable::SV_CERT_HASH,
                    value: Some(hash.clone()),
                },
                "RVSvCertHash",
            ),
            (
                RvInstruction {
                    variable: RvVariable::CL_CERT_HASH,
                    value: Some(hash.clone()),
                },
                "RVClCertHash",
            ),
            (protocol(RvProtocol::TCP), "tcp"),
            (protocol(RvProtocol::TLS), "tls"),
            (protocol(RvProtocol::COAP_UDP), "CoAP"),
            (protocol(RvProtocol(9)), "RVProtocol 9"),
            (
                RvInstruction {
                    variable: RvVariable(40),
                    value: Some(vec![0x01]),
                },
                "RVVariable 40",
            ),
            // a value that does not decode as its variable's type
            (
                RvInstruction {
                    variable: RvVariable::DEV_PORT,
                    value: Some(vec![0x63, b'a', b'b', b'c']),
                },
                "RVDevPort",
            ),
            (RvInstruction::dns("evil.example/path@x"), "not a DNS name"),
        ] {
            let plan = rv_plan(&with(instruction.clone()));
            assert!(plan.targets.is_empty(), "{instruction:?}");
            assert_eq!(plan.skipped.len(), 1);
            let text = plan.skipped[0].to_string();
            assert!(text.contains(says), "{instruction:?}: {text}");
            assert!(
                text.starts_with("rendezvous directive 1 is skipped"),
                "{text}"
            );
        }
        // any Ethernet, any Wi-Fi: the system's choice, followed
        for m in [MEDIUM_ETH_ALL, MEDIUM_WIFI_ALL] {
            let i = with(RvInstruction::uint(RvVariable::MEDIUM, m));
            assert_eq!(urls(&i), ["https://rv.example:443"]);
        }
        // the owner's port is not the device's business
        let i = with(RvInstruction::uint(RvVariable::OWNER_PORT, 9));
        assert_eq!(urls(&i), ["https://rv.example:443"]);
    }

    #[test]
    fn a_directive_without_a_host_is_skipped() {
        let plan = rv_plan(&info(vec![vec![port(80), protocol(RvProtocol::HTTP)]]));
        assert!(plan.targets.is_empty());
        assert!(plan.skipped[0].reason.contains("names no server"));
        assert_eq!(rv_plan(&RendezvousInfo::default()), RvPlan::default());
    }

    #[test]
    fn directives_keep_their_order_around_skipped_ones() {
        let i = info(vec![
            vec![
                RvInstruction::dns("one.example"),
                protocol(RvProtocol::HTTP),
            ],
            vec![
                RvInstruction::dns("two.example"),
                RvInstruction::flag(RvVariable::USER_INPUT),
            ],
            vec![RvInstruction::ip(LOCAL), port(8041)],
        ]);
        let t = rv_targets(&i);
        assert_eq!(
            t.iter().map(|t| t.directive).collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert_eq!(
            urls(&i),
            ["http://one.example:80", "https://127.0.0.1:8041"]
        );
    }

    #[test]
    fn a_decoded_rendezvous_info_reads_the_same() {
        // [[[5, h'6a72762e6578616d706c65'], [3, h'191f99'], [12, h'01'], [14, h'f6']]]
        // RVDns "rv.example", RVDevPort 8089, RVProtocol http, RVBypass as fdo-rs writes it
        let bytes = [
            &[0x81, 0x84][..],
            &[0x82, 0x05, 0x4b, 0x6a],
            b"rv.example",
            &[0x82, 0x03, 0x43, 0x19, 0x1f, 0x99],
            &[0x82, 0x0c, 0x41, 0x01],
            &[0x82, 0x0e, 0x41, 0xf6],
        ]
        .concat();
        let i = RendezvousInfo::from_cbor(&bytes).unwrap();
        let t = rv_targets(&i);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].endpoint.url(), "http://rv.example:8089");
        assert!(t[0].bypass);
    }

    #[test]
    fn owner_addresses_of_a_to1d() {
        let addr = |ip, dns: Option<&str>, protocol| RvTo2Addr {
            ip,
            dns: dns.map(str::to_string),
            port: 8043,
            protocol,
        };
        let url = |a: &RvTo2Addr| {
            owner_endpoints(a)
                .unwrap()
                .iter()
                .map(Endpoint::url)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            url(&addr(Some(LOCAL), None, TransportProtocol::HTTP)),
            ["http://127.0.0.1:8043"]
        );
        assert_eq!(
            url(&addr(
                Some(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped())),
                Some("owner.example"),
                TransportProtocol::HTTPS
            )),
            ["https://owner.example:8043", "https://10.0.0.1:8043"]
        );
        for (a, says) in [
            (
                addr(Some(LOCAL), None, TransportProtocol::TLS),
                "protocol 2",
            ),
            (addr(None, None, TransportProtocol::HTTP), "neither"),
            (
                addr(None, Some("a b"), TransportProtocol::HTTP),
                "not a DNS name",
            ),
        ] {
            let e = owner_endpoints(&a).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
