//! The host's half of a container run: turning an image config and `docker run`-style
//! overrides into what the guest's init (guest-images/container-init/petrel-run.c) executes,
//! and the framed protocol on the `petrel.run` virtio-console port.
//!
//! Frames in both directions: type (1 byte), payload length (u32 little-endian), payload.
//! Host → guest: `C` config (once, first: `key\0value\0` entries), `I` stdin bytes, `E` end of
//! stdin, `S` a signal number (1 byte), `W` window size (rows, cols: u16 LE each).
//! Guest → host: `O` stdout bytes, `R` stderr bytes, `X` exit status (i32 LE: the code, or
//! 128 + signal). Nothing has a size limit: environments and argument lists of any length go
//! through.

use serde_json::Value;

/// `docker run` options that change what runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--entrypoint`: Some("") clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// The command after the image name (replaces the image's Cmd when non-empty).
    pub cmd: Vec<String>,
    /// `-e K=V` or `-e K` (taken from the host environment when set there).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
}

/// A volume: a 9p tag served by the host, mounted at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub tag: String,
    pub path: String,
    pub read_only: bool,
}

/// How the guest configures its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetConfig {
    None,
    /// Address/prefix, gateway, DNS server.
    Static(String, String, String),
    Dhcp,
}

/// Everything the guest's init needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub hostname: String,
    pub rootfs: String,
    pub volumes: Vec<Volume>,
    pub net: NetConfig,
    pub tty: bool,
}

/// docker's PATH for images that set none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("the image's {what} holds a non-string"))
            })
            .collect(),
        // Old docker configs may hold a string where a list is expected: a shell form.
        Some(Value::String(s)) => Ok(vec!["/bin/sh".into(), "-c".into(), s.clone()]),
        Some(_) => Err(format!("the image's {what} is not a list")),
    }
}

/// Applies docker's rules: `--entrypoint` replaces the image's Entrypoint and drops its Cmd;
/// a command given on the command line replaces Cmd; `-e` overrides variables by name.
pub fn resolve(
    config: &Value,
    o: &Overrides,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<RunSpec, String> {
    let get = |k: &str| config.get(k);
    let (entrypoint, image_cmd) = match &o.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            strings(get("Entrypoint"), "Entrypoint")?,
            strings(get("Cmd"), "Cmd")?,
        ),
    };
    let cmd = if o.cmd.is_empty() {
        image_cmd
    } else {
        o.cmd.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err("no command: the image has no Entrypoint or Cmd; give one".into());
    }
    let mut env = strings(get("Env"), "Env")?;
    for e in &o.env {
        let (name, value) = match e.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (e.clone(), host_env(e)),
        };
        if name.is_empty() {
            return Err(format!("-e {e}: no variable name"));
        }
        env.retain(|x| x.split('=').next() != Some(name.as_str()));
        if let Some(v) = value {
            env.push(format!("{name}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    // docker gives a terminal's process a TERM when the image and -e set none.
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }
    let cwd = match &o.workdir {
        Some(w) if !w.starts_with('/') => {
            return Err(format!(
                "the working directory '{w}' is invalid: it needs to be an absolute path"
            ))
        }
        Some(w) => w.clone(),
        None => get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string(),
    };
    let user = match &o.user {
        Some(u) => u.clone(),
        None => get("User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    Ok(RunSpec {
        args,
        env,
        cwd,
        user,
        hostname: o.hostname.clone().unwrap_or_else(|| "petrel".into()),
        rootfs: "/dev/vda".into(),
        volumes: Vec::new(),
        net: NetConfig::None,
        tty: o.tty,
    })
}

pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + payload.len());
    f.push(kind);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

impl RunSpec {
    /// The `C` frame.
    pub fn config_frame(&self) -> Vec<u8> {
        let mut p = Vec::new();
        let mut put = |k: &str, v: &str| {
            p.extend_from_slice(k.as_bytes());
            p.push(0);
            p.extend_from_slice(v.as_bytes());
            p.push(0);
        };
        for a in &self.args {
            put("arg", a);
        }
        for e in &self.env {
            put("env", e);
        }
        put("cwd", &self.cwd);
        put("user", &self.user);
        put("hostname", &self.hostname);
        put("rootfs", &self.rootfs);
        for v in &self.volumes {
            let mode = if v.read_only { "ro" } else { "rw" };
            put("vol", &format!("{}\t{mode}\t{}", v.tag, v.path));
        }
        let net = match &self.net {
            NetConfig::None => "none".to_string(),
            NetConfig::Static(a, g, d) => format!("static {a} {g} {d}"),
            NetConfig::Dhcp => "dhcp".to_string(),
        };
        put("net", &net);
        put("tty", if self.tty { "1" } else { "0" });
        frame(b'C', &p)
    }

    /// Checks strings the guest receives NUL-terminated.
    pub fn validate(&self) -> Result<(), String> {
        let all = self
            .args
            .iter()
            .chain(&self.env)
            .chain([&self.cwd, &self.user, &self.hostname]);
        for s in all {
            if s.contains('\0') {
                return Err(format!("'{}' contains a NUL byte", s.escape_debug()));
            }
        }
        Ok(())
    }
}

/// What the guest said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestMsg {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(i32),
}

/// Splits the guest's byte stream into messages.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<GuestMsg>) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while self.buf.len() - at >= 5 {
            let kind = self.buf[at];
            let len = u32::from_le_bytes(self.buf[at + 1..at + 5].try_into().unwrap()) as usize;
            if self.buf.len() - at - 5 < len {
                break;
            }
            let payload = &self.buf[at + 5..at + 5 + len];
            out.push(match kind {
                b'O' => GuestMsg::Stdout(payload.to_vec()),
                b'R' => GuestMsg::Stderr(payload.to_vec()),
                b'X' if len == 4 => GuestMsg::Exit(i32::from_le_bytes(payload.try_into().unwrap())),
                _ => {
                    return Err(format!(
                        "the guest sent an unknown message (type {kind:#04x}, {len} bytes)"
                    ))
                }
            });
            at += 5 + len;
        }
        self.buf.drain(..at);
        Ok(())
    }
}

/// `-v HOST:GUEST[:ro|:rw]`.
pub fn parse_volume(spec: &str) -> Result<(String, String, bool), String> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    let read_only = match parts.last() {
        Some(&"ro") if parts.len() == 3 => {
            parts.pop();
            true
        }
        Some(&"rw") if parts.len() == 3 => {
            parts.pop();
            false
        }
        _ => false,
    };
    match parts.as_slice() {
        [host, guest] if !host.is_empty() && guest.starts_with('/') => {
            Ok((host.to_string(), guest.to_string(), read_only))
        }
        _ => Err(format!(
            "-v {spec}: expected HOSTDIR:/CONTAINER/PATH[:ro] (an absolute container path)"
        )),
    }
}

/// `-p [HOSTADDR:]HOSTPORT:CONTAINERPORT[/tcp|/udp]` as a `user` backend hostfwd rule.
pub fn parse_publish(spec: &str) -> Result<String, String> {
    let bad = || format!("-p {spec}: expected [HOSTADDR:]HOSTPORT:CONTAINERPORT[/tcp|/udp]");
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((p, proto @ ("tcp" | "udp"))) => (p, proto),
        Some(_) => return Err(bad()),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (addr, host, guest) = match parts.as_slice() {
        [h, g] => ("", *h, *g),
        [a, h, g] => (*a, *h, *g),
        _ => return Err(bad()),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|&n| n != 0);
    if port(host).is_none() || port(guest).is_none() {
        return Err(bad());
    }
    Ok(format!("hostfwd={proto}:{addr}:{host}-:{guest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn docker_rules_for_entrypoint_cmd_and_env() {
        let cfg = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"], "Env": ["A=1", "PATH=/x"],
                         "WorkingDir": "/w", "User": "app"});
        let s = resolve(&cfg, &Overrides::default(), &no_env).unwrap();
        assert_eq!(s.args, ["/ep", "a", "b"]);
        assert_eq!((s.cwd.as_str(), s.user.as_str()), ("/w", "app"));
        let o = Overrides {
            cmd: vec!["c".into()],
            env: vec!["A=2".into(), "HOSTVAR".into(), "NOTSET".into()],
            ..Default::default()
        };
        let host = |k: &str| (k == "HOSTVAR").then(|| "h".to_string());
        let s = resolve(&cfg, &o, &host).unwrap();
        assert_eq!(s.args, ["/ep", "c"]);
        assert_eq!(s.env, ["PATH=/x", "A=2", "HOSTVAR=h"]);
        let o = Overrides {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        };
        assert_eq!(resolve(&cfg, &o, &no_env).unwrap().args, ["/bin/sh"]);
        let o = Overrides {
            entrypoint: Some(String::new()),
            ..Default::default()
        };
        assert!(resolve(&cfg, &o, &no_env).is_err());
        let s = resolve(&json!({"Cmd": ["x"]}), &Overrides::default(), &no_env).unwrap();
        assert_eq!(s.env, [DEFAULT_PATH]);
        assert_eq!(s.cwd, "/");
    }

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut bytes = frame(b'O', b"hello");
        bytes.extend(frame(b'R', &[]));
        bytes.extend(frame(b'X', &42i32.to_le_bytes()));
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for b in &bytes {
            d.push(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(
            out,
            [
                GuestMsg::Stdout(b"hello".to_vec()),
                GuestMsg::Stderr(Vec::new()),
                GuestMsg::Exit(42)
            ]
        );
        assert!(Decoder::default()
            .push(&frame(b'?', b""), &mut out)
            .is_err());
    }

    #[test]
    fn volume_and_publish_specs() {
        assert_eq!(
            parse_volume("/h:/g:ro").unwrap(),
            ("/h".into(), "/g".into(), true)
        );
        assert_eq!(
            parse_volume("d:/g").unwrap(),
            ("d".into(), "/g".into(), false)
        );
        assert!(parse_volume("/h:g").is_err());
        assert_eq!(parse_publish("8080:80").unwrap(), "hostfwd=tcp::8080-:80");
        assert_eq!(
            parse_publish("127.0.0.1:53:53/udp").unwrap(),
            "hostfwd=udp:127.0.0.1:53-:53"
        );
        assert!(parse_publish("80").is_err());
    }
}
