//! TinyEMU machine configuration files (`petrel boot machine.cfg`): the relaxed JSON dialect of
//! TinyEMU's json.c and the meaning of its keys, turned into a [`MachineConfig`].
//!
//! The dialect is JSON plus what TinyEMU's own parser accepts and its sample files use:
//! object keys may be bare identifiers, a trailing comma may close an object or array, and
//! `//` and `/* */` comments may appear wherever blanks may. Numbers are integers only, as in
//! TinyEMU.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// A machine described by a TinyEMU configuration file. Paths are already resolved against the
/// file's directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineConfig {
    /// Always "riscv64" once parsed: other machines are rejected.
    pub machine: String,
    /// Guest RAM in MiB (`memory_size`).
    pub memory_mib: Option<u64>,
    pub bios: Option<PathBuf>,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    /// As written: TinyEMU's `${TZ}` substitution is left to the caller.
    pub cmdline: Option<String>,
    /// `drive0`, `drive1`, ... in order.
    pub drives: Vec<DriveConfig>,
    /// `fs0`, `fs1`, ... in order (virtio-9p exports).
    pub fs: Vec<FsConfig>,
    /// `eth0`, `eth1`, ... in order.
    pub eth: Vec<EthConfig>,
}

/// A virtio block device backed by an image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveConfig {
    pub file: PathBuf,
}

/// A host directory exported to the guest over virtio-9p under a mount tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsConfig {
    pub dir: PathBuf,
    /// TinyEMU's default when the file gives none: "/dev/root" for fs0, "/dev/rootN" after.
    pub tag: String,
}

/// A virtio network device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthConfig {
    /// "user" or "tap".
    pub driver: String,
    /// The host tap interface; always set for "tap", never for "user" (TinyEMU ignores it there).
    pub ifname: Option<String>,
}

/// Anything bigger is not a configuration file (someone passed a disk image by mistake), and
/// reading it whole would be costly.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Deep enough for any real file; bounded so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 32;

/// Reads and parses a configuration file. Errors are one line, prefixed with the file's path.
pub fn load(path: &Path) -> Result<MachineConfig, String> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{name}: too large for a configuration file (over {} KiB)",
            MAX_FILE_BYTES >> 10
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!(
            "{name}: line {}: not UTF-8 text",
            line_of(&bytes, e.valid_up_to())
        )
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    parse(text, base_dir).map_err(|e| format!("{name}: {e}"))
}

/// Parses configuration text. Relative paths in it are resolved against `base_dir`, as TinyEMU
/// resolves them against the configuration file's directory.
pub fn parse(text: &str, base_dir: &Path) -> Result<MachineConfig, String> {
    let root = Parser::new(text).document()?;
    interpret(root, base_dir)
}

// ---------------------------------------------------------------------------------------------
// The relaxed JSON layer.

/// Booleans and arrays are kept as kinds only: the one boolean key (rtc_local_time) is
/// ignored, and no key takes an array, but both must parse so that a misplaced one is reported
/// by key name rather than as a syntax error.
#[derive(Debug)]
enum Value {
    Str(String),
    Int(i64),
    Bool,
    Null,
    Array,
    Object(Vec<(String, Value)>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool => "a boolean",
            Value::Null => "null",
            Value::Array => "an array",
            Value::Object(_) => "an object",
        }
    }
}

fn line_of(bytes: &[u8], pos: usize) -> usize {
    1 + bytes[..pos.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

struct Parser<'a> {
    text: &'a str,
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        // Editors on Windows may prepend a byte order mark; it carries no meaning here.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Parser {
            text,
            src: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    fn err_at(&self, pos: usize, msg: impl std::fmt::Display) -> String {
        format!("line {}: {msg}", line_of(self.src, pos))
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// What sits at `pos`, for messages: "end of file", "'x'" or a byte value.
    fn describe(&self, pos: usize) -> String {
        match self.text.get(pos..).and_then(|s| s.chars().next()) {
            None if pos >= self.src.len() => "end of file".to_string(),
            None => format!("byte 0x{:02x}", self.src.get(pos).copied().unwrap_or(0)),
            Some(c) if c.is_control() => format!("character {c:?}"),
            Some(c) => format!("'{c}'"),
        }
    }

    fn skip_blank(&mut self) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'/') => match self.src.get(self.pos + 1) {
                    Some(b'/') => {
                        while !matches!(self.peek(), None | Some(b'\n')) {
                            self.pos += 1;
                        }
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        let body = self.pos + 2;
                        match self.src[body..].windows(2).position(|w| w == b"*/") {
                            Some(n) => self.pos = body + n + 2,
                            None => return Err(self.err_at(start, "unterminated /* comment")),
                        }
                    }
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    fn document(&mut self) -> Result<Value, String> {
        self.skip_blank()?;
        if self.peek() != Some(b'{') {
            return Err(self.err_at(
                self.pos,
                format!(
                    "expected '{{' to open the configuration, found {}",
                    self.describe(self.pos)
                ),
            ));
        }
        let root = self.object()?;
        self.skip_blank()?;
        if self.pos < self.src.len() {
            return Err(self.err_at(
                self.pos,
                format!(
                    "unexpected {} after the configuration's closing '}}'",
                    self.describe(self.pos)
                ),
            ));
        }
        Ok(root)
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_blank()?;
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) if is_ident_start(b) => {
                let start = self.pos;
                match self.ident() {
                    "true" | "false" => Ok(Value::Bool),
                    "null" => Ok(Value::Null),
                    word => Err(self.err_at(
                        start,
                        format!("unexpected word '{word}' (strings need double quotes)"),
                    )),
                }
            }
            _ => Err(self.err_at(
                self.pos,
                format!("expected a value, found {}", self.describe(self.pos)),
            )),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(self.pos, "nested too deeply"));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Value, String> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let mut fields: Vec<(String, Value)> = Vec::new();
        loop {
            self.skip_blank()?;
            let key_pos = self.pos;
            let key = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b'"') => self.string()?,
                Some(b) if is_ident_start(b) => self.ident().to_string(),
                None => return Err(self.unclosed(open, '{')),
                Some(_) => {
                    return Err(self.err_at(
                        self.pos,
                        format!("expected a key or '}}', found {}", self.describe(self.pos)),
                    ))
                }
            };
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(self.err_at(key_pos, format!("duplicate key '{key}'")));
            }
            // Reported where the key ends: a missing ':' is a mistake on that line.
            let key_end = self.pos;
            self.skip_blank()?;
            if self.peek() != Some(b':') {
                return Err(self.err_at(key_end, format!("expected ':' after key '{key}'")));
            }
            self.pos += 1;
            let value = self.value()?;
            fields.push((key, value));
            let value_end = self.pos;
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.unclosed(open, '{')),
                Some(_) => {
                    let key = fields.last().map(|(k, _)| k.as_str()).unwrap_or("");
                    return Err(self.err_at(
                        value_end,
                        format!("expected ',' or '}}' after the value of '{key}'"),
                    ));
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Object(fields))
    }

    fn array(&mut self) -> Result<Value, String> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        loop {
            self.skip_blank()?;
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.unclosed(open, '[')),
                Some(_) => {}
            }
            self.value()?;
            let value_end = self.pos;
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.unclosed(open, '[')),
                Some(_) => {
                    return Err(self.err_at(value_end, "expected ',' or ']' after an array item"))
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array)
    }

    fn unclosed(&self, open: usize, what: char) -> String {
        self.err_at(
            self.pos,
            format!(
                "unexpected end of file: the '{what}' on line {} is never closed",
                line_of(self.src, open)
            ),
        )
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        // Identifier bytes are ASCII, so both ends are character boundaries.
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let hex = self.src.get(self.pos) == Some(&b'0')
            && matches!(self.src.get(self.pos + 1), Some(b'x' | b'X'));
        if hex {
            self.pos += 2;
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|b| {
            if hex {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        }) {
            self.pos += 1;
        }
        let digits = self.text.get(digits_start..self.pos).unwrap_or("");
        let malformed = digits.is_empty()
            || self
                .peek()
                .is_some_and(|b| is_ident_char(b) || b == b'.' || b == b'+' || b == b'-');
        if malformed {
            while self
                .peek()
                .is_some_and(|b| is_ident_char(b) || matches!(b, b'.' | b'+' | b'-'))
            {
                self.pos += 1;
            }
            let token = self.text.get(start..self.pos).unwrap_or("");
            return Err(self.err_at(start, format!("'{token}' is not an integer")));
        }
        let magnitude = u64::from_str_radix(digits, if hex { 16 } else { 10 }).ok();
        let value = magnitude.and_then(|m| {
            let m = i128::from(m);
            i64::try_from(if negative { -m } else { m }).ok()
        });
        match value {
            Some(v) => Ok(Value::Int(v)),
            None => {
                let token = self.text.get(start..self.pos).unwrap_or("");
                Err(self.err_at(start, format!("number {token} is out of range")))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err_at(start, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let escape = self.pos;
                    self.pos += 1;
                    let simple = match self.peek() {
                        None => return Err(self.err_at(start, "unterminated string")),
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'/') => Some(b'/'),
                        Some(b'b') => Some(0x08),
                        Some(b'f') => Some(0x0c),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        Some(b'u') => None,
                        Some(_) => {
                            let c = self.text.get(self.pos..).and_then(|s| s.chars().next());
                            let c = c.map(|c| c.escape_debug().to_string()).unwrap_or_default();
                            return Err(
                                self.err_at(escape, format!("unknown escape '\\{c}' in a string"))
                            );
                        }
                    };
                    self.pos += 1;
                    match simple {
                        Some(b) => out.push(b),
                        None => {
                            let c = self.unicode_escape(escape)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
                // Raw control characters, newlines included, are kept as TinyEMU keeps them.
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.err_at(start, "string is not valid UTF-8"))
    }

    /// After `\u`: four hex digits, or a UTF-16 surrogate pair written as two escapes.
    fn unicode_escape(&mut self, escape: usize) -> Result<char, String> {
        let bad = |p: &Self| p.err_at(escape, "invalid \\u escape in a string");
        let high = self.hex4().ok_or_else(|| bad(self))?;
        let code = if (0xd800..0xdc00).contains(&high) {
            if self.src.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err(bad(self));
            }
            self.pos += 2;
            let low = self.hex4().ok_or_else(|| bad(self))?;
            if !(0xdc00..0xe000).contains(&low) {
                return Err(bad(self));
            }
            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| bad(self))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.src.get(self.pos..self.pos + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + char::from(d).to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }
}

// ---------------------------------------------------------------------------------------------
// The meaning of the keys.

fn interpret(root: Value, base_dir: &Path) -> Result<MachineConfig, String> {
    let Value::Object(fields) = root else {
        return Err("the configuration must be an object".to_string());
    };
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);

    // Version and machine first: for a file meant for another emulator version or machine,
    // those are the errors that explain everything else.
    match get("version") {
        None => return Err("missing 'version' (expected 1)".to_string()),
        Some(Value::Int(1)) => {}
        Some(Value::Int(v)) => return Err(format!("version {v} is not supported (expected 1)")),
        Some(v) => return Err(format!("'version' must be an integer, not {}", v.kind())),
    }
    let machine = match get("machine") {
        None => return Err("missing 'machine' (expected \"riscv64\")".to_string()),
        Some(Value::Str(m)) => m.as_str(),
        Some(v) => return Err(format!("'machine' must be a string, not {}", v.kind())),
    };
    match machine {
        "riscv64" => {}
        "riscv32" | "riscv128" | "pc" => {
            return Err(format!(
                "machine '{machine}' is not supported yet (riscv64 only)"
            ))
        }
        _ => {
            return Err(format!(
                "unknown machine '{machine}' (TinyEMU's are riscv32, riscv64, riscv128 and pc; \
                 petrel runs riscv64)"
            ))
        }
    }

    let mut cfg = MachineConfig {
        machine: machine.to_string(),
        ..MachineConfig::default()
    };
    let mut drives = Vec::new();
    let mut fs = Vec::new();
    let mut eth = Vec::new();
    for (key, value) in &fields {
        match key.as_str() {
            "version" | "machine" => {}
            "memory_size" => cfg.memory_mib = Some(memory_size(value)?),
            "bios" => cfg.bios = Some(path_value(key, value, base_dir)?),
            "kernel" => cfg.kernel = Some(path_value(key, value, base_dir)?),
            "initrd" => cfg.initrd = Some(path_value(key, value, base_dir)?),
            "cmdline" => cfg.cmdline = Some(string_value(key, value)?.to_string()),
            "display0" | "input_device" => {
                return Err(format!(
                    "unsupported key '{key}' (petrel has no graphical display)"
                ))
            }
            // TinyEMU reads these for every machine but only the PC uses them (KVM, the CMOS
            // clock), so a riscv64 file may carry them; petrel, like TinyEMU there, ignores
            // them once they are well-formed.
            "accel" => match string_value(key, value)? {
                "none" | "auto" => {}
                other => {
                    return Err(format!(
                        "'accel' must be \"none\" or \"auto\", not \"{other}\""
                    ))
                }
            },
            "rtc_local_time" => {
                if !matches!(value, Value::Bool) {
                    return Err(format!(
                        "'rtc_local_time' must be true or false, not {}",
                        value.kind()
                    ));
                }
            }
            _ => {
                if let Some(n) = indexed(key, "drive") {
                    drives.push((n, drive(key, value, base_dir)?));
                } else if let Some(n) = indexed(key, "fs") {
                    fs.push((n, fs_export(key, value, base_dir, n)?));
                } else if let Some(n) = indexed(key, "eth") {
                    eth.push((n, eth_device(key, value)?));
                } else {
                    return Err(format!("unknown key '{key}'"));
                }
            }
        }
    }
    cfg.drives = numbered("drive", drives)?;
    cfg.fs = numbered("fs", fs)?;
    cfg.eth = numbered("eth", eth)?;
    Ok(cfg)
}

/// `drive3` → 3. Leading zeros are not TinyEMU's spelling ("drive%d"), so "drive01" is not one.
fn indexed(key: &str, prefix: &str) -> Option<u32> {
    let digits = key.strip_prefix(prefix)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// TinyEMU looks devices up as prefix0, prefix1, ... and stops at the first missing number, so
/// a gap would silently drop devices there; here it is an error.
fn numbered<T>(prefix: &str, mut items: Vec<(u32, T)>) -> Result<Vec<T>, String> {
    items.sort_by_key(|(n, _)| *n);
    let mut out = Vec::with_capacity(items.len());
    for (expected, (n, item)) in items.into_iter().enumerate() {
        if u64::from(n) != expected as u64 {
            return Err(format!(
                "{prefix}{n} without {prefix}{expected} (numbering starts at 0 with no gaps)"
            ));
        }
        out.push(item);
    }
    Ok(out)
}

fn memory_size(value: &Value) -> Result<u64, String> {
    match value {
        Value::Int(v) if *v <= 0 => Err(format!("memory_size {v} must be positive (MiB)")),
        // Bytes must fit in 64 bits.
        Value::Int(v) if (*v as u64) > (u64::MAX >> 20) => {
            Err(format!("memory_size {v} MiB is too large"))
        }
        Value::Int(v) => Ok(*v as u64),
        v => Err(format!(
            "'memory_size' must be an integer (MiB), not {}",
            v.kind()
        )),
    }
}

fn string_value<'v>(key: &str, value: &'v Value) -> Result<&'v str, String> {
    match value {
        Value::Str(s) => Ok(s),
        v => Err(format!("'{key}' must be a string, not {}", v.kind())),
    }
}

/// Resolves like TinyEMU's get_file_path: absolute paths stay, relative ones are taken from the
/// configuration file's directory. TinyEMU can also fetch URLs; petrel opens local files only.
fn path_value(key: &str, value: &Value, base_dir: &Path) -> Result<PathBuf, String> {
    let s = string_value(key, value)?;
    if s.is_empty() {
        return Err(format!("'{key}' is an empty path"));
    }
    if s.contains("://") {
        return Err(format!(
            "'{key}' is a URL ({s}); petrel opens local files only"
        ));
    }
    let path = Path::new(s);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    })
}

/// The fields of a `driveN`/`fsN`/`ethN` object, checked against the names it may use.
fn sub_fields<'v>(
    key: &str,
    value: &'v Value,
    allowed: &[&str],
    example: &str,
) -> Result<&'v [(String, Value)], String> {
    let Value::Object(fields) = value else {
        return Err(format!(
            "'{key}' must be an object like {example}, not {}",
            value.kind()
        ));
    };
    if let Some((name, _)) = fields.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown key '{key}.{name}' (expected {})",
            allowed.join(", ")
        ));
    }
    Ok(fields)
}

fn field<'v>(fields: &'v [(String, Value)], name: &str) -> Option<&'v Value> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn drive(key: &str, value: &Value, base_dir: &Path) -> Result<DriveConfig, String> {
    let fields = sub_fields(key, value, &["file", "device"], "{ file: \"disk.img\" }")?;
    let file = field(fields, "file").ok_or_else(|| format!("'{key}' needs a 'file'"))?;
    // `device` picks IDE over virtio on TinyEMU's PC; riscv64 ignores it.
    if let Some(device) = field(fields, "device") {
        string_value(&format!("{key}.device"), device)?;
    }
    Ok(DriveConfig {
        file: path_value(&format!("{key}.file"), file, base_dir)?,
    })
}

fn fs_export(key: &str, value: &Value, base_dir: &Path, n: u32) -> Result<FsConfig, String> {
    let fields = sub_fields(
        key,
        value,
        &["file", "tag"],
        "{ file: \"dir\", tag: \"share\" }",
    )?;
    let dir = field(fields, "file").ok_or_else(|| format!("'{key}' needs a 'file'"))?;
    let tag = match field(fields, "tag") {
        Some(tag) => {
            let tag = string_value(&format!("{key}.tag"), tag)?;
            if tag.is_empty() {
                return Err(format!("'{key}.tag' is empty"));
            }
            tag.to_string()
        }
        None if n == 0 => "/dev/root".to_string(),
        None => format!("/dev/root{n}"),
    };
    Ok(FsConfig {
        dir: path_value(&format!("{key}.file"), dir, base_dir)?,
        tag,
    })
}

fn eth_device(key: &str, value: &Value) -> Result<EthConfig, String> {
    let fields = sub_fields(key, value, &["driver", "ifname"], "{ driver: \"user\" }")?;
    let driver = field(fields, "driver").ok_or_else(|| format!("'{key}' needs a 'driver'"))?;
    let driver = string_value(&format!("{key}.driver"), driver)?;
    let ifname = match field(fields, "ifname") {
        Some(v) => Some(string_value(&format!("{key}.ifname"), v)?),
        None => None,
    };
    match driver {
        "user" => Ok(EthConfig {
            driver: driver.to_string(),
            ifname: None,
        }),
        "tap" => match ifname {
            Some(name) if !name.is_empty() => Ok(EthConfig {
                driver: driver.to_string(),
                ifname: Some(name.to_string()),
            }),
            _ => Err(format!(
                "'{key}' uses driver \"tap\" and needs an 'ifname' (the host tap interface)"
            )),
        },
        other => Err(format!(
            "'{key}.driver' must be \"user\" or \"tap\", not \"{other}\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the riscv64 files TinyEMU and JSLinux ship.
    const SAMPLE: &str = r#"/* VM configuration file */
{
    version: 1,
    machine: "riscv64",
    memory_size: 256, // MiB
    bios: "bbl64.bin",
    kernel: "kernel-riscv64.bin",
    initrd: "/boot/initrd.img",
    cmdline: "console=hvc0 root=/dev/vda rw",
    drive0: { file: "root-riscv64.bin" },
    drive1: { file: "data.img", device: "virtio", },
    /* a 9p export with the default tag, then a named one */
    fs0: { file: "/tmp" },
    fs1: { "file": "share", "tag": "hostshare" },
    eth0: { driver: "user" },
    eth1: { driver: "tap", ifname: "tap0" },
    accel: "none",
    rtc_local_time: false,
}
"#;

    fn parse_ok(text: &str) -> MachineConfig {
        match parse(text, Path::new("/vm")) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(text, Path::new("/vm")) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    fn minimal(extra: &str) -> String {
        format!("{{ version: 1, machine: \"riscv64\", {extra} }}")
    }

    #[test]
    fn sample_file() {
        let c = parse_ok(SAMPLE);
        assert_eq!(c.machine, "riscv64");
        assert_eq!(c.memory_mib, Some(256));
        assert_eq!(c.bios, Some(PathBuf::from("/vm/bbl64.bin")));
        assert_eq!(c.kernel, Some(PathBuf::from("/vm/kernel-riscv64.bin")));
        assert_eq!(c.initrd, Some(PathBuf::from("/boot/initrd.img")));
        assert_eq!(c.cmdline.as_deref(), Some("console=hvc0 root=/dev/vda rw"));
        assert_eq!(
            c.drives,
            vec![
                DriveConfig {
                    file: PathBuf::from("/vm/root-riscv64.bin")
                },
                DriveConfig {
                    file: PathBuf::from("/vm/data.img")
                },
            ]
        );
        assert_eq!(
            c.fs,
            vec![
                FsConfig {
                    dir: PathBuf::from("/tmp"),
                    tag: "/dev/root".into()
                },
                FsConfig {
                    dir: PathBuf::from("/vm/share"),
                    tag: "hostshare".into()
                },
            ]
        );
        assert_eq!(
            c.eth,
            vec![
                EthConfig {
                    driver: "user".into(),
                    ifname: None
                },
                EthConfig {
                    driver: "tap".into(),
                    ifname: Some("tap0".into())
                },
            ]
        );
    }

    #[test]
    fn minimal_file_and_plain_json() {
        let c = parse_ok(r#"{"version":1,"machine":"riscv64"}"#);
        assert_eq!(
            c,
            MachineConfig {
                machine: "riscv64".into(),
                ..MachineConfig::default()
            }
        );
        let c = parse_ok("\u{feff}{version:1,machine:\"riscv64\",memory_size:0x80}");
        assert_eq!(c.memory_mib, Some(128));
    }

    #[test]
    fn default_fs_tags_follow_tinyemu() {
        let c = parse_ok(&minimal(
            "fs0: { file: \"a\", tag: \"x\" }, fs1: { file: \"b\" }, fs2: { file: \"c\" },",
        ));
        let tags: Vec<&str> = c.fs.iter().map(|f| f.tag.as_str()).collect();
        assert_eq!(tags, ["x", "/dev/root1", "/dev/root2"]);
    }

    #[test]
    fn devices_keep_numeric_order_whatever_the_file_order() {
        let c = parse_ok(&minimal(
            "drive1: { file: \"b\" }, drive10: { file: \"k\" }, drive0: { file: \"a\" }, \
             drive2: { file: \"c\" }, drive3: { file: \"d\" }, drive4: { file: \"e\" }, \
             drive5: { file: \"f\" }, drive6: { file: \"g\" }, drive7: { file: \"h\" }, \
             drive8: { file: \"i\" }, drive9: { file: \"j\" }",
        ));
        let names: Vec<String> = c
            .drives
            .iter()
            .map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
        );
    }

    #[test]
    fn path_resolution() {
        let cfg = minimal("bios: \"fw.bin\", kernel: \"../k/Image\", initrd: \"/abs/initrd\"");
        let c = parse(&cfg, Path::new("/srv/vm")).unwrap();
        assert_eq!(c.bios, Some(PathBuf::from("/srv/vm/fw.bin")));
        assert_eq!(c.kernel, Some(PathBuf::from("/srv/vm/../k/Image")));
        assert_eq!(c.initrd, Some(PathBuf::from("/abs/initrd")));
        // A file named without a directory resolves against the current directory.
        let c = parse(&cfg, Path::new("")).unwrap();
        assert_eq!(c.bios, Some(PathBuf::from("fw.bin")));
        let c = parse(&cfg, Path::new("rel/dir")).unwrap();
        assert_eq!(c.kernel, Some(PathBuf::from("rel/dir/../k/Image")));
    }

    #[test]
    fn load_resolves_against_the_file_directory_and_prefixes_errors() {
        let dir = std::env::temp_dir().join(format!("petrel-cfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("machine.cfg");
        std::fs::write(&good, SAMPLE).unwrap();
        let c = load(&good).unwrap();
        assert_eq!(c.bios, Some(dir.join("bbl64.bin")));

        let bad = dir.join("bad.cfg");
        std::fs::write(&bad, "{\n version: 1,\n machine \"riscv64\"\n}").unwrap();
        assert_eq!(
            load(&bad).unwrap_err(),
            format!(
                "{}: line 3: expected ':' after key 'machine'",
                bad.display()
            )
        );

        std::fs::write(&bad, b"{ version: 1,\n cmdline: \"\xff\" }").unwrap();
        assert_eq!(
            load(&bad).unwrap_err(),
            format!("{}: line 2: not UTF-8 text", bad.display())
        );

        std::fs::write(&bad, vec![b' '; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(load(&bad).unwrap_err().contains("too large"));

        let missing = dir.join("missing.cfg");
        let e = load(&missing).unwrap_err();
        assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn strings_and_escapes() {
        let c = parse_ok(&minimal(
            r#"cmdline: "a\"b\\c\/d\te\u00e9\ud83d\ude00 ${TZ}""#,
        ));
        assert_eq!(c.cmdline.as_deref(), Some("a\"b\\c/d\teé😀 ${TZ}"));
        let c = parse_ok(&minimal("cmdline: \"multi\nline ünïcode\""));
        assert_eq!(c.cmdline.as_deref(), Some("multi\nline ünïcode"));
    }

    #[test]
    fn comments_everywhere() {
        let c = parse_ok(
            "// leading\n{ /* a */ version /* b */ : /* c */ 1 // d\n , machine: // e\n \
             \"riscv64\" /* f */ , /* g */ } // trailing\n/* end */",
        );
        assert_eq!(c.machine, "riscv64");
        // A comment marker inside a string is text.
        let c = parse_ok(&minimal("cmdline: \"a // b /* c */\""));
        assert_eq!(c.cmdline.as_deref(), Some("a // b /* c */"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let cases: &[(&str, &str)] = &[
            (
                "",
                "line 1: expected '{' to open the configuration, found end of file",
            ),
            (
                "  // only a comment\n",
                "line 2: expected '{' to open the configuration, found end of file",
            ),
            (
                "[1]",
                "line 1: expected '{' to open the configuration, found '['",
            ),
            (
                "{\n version: 1\n machine: \"riscv64\" }",
                "line 2: expected ',' or '}' after the value of 'version'",
            ),
            (
                "{\n version: 1,\n machine \"riscv64\" }",
                "line 3: expected ':' after key 'machine'",
            ),
            (
                "{\n version: 1,\n\n",
                "line 4: unexpected end of file: the '{' on line 1 is never closed",
            ),
            (
                "{ version: 1, machine: \"riscv64",
                "line 1: unterminated string",
            ),
            ("{ version: 1,\n /* open", "line 2: unterminated /* comment"),
            (
                "{ version: 1, , }",
                "line 1: expected a key or '}', found ','",
            ),
            ("{ version: 1.5 }", "line 1: '1.5' is not an integer"),
            ("{ version: 1e3 }", "line 1: '1e3' is not an integer"),
            ("{ version: - }", "line 1: '-' is not an integer"),
            ("{ version: 0x }", "line 1: '0x' is not an integer"),
            (
                "{ version: 99999999999999999999 }",
                "line 1: number 99999999999999999999 is out of range",
            ),
            (
                "{ machine: riscv64 }",
                "line 1: unexpected word 'riscv64' (strings need double quotes)",
            ),
            (
                "{ machine: 'riscv64' }",
                "line 1: expected a value, found '''",
            ),
            (
                "{ version: 1, version: 1 }",
                "line 1: duplicate key 'version'",
            ),
            (
                "{ cmdline: \"\\q\" }",
                "line 1: unknown escape '\\q' in a string",
            ),
            (
                "{ cmdline: \"\\u12g4\" }",
                "line 1: invalid \\u escape in a string",
            ),
            (
                "{ cmdline: \"\\ud800x\" }",
                "line 1: invalid \\u escape in a string",
            ),
            (
                "{ cmdline: \"\\udc00\" }",
                "line 1: invalid \\u escape in a string",
            ),
            (
                "{ a: [1, 2 3] }",
                "line 1: expected ',' or ']' after an array item",
            ),
            (
                "{ a: [1, 2",
                "line 1: unexpected end of file: the '[' on line 1 is never closed",
            ),
            (
                "{ version: 1, machine: \"riscv64\" }\n}",
                "line 2: unexpected '}' after the configuration's closing '}'",
            ),
            (
                "{ version: 1 } {",
                "line 1: unexpected '{' after the configuration's closing '}'",
            ),
            (
                "{ version: \u{1}1 }",
                "line 1: expected a value, found character '\\u{1}'",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_err(text), *want, "input: {text:?}");
        }
        let deep = format!("{{ a: {}{} }}", "[".repeat(100), "]".repeat(100));
        assert!(parse_err(&deep).ends_with("nested too deeply"));
    }

    #[test]
    fn meaning_errors() {
        let cases: &[(&str, &str)] = &[
            ("{ machine: \"riscv64\" }", "missing 'version' (expected 1)"),
            (
                "{ version: 2, machine: \"riscv64\" }",
                "version 2 is not supported (expected 1)",
            ),
            (
                "{ version: 0, machine: \"pc\" }",
                "version 0 is not supported (expected 1)",
            ),
            (
                "{ version: \"1\", machine: \"riscv64\" }",
                "'version' must be an integer, not a string",
            ),
            ("{ version: 1 }", "missing 'machine' (expected \"riscv64\")"),
            (
                "{ version: 1, machine: 64 }",
                "'machine' must be a string, not an integer",
            ),
            (
                "{ version: 1, machine: \"pc\" }",
                "machine 'pc' is not supported yet (riscv64 only)",
            ),
            (
                "{ version: 1, machine: \"riscv32\" }",
                "machine 'riscv32' is not supported yet (riscv64 only)",
            ),
            (
                "{ version: 1, machine: \"riscv128\" }",
                "machine 'riscv128' is not supported yet (riscv64 only)",
            ),
            (
                "{ version: 1, machine: \"arm\" }",
                "unknown machine 'arm' (TinyEMU's are riscv32, riscv64, riscv128 and pc; \
              petrel runs riscv64)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_err(text), *want, "input: {text:?}");
        }
        let keyed: &[(&str, &str)] = &[
            (
                "display0: { device: \"simplefb\", width: 1024, height: 768 }",
                "unsupported key 'display0' (petrel has no graphical display)",
            ),
            (
                "input_device: \"virtio\"",
                "unsupported key 'input_device' (petrel has no graphical display)",
            ),
            (
                "accel: \"kvm\"",
                "'accel' must be \"none\" or \"auto\", not \"kvm\"",
            ),
            ("accel: 1", "'accel' must be a string, not an integer"),
            (
                "rtc_local_time: 1",
                "'rtc_local_time' must be true or false, not an integer",
            ),
            (
                "memory_size: \"256\"",
                "'memory_size' must be an integer (MiB), not a string",
            ),
            ("memory_size: 0", "memory_size 0 must be positive (MiB)"),
            ("memory_size: -5", "memory_size -5 must be positive (MiB)"),
            (
                "memory_size: 0x7fffffffffffffff",
                "memory_size 9223372036854775807 MiB is too large",
            ),
            ("bios: 1", "'bios' must be a string, not an integer"),
            ("kernel: null", "'kernel' must be a string, not null"),
            ("initrd: \"\"", "'initrd' is an empty path"),
            (
                "cmdline: [\"a\"]",
                "'cmdline' must be a string, not an array",
            ),
            (
                "bios: \"http://example.com/bbl64.bin\"",
                "'bios' is a URL (http://example.com/bbl64.bin); petrel opens local files only",
            ),
            ("frobnicate: 1", "unknown key 'frobnicate'"),
            ("drive: { file: \"a\" }", "unknown key 'drive'"),
            ("drive01: { file: \"a\" }", "unknown key 'drive01'"),
            (
                "drive99999999999: { file: \"a\" }",
                "unknown key 'drive99999999999'",
            ),
            (
                "drive0: \"a.img\"",
                "'drive0' must be an object like { file: \"disk.img\" }, not a string",
            ),
            ("drive0: {}", "'drive0' needs a 'file'"),
            (
                "drive0: { file: 1 }",
                "'drive0.file' must be a string, not an integer",
            ),
            (
                "drive0: { file: \"a\", device: 1 }",
                "'drive0.device' must be a string, not an integer",
            ),
            (
                "drive0: { file: \"a\", size: 1 }",
                "unknown key 'drive0.size' (expected file, device)",
            ),
            (
                "drive1: { file: \"a\" }",
                "drive1 without drive0 (numbering starts at 0 with no gaps)",
            ),
            (
                "drive0: { file: \"a\" }, drive2: { file: \"c\" }",
                "drive2 without drive1 (numbering starts at 0 with no gaps)",
            ),
            ("fs0: { tag: \"x\" }", "'fs0' needs a 'file'"),
            ("fs0: { file: \"d\", tag: \"\" }", "'fs0.tag' is empty"),
            (
                "fs0: { file: \"d\", tag: 3 }",
                "'fs0.tag' must be a string, not an integer",
            ),
            (
                "fs0: { file: \"d\", mode: 1 }",
                "unknown key 'fs0.mode' (expected file, tag)",
            ),
            (
                "fs1: { file: \"d\" }",
                "fs1 without fs0 (numbering starts at 0 with no gaps)",
            ),
            ("eth0: {}", "'eth0' needs a 'driver'"),
            (
                "eth0: { driver: \"vde\" }",
                "'eth0.driver' must be \"user\" or \"tap\", not \"vde\"",
            ),
            (
                "eth0: { driver: \"tap\" }",
                "'eth0' uses driver \"tap\" and needs an 'ifname' (the host tap interface)",
            ),
            (
                "eth0: { driver: \"tap\", ifname: \"\" }",
                "'eth0' uses driver \"tap\" and needs an 'ifname' (the host tap interface)",
            ),
            (
                "eth0: { driver: \"user\", ifname: 7 }",
                "'eth0.ifname' must be a string, not an integer",
            ),
            (
                "eth0: { driver: \"user\", mac: \"x\" }",
                "unknown key 'eth0.mac' (expected driver, ifname)",
            ),
            (
                "eth0: true",
                "'eth0' must be an object like { driver: \"user\" }, not a boolean",
            ),
        ];
        for (extra, want) in keyed {
            assert_eq!(parse_err(&minimal(extra)), *want, "input: {extra:?}");
        }
    }

    #[test]
    fn tolerated_tinyemu_keys() {
        let c = parse_ok(&minimal(
            "accel: \"auto\", rtc_local_time: true, eth0: { driver: \"user\", ifname: \"x\" }",
        ));
        assert_eq!(c.eth[0].ifname, None);
    }

    /// Every prefix of a valid file, and every single-byte corruption of it, must give Ok or
    /// Err; the harness turns a panic into a failure.
    #[test]
    fn truncated_and_corrupted_inputs_never_panic() {
        let mut oks = 0;
        for end in 0..=SAMPLE.len() {
            if let Some(prefix) = SAMPLE.get(..end) {
                if parse(prefix, Path::new("/vm")).is_ok() {
                    oks += 1;
                }
            }
        }
        // Only the prefixes that reach the closing brace parse.
        assert!(oks >= 1);
        let bytes = SAMPLE.as_bytes();
        let specials = [
            b'{', b'}', b'[', b']', b'"', b'\\', b'/', b'*', b':', b',', b'-', 0, 0xff,
        ];
        for i in 0..bytes.len() {
            for &s in &specials {
                let mut v = bytes.to_vec();
                v[i] = s;
                if let Ok(text) = std::str::from_utf8(&v) {
                    let _ = parse(text, Path::new("/vm"));
                }
            }
            // Deleting a byte shifts everything after it.
            let mut v = bytes.to_vec();
            v.remove(i);
            if let Ok(text) = std::str::from_utf8(&v) {
                let _ = parse(text, Path::new("/vm"));
            }
        }
    }

    #[test]
    fn pseudo_random_garbage_never_panics() {
        let alphabet = b"{}[]\":,/*\\-0x19aeu \n\tversion machine drive0 file\xc3\xa9";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (state % 48) as usize;
            let mut s = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&s);
            let _ = parse(&text, Path::new(""));
            let _ = parse(
                &format!("{{ version: 1, machine: \"riscv64\", {text}"),
                Path::new(""),
            );
        }
    }
}
