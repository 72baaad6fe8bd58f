#!/usr/bin/env python3
"""QEMU test bed for petrel-run, the guest's container init (independent of petrel's host side).

Boots the bundled riscv64 guest in qemu-system-riscv64 with rdinit=/sbin/petrel-run, a small
lz4 squashfs image (Debian's riscv64 busybox-static + /etc/passwd, /etc/group) as /dev/vda, a
virtio-serial port named petrel.run on a unix socket, user networking and two 9p shares, then
speaks petrel-run's protocol over the socket (frames: type byte, u32 LE length, payload) and
checks the results. One machine per case, run one after another.

    python3 guest-images/container-init/qemu-check.py            # all cases
    python3 guest-images/container-init/qemu-check.py tty sigint # cases whose name contains a word
    options: --kernel IMAGE[.gz] --initrd CPIO.gz --bios fw_dynamic.bin --busybox BUSYBOX -v

Needs qemu-system-misc and squashfs-tools (apt). Defaults are guest-images/riscv64/* and the
busybox that guest-images/riscv64/build.sh unpacked into ~/.cache/petrel/guest-riscv64/.
"""
import argparse
import gzip
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "..", "riscv64")


def frame(t, payload=b""):
    return t.encode() + struct.pack("<I", len(payload)) + payload


def config(args, env=(), **kw):
    """'C' payload: key\\0value\\0 ...; kw values may be lists for repeated keys. rootfs is
    /dev/vda unless _norootfs is given."""
    if kw.pop("_norootfs", None) is None:
        kw.setdefault("rootfs", "/dev/vda")
    out = b""
    for a in args:
        out += b"arg\0" + a.encode() + b"\0"
    for e in env:
        out += b"env\0" + e.encode() + b"\0"
    for k, v in kw.items():
        for one in v if isinstance(v, list) else [v]:
            out += k.encode() + b"\0" + one.encode() + b"\0"
    return out


class Guest:
    def __init__(self, opts, workdir, name, extra_qemu=()):
        self.sock_path = os.path.join(workdir, "port.sock")
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.log_path = os.path.join(workdir, f"console-{name}.log")
        self.log = open(self.log_path, "wb")
        cmd = [
            "qemu-system-riscv64", "-M", "virt", "-m", "256M", "-nographic", "-no-reboot",
            "-bios", opts.bios, "-kernel", opts.kernel_raw, "-initrd", opts.initrd,
            "-append", "console=ttyS0 quiet rdinit=/sbin/petrel-run",
            "-drive", f"file={opts.rootfs},if=none,id=d0,format=raw,readonly=on",
            "-device", "virtio-blk-device,drive=d0",
            "-device", "virtio-serial-device",
            "-chardev", f"socket,id=ch0,path={self.sock_path},server=on,wait=off",
            "-device", "virtserialport,chardev=ch0,name=petrel.run",
            "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
            "-fsdev", f"local,id=fs0,path={opts.vol_rw},security_model=none",
            "-device", "virtio-9p-device,fsdev=fs0,mount_tag=volrw",
            "-fsdev", f"local,id=fs1,path={opts.vol_ro},security_model=none",
            "-device", "virtio-9p-device,fsdev=fs1,mount_tag=volro",
            *extra_qemu,
        ]
        self.t0 = time.monotonic()
        self.qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(500):
            try:
                self.sock.connect(self.sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.01)
        else:
            raise RuntimeError("cannot connect to the QEMU port socket")
        self.rbuf = b""

    def send(self, t, payload=b""):
        self.sock.sendall(frame(t, payload))

    def recv_frame(self, timeout=60):
        """Next (type, payload), or None at end of stream."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.rbuf) >= 5:
                n = struct.unpack("<I", self.rbuf[1:5])[0]
                if len(self.rbuf) >= 5 + n:
                    t, p = chr(self.rbuf[0]), self.rbuf[5:5 + n]
                    self.rbuf = self.rbuf[5 + n:]
                    return t, p
            d = self.sock.recv(1 << 20)
            if not d:
                return None
            self.rbuf += d

    def collect(self, on_frame=None, timeout=90):
        """Reads until 'X'; returns (stdout, stderr, status, frames after X?)."""
        out, err, status = b"", b"", None
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(1, deadline - time.monotonic()))
            if f is None:
                break
            t, p = f
            if status is not None:
                raise AssertionError(f"frame {t!r} after 'X'")
            if t == "O":
                out += p
            elif t == "R":
                err += p
            elif t == "X":
                status = struct.unpack("<i", p)[0]
                self.elapsed = time.monotonic() - self.t0
                # After 'X' the guest powers off: the stream must end without more frames.
                try:
                    f2 = self.recv_frame(30)
                except (socket.timeout, ConnectionResetError):
                    f2 = None
                if f2 is not None:
                    raise AssertionError(f"frame {f2[0]!r} after 'X'")
                break
            else:
                raise AssertionError(f"unexpected frame type {t!r}")
            if on_frame:
                on_frame(t, p, out, err)
        return out, err, status

    def close(self):
        try:
            self.qemu.wait(timeout=30)
            powered_off = True
        except subprocess.TimeoutExpired:
            self.qemu.kill()
            self.qemu.wait()
            powered_off = False
        self.sock.close()
        self.log.close()
        return powered_off

    def console(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def run(opts, name, cfg, frames=(), on_frame=None, extra_qemu=()):
    g = Guest(opts, opts.workdir, name, extra_qemu)
    try:
        g.send("C", cfg)
        for t, p in frames:
            g.send(t, p)
        out, err, status = g.collect(on_frame=(lambda *a: on_frame(g, *a)) if on_frame else None)
    finally:
        off = g.close()
    if opts.verbose:
        print(f"    [{name}] status={status} {g.__dict__.get('elapsed', 0):.2f}s "
              f"out={out[:300]!r} err={err[:300]!r}")
    if not off:
        raise AssertionError("guest did not power off")
    return out, err, status, g


PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def eq(a, b, what):
    if a != b:
        raise AssertionError(f"{what}: got {a!r}, want {b!r}")


@case
def echo_hello(o):
    out, err, st, g = run(o, "echo_hello", config(["echo", "hello"], [PATH_ENV]))
    eq((out, err, st), (b"hello\n", b"", 0), "echo hello")
    return f"boot to exit {g.elapsed:.2f}s"


@case
def exit_42(o):
    _, _, st, _ = run(o, "exit_42", config(["sh", "-c", "exit 42"], [PATH_ENV]))
    eq(st, 42, "status")


@case
def killed_by_signal(o):
    _, _, st, _ = run(o, "killed", config(["sh", "-c", "kill -9 $$"], [PATH_ENV]))
    eq(st, 137, "status")


@case
def user_app(o):
    out, _, st, _ = run(o, "user_app", config(
        ["sh", "-c", 'id -u; id -g; id -G; echo "$HOME"'], [PATH_ENV], user="app"))
    # the kernel sorts supplementary groups
    eq((out, st), (b"1000\n1000\n1000 29 50\n/home/app\n", 0), "user app")


@case
def user_forms(o):
    script = 'id -u; id -g; id -G; echo "$HOME"'
    for spec, want in [
        ("1000", "1000\n1000\n1000 29 50\n/home/app\n"),     # numeric uid found in passwd
        ("app:staff", "1000\n50\n50\n/home/app\n"),          # explicit group: no supplementary
        ("app:77", "1000\n77\n77\n/home/app\n"),             # numeric gid not in /etc/group
        ("4242", "4242\n0\n0\n/\n"),                         # uid not in passwd: gid 0, HOME /
        ("4242:audio", "4242\n29\n29\n/\n"),
        ("", "0\n0\n0\n/root\n"),                            # default: root
    ]:
        out, err, st, _ = run(o, "user_" + spec.replace(":", "_"),
                              config(["sh", "-c", script], [PATH_ENV], user=spec))
        eq((out.decode(), st), (want, 0), f"user {spec!r} (stderr {err!r})")


@case
def user_unknown(o):
    for spec, msg in [("bob", b"petrel-run: unable to find user bob: no matching entries in passwd file\n"),
                      ("app:nosuch", b"petrel-run: unable to find group nosuch: no matching entries in group file\n")]:
        out, err, st, _ = run(o, "user_unknown", config(["id"], [PATH_ENV], user=spec))
        eq((out, err, st), (b"", msg, 125), f"user {spec!r}")


@case
def cwd_created(o):
    out, _, st, _ = run(o, "cwd", config(["sh", "-c", "pwd; ls -ld . | cut -c1-10"], [PATH_ENV],
                                         cwd="/work/new dir"))
    eq((out, st), (b"/work/new dir\ndrwxr-xr-x\n", 0), "cwd")


@case
def env_exact(o):
    env = [PATH_ENV, "FOO=bar baz", "EMPTY=", "HOME=/custom"]
    out, _, st, _ = run(o, "env", config(["env"], env))
    eq((sorted(out.decode().splitlines()), st), (sorted(env), 0), "env")
    out, _, st, _ = run(o, "env_home", config(["env"], ["A=1"]))   # no PATH, no HOME given
    eq((sorted(out.decode().splitlines()), st), (["A=1", "HOME=/root"], 0), "env without HOME")


@case
def stdin_pipe(o):
    data = b"line one\nline two\n" + bytes(range(256)) * 4000   # ~1 MiB incl. binary
    frames = [("I", data[i:i + 30000]) for i in range(0, len(data), 30000)] + [("E", b"")]
    out, err, st, _ = run(o, "stdin", config(["cat"], [PATH_ENV]), frames)
    eq((len(out), out == data, err, st), (len(data), True, b"", 0), "cat stdin")
    out, _, st, _ = run(o, "stdin_wc", config(["wc", "-c"], [PATH_ENV]), [("E", b"")])
    eq((out.strip(), st), (b"0", 0), "empty stdin")


@case
def stdin_not_read(o):
    # 4 MiB of stdin to a process that never reads it must not stall its output.
    frames = [("I", b"x" * 65536)] * 64
    out, _, st, _ = run(o, "stdin_unread", config(["sh", "-c", "seq 1 30000; exit 3"], [PATH_ENV]),
                        frames)
    eq((out == "".join(f"{i}\n" for i in range(1, 30001)).encode(), st), (True, 3), "output")


@case
def stdin_closed_early(o):
    # head stops reading after 10 bytes: the rest of stdin is dropped (EPIPE), no stall.
    frames = [("I", b"0123456789" * 100000), ("I", b"more"), ("E", b"")]
    out, err, st, _ = run(o, "stdin_head", config(["head", "-c", "10"], [PATH_ENV]), frames)
    eq((out, err, st), (b"0123456789", b"", 0), "head -c 10")


@case
def stderr_separate(o):
    out, err, st, _ = run(o, "stderr", config(
        ["sh", "-c", "echo out; echo err >&2; echo out2; echo err2 >&2"], [PATH_ENV]))
    eq((out, err, st), (b"out\nout2\n", b"err\nerr2\n", 0), "stderr")


@case
def large_output(o):
    out, _, st, _ = run(o, "large_out", config(["seq", "1", "300000"], [PATH_ENV]))
    want = "".join(f"{i}\n" for i in range(1, 300001)).encode()
    eq((len(out), out == want, st), (len(want), True, 0), "seq 300000")


@case
def slow_host(o):
    # The host does not read for 3 s while 2 MB of output are produced: petrel-run stops
    # reading the pipe (backpressure) and nothing is lost or reordered. (The process then
    # lingers: up to ~4 MB can sit in the port's virtqueue, which QEMU drains only as the
    # socket is read; a guest that powers off sooner loses what QEMU had not taken yet.
    # petrel's host must drain the queue on power-off; see petrel-run.c.)
    g = Guest(o, o.workdir, "slow_host")
    try:
        g.send("C", config(["sh", "-c", "seq 1 300000; sleep 4; echo end >&2; exit 7"], [PATH_ENV]))
        time.sleep(3)
        out, err, st = g.collect()
    finally:
        off = g.close()
    want = "".join(f"{i}\n" for i in range(1, 300001)).encode()
    eq((out == want, err, st, off), (True, b"end\n", 7, True), "slow host")


@case
def host_disconnect(o):
    # The host going away mid-run: the guest kills the process and powers off.
    g = Guest(o, o.workdir, "disconnect")
    g.send("C", config(["sh", "-c", "echo up; sleep 100"], [PATH_ENV]))
    eq(g.recv_frame(), ("O", b"up\n"), "first output")
    g.sock.close()
    t = time.monotonic()
    eq(g.qemu.wait(timeout=30), 0, "qemu exit status")
    g.log.close()
    return f"powered off {time.monotonic() - t:.2f}s after the disconnect"


@case
def early_signal(o):
    # 'S' right behind 'C', before the process exists: delivered once it does.
    out, _, st, _ = run(o, "early_sig", config(["sleep", "100"], [PATH_ENV]), [("S", bytes([2]))])
    eq((out, st), (b"", 130), "early SIGINT")


@case
def large_env(o):
    env = [PATH_ENV] + [f"V{i:04d}={'x' * 100}" for i in range(1000)] + ["BIG=" + "y" * 100000]
    cfg = config(["sh", "-c", 'env | grep -c ^V; echo ${#BIG}; echo "$V0999" | wc -c'], env)
    out, err, st, _ = run(o, "large_env", cfg)
    eq((out, st), (b"1000\n100000\n101\n", 0), f"large env ({len(cfg)} bytes config, err {err!r})")
    return f"config {len(cfg) // 1024} KiB"


@case
def huge_config(o):
    env = [PATH_ENV] + [f"W{i:05d}={'z' * 120}" for i in range(12000)]   # ~1.5 MiB
    cfg = config(["sh", "-c", "env | grep -c ^W; echo $W11999 | wc -c"], env, unknownkey="ignored")
    out, err, st, _ = run(o, "huge_cfg", cfg)
    eq((out, st), (b"12000\n121\n", 0), f"huge config (err {err!r})")
    return f"config {len(cfg) // 1024} KiB"


@case
def exec_errors(o):
    for args, want_err, want_st in [
        (["nosuchprog"], b'petrel-run: exec "nosuchprog": executable file not found in $PATH\n', 127),
        (["/no/such"], b'petrel-run: exec "/no/such": no such file or directory\n', 127),
        (["/usr/bin/noexec.sh"], b'petrel-run: exec "/usr/bin/noexec.sh": permission denied\n', 126),
        (["noexec.sh"], b'petrel-run: exec "noexec.sh": executable file not found in $PATH\n', 127),
        (["/etc"], b'petrel-run: exec "/etc": permission denied\n', 126),
        (["/usr/bin/badinterp"], b'petrel-run: exec "/usr/bin/badinterp": no such file or directory\n', 127),
    ]:
        out, err, st, _ = run(o, "exec_err", config(args, [PATH_ENV]))
        eq((out, err, st), (b"", want_err, want_st), f"exec {args}")


@case
def bad_config(o):
    out, err, st, _ = run(o, "no_rootfs", config(["true"], [PATH_ENV], _norootfs="1"))
    eq((err, st), (b"petrel-run: config: no rootfs\n", 125), "no rootfs")
    out, err, st, _ = run(o, "bad_rootfs", config(["true"], [PATH_ENV], rootfs="/dev/nosuch"))
    eq((err.startswith(b"petrel-run: mount /dev/nosuch on /run/lower (squashfs): "), st),
       (True, 125), f"bad rootfs {err!r}")
    out, err, st, _ = run(o, "bad_net", config(["true"], [PATH_ENV], net="static 10.0.2/24"))
    eq((err, st), (b'petrel-run: net: bad address "10.0.2"\n', 125), "bad net")


@case
def tty_mode(o):
    out, err, st, _ = run(o, "tty", config(["sh", "-c", "tty; stty size; echo e >&2"], [PATH_ENV],
                                           tty="1"), [("W", struct.pack("<HH", 40, 132))])
    eq((out, err, st), (b"/dev/pts/0\r\n40 132\r\ne\r\n", b"", 0), "tty")
    _, _, st, _ = run(o, "tty_kill", config(["sh", "-c", "kill -HUP $$"], [PATH_ENV], tty="1"))
    eq(st, 129, "tty, killed by SIGHUP")


@case
def tty_stdin(o):
    # Canonical mode echoes input; 'E' arrives as the EOF character, so cat ends.
    out, _, st, _ = run(o, "tty_cat", config(["cat"], [PATH_ENV], tty="1", user="app"),
                        [("I", b"hello\n"), ("E", b"")])
    eq((out, st), (b"hello\r\nhello\r\n", 0), "tty cat")


@case
def tty_resize_and_signal(o):
    def on(g, t, p, out, err):
        if out.endswith(b"ready\r\n") and not getattr(g, "sent", False):
            g.sent = True
            g.send("W", struct.pack("<HH", 50, 100))
        if b"winch 50 100" in out and not getattr(g, "sent2", False):
            g.sent2 = True
            g.send("S", bytes([15]))
    script = "trap 'echo winch $(stty size)' WINCH; echo ready; while :; do sleep 0.1; done"
    out, _, st, _ = run(o, "tty_winch", config(["sh", "-c", script], [PATH_ENV], tty="1"),
                        on_frame=on)
    eq((b"winch 50 100" in out, st), (True, 143), f"tty resize+SIGTERM {out!r}")


@case
def sigint(o):
    def on(g, t, p, out, err):
        if out == b"started\n":
            g.send("S", bytes([2]))
    out, _, st, _ = run(o, "sigint", config(["sh", "-c", "echo started; exec sleep 100"], [PATH_ENV]),
                        on_frame=on)
    eq((out, st), (b"started\n", 130), "SIGINT to sleep")


@case
def orphans_killed(o):
    t = time.monotonic()
    out, _, st, _ = run(o, "orphans", config(["sh", "-c", "sleep 100 & echo done"], [PATH_ENV]))
    eq((out, st, time.monotonic() - t < 60), (b"done\n", 0, True), "background child")


@case
def overlay_writes(o):
    script = """set -e
echo new > /newfile; cat /newfile
echo more >> /etc/marker; cat /etc/marker
rm /etc/marker; ls /etc/marker 2>/dev/null || echo marker gone
rm -rf /home; mkdir /home; ls -a /home | wc -l
rm /bin/sleep; ls /bin/sleep 2>/dev/null || echo sleep gone
grep -c ' / overlay ' /proc/mounts
stat -c '%a' /tmp
touch /tmp/x && echo tmp ok
"""
    out, err, st, _ = run(o, "overlay", config(["sh", "-c", script], [PATH_ENV]))
    eq((out.decode(), err, st),
       ("new\nfrom-image\nmore\nmarker gone\n2\nsleep gone\n1\n1777\ntmp ok\n", b"", 0), "overlay")
    # The image itself is untouched: a fresh boot sees the original files again.
    out, _, st, _ = run(o, "overlay2", config(["sh", "-c", "cat /etc/marker; ls /newfile"], [PATH_ENV]))
    eq((out, st), (b"from-image\n", 1), "image unchanged")


@case
def container_dev_and_etc(o):
    script = """
ls /dev | tr '\\n' ' '; echo
stat -c '%A %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done
stat -c '%a' /dev/shm /dev
head -c 8 /dev/urandom | wc -c
cat /etc/hostname /etc/hosts /etc/resolv.conf; hostname
grep -E ' /(proc|sys|dev|dev/pts|dev/shm) ' /proc/mounts | cut -d' ' -f2,3,4 | cut -d, -f1
"""
    out, err, st, _ = run(o, "devetc", config(["sh", "-c", script], [PATH_ENV], hostname="box1"))
    want = """fd full null ptmx pts random shm stderr stdin stdout tty urandom zero 
crw-rw-rw- 1:3
crw-rw-rw- 1:5
crw-rw-rw- 1:7
crw-rw-rw- 1:8
crw-rw-rw- 1:9
crw-rw-rw- 5:0
pts/ptmx
/proc/self/fd
/proc/self/fd/0
/proc/self/fd/1
/proc/self/fd/2
1777
755
8
box1
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
127.0.1.1\tbox1
box1
/proc proc rw
/sys sysfs ro
/dev tmpfs rw
/dev/pts devpts rw
/dev/shm tmpfs rw
"""
    eq((out.decode(), err, st), (want, b"", 0), "dev and etc")


@case
def net_static(o):
    script = "ip -4 addr show eth0 | grep inet | cut -d' ' -f6; ip route; cat /etc/resolv.conf /etc/hosts"
    out, err, st, _ = run(o, "net_static", config(["sh", "-c", script], [PATH_ENV],
                                                  net="static 10.0.2.15/24 10.0.2.2 10.0.2.3"))
    eq((out.decode(), err, st), ("10.0.2.15/24\ndefault via 10.0.2.2 dev eth0 \n"
                                 "10.0.2.0/24 dev eth0 scope link  src 10.0.2.15 \n"
                                 "nameserver 10.0.2.3\n127.0.0.1\tlocalhost\n"
                                 "::1\tlocalhost ip6-localhost ip6-loopback\n10.0.2.15\tpetrel\n",
                                 b"", 0), "static net")


@case
def net_dhcp(o):
    script = "ip -4 addr show eth0 | grep inet | cut -d' ' -f6; ip route | head -1; cat /etc/resolv.conf; tail -1 /etc/hosts"
    out, err, st, g = run(o, "net_dhcp", config(["sh", "-c", script], [PATH_ENV], net="dhcp"))
    eq((out.decode(), err, st), ("10.0.2.15/24\ndefault via 10.0.2.2 dev eth0 \n"
                                 "nameserver 10.0.2.3\n10.0.2.15\tpetrel\n", b"", 0), "dhcp net")
    return f"boot to exit {g.elapsed:.2f}s"


@case
def net_none(o):
    out, err, st, _ = run(o, "net_none", config(["sh", "-c", "cat /sys/class/net/lo/flags /sys/class/net/eth0/flags; wc -c < /etc/resolv.conf"],
                                                [PATH_ENV], net="none"))
    # lo: IFF_UP|IFF_LOOPBACK; eth0 left down
    eq((out, st), (b"0x9\n0x1002\n0\n", 0), f"no net {err!r}")


@case
def volumes(o):
    with open(os.path.join(o.vol_ro, "ro.txt"), "w") as f:
        f.write("read only\n")
    script = """cat "/mnt/my vol/ro.txt"; echo x > "/mnt/my vol/new" 2>/dev/null || echo ro refused
echo written > /data/out.txt; cat /data/out.txt; stat -c %U /data/out.txt"""
    out, err, st, _ = run(o, "vols", config(["sh", "-c", script], [PATH_ENV],
                                            vol=["volro\tro\t/mnt/my vol", "volrw\trw\t/data"]))
    eq((out, st), (b"read only\nro refused\nwritten\nroot\n", 0), f"volumes {err!r}")
    with open(os.path.join(o.vol_rw, "out.txt")) as f:
        eq(f.read(), "written\n", "host side of rw volume")


@case
def cwd_on_volume_as_user(o):
    # cwd inside a volume, in a directory that only the user may write to.
    priv = os.path.join(o.vol_rw, "priv")
    os.mkdir(priv)
    os.chmod(priv, 0o700)
    os.chown(priv, 1000, 1000)
    out, err, st, _ = run(o, "vol_user", config(["sh", "-c", "pwd; id -u; echo hi > f; cat f"], [PATH_ENV],
                                                vol=["volrw\trw\t/work"], cwd="/work/priv", user="app"))
    eq((out, st), (b"/work/priv\n1000\nhi\n", 0), f"cwd on a volume as app {err!r}")


def build_rootfs(opts, d):
    root = os.path.join(d, "rootfs")
    for sub in ["bin", "etc", "home/app", "root", "usr/bin"]:
        os.makedirs(os.path.join(root, sub))
    shutil.copy(opts.busybox, os.path.join(root, "bin/busybox"))
    for a in ("sh echo cat id ls sleep env pwd tty kill touch mkdir rm stat printf head tail wc tr "
              "seq ip hostname true false cut grep sed stty readlink chmod uname ln").split():
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write("root:x:0:\napp:x:1000:\nstaff:x:50:app,other\naudio:x:29:app\nnogroup:x:65534:\n")
    with open(os.path.join(root, "etc/marker"), "w") as f:
        f.write("from-image\n")
    # an image symlink that petrel-run must replace, not follow
    os.symlink("../run/systemd/resolve/stub-resolv.conf", os.path.join(root, "etc/resolv.conf"))
    with open(os.path.join(root, "usr/bin/noexec.sh"), "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(os.path.join(root, "usr/bin/noexec.sh"), 0o644)
    with open(os.path.join(root, "usr/bin/badinterp"), "w") as f:
        f.write("#!/no/such/interpreter\n")
    os.chmod(os.path.join(root, "usr/bin/badinterp"), 0o755)
    os.chmod(os.path.join(root, "root"), 0o700)
    # no /tmp, /proc, /sys, /dev: petrel-run creates them
    img = os.path.join(d, "rootfs.sqfs")
    subprocess.run(["mksquashfs", root, img, "-comp", "lz4", "-noappend", "-all-root", "-quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default=os.path.join(GUEST, "Image.gz"))
    ap.add_argument("--initrd", default=os.path.join(GUEST, "initramfs.cpio.gz"))
    ap.add_argument("--bios", default=os.path.join(GUEST, "fw_dynamic.bin"))
    ap.add_argument("--busybox", default=os.path.expanduser(
        "~/.cache/petrel/guest-riscv64/busybox/usr/bin/busybox"))
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("only", nargs="*", help="run only cases whose name contains one of these")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="petrel-run-check.") as d:
        opts.workdir = d
        opts.kernel_raw = os.path.join(d, "Image")
        opener = gzip.open if opts.kernel.endswith(".gz") else open
        with opener(opts.kernel, "rb") as src, open(opts.kernel_raw, "wb") as dst:
            shutil.copyfileobj(src, dst)
        opts.rootfs = build_rootfs(opts, d)
        opts.vol_rw = os.path.join(d, "vol-rw")
        opts.vol_ro = os.path.join(d, "vol-ro")
        os.makedirs(opts.vol_rw)
        os.makedirs(opts.vol_ro)
        failed = 0
        for fn in CASES:
            if opts.only and not any(w in fn.__name__ for w in opts.only):
                continue
            t = time.monotonic()
            try:
                note = fn(opts)
                print(f"ok   {fn.__name__} ({time.monotonic() - t:.1f}s){'  ' + note if note else ''}")
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print(f"FAIL {fn.__name__}: {e}")
                logs = sorted((os.path.join(d, n) for n in os.listdir(d) if n.startswith("console-")),
                              key=os.path.getmtime)
                if logs:
                    with open(logs[-1], "rb") as f:
                        tail = f.read()[-1500:].decode(errors="replace")
                    print("     console tail:\n" + "\n".join("     | " + l for l in tail.splitlines()))
        print("all passed" if not failed else f"{failed} failed")
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
