/* Shared helpers for the benchmark baseline servers (UNP ch. 30 designs).
 *
 * Command line (every server):
 *   NAME --port PORT --workers N --service echo|bytes [--host 127.0.0.1]
 * --port 0 binds an ephemeral port. --workers defaults to 4 (ignored by epoll and fork).
 * Only numeric IPv4 hosts are accepted. Listen backlog is 511, the same as preforkd's default.
 *
 * stderr: "listening on HOST:PORT" once the port is bound and listening, "ready" once every
 * child is started; on SIGTERM/SIGINT, after all children are killed and reaped,
 * "child PID served N" per child (prefork designs) and "total served N"; exit status 0.
 *
 * Services, byte-identical to preforkd's on the good path:
 *   echo  : RFC 862, every byte read is written back until the client closes
 *           (preforkd --no-banner).
 *   bytes : Stevens' web_child: a line holding a decimal count (terminated by LF, CR LF or a
 *           lone CR; blanks around the number allowed) is answered with exactly that many
 *           bytes, byte i being "0123456789abcdef"[i % 16]; repeated until the client closes.
 *           A bad count (not a number, zero, negative, junk, > 16777216, or a line longer
 *           than 32 bytes) gets "ERR bad count\r\n" and the connection is closed.
 *
 * Per-child accounting: a shared anonymous mmap of counters, one slot per child; child i
 * increments slot i each time it takes a connection. The parent reads the slots after it has
 * reaped the children. */
#ifndef BASELINE_COMMON_H
#define BASELINE_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SVC_ECHO = 1, SVC_BYTES = 2 };
#define BYTES_MAX 16777216UL
#define BYTES_MAX_LINE 32
#define BYTES_CHUNK 65536 /* a multiple of 16: every chunk starts at pattern offset 0 */
#define LISTEN_BACKLOG 511
#define ERR_BAD_COUNT "ERR bad count\r\n"

struct opts {
  const char *host;
  int port;
  int workers;
  int service;
};

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static inline void die(const char *what) {
  fprintf(stderr, "error: %s: %s\n", what, strerror(errno));
  exit(1);
}

static inline void usage(const char *prog) {
  fprintf(stderr, "usage: %s --port PORT --workers N --service echo|bytes [--host 127.0.0.1]\n",
          prog);
  exit(2);
}

static inline long parse_long(const char *s, long lo, long hi, const char *prog) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) usage(prog);
  return v;
}

static inline void parse_args(int argc, char **argv, struct opts *o) {
  o->host = "127.0.0.1";
  o->port = -1;
  o->workers = 4;
  o->service = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage(argv[0]);
    if (i + 1 >= argc) usage(argv[0]);
    const char *v = argv[++i];
    if (strcmp(a, "--port") == 0) {
      o->port = (int)parse_long(v, 0, 65535, argv[0]);
    } else if (strcmp(a, "--workers") == 0) {
      o->workers = (int)parse_long(v, 1, 4096, argv[0]);
    } else if (strcmp(a, "--host") == 0) {
      o->host = v;
    } else if (strcmp(a, "--service") == 0) {
      if (strcmp(v, "echo") == 0) o->service = SVC_ECHO;
      else if (strcmp(v, "bytes") == 0) o->service = SVC_BYTES;
      else usage(argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  if (o->port < 0 || o->service == 0) usage(argv[0]);
}

/* SIGTERM/SIGINT set g_stop, without SA_RESTART so blocking calls return EINTR; SIGPIPE is
 * ignored (writes also use MSG_NOSIGNAL). Returns with SIGTERM, SIGINT (and `extra` if not 0)
 * blocked; *orig gets the previous mask, to be passed to ppoll/epoll_pwait/sigsuspend. */
static inline void setup_signals(sigset_t *orig, int extra) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) die("sigaction");
  signal(SIGPIPE, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  if (extra) sigaddset(&block, extra);
  if (sigprocmask(SIG_BLOCK, &block, orig) != 0) die("sigprocmask");
}

/* In a freshly forked child: default SIGTERM/SIGINT/SIGCHLD (the parent kills children with
 * SIGTERM), then restore the original mask. SIGPIPE stays ignored. */
static inline void child_signals(const sigset_t *orig) {
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  sigprocmask(SIG_SETMASK, orig, NULL);
}

/* Creates a bound socket; listens unless `no_listen`. SO_REUSEADDR always, SO_REUSEPORT if
 * asked. Exits on error. */
static inline int open_listener(const char *host, int port, int reuseport, int nonblock,
                                int no_listen) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
    fprintf(stderr, "error: --host must be a numeric IPv4 address: %s\n", host);
    exit(2);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("SO_REUSEADDR");
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    die("SO_REUSEPORT");
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind");
  if (!no_listen && listen(fd, LISTEN_BACKLOG) != 0) die("listen");
  return fd;
}

static inline int bound_port(int fd) {
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0) die("getsockname");
  return ntohs(sin.sin_port);
}

static inline void announce_listening(const char *host, int fd) {
  fprintf(stderr, "listening on %s:%d\n", host, bound_port(fd));
}

static inline void announce_ready(void) { fprintf(stderr, "ready\n"); }

static inline void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static inline int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the services, blocking flavour (one connection at a time) ---- */

/* 0 on success, -1 on error (EPIPE/ECONNRESET from a client that left). */
static inline int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static inline const char *pattern_chunk(void) {
  static char chunk[BYTES_CHUNK];
  if (chunk[0] == 0)
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = "0123456789abcdef"[i % 16];
  return chunk;
}

/* Incremental request-line decoder for the bytes service (used by the blocking and the
 * epoll flavours). A line ends at LF or CR; an LF or NUL right after a CR is swallowed. */
struct bytes_dec {
  char line[BYTES_MAX_LINE + 1];
  size_t len;
  int after_cr;
};

/* Parses a complete line: the count, or 0 if bad. */
static inline unsigned long bytes_parse(const char *s, size_t n) {
  while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (n == 0) return 0;
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (unsigned long)(s[i] - '0');
    if (v > BYTES_MAX) return 0;
  }
  return v;
}

/* Consumes bytes from buf[0..n) up to and including the next line terminator.
 * Returns 1 with *count set when a line was completed, 0 when all input was consumed without
 * completing a line, -1 for a bad request (bad count or line too long). *used = bytes consumed. */
static inline int bytes_feed(struct bytes_dec *d, const char *buf, size_t n, size_t *used,
                             unsigned long *count) {
  size_t i = 0;
  if (d->after_cr && n > 0) {
    d->after_cr = 0;
    if (buf[0] == '\n' || buf[0] == '\0') i = 1;
  }
  for (; i < n; i++) {
    char c = buf[i];
    if (c == '\n' || c == '\r') {
      d->after_cr = (c == '\r');
      *used = i + 1;
      *count = bytes_parse(d->line, d->len);
      d->len = 0;
      return *count ? 1 : -1;
    }
    if (d->len >= BYTES_MAX_LINE) {
      *used = i;
      return -1;
    }
    d->line[d->len++] = c;
  }
  *used = n;
  return 0;
}

static inline void serve_echo(int fd) {
  static char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (write_all(fd, buf, (size_t)n) != 0) return;
  }
}

static inline void serve_bytes(int fd) {
  static char buf[4096];
  const char *chunk = pattern_chunk();
  struct bytes_dec d;
  memset(&d, 0, sizeof d);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    size_t off = 0;
    while (off < (size_t)n) {
      size_t used;
      unsigned long count;
      int r = bytes_feed(&d, buf + off, (size_t)n - off, &used, &count);
      off += used;
      if (r < 0) {
        write_all(fd, ERR_BAD_COUNT, sizeof ERR_BAD_COUNT - 1);
        return;
      }
      while (r > 0 && count > 0) {
        size_t k = count < BYTES_CHUNK ? (size_t)count : BYTES_CHUNK;
        if (write_all(fd, chunk, k) != 0) return;
        count -= k;
      }
    }
  }
}

/* Serves one client connection and closes it. */
static inline void serve_client(int fd, int service) {
  set_nodelay(fd);
  if (service == SVC_ECHO) serve_echo(fd);
  else serve_bytes(fd);
  close(fd);
}

/* ---- per-child counters and shutdown ---- */

static inline unsigned long *alloc_counters(int n) {
  void *p = mmap(NULL, (size_t)n * sizeof(unsigned long), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  return p; /* zero-filled */
}

static inline void count_one(unsigned long *slot) {
  __atomic_add_fetch(slot, 1, __ATOMIC_RELAXED);
}

/* Sends SIGTERM to every child in pids[0..n) (skipping zeros) and waits for each one. */
static inline void kill_and_reap(const pid_t *pids, int n) {
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) kill(pids[i], SIGTERM);
  for (int i = 0; i < n; i++) {
    if (pids[i] <= 0) continue;
    while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {
    }
  }
}

static inline void report_counts(const pid_t *pids, const unsigned long *counters, int n) {
  unsigned long total = 0;
  for (int i = 0; i < n; i++) {
    if (pids[i] <= 0) continue; /* never started */
    unsigned long c = __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
    fprintf(stderr, "child %ld served %lu\n", (long)pids[i], c);
    total += c;
  }
  fprintf(stderr, "total served %lu\n", total);
}

#endif
