/*
 * petrel-run: PID 1 of petrel's guest for container runs (the kernel is booted with
 * rdinit=/sbin/petrel-run; the initramfs' /init shell script stays for `petrel boot`).
 *
 * It talks to the host over the virtio-console generic port named "petrel.run". Frames in both
 * directions are: 1 byte type, u32 little-endian payload length, payload (no size limits).
 *
 *   host -> guest  'C' config (first): `key\0value\0` entries; keys arg, env, cwd, user,
 *                      hostname, rootfs, vol, net, tty (unknown keys are ignored)
 *                  'I' stdin bytes        'E' stdin closed
 *                  'S' 1 byte: signal number for the process
 *                  'W' rows u16 LE, cols u16 LE: window size (tty mode only)
 *   guest -> host  'O' stdout bytes (everything in tty mode)   'R' stderr bytes
 *                  'X' i32 LE exit status, docker convention (code, or 128+signal), sent once
 *                      after all output; then the machine powers off.
 *
 * Set-up before the process runs: the image's squashfs (rootfs) is mounted read-only under an
 * overlay whose upper layer is a tmpfs, the overlay becomes the root (MS_MOVE + chroot: an
 * initramfs cannot be pivot_root'ed), /proc, /sys, a small /dev, devpts, /dev/shm and 9p volumes
 * are mounted inside it, /etc/hostname, /etc/hosts and /etc/resolv.conf are written, and the
 * network is configured. Any failure there is reported as "petrel-run: <what>: <why>" on 'R' and
 * exit status 125; exec failures are 127 (not found) or 126 (cannot execute), as with docker.
 *
 * What this asks of the host's port implementation:
 *  - The port must be marked open by the host (VIRTIO_CONSOLE_PORT_OPEN 1): until it is, the
 *    guest driver reports end-of-file on reads; petrel-run polls for that before the config
 *    arrives, and takes it as "host gone" afterwards (kills everything, powers off).
 *  - The driver returns from write() once a buffer is queued, not once the host took it (up
 *    to queue size x 32 KiB: 4 MiB with QEMU's 128 entries), and nothing tells the guest
 *    when the queue is empty. So 'X' and
 *    the output before it may still be in the transmit virtqueue when the guest powers off:
 *    the host has to process that queue before it discards the machine (or stop the machine
 *    itself on 'X', which it reads after all output).
 *
 * Arch-independent Linux C; built static (glibc) with -Os. It deliberately avoids NSS
 * (getpwnam & co. would dlopen modules in a static binary, and must read the container's
 * files, not the initramfs'): the container's /etc/passwd and /etc/group are parsed here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "petrel.run"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NINEP_OPTS "trans=virtio,version=9p2000.L,msize=512000"
#define CHUNK 65536
/* Stop reading the process' output while this much is waiting for the host (backpressure). */
#define OUT_HIGH (1u << 20)
/* Stop reading the port while this much stdin waits for a process that does not read it.
 * (Signals then wait too, but memory in the guest is finite.) */
#define STDIN_HIGH (8u << 20)
/* How long the final flush of frames waits for a host that stopped reading. */
#define FLUSH_TIMEOUT_MS 10000

/* ---------------------------------------------------------------------------------------
 * Byte queue: live bytes are data[off, off+len). Used for the port's input and output and
 * for stdin waiting to be written to the process. */
struct buf {
	char *data;
	size_t off, len, cap;
};

static void fatal_oom(void);

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->off + b->len + extra <= b->cap)
		return;
	/* Compact only when that frees a good share: each move is then paid for by the
	 * consumption that created the gap, so appends stay amortised O(1). */
	if (b->off && b->off >= b->len) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (b->len + extra <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->off + b->len + extra) {
		if (cap > SIZE_MAX / 2)
			fatal_oom();
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		fatal_oom();
	b->data = p;
	b->cap = cap;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------------------------------
 * The port and failure reporting. */
static int port_fd = -1;
static struct buf port_in, port_out;

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void queue_frame(char type, const void *payload, size_t len)
{
	unsigned char hdr[5];
	/* Outgoing payloads are at most CHUNK or a message: always far below 4 GiB. */
	hdr[0] = (unsigned char)type;
	put_le32(hdr + 1, (uint32_t)len);
	buf_append(&port_out, hdr, sizeof hdr);
	buf_append(&port_out, payload, len);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes what the port takes now. Returns false if the port is gone. The port is
 * non-blocking so that a host that is slow to read never stalls the rest of the loop. */
static bool port_write_some(void)
{
	while (port_out.len) {
		ssize_t n = write(port_fd, port_out.data + port_out.off, port_out.len);
		if (n > 0) {
			buf_consume(&port_out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* 0: the driver could not queue the buffer after all (its queue filled up
		 * meanwhile); like EAGAIN, try again later. */
		if (n == 0 || errno == EAGAIN)
			return true;
		return false;
	}
	return true;
}

/* Last words: sends everything queued (giving up if the host stops reading for a while; it
 * may have stopped the machine already), syncs and powers off. PID 1 must never exit. */
static _Noreturn void power_off(void)
{
	if (port_fd >= 0) {
		long long deadline = now_ms() + FLUSH_TIMEOUT_MS;
		while (port_out.len && now_ms() < deadline) {
			size_t before = port_out.len;
			if (!port_write_some())
				break;
			if (port_out.len == before) {
				struct pollfd p = { .fd = port_fd, .events = POLLOUT };
				poll(&p, 1, 100);
			} else {
				deadline = now_ms() + FLUSH_TIMEOUT_MS;
			}
		}
	}
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static _Noreturn void finish(int status)
{
	unsigned char p[4];
	put_le32(p, (uint32_t)status);
	queue_frame('X', p, 4);
	power_off();
}

/* Reports a failure that happened before the process ran: "petrel-run: <what>[: <why>]" on
 * 'R' (or the console while there is no port yet), then exit status `status`. */
static _Noreturn void vfail(int status, int err, const char *fmt, va_list ap)
{
	char msg[4096];
	int n = snprintf(msg, sizeof msg, "petrel-run: ");
	n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	if ((size_t)n < sizeof msg && err)
		n += snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
	if ((size_t)n >= sizeof msg - 1)
		n = (int)sizeof msg - 2;
	msg[n++] = '\n';
	if (port_fd < 0) {
		if (write(2, msg, (size_t)n) < 0) {
			/* nowhere left to report to */
		}
		power_off();
	}
	queue_frame('R', msg, (size_t)n);
	finish(status);
}

/* fail(): message + strerror(errno). failx(): message only. Both end with status 125. */
static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vfail(125, err, fmt, ap);
}

static _Noreturn __attribute__((format(printf, 1, 2))) void failx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(125, 0, fmt, ap);
}

static bool in_child; /* between fork and exec: never report as init */

static void fatal_oom(void)
{
	static bool again;
	if (in_child)
		_exit(125);
	if (again) /* reporting it ran out too */
		power_off();
	again = true;
	/* Drop the queued output: the message must fit into what is left. */
	free(port_out.data);
	memset(&port_out, 0, sizeof port_out);
	errno = ENOMEM;
	fail("out of memory");
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal_oom();
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

static __attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		fatal_oom();
	return s;
}

/* Finds the port by name in sysfs; the virtio-console driver may still be probing when we
 * start, and devtmpfs creates the node slightly later, so retry for a while. */
static int open_port(void)
{
	long long deadline = now_ms() + 5000;
	for (;;) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[512], name[64];
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t n = read(fd, name, sizeof name - 1);
			close(fd);
			if (n <= 0)
				continue;
			name[n] = 0;
			name[strcspn(name, "\n")] = 0;
			if (strcmp(name, PORT_NAME))
				continue;
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
			if (fd >= 0) {
				closedir(d);
				return fd;
			}
		}
		if (d)
			closedir(d);
		if (now_ms() > deadline) {
			errno = ENOENT;
			fail("virtio port %s", PORT_NAME);
		}
		sleep_ms(20);
	}
}

/* Reads what the port has. Returns the byte count, 0 if the host is not connected (the
 * virtio-console driver reports that as end-of-file), -1 if nothing is there yet. */
static ssize_t port_read_some(void)
{
	for (;;) {
		buf_reserve(&port_in, CHUNK);
		ssize_t n = read(port_fd, port_in.data + port_in.off + port_in.len, CHUNK);
		if (n > 0)
			port_in.len += (size_t)n;
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -1;
		fail("read from virtio port");
	}
}

/* If a whole frame is buffered, returns true with its type/payload/length; the caller
 * consumes it with frame_done() once handled. */
static bool next_frame(char *type, char **payload, uint32_t *len)
{
	if (port_in.len < 5)
		return false;
	unsigned char *h = (unsigned char *)port_in.data + port_in.off;
	uint32_t n = get_le32(h + 1);
	if (port_in.len - 5 < n)
		return false;
	*type = (char)h[0];
	*payload = (char *)h + 5;
	*len = n;
	return true;
}

static void frame_done(uint32_t len)
{
	buf_consume(&port_in, 5 + (size_t)len);
}

/* ---------------------------------------------------------------------------------------
 * Configuration. */
struct strv {
	char **v;
	size_t n, cap;
};

static void strv_push(struct strv *s, char *p)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			fatal_oom();
	}
	s->v[s->n++] = p;
	s->v[s->n] = NULL; /* always NULL-terminated, ready for execve */
}

struct config {
	struct strv args, env, vols;
	const char *cwd, *user, *hostname, *rootfs, *net;
	bool tty;
};

/* Parses `key\0value\0`... The payload is kept for good: the strings point into it. */
static void parse_config(struct config *c, char *p, size_t len)
{
	memset(c, 0, sizeof *c);
	c->cwd = "/";
	c->user = "";
	c->hostname = "petrel";
	c->net = "none";
	size_t i = 0;
	while (i < len) {
		char *key = p + i;
		char *z = memchr(key, 0, len - i);
		if (!z)
			failx("config: truncated key");
		i = (size_t)(z - p) + 1;
		char *val = p + i;
		z = i < len ? memchr(val, 0, len - i) : NULL;
		if (!z)
			failx("config: key \"%s\" has no value", key);
		i = (size_t)(z - p) + 1;
		if (!strcmp(key, "arg"))
			strv_push(&c->args, val);
		else if (!strcmp(key, "env"))
			strv_push(&c->env, val);
		else if (!strcmp(key, "vol"))
			strv_push(&c->vols, val);
		else if (!strcmp(key, "cwd"))
			c->cwd = val;
		else if (!strcmp(key, "user"))
			c->user = val;
		else if (!strcmp(key, "hostname"))
			c->hostname = val;
		else if (!strcmp(key, "rootfs"))
			c->rootfs = val;
		else if (!strcmp(key, "net"))
			c->net = val;
		else if (!strcmp(key, "tty"))
			c->tty = !strcmp(val, "1");
		/* anything else: a newer host; ignore */
	}
	if (!c->args.n)
		failx("config: no arg");
	if (!c->rootfs || !*c->rootfs)
		failx("config: no rootfs");
	if (c->cwd[0] != '/')
		failx("config: cwd \"%s\" is not absolute", c->cwd);
	if (!c->env.v) {
		/* execve wants a NULL-terminated list even when it is empty */
		c->env.v = xmalloc(sizeof *c->env.v);
		c->env.v[0] = NULL;
	}
}

/* Value of NAME in an environment list, or NULL. */
static const char *env_get(const struct strv *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], name, n) && env->v[i][n] == '=')
			return env->v[i] + n + 1;
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Host -> guest frames other than 'C'. Before the process exists they are remembered and
 * applied once it does. */
static struct buf stdin_buf;         /* bytes for the process' stdin not written yet */
static bool stdin_eof;               /* 'E' received */
static bool stdin_closed;            /* 'E' fully handled, or the process stopped reading */
static struct winsize winsz;
static bool have_winsz;
static int early_sigs[64];
static size_t n_early_sigs;
static pid_t main_pid = -1;
static bool main_done;
static int master = -1;              /* pty master (tty mode) */

static void apply_winsize(void)
{
	if (master >= 0 && have_winsz)
		ioctl(master, TIOCSWINSZ, &winsz); /* the kernel sends SIGWINCH itself */
}

static void handle_frame(char type, const char *p, uint32_t len)
{
	switch (type) {
	case 'I':
		if (!stdin_closed && !stdin_eof)
			buf_append(&stdin_buf, p, len);
		break;
	case 'E':
		stdin_eof = true;
		break;
	case 'S':
		if (len < 1 || main_done)
			break;
		if (main_pid > 0)
			kill(main_pid, (unsigned char)p[0]);
		else if (n_early_sigs < sizeof early_sigs / sizeof early_sigs[0])
			early_sigs[n_early_sigs++] = (unsigned char)p[0];
		break;
	case 'W':
		if (len >= 4) {
			winsz.ws_row = (unsigned short)((unsigned char)p[0] | (unsigned char)p[1] << 8);
			winsz.ws_col = (unsigned short)((unsigned char)p[2] | (unsigned char)p[3] << 8);
			have_winsz = true;
			apply_winsize();
		}
		break;
	default:
		break; /* a second 'C' or something newer: ignore */
	}
}

static void handle_frames(void)
{
	char type, *payload;
	uint32_t len;
	while (next_frame(&type, &payload, &len)) {
		handle_frame(type, payload, len);
		frame_done(len);
	}
}

/* Takes in what the host sent during the set-up (typically a 'W' right after 'C'), so
 * that the process starts with its window size already set. Does not wait. */
static void drain_port(void)
{
	for (int k = 0; k < 64 && port_read_some() > 0; k++)
		;
	handle_frames();
}

static void read_config(struct config *c)
{
	for (;;) {
		char type, *payload;
		uint32_t len;
		while (next_frame(&type, &payload, &len)) {
			if (type == 'C') {
				char *copy = xmalloc(len);
				memcpy(copy, payload, len);
				frame_done(len);
				parse_config(c, copy, len);
				return;
			}
			/* The host sends 'C' first; be tolerant anyway. */
			handle_frame(type, payload, len);
			frame_done(len);
		}
		ssize_t n = port_read_some();
		if (n == 0) {
			/* Host side not connected (yet): the port reads as EOF until it is, and
			 * poll() cannot wait for the connection, so look again shortly. */
			sleep_ms(20);
		} else if (n < 0) {
			struct pollfd p = { .fd = port_fd, .events = POLLIN };
			poll(&p, 1, -1);
		}
	}
}

/* ---------------------------------------------------------------------------------------
 * Small file-system helpers. */

/* mkdir -p; every created directory gets `mode`. */
static int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int r = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (*p && mkdir(p, mode) < 0 && errno != EEXIST) {
				r = -1;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	if (!r) {
		struct stat st;
		if (stat(p, &st) < 0)
			r = -1;
		else if (!S_ISDIR(st.st_mode))
			r = -1, errno = ENOTDIR;
	}
	int err = errno;
	free(p);
	errno = err;
	return r;
}

static void xmkdir_p(const char *path, mode_t mode)
{
	if (mkdir_p(path, mode) < 0)
		fail("mkdir %s", path);
}

static void xmount(const char *src, const char *target, const char *type, unsigned long flags,
		   const char *opts)
{
	if (mount(src, target, type, flags, opts) < 0)
		fail("mount %s on %s (%s)", src, target, type);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Replaces a file in the container: unlink first so that a symlink in the image (say
 * resolv.conf -> ../run/systemd/...) is replaced rather than followed. */
static void write_file(const char *path, const char *content, mode_t mode)
{
	if (unlink(path) < 0 && errno != ENOENT)
		fail("replace %s", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 || !write_all(fd, content, strlen(content)) || close(fd) < 0)
		fail("write %s", path);
}

/* Whole file as a NUL-terminated string, or NULL (errno set). */
static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct buf b = { 0 };
	for (;;) {
		buf_reserve(&b, 4097);
		ssize_t n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			buf_free(&b);
			errno = err;
			return NULL;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
	}
	close(fd);
	b.data[b.len] = 0;
	return b.data;
}

/* ---------------------------------------------------------------------------------------
 * Root file system: squashfs (read-only) + tmpfs upper layer under an overlay, which then
 * becomes the root. */
static void setup_root(const char *rootfs)
{
	xmkdir_p("/run/lower", 0755);
	xmkdir_p("/run/rw", 0755);
	xmkdir_p("/run/root", 0755);
	xmount(rootfs, "/run/lower", "squashfs", MS_RDONLY, NULL);
	xmount("rw", "/run/rw", "tmpfs", 0, "mode=0755");
	xmkdir_p("/run/rw/upper", 0755);
	xmkdir_p("/run/rw/work", 0755);
	/* The overlay's root directory takes the upper directory's owner and mode: copy the
	 * image's so that / looks the way the image says. */
	struct stat st;
	if (stat("/run/lower", &st) == 0) {
		if (chown("/run/rw/upper", st.st_uid, st.st_gid) < 0 ||
		    chmod("/run/rw/upper", st.st_mode & 07777) < 0)
			fail("chmod /run/rw/upper");
	}
	xmount("overlay", "/run/root", "overlay", 0,
	       "lowerdir=/run/lower,upperdir=/run/rw/upper,workdir=/run/rw/work");
	/* An initramfs cannot be pivot_root'ed away: move the new root over / and chroot. */
	if (chdir("/run/root") < 0)
		fail("chdir /run/root");
	xmount(".", "/", NULL, MS_MOVE, NULL);
	if (chroot(".") < 0)
		fail("chroot");
	if (chdir("/") < 0)
		fail("chdir /");
}

static void mknod_dev(const char *path, unsigned maj, unsigned min)
{
	if (mknod(path, S_IFCHR | 0666, makedev(maj, min)) < 0)
		fail("mknod %s", path);
}

static void xsymlink(const char *target, const char *path)
{
	if (symlink(target, path) < 0)
		fail("symlink %s", path);
}

/* The kernel file systems a container expects, inside the new root. */
static void setup_container_mounts(void)
{
	xmkdir_p("/proc", 0755);
	xmount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmkdir_p("/sys", 0755);
	xmount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	xmkdir_p("/dev", 0755);
	xmount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	mknod_dev("/dev/null", 1, 3);
	mknod_dev("/dev/zero", 1, 5);
	mknod_dev("/dev/full", 1, 7);
	mknod_dev("/dev/random", 1, 8);
	mknod_dev("/dev/urandom", 1, 9);
	mknod_dev("/dev/tty", 5, 0);
	xmkdir_p("/dev/pts", 0755);
	/* A private devpts instance; ptmx then has to be its pts/ptmx. */
	if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		xmount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666");
	xsymlink("pts/ptmx", "/dev/ptmx");
	xmkdir_p("/dev/shm", 01777);
	xmount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	xsymlink("/proc/self/fd", "/dev/fd");
	xsymlink("/proc/self/fd/0", "/dev/stdin");
	xsymlink("/proc/self/fd/1", "/dev/stdout");
	xsymlink("/proc/self/fd/2", "/dev/stderr");
	/* /tmp lives in the overlay; an image without one still gets a usable /tmp. */
	struct stat st;
	if (lstat("/tmp", &st) < 0) {
		if (mkdir("/tmp", 01777) < 0 || chmod("/tmp", 01777) < 0)
			fail("mkdir /tmp");
	}
}

/* vol entries: TAG \t MODE \t PATH (the path may contain spaces, not tabs). Mounted after
 * the chroot so that symlinks in the image resolve inside the container. */
static void mount_volumes(const struct strv *vols)
{
	for (size_t i = 0; i < vols->n; i++) {
		char *spec = xstrdup(vols->v[i]);
		char *t1 = strchr(spec, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2)
			failx("config: bad vol \"%s\"", vols->v[i]);
		*t1 = *t2 = 0;
		const char *tag = spec, *mode = t1 + 1, *path = t2 + 1;
		unsigned long flags = 0;
		if (!strcmp(mode, "ro"))
			flags = MS_RDONLY;
		else if (strcmp(mode, "rw"))
			failx("config: vol \"%s\": mode must be rw or ro", vols->v[i]);
		if (path[0] != '/')
			failx("config: vol \"%s\": path is not absolute", vols->v[i]);
		xmkdir_p(path, 0755);
		xmount(tag, path, "9p", flags, NINEP_OPTS);
		free(spec);
	}
}

/* ---------------------------------------------------------------------------------------
 * Network: lo always; eth0 statically or through busybox udhcpc, then /etc/hosts and
 * /etc/resolv.conf. Addresses are applied with ioctls (IPv4): no process to start for
 * the common static case. */
struct netinfo {
	char ip[64];      /* container address for /etc/hosts, "" if none */
	char *resolv;     /* resolv.conf content */
};

static int net_sock = -1;

static void if_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(net_sock, SIOCGIFFLAGS, &ifr) < 0)
		fail("interface %s", ifname);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(net_sock, SIOCSIFFLAGS, &ifr) < 0)
		fail("bring %s up", ifname);
}

static void parse_ipv4(const char *what, const char *s, struct in_addr *a)
{
	if (inet_pton(AF_INET, s, a) != 1)
		failx("net: bad %s \"%s\"", what, s);
}

static void set_sockaddr(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };
	memcpy(sa, &sin, sizeof sin);
}

/* addr/prefix on ifname, interface up, default route via gw (if given). */
static void if_configure(const char *ifname, const char *addr, int prefix, const char *gw)
{
	struct in_addr a, mask, g;
	parse_ipv4("address", addr, &a);
	if (prefix < 0 || prefix > 32)
		failx("net: bad prefix length %d", prefix);
	mask.s_addr = htonl(prefix ? ~0u << (32 - prefix) : 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	set_sockaddr(&ifr.ifr_addr, a);
	if (ioctl(net_sock, SIOCSIFADDR, &ifr) < 0)
		fail("set address %s on %s", addr, ifname);
	set_sockaddr(&ifr.ifr_netmask, mask);
	if (ioctl(net_sock, SIOCSIFNETMASK, &ifr) < 0)
		fail("set netmask /%d on %s", prefix, ifname);
	if_up(ifname);
	if (gw && *gw) {
		parse_ipv4("gateway", gw, &g);
		struct rtentry rt = { 0 };
		struct in_addr any = { 0 };
		set_sockaddr(&rt.rt_dst, any);
		set_sockaddr(&rt.rt_genmask, any);
		set_sockaddr(&rt.rt_gateway, g);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)ifname;
		if (ioctl(net_sock, SIOCADDRT, &rt) < 0)
			fail("add default route via %s", gw);
	}
}

/* Runs a program from the initramfs (before the chroot) and waits for it; its output is
 * collected and the last line quoted if it fails. */
static void run_helper(char *const argv[], const char *what)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	struct buf out = { 0 };
	for (;;) {
		buf_reserve(&out, 4097);
		ssize_t n = read(p[0], out.data + out.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		out.len += (size_t)n;
	}
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("wait for %s", what);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		buf_free(&out);
		return;
	}
	/* last non-empty line of the output */
	buf_reserve(&out, 1);
	out.data[out.len] = 0;
	while (out.len && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
		out.data[--out.len] = 0;
	char *last = out.data ? strrchr(out.data, '\n') : NULL;
	last = last ? last + 1 : out.data ? out.data : "";
	if (WIFEXITED(st))
		failx("%s: exit status %d%s%s", what, WEXITSTATUS(st), *last ? ": " : "", last);
	failx("%s: killed by signal %d", what, WTERMSIG(st));
}

/* udhcpc only records the lease; petrel-run applies it. */
static const char dhcp_script[] =
	"#!/bin/busybox sh\n"
	"# udhcpc hook written by petrel-run: record the lease, petrel-run applies it.\n"
	"[ \"$1\" = bound ] || exit 0\n"
	"set -- $router\n"
	"{ echo \"$ip\"; echo \"$mask\"; echo \"$1\"; echo \"$dns\"; echo \"$domain\"; }"
	" > /run/dhcp.lease.tmp && /bin/busybox mv /run/dhcp.lease.tmp /run/dhcp.lease\n";

static void setup_net(const char *net, struct netinfo *ni)
{
	memset(ni, 0, sizeof *ni);
	net_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (net_sock < 0)
		fail("socket");
	if_up("lo");
	char *spec = xstrdup(net);
	char *words[8];
	int nw = 0;
	for (char *s = strtok(spec, " \t"); s && nw < 8; s = strtok(NULL, " \t"))
		words[nw++] = s;
	if (nw == 0 || !strcmp(words[0], "none")) {
		ni->resolv = xstrdup("");
	} else if (!strcmp(words[0], "static")) {
		/* static ADDR/PREFIX GATEWAY DNS */
		if (nw < 2)
			failx("net: \"%s\": expected static ADDR/PREFIX GATEWAY DNS", net);
		char *slash = strchr(words[1], '/');
		int prefix = 24;
		if (slash) {
			*slash = 0;
			char *end;
			prefix = (int)strtol(slash + 1, &end, 10);
			if (end == slash + 1 || *end)
				failx("net: bad prefix in \"%s\"", net);
		}
		if_configure("eth0", words[1], prefix, nw > 2 ? words[2] : NULL);
		snprintf(ni->ip, sizeof ni->ip, "%s", words[1]);
		ni->resolv = nw > 3 ? xasprintf("nameserver %s\n", words[3]) : xstrdup("");
	} else if (!strcmp(words[0], "dhcp")) {
		xmkdir_p("/run", 0755);
		unlink("/run/dhcp.lease");
		int fd = open("/run/udhcpc.script", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
		if (fd < 0 || !write_all(fd, dhcp_script, sizeof dhcp_script - 1) || close(fd) < 0)
			fail("write /run/udhcpc.script");
		if_up("eth0");
		/* -q: quit once leased (the lease outlives any run), -n: fail without one,
		 * up to 10 discover attempts one second apart. */
		char *argv[] = { "/bin/busybox", "udhcpc", "-f", "-q", "-n", "-t", "10", "-T", "1",
				 "-i", "eth0", "-s", "/run/udhcpc.script", NULL };
		run_helper(argv, "dhcp on eth0 (udhcpc)");
		char *lease = read_file("/run/dhcp.lease");
		if (!lease)
			fail("dhcp on eth0: read lease");
		char *l[5] = { 0 };
		char *s = lease;
		for (int i = 0; i < 5 && s; i++) {
			l[i] = s;
			s = strchr(s, '\n');
			if (s)
				*s++ = 0;
		}
		if (!l[0] || !*l[0])
			failx("dhcp on eth0: no address in lease");
		int prefix = l[1] && *l[1] ? atoi(l[1]) : 24;
		if_configure("eth0", l[0], prefix, l[2]);
		snprintf(ni->ip, sizeof ni->ip, "%s", l[0]);
		struct buf r = { 0 };
		char *dns = l[3] ? l[3] : "";
		for (char *d = strtok(dns, " "); d; d = strtok(NULL, " ")) {
			char *line = xasprintf("nameserver %s\n", d);
			buf_append(&r, line, strlen(line));
			free(line);
		}
		if (l[4] && *l[4]) {
			char *line = xasprintf("search %s\n", l[4]);
			buf_append(&r, line, strlen(line));
			free(line);
		}
		buf_append(&r, "", 1);
		ni->resolv = r.data;
		free(lease);
	} else {
		failx("net: unknown mode \"%s\"", net);
	}
	free(spec);
	close(net_sock);
}

static void write_etc(const char *hostname, const struct netinfo *ni)
{
	xmkdir_p("/etc", 0755);
	char *s = xasprintf("%s\n", hostname);
	write_file("/etc/hostname", s, 0644);
	free(s);
	s = xasprintf("127.0.0.1\tlocalhost\n"
		      "::1\tlocalhost ip6-localhost ip6-loopback\n"
		      "%s\t%s\n",
		      *ni->ip ? ni->ip : "127.0.1.1", hostname);
	write_file("/etc/hosts", s, 0644);
	free(s);
	write_file("/etc/resolv.conf", ni->resolv, 0644);
}

/* ---------------------------------------------------------------------------------------
 * Users, docker style: "" | name | uid | name:group | uid:gid | name:gid | uid:group, looked
 * up in the container's /etc/passwd and /etc/group (after the chroot). Follows moby's
 * GetExecUser: supplementary groups (those listing the user name) only when no group is
 * given explicitly. */
struct user {
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	char *home;
};

static bool parse_id(const char *s, unsigned long *out)
{
	if (!*s)
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || errno || s[0] == '-' || s[0] == '+' || v > INT32_MAX)
		return false;
	*out = v;
	return true;
}

/* Splits a colon-separated line into at most n fields (the last keeps any rest). */
static int split_fields(char *line, char **f, int n)
{
	int i = 0;
	f[i++] = line;
	for (char *s = line; *s && i < n; s++)
		if (*s == ':') {
			*s = 0;
			f[i++] = s + 1;
		}
	return i;
}

static void resolve_user(const char *spec, struct user *u)
{
	memset(u, 0, sizeof *u);
	u->home = "/";
	char *uspec = xstrdup(spec), *gspec = strchr(uspec, ':');
	if (gspec)
		*gspec++ = 0;
	else
		gspec = "";
	unsigned long uid_arg = 0, gid_arg = 0;
	bool uid_num = parse_id(uspec, &uid_arg);
	if (*uspec && !uid_num && strspn(uspec, "0123456789") == strlen(uspec))
		failx("user \"%s\": uid out of range", spec);

	char *name = NULL;
	char *passwd = read_file("/etc/passwd");
	for (char *line = passwd, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *f[7];
		unsigned long id;
		if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &id))
			continue;
		bool match = !*uspec ? id == 0 : uid_num ? id == uid_arg : !strcmp(f[0], uspec);
		if (!match)
			continue;
		unsigned long gid;
		u->uid = (uid_t)id;
		u->gid = parse_id(f[3], &gid) ? (gid_t)gid : 0;
		name = f[0];
		u->home = *f[5] ? f[5] : "/";
		break;
	}
	if (!name) {
		if (*uspec && !uid_num)
			failx("unable to find user %s: no matching entries in passwd file", uspec);
		u->uid = (uid_t)uid_arg;
		u->gid = 0;
	}

	bool gid_num = parse_id(gspec, &gid_arg);
	if (*gspec || name) {
		char *group = read_file("/etc/group");
		bool found = false;
		for (char *line = group, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			char *f[4];
			unsigned long id;
			if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &id))
				continue;
			if (*gspec) {
				if (gid_num ? id == gid_arg : !strcmp(f[0], gspec)) {
					u->gid = (gid_t)id;
					found = true;
					break;
				}
				continue;
			}
			for (char *m = strtok(f[3], ","); m; m = strtok(NULL, ",")) {
				if (strcmp(m, name))
					continue;
				u->groups = realloc(u->groups, (u->ngroups + 1) * sizeof *u->groups);
				if (!u->groups)
					fatal_oom();
				u->groups[u->ngroups++] = (gid_t)id;
				break;
			}
		}
		if (*gspec && !found) {
			if (!gid_num)
				failx("unable to find group %s: no matching entries in group file", gspec);
			u->gid = (gid_t)gid_arg;
		}
	}
	/* name/home point into passwd, which is kept */
	u->home = xstrdup(u->home);
}

/* ---------------------------------------------------------------------------------------
 * The process. */

/* In the child: report a failure to init over the error pipe (first byte: exit status,
 * then the message) and exit. */
static _Noreturn __attribute__((format(printf, 3, 4))) void child_fail(int errfd, int status,
									const char *fmt, ...)
{
	char msg[4096];
	msg[0] = (char)status;
	int n = snprintf(msg + 1, sizeof msg - 1, "petrel-run: ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(msg + 1 + n, sizeof msg - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	if ((size_t)n >= sizeof msg - 2)
		n = (int)sizeof msg - 3;
	msg[1 + n++] = '\n';
	write_all(errfd, msg, 1 + (size_t)n);
	_exit(status);
}

/* strerror in Go's (and so docker's) style: lower-case first letter. */
static const char *lc_strerror(int err, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* PATH search like Go's exec.LookPath (what runc uses): the first regular file the user
 * may execute. Returns a malloc'd path or NULL. */
static char *look_path(const char *prog, const char *path)
{
	const char *p = path;
	for (;;) {
		size_t n = strcspn(p, ":");
		char *cand = n ? xasprintf("%.*s/%s", (int)n, p, prog) : xasprintf("./%s", prog);
		struct stat st;
		if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (!p[n])
			return NULL;
		p += n + 1;
	}
}

struct stdio_fds {
	int in, out, err; /* the child's ends (pipe mode) */
	int slave;        /* tty mode */
};

static _Noreturn void child_exec(const struct config *c, const struct user *u,
				 const struct stdio_fds *fds, int errfd)
{
	/* init's dispositions (SIGPIPE ignored) and mask (SIGCHLD blocked) survive exec:
	 * give the program a clean slate. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(errfd, 125, "setsid: %s", strerror(errno));
	if (c->tty) {
		if (ioctl(fds->slave, TIOCSCTTY, 0) < 0)
			child_fail(errfd, 125, "set controlling terminal: %s", strerror(errno));
		/* Let the user reopen their terminal by name (screen, tmux, ssh check this). */
		if (fchown(fds->slave, u->uid, (gid_t)-1) < 0) {
			/* not worth failing the run over */
		}
		if (dup2(fds->slave, 0) < 0 || dup2(fds->slave, 1) < 0 || dup2(fds->slave, 2) < 0)
			child_fail(errfd, 125, "dup2: %s", strerror(errno));
	} else {
		if (dup2(fds->in, 0) < 0 || dup2(fds->out, 1) < 0 || dup2(fds->err, 2) < 0)
			child_fail(errfd, 125, "dup2: %s", strerror(errno));
	}
	umask(022);
	/* chdir as root first, like runc (a directory only root may enter still works); if
	 * root is refused (a 9p volume owned by the user), retry as the user. */
	bool chdir_later = false;
	if (chdir(c->cwd) < 0) {
		if (errno != EACCES && errno != EPERM)
			child_fail(errfd, 125, "chdir to cwd \"%s\": %s", c->cwd, strerror(errno));
		chdir_later = true;
	}
	if (setgroups(u->ngroups, u->groups) < 0)
		child_fail(errfd, 125, "setgroups: %s", strerror(errno));
	if (setgid(u->gid) < 0)
		child_fail(errfd, 125, "setgid %u: %s", (unsigned)u->gid, strerror(errno));
	if (setuid(u->uid) < 0)
		child_fail(errfd, 125, "setuid %u: %s", (unsigned)u->uid, strerror(errno));
	if (chdir_later && chdir(c->cwd) < 0)
		child_fail(errfd, 125, "chdir to cwd \"%s\": %s", c->cwd, strerror(errno));

	const char *prog = c->args.v[0];
	char *file = (char *)prog;
	if (!strchr(prog, '/')) {
		const char *path = env_get(&c->env, "PATH");
		file = look_path(prog, path ? path : DEFAULT_PATH);
		if (!file)
			child_fail(errfd, 127, "exec \"%s\": executable file not found in $PATH", prog);
	}
	execve(file, c->args.v, c->env.v);
	int err = errno;
	char eb[128];
	child_fail(errfd, err == ENOENT || err == ENOTDIR ? 127 : 126, "exec \"%s\": %s", prog,
		   lc_strerror(err, eb, sizeof eb));
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fail("fcntl O_NONBLOCK");
}

static int exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 125;
}

/* State of the running process as seen from init's loop. */
static int main_status;
static int proc_in = -1;             /* pipe to stdin (pipe mode) */
static int proc_out = -1, proc_err = -1; /* pipes from stdout/stderr, or the pty master as out */
static char last_stdin_byte = '\n';  /* tty mode: whether an EOF character ends a line */

static void reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == main_pid && !main_done) {
			main_done = true;
			main_status = exit_status(st);
			/* As with docker, the container ends with its main process: nothing else
			 * may keep its output open. (kill(-1) spares init itself.) */
			kill(-1, SIGKILL);
		}
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Moves buffered stdin towards the process without blocking; handles 'E'. */
static void service_stdin(void)
{
	int fd = master >= 0 ? master : proc_in;
	if (stdin_closed || fd < 0)
		return;
	if (main_done) {
		buf_free(&stdin_buf);
		stdin_closed = true;
		if (master < 0)
			close_fd(&proc_in);
		return;
	}
	while (stdin_buf.len) {
		ssize_t n = write(fd, stdin_buf.data + stdin_buf.off, stdin_buf.len);
		if (n > 0) {
			last_stdin_byte = stdin_buf.data[stdin_buf.off + n - 1];
			buf_consume(&stdin_buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EPIPE: the process closed its stdin; what it did not read is dropped. */
		buf_free(&stdin_buf);
		stdin_closed = true;
		if (master < 0)
			close_fd(&proc_in);
		return;
	}
	if (!stdin_eof)
		return;
	stdin_closed = true;
	if (master < 0) {
		close_fd(&proc_in);
		return;
	}
	/* A terminal has no end of input: type the EOF character (twice if a partial line is
	 * pending, the first only ends that line), as if ^D had been pressed. */
	struct termios t;
	if (tcgetattr(master, &t) == 0 && (t.c_lflag & ICANON) && t.c_cc[VEOF] != _POSIX_VDISABLE) {
		char eof[2] = { (char)t.c_cc[VEOF], (char)t.c_cc[VEOF] };
		write_all(master, eof, last_stdin_byte == '\n' ? 1 : 2);
	}
}

/* Reads process output into 'O'/'R' frames. Returns false at end of file. */
static bool pump_output(int fd, char type)
{
	static char chunk[CHUNK];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			queue_frame(type, chunk, (size_t)n);
			if (port_out.len >= OUT_HIGH)
				return true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		return false; /* 0, or EIO on a pty master once every slave is closed */
	}
}

static void spawn(const struct config *c, const struct user *u)
{
	struct stdio_fds fds = { -1, -1, -1, -1 };
	if (c->tty) {
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		if (master < 0)
			fail("open /dev/ptmx");
		int unlock = 0, n;
		if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
			fail("pty");
		char name[64];
		snprintf(name, sizeof name, "/dev/pts/%d", n);
		fds.slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fds.slave < 0)
			fail("open %s", name);
		apply_winsize();
	} else {
		int in[2], out[2], err[2];
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
			fail("pipe");
		fds.in = in[0], proc_in = in[1];
		fds.out = out[1], proc_out = out[0];
		fds.err = err[1], proc_err = err[0];
		set_nonblock(proc_in);
		set_nonblock(proc_out);
		set_nonblock(proc_err);
	}
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		in_child = true;
		close(ep[0]);
		child_exec(c, u, &fds, ep[1]);
	}
	main_pid = pid;
	close(ep[1]);
	close_fd(&fds.in);
	close_fd(&fds.out);
	close_fd(&fds.err);
	close_fd(&fds.slave);
	if (master >= 0)
		proc_out = master;
	for (size_t i = 0; i < n_early_sigs; i++)
		kill(pid, early_sigs[i]);

	/* The error pipe closes on a successful exec (O_CLOEXEC) or carries the failure. */
	struct buf msg = { 0 };
	for (;;) {
		buf_reserve(&msg, 4096);
		ssize_t n = read(ep[0], msg.data + msg.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		msg.len += (size_t)n;
	}
	close(ep[0]);
	if (msg.len) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		queue_frame('R', msg.data + 1, msg.len - 1);
		finish((unsigned char)msg.data[0]);
	}
	buf_free(&msg);
}

static _Noreturn void run_loop(int sfd)
{
	bool port_open = true;
	for (;;) {
		handle_frames();
		service_stdin();
		if (!port_write_some())
			port_open = false;

		if (main_done && proc_out < 0 && proc_err < 0)
			finish(main_status);
		if (!port_open) {
			/* The host is gone: nobody will see anything more. */
			kill(-1, SIGKILL);
			power_off();
		}

		/* Process output is only read while the host keeps up (OUT_HIGH); the process
		 * then blocks on its own writes. Hang-ups are reported even for events 0, so an
		 * fd that is not to be read now is left out of the set. */
		struct pollfd pf[5];
		int n = 0, i_out = -1, i_err = -1;
		const int i_port = n++, i_sig = n++;
		pf[i_port] = (struct pollfd){ port_fd,
					      (short)((stdin_buf.len < STDIN_HIGH ? POLLIN : 0) |
						      (port_out.len ? POLLOUT : 0)),
					      0 };
		pf[i_sig] = (struct pollfd){ sfd, POLLIN, 0 };
		bool room = port_out.len < OUT_HIGH;
		if (proc_out >= 0 && room) {
			short ev = POLLIN;
			if (master >= 0 && !stdin_closed && stdin_buf.len)
				ev |= POLLOUT; /* the pty master carries both directions */
			i_out = n;
			pf[n++] = (struct pollfd){ proc_out, ev, 0 };
		}
		if (proc_err >= 0 && room) {
			i_err = n;
			pf[n++] = (struct pollfd){ proc_err, POLLIN, 0 };
		}
		/* written by service_stdin() at the top of the loop once this is writable */
		if (proc_in >= 0 && stdin_buf.len)
			pf[n++] = (struct pollfd){ proc_in, POLLOUT, 0 };
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll");
		}

		if (pf[i_sig].revents) {
			struct signalfd_siginfo si[16];
			while (read(sfd, si, sizeof si) > 0)
				;
			reap();
		}
		if (pf[i_port].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* A bounded number of reads, so that frames are handled as they come. */
			for (int k = 0; k < 16; k++) {
				ssize_t r = port_read_some();
				if (r == 0)
					port_open = false;
				if (r <= 0)
					break;
			}
		}
		if (i_out >= 0 && (pf[i_out].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!pump_output(proc_out, 'O')) {
				close_fd(&proc_out);
				master = -1; /* in tty mode that was the master */
			}
		}
		if (i_err >= 0 && pf[i_err].revents) {
			if (!pump_output(proc_err, 'R'))
				close_fd(&proc_err);
		}
	}
}

/* ---------------------------------------------------------------------------------------
 * Start-up. */

/* The kernel hands init /dev/console as 0-2 when the initramfs has it; make sure 0-2 are
 * open either way so that no later descriptor lands there. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		/* open() returns the lowest free descriptor: this one */
		if (open("/dev/null", O_RDWR) < 0 && open("/", O_RDONLY) < 0)
			break; /* nothing else to try */
	}
}

int main(void)
{
	ensure_stdio();
	umask(0);
	/* A PID 1 must not die of SIGPIPE (stdin pipe of a process that exited), and
	 * SIGCHLD is read through a signalfd. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);

	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/run", 0755);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		fail("mount /proc");
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		fail("mount /sys");
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0 && errno != EBUSY)
		fail("mount /dev");
	port_fd = open_port();
	if (sfd < 0)
		fail("signalfd");

	struct config c;
	read_config(&c);
	if (sethostname(c.hostname, strlen(c.hostname)) < 0)
		fail("sethostname \"%s\"", c.hostname);
	/* Network first: it runs busybox from the initramfs, which the chroot hides. */
	struct netinfo ni;
	setup_net(c.net, &ni);
	setup_root(c.rootfs);
	setup_container_mounts();
	write_etc(c.hostname, &ni);
	mount_volumes(&c.vols);
	/* Like docker, a missing working directory is created (owned by root). */
	xmkdir_p(c.cwd, 0755);

	struct user u;
	resolve_user(c.user, &u);
	if (!env_get(&c.env, "HOME")) {
		strv_push(&c.env, xasprintf("HOME=%s", u.home));
	}
	drain_port();
	spawn(&c, &u);
	run_loop(sfd);
}
