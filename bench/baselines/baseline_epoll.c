/* baseline-epoll: one process, one thread, level-triggered epoll, non-blocking sockets:
 * the event-driven ceiling (no fork, no descriptor passing). --workers is accepted and
 * ignored. Prints "total served N" (connections accepted).
 *
 * Per connection: an input buffer and the reply still owed. Echo owes the bytes read and
 * not yet written back; bytes owes `left` pattern bytes starting at pattern offset `poff`.
 * While a reply is owed the connection waits for EPOLLOUT and reads nothing more (the same
 * back-pressure a blocking worker has). Input is read only when nothing is owed and nothing
 * is buffered, so reading EOF means every request was answered: the connection is closed. */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <sys/epoll.h>

#define IOBUF 65536

struct conn {
  int fd;
  unsigned events;   /* what the epoll set currently waits for */
  int close_after;   /* close once the owed reply is written (bad request) */
  char *in;          /* bytes read, not yet consumed */
  size_t in_off, in_len;
  const char *out;   /* echo/ERR: bytes owed */
  size_t out_len;
  unsigned long left; /* bytes service: pattern bytes owed */
  size_t poff;        /* offset in the pattern of the next byte owed */
  struct bytes_dec dec;
  struct conn *prev, *next; /* all open connections, freed at exit */
};

static int epfd;
static struct conn *conns;

/* Changes the interest set only when it differs (no syscall per request). */
static int want(struct conn *c, unsigned events) {
  if (c->events == events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  c->events = events;
  return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c) {
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  close(c->fd); /* also removes it from the epoll set */
  free(c->in);
  free(c);
}

/* Writes what is owed. 1 = all written, 0 = would block, -1 = error. */
static int flush_out(struct conn *c, const char *chunk) {
  while (c->out_len > 0 || c->left > 0) {
    const char *p;
    size_t n;
    if (c->out_len > 0) {
      p = c->out;
      n = c->out_len;
    } else {
      p = chunk + c->poff;
      n = BYTES_CHUNK - c->poff;
      if (n > c->left) n = (size_t)c->left;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    if (c->out_len > 0) {
      c->out += w;
      c->out_len -= (size_t)w;
    } else {
      c->left -= (unsigned long)w;
      c->poff = (c->poff + (size_t)w) % BYTES_CHUNK;
    }
  }
  return 1;
}

/* Turns buffered input into an owed reply (the first one that is still pending). */
static void take_request(struct conn *c, int service) {
  if (c->in_off >= c->in_len || c->close_after) return;
  if (service == SVC_ECHO) {
    c->out = c->in + c->in_off;
    c->out_len = c->in_len - c->in_off;
    c->in_off = c->in_len;
    return;
  }
  while (c->in_off < c->in_len) {
    size_t used;
    unsigned long count;
    int r = bytes_feed(&c->dec, c->in + c->in_off, c->in_len - c->in_off, &used, &count);
    c->in_off += used;
    if (r < 0) {
      c->out = ERR_BAD_COUNT;
      c->out_len = sizeof ERR_BAD_COUNT - 1;
      c->close_after = 1;
      return;
    }
    if (r > 0) {
      c->left = count;
      c->poff = 0;
      return;
    }
  }
}

/* Drives one connection as far as it can go without blocking. Returns -1 to close it. */
static int conn_run(struct conn *c, int service, const char *chunk) {
  for (;;) {
    int f = flush_out(c, chunk);
    if (f < 0) return -1;
    if (f == 0) return want(c, EPOLLOUT);
    if (c->close_after) return -1;
    take_request(c, service);
    if (c->out_len > 0 || c->left > 0) continue;
    /* Nothing owed and nothing buffered: read more. */
    c->in_off = c->in_len = 0;
    ssize_t n = recv(c->fd, c->in, IOBUF, 0);
    if (n > 0) {
      c->in_len = (size_t)n;
      continue;
    }
    if (n == 0) return -1; /* client done; everything it asked for was answered */
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -1;
    return want(c, EPOLLIN);
  }
}

int main(int argc, char **argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  sigset_t orig;
  setup_signals(&orig, 0);

  int listenfd = open_listener(o.host, o.port, 0, 1, 0);
  announce_listening(o.host, listenfd);
  const char *chunk = pattern_chunk();
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listenfd, &lev) != 0) die("epoll_ctl");
  announce_ready();

  unsigned long total = 0;
  struct epoll_event evs[256];
  while (!g_stop) {
    int n = epoll_pwait(epfd, evs, 256, -1, &orig);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_pwait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c != NULL) {
        if (conn_run(c, o.service, chunk) < 0) conn_close(c);
        continue;
      }
      for (int k = 0; k < 64; k++) { /* accept a batch */
        int fd = accept4(listenfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE) usleep(1000);
          break; /* EAGAIN, ECONNABORTED, ...: level-triggered, we come back */
        }
        total++;
        set_nodelay(fd);
        c = calloc(1, sizeof *c);
        if (c) c->in = malloc(IOBUF);
        if (!c || !c->in) {
          if (c) free(c);
          close(fd);
          continue;
        }
        c->fd = fd;
        c->next = conns;
        if (conns) conns->prev = c;
        conns = c;
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) conn_close(c);
      }
    }
  }
  while (conns) conn_close(conns);
  close(listenfd);
  close(epfd);
  fprintf(stderr, "total served %lu\n", total);
  return 0;
}
