#!/usr/bin/env bash
# Builds petrel's bundled default container image, busybox-riscv64.oci.tar: an OCI archive
# (OCI image layout in a tar) for linux/riscv64 with one gzip layer holding Debian trixie's
# busybox-static (the same binary as the riscv64 guest's initramfs: guest-images/riscv64 must
# have been built on this machine, or its cached .deb is fetched by that recipe), every applet
# as a symlink, /etc/passwd and /etc/group, and Cmd ["sh"]. Reproducible: fixed timestamps and
# owners, sorted entries, gzip without a name or time. Writes SHA256SUMS beside it.
# Usage: guest-images/containers/build.sh [--check]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${PETREL_GUEST_BUILD:-$HOME/.cache/petrel/guest-riscv64}
deb="$work/busybox-riscv64.deb"
if [ ! -f "$deb" ]; then
  echo "no $deb: run guest-images/riscv64/build.sh first (it downloads busybox-static)" >&2
  exit 1
fi
command -v qemu-riscv64 >/dev/null || {
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/deb"
bb="$tmp/deb/usr/bin/busybox"
# The applet list comes from the binary itself (run under qemu-user).
qemu-riscv64 "$bb" --list-full | sort > "$tmp/applets"

python3 - "$bb" "$tmp/applets" "$tmp/out.tar" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
bb_path, applets_path, out = sys.argv[1:]
MTIME = 1700000000
def entry(name, kind, mode, data=b"", link=""):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode = MTIME, 0, 0, "", "", mode
    if kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif kind == "link":
        ti.type, ti.linkname = tarfile.SYMTYPE, link
    else:
        ti.size = len(data)
    return ti, data
files = {
    "bin": ("dir", 0o755), "sbin": ("dir", 0o755), "usr": ("dir", 0o755),
    "usr/bin": ("dir", 0o755), "usr/sbin": ("dir", 0o755), "etc": ("dir", 0o755),
    "root": ("dir", 0o700), "home": ("dir", 0o755), "tmp": ("dir", 0o1777),
    "var": ("dir", 0o755), "var/tmp": ("dir", 0o1777),
}
entries = [entry(n, k, m) for n, (k, m) in files.items()]
entries.append(entry("bin/busybox", "file", 0o755, open(bb_path, "rb").read()))
entries.append(entry("etc/passwd", "file", 0o644,
    b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
entries.append(entry("etc/group", "file", 0o644, b"root:x:0:\nnogroup:x:65534:\n"))
for line in open(applets_path).read().split():
    path = line.strip("/")
    if path == "bin/busybox":
        continue
    depth = path.count("/")
    entries.append(entry(path, "link", 0o777, link="../" * depth + "bin/busybox"))
entries.sort(key=lambda e: e[0].name)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for ti, data in entries:
        t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
layer = buf.getvalue()
gz = gzip.compress(layer, 9, mtime=0)
blobs = {}
def blob(data, media):
    d = hashlib.sha256(data).hexdigest()
    blobs["blobs/sha256/" + d] = data
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}
cfg = {"architecture": "riscv64", "os": "linux", "created": "2023-11-14T22:13:20Z",
       "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                  "Cmd": ["sh"]},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
       "history": [{"created": "2023-11-14T22:13:20Z",
                    "created_by": "guest-images/containers/build.sh (Debian busybox-static)"}]}
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": blob(json.dumps(cfg, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json"),
       "layers": [blob(gz, "application/vnd.oci.image.layer.v1.tar+gzip")]}
md = blob(json.dumps(man, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
md["platform"] = {"architecture": "riscv64", "os": "linux"}
md["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [md]}
top = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
       "index.json": json.dumps(index, sort_keys=True).encode()}
top.update(blobs)
with tarfile.open(out, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for d in ["blobs", "blobs/sha256"]:
        t.addfile(entry(d, "dir", 0o755)[0])
    for name in sorted(top):
        ti, data = entry(name, "file", 0o644, top[name])
        t.addfile(ti, io.BytesIO(data))
PY
(cd "$tmp" && mv out.tar busybox-riscv64.oci.tar && sha256sum busybox-riscv64.oci.tar > SHA256SUMS)
if [ "${1:-}" = --check ]; then
  diff "$here/SHA256SUMS" "$tmp/SHA256SUMS" && echo "guest-images/containers: outputs reproduced"
else
  cp "$tmp/busybox-riscv64.oci.tar" "$tmp/SHA256SUMS" "$here/"
  echo "guest-images/containers: busybox-riscv64.oci.tar written"
fi
