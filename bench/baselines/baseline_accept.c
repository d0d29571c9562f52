/* baseline-accept: Stevens' serv02, "TCP preforked server, no locking around accept".
 * The parent opens one listener and forks N children; each child loops in a blocking
 * accept() on that shared listener and serves one client at a time. The parent does nothing
 * but wait for SIGTERM/SIGINT, then kills and reaps the children and prints their counts. */
#include "common.h"

static void child_main(int listenfd, int service, unsigned long *slot) {
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
    serve_client(connfd, service);
  }
}

int main(int argc, char **argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  sigset_t orig;
  setup_signals(&orig, 0);

  int listenfd = open_listener(o.host, o.port, 0, 0, 0); /* blocking: children sleep in accept */
  announce_listening(o.host, listenfd);
  pattern_chunk();

  unsigned long *counters = alloc_counters(o.workers);
  pid_t *pids = calloc((size_t)o.workers, sizeof *pids);
  if (!pids) die("calloc");
  for (int i = 0; i < o.workers && !g_stop; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      kill_and_reap(pids, o.workers);
      return 1;
    }
    if (pid == 0) {
      child_signals(&orig);
      child_main(listenfd, o.service, &counters[i]);
      _exit(0);
    }
    pids[i] = pid;
  }
  if (!g_stop) announce_ready();

  while (!g_stop) sigsuspend(&orig); /* everything is done by the children */

  close(listenfd);
  kill_and_reap(pids, o.workers);
  report_counts(pids, counters, o.workers);
  free(pids);
  return 0;
}
