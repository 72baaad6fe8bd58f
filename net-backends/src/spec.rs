//! The spec strings that choose a backend, QEMU-like: `user[,hostfwd=...]`, `tap[,ifname=N]`,
//! `port,listen=ADDR`, `port,connect=ADDR`, `port,fd=N`, `port,stdio`, `none`; each may add
//! `mac=52:54:00:12:34:56`. A bad spec is an error that names the part that is wrong.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSpec {
    pub kind: BackendKind,
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// No network device at all.
    None,
    Port(PortMode),
    /// A Linux TAP interface (a new one when no name is given).
    Tap {
        ifname: Option<String>,
    },
    /// The userspace NAT router.
    User {
        hostfwd: Vec<HostFwd>,
        /// Where the guest's DNS queries go (default: the host's first nameserver).
        resolver: Option<std::net::SocketAddr>,
    },
    /// Frames handed to the program embedding petrel.wasm (its host port `id`).
    Host {
        id: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwdProto {
    Tcp,
    Udp,
}

/// `hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`, as QEMU writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFwd {
    pub proto: FwdProto,
    pub host: std::net::SocketAddr,
    pub guest_addr: Option<std::net::Ipv4Addr>,
    pub guest_port: u16,
}

fn parse_hostfwd(v: &str) -> Result<HostFwd, String> {
    let bad = |why: &str| {
        format!("hostfwd={v}: {why} (expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)")
    };
    let (proto, rest) = match v.split_once(':') {
        Some(("tcp" | "", r)) => (FwdProto::Tcp, r),
        Some(("udp", r)) => (FwdProto::Udp, r),
        _ => return Err(bad("unknown protocol")),
    };
    let (host, guest) = rest.split_once('-').ok_or_else(|| bad("no '-'"))?;
    let (haddr, hport) = host.rsplit_once(':').ok_or_else(|| bad("no host port"))?;
    let haddr: std::net::IpAddr = if haddr.is_empty() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        haddr.parse().map_err(|_| bad("bad host address"))?
    };
    let hport: u16 = hport.parse().map_err(|_| bad("bad host port"))?;
    let (gaddr, gport) = guest.rsplit_once(':').ok_or_else(|| bad("no guest port"))?;
    let guest_addr = if gaddr.is_empty() {
        None
    } else {
        Some(gaddr.parse().map_err(|_| bad("bad guest address"))?)
    };
    let guest_port = gport
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad("bad guest port"))?;
    Ok(HostFwd {
        proto,
        host: std::net::SocketAddr::new(haddr, hport),
        guest_addr,
        guest_port,
    })
}

/// Where a `port` backend's stream comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMode {
    /// Wait for a peer (again after each one leaves).
    Listen(PortAddr),
    Connect(PortAddr),
    /// A descriptor the embedder passed: a connected stream, or a listening socket.
    Fd(i32),
    /// Records in on standard input, out on standard output.
    Stdio,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortAddr {
    Unix(PathBuf),
    /// host:port
    Tcp(String),
}

impl std::fmt::Display for PortAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            PortAddr::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

fn parse_addr(s: &str) -> Result<PortAddr, String> {
    if let Some(p) = s.strip_prefix("unix:") {
        if p.is_empty() {
            return Err("unix: needs a socket path".into());
        }
        return Ok(PortAddr::Unix(p.into()));
    }
    if let Some(a) = s.strip_prefix("tcp:") {
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(format!("'{s}': expected tcp:HOST:PORT"));
        }
        return Ok(PortAddr::Tcp(a.into()));
    }
    Err(format!("'{s}': expected unix:PATH or tcp:HOST:PORT"))
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("mac '{s}': expected six hex bytes like 52:54:00:12:34:56");
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "mac '{s}': a multicast address cannot name one interface"
        ));
    }
    Ok(mac)
}

impl NetSpec {
    pub fn parse(s: &str) -> Result<NetSpec, String> {
        let mut parts = s.split(',');
        let kind = parts.next().unwrap_or_default();
        let mut mac = None;
        let mut opts = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if k == "mac" {
                mac = Some(parse_mac(v)?);
            } else {
                opts.push((k, v, p));
            }
        }
        let unknown = |p: &str| format!("net {kind}: unknown option '{p}'");
        let kind = match kind {
            "none" => {
                if let Some((_, _, p)) = opts.first() {
                    return Err(unknown(p));
                }
                BackendKind::None
            }
            "port" => {
                let mut mode = None;
                for (k, v, p) in opts {
                    let m = match k {
                        "listen" => PortMode::Listen(parse_addr(v)?),
                        "connect" => PortMode::Connect(parse_addr(v)?),
                        "fd" => {
                            PortMode::Fd(v.parse::<i32>().ok().filter(|&n| n >= 0).ok_or_else(
                                || format!("net port: fd '{v}' is not a descriptor number"),
                            )?)
                        }
                        "stdio" if v.is_empty() => PortMode::Stdio,
                        _ => return Err(unknown(p)),
                    };
                    if mode.replace(m).is_some() {
                        return Err("net port: give one of listen=, connect=, fd= or stdio".into());
                    }
                }
                BackendKind::Port(
                    mode.ok_or("net port: needs listen=ADDR, connect=ADDR, fd=N or stdio")?,
                )
            }
            "host" => {
                let mut id = 0;
                for (k, v, p) in opts {
                    match k {
                        "id" => {
                            id = v.parse::<u32>().map_err(|_| {
                                format!("net host: id '{v}' is not a host port number")
                            })?
                        }
                        _ => return Err(unknown(p)),
                    }
                }
                BackendKind::Host { id }
            }
            "tap" => {
                let mut ifname = None;
                for (k, v, p) in opts {
                    match k {
                        "ifname" if !v.is_empty() => ifname = Some(v.to_string()),
                        _ => return Err(unknown(p)),
                    }
                }
                BackendKind::Tap { ifname }
            }
            "user" => {
                let (mut hostfwd, mut resolver) = (Vec::new(), None);
                for (k, v, p) in opts {
                    match k {
                        "hostfwd" => hostfwd.push(parse_hostfwd(v)?),
                        "resolver" => {
                            resolver = Some(
                                v.parse::<std::net::SocketAddr>()
                                    .or_else(|_| {
                                        v.parse::<std::net::IpAddr>()
                                            .map(|ip| std::net::SocketAddr::new(ip, 53))
                                    })
                                    .map_err(|_| format!("resolver={v}: expected IP or IP:PORT"))?,
                            )
                        }
                        _ => return Err(unknown(p)),
                    }
                }
                BackendKind::User { hostfwd, resolver }
            }
            "" => return Err("empty spec (try user, tap, port,..., host or none)".into()),
            other => {
                return Err(format!(
                    "unknown backend '{other}' (expected user, tap, port, host or none)"
                ))
            }
        };
        Ok(NetSpec { kind, mac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_rejects_nonsense() {
        assert_eq!(
            NetSpec::parse("port,listen=unix:/tmp/s,mac=52:54:00:00:00:01").unwrap(),
            NetSpec {
                kind: BackendKind::Port(PortMode::Listen(PortAddr::Unix("/tmp/s".into()))),
                mac: Some([0x52, 0x54, 0, 0, 0, 1]),
            }
        );
        assert_eq!(
            NetSpec::parse("port,connect=tcp:127.0.0.1:99")
                .unwrap()
                .kind,
            BackendKind::Port(PortMode::Connect(PortAddr::Tcp("127.0.0.1:99".into())))
        );
        assert_eq!(
            NetSpec::parse("user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::53-10.0.2.15:5353")
                .unwrap()
                .kind,
            BackendKind::User {
                hostfwd: vec![
                    HostFwd {
                        proto: FwdProto::Tcp,
                        host: "127.0.0.1:8080".parse().unwrap(),
                        guest_addr: None,
                        guest_port: 80
                    },
                    HostFwd {
                        proto: FwdProto::Udp,
                        host: "0.0.0.0:53".parse().unwrap(),
                        guest_addr: Some("10.0.2.15".parse().unwrap()),
                        guest_port: 5353
                    }
                ],
                resolver: None
            }
        );
        assert_eq!(
            NetSpec::parse("port,fd=3").unwrap().kind,
            BackendKind::Port(PortMode::Fd(3))
        );
        assert_eq!(
            NetSpec::parse("host").unwrap().kind,
            BackendKind::Host { id: 0 }
        );
        assert_eq!(
            NetSpec::parse("host,id=2").unwrap().kind,
            BackendKind::Host { id: 2 }
        );
        for bad in [
            "host,id=-1",
            "host,id=",
            "host,tap",
            "",
            "bogus",
            "port",
            "port,listen=tcp:1",
            "port,listen=unix:",
            "port,fd=-1",
            "port,fd=3,stdio",
            "user,hostfwd=tcp:127.0.0.1:8080",
            "user,hostfwd=sctp::1-:2",
            "user,hostfwd=tcp::99999-:80",
            "user,hostfwd=tcp::80-:0",
            "user,resolver=nowhere",
            "user,restrict=on",
            "tap,ifname=",
            "tap,script=no",
            "none,x=1",
            "port,stdio,mac=01:00:00:00:00:00",
            "port,stdio,mac=zz:00:00:00:00:00",
        ] {
            let e = NetSpec::parse(bad).unwrap_err();
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }
}
