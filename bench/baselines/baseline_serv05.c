/* baseline-serv05: Stevens' serv05, "TCP preforked server, descriptor passing" (UNP 30.9).
 * The parent accepts every connection and passes the descriptor to an idle child over that
 * child's socketpair (AF_UNIX SOCK_STREAM, sendmsg + SCM_RIGHTS with one data byte). The child
 * serves the client, closes it, and writes ONE status byte back. The parent polls the listener
 * and all socketpairs, keeps one idle/busy flag per child, picks the first idle child by a
 * linear scan, and stops polling the listener while no child is idle. A child whose
 * socketpair reaches EOF has died: it is dropped from the pool (and reaped at shutdown). */
#include "common.h"

enum { IDLE = 0, BUSY = 1, DEAD = 2 };

struct child {
  pid_t pid;
  int fd;     /* parent's end of the socketpair */
  int status; /* IDLE, BUSY or DEAD */
};

static int send_fd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -1;
}

/* The descriptor received, -1 when the parent has gone (EOF) or on error. */
static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (cm == NULL || cm->cmsg_len != CMSG_LEN(sizeof(int)) || cm->cmsg_level != SOL_SOCKET ||
      cm->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static void child_main(int sock, int service, unsigned long *slot) {
  for (;;) {
    int connfd = recv_fd(sock);
    if (connfd < 0) _exit(0); /* parent gone */
    count_one(slot);
    serve_client(connfd, service); /* closes connfd */
    char done = 1;
    if (write(sock, &done, 1) != 1) _exit(0);
  }
}

int main(int argc, char **argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  sigset_t orig;
  setup_signals(&orig, 0);

  int listenfd = open_listener(o.host, o.port, 0, 1, 0);
  announce_listening(o.host, listenfd);
  pattern_chunk();

  int n = o.workers;
  unsigned long *counters = alloc_counters(n);
  struct child *ch = calloc((size_t)n, sizeof *ch);
  struct pollfd *pfd = calloc((size_t)n + 1, sizeof *pfd);
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  if (!ch || !pfd || !pids) die("calloc");
  for (int i = 0; i < n; i++) { /* slots not started (SIGTERM during start-up) stay DEAD */
    ch[i].fd = pfd[i + 1].fd = -1;
    ch[i].status = DEAD;
  }
  for (int i = 0; i < n && !g_stop; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      child_signals(&orig);
      close(listenfd);
      close(sv[0]);
      for (int j = 0; j < i; j++) close(ch[j].fd); /* other children's parent ends */
      child_main(sv[1], o.service, &counters[i]);
      _exit(0);
    }
    close(sv[1]);
    ch[i].pid = pids[i] = pid;
    ch[i].fd = sv[0];
    ch[i].status = IDLE;
    pfd[i + 1].fd = sv[0];
    pfd[i + 1].events = POLLIN;
  }
  int navail = n;
  pfd[0].events = POLLIN;
  if (!g_stop) announce_ready();

  while (!g_stop) {
    pfd[0].fd = navail > 0 ? listenfd : -1; /* no idle child: stop watching the listener */
    if (ppoll(pfd, (nfds_t)n + 1, NULL, &orig) < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    for (int i = 0; i < n; i++) { /* status bytes first: they free children */
      if (pfd[i + 1].fd < 0 || pfd[i + 1].revents == 0) continue;
      char rc;
      ssize_t r = read(ch[i].fd, &rc, 1);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r == 1) {
        if (ch[i].status == BUSY) {
          ch[i].status = IDLE;
          navail++;
        }
        continue;
      }
      fprintf(stderr, "warning: child %ld terminated unexpectedly\n", (long)ch[i].pid);
      if (ch[i].status == IDLE) navail--;
      ch[i].status = DEAD;
      close(ch[i].fd);
      pfd[i + 1].fd = -1;
    }
    if (pfd[0].fd < 0 || pfd[0].revents == 0) continue;
    while (navail > 0) {
      int connfd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC);
      if (connfd < 0) {
        if (errno == EMFILE || errno == ENFILE) usleep(1000);
        break; /* EAGAIN (drained), ECONNABORTED, EINTR ...: back to ppoll */
      }
      int i = 0;
      while (i < n && ch[i].status != IDLE) i++; /* first idle child, as the textbook */
      if (send_fd(ch[i].fd, connfd) == 0) {
        ch[i].status = BUSY;
      } else { /* the child is gone: drop this client, EOF on the pair is handled above */
        fprintf(stderr, "warning: passing a descriptor to child %ld failed\n", (long)ch[i].pid);
        ch[i].status = DEAD;
        close(ch[i].fd);
        pfd[i + 1].fd = -1;
      }
      navail--;
      close(connfd);
    }
  }

  close(listenfd);
  kill_and_reap(pids, n);
  report_counts(pids, counters, n);
  for (int i = 0; i < n; i++)
    if (ch[i].status != DEAD) close(ch[i].fd);
  free(ch);
  free(pfd);
  free(pids);
  return 0;
}
