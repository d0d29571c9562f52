/* baseline-reuseport: N children, each with its own SO_REUSEPORT listener on the same port;
 * the kernel spreads incoming connections over the N listen queues. Each child blocks in
 * accept() on its own socket and serves one client at a time.
 *
 * Port 0: the parent first binds (without listening) a SO_REUSEPORT socket to learn the port
 * and keep it reserved; a bound socket that does not listen receives no connections. Each child
 * then binds and listens on that port and reports through a pipe; once all N have, the parent
 * prints "listening on ..." and "ready". */
#include "common.h"

static void child_main(const struct opts *o, int port, int readyfd, unsigned long *slot) {
  int listenfd = open_listener(o->host, port, 1, 0, 0); /* exits (status 1) on error */
  char one = 1;
  if (write(readyfd, &one, 1) != 1) _exit(1);
  close(readyfd);
  for (;;) {
    int connfd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC);
    if (connfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(1000);
        continue;
      }
      _exit(1);
    }
    count_one(slot);
    serve_client(connfd, o->service);
  }
}

int main(int argc, char **argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  sigset_t orig;
  setup_signals(&orig, 0);

  int reserve = open_listener(o.host, o.port, 1, 0, 1); /* bound, not listening */
  int port = bound_port(reserve);
  pattern_chunk();

  int readyp[2];
  if (pipe2(readyp, O_CLOEXEC) != 0) die("pipe");
  unsigned long *counters = alloc_counters(o.workers);
  pid_t *pids = calloc((size_t)o.workers, sizeof *pids);
  if (!pids) die("calloc");
  int failed = 0;
  for (int i = 0; i < o.workers && !g_stop; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      failed = 1;
      break;
    }
    if (pid == 0) {
      child_signals(&orig);
      close(readyp[0]);
      close(reserve);
      child_main(&o, port, readyp[1], &counters[i]);
      _exit(0);
    }
    pids[i] = pid;
  }
  close(readyp[1]);

  /* Wait for one byte per child; EOF early means a child failed to listen. */
  int started = 0;
  while (!failed && !g_stop && started < o.workers) {
    struct pollfd pfd = {.fd = readyp[0], .events = POLLIN};
    if (ppoll(&pfd, 1, NULL, &orig) < 0) { /* SIGTERM/SIGINT unblocked only while waiting */
      if (errno != EINTR) failed = 1;
      continue;
    }
    char buf[64];
    ssize_t n = read(readyp[0], buf, sizeof buf);
    if (n > 0) started += (int)n;
    else if (n == 0 || errno != EINTR) failed = 1;
  }
  close(readyp[0]);
  if (failed) {
    fprintf(stderr, "error: a child could not start\n");
    kill_and_reap(pids, o.workers);
    free(pids);
    return 1;
  }
  if (!g_stop) {
    fprintf(stderr, "listening on %s:%d\n", o.host, port);
    announce_ready();
  }

  while (!g_stop) sigsuspend(&orig);

  close(reserve);
  kill_and_reap(pids, o.workers);
  report_counts(pids, counters, o.workers);
  free(pids);
  return 0;
}
