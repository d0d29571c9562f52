/* baseline-fork: the traditional concurrent server, one fork per connection (UNP serv01).
 * The parent accepts, forks a child that serves the client and exits, and goes back to
 * accept. SIGCHLD only sets a flag; the parent waits in ppoll() with SIGCHLD/SIGTERM/SIGINT
 * unblocked only during the wait (no lost wake-up), then reaps with a waitpid(WNOHANG) loop.
 * Live children are tracked so that shutdown can kill and reap them all. --workers is
 * accepted and ignored. Prints "total served N" (connections accepted and forked). */
#include "common.h"

static volatile sig_atomic_t g_chld;
static void on_chld(int sig) {
  (void)sig;
  g_chld = 1;
}

static pid_t *live;
static size_t nlive, caplive;

static void live_add(pid_t pid) {
  if (nlive == caplive) {
    caplive = caplive ? caplive * 2 : 64;
    live = realloc(live, caplive * sizeof *live);
    if (!live) die("realloc");
  }
  live[nlive++] = pid;
}

static void live_remove(pid_t pid) {
  for (size_t i = 0; i < nlive; i++)
    if (live[i] == pid) {
      live[i] = live[--nlive];
      return;
    }
}

static void reap_nohang(void) {
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) live_remove(pid);
}

int main(int argc, char **argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_chld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NOCLDSTOP; /* no SA_RESTART */
  if (sigaction(SIGCHLD, &sa, NULL) != 0) die("sigaction");
  sigset_t orig;
  setup_signals(&orig, SIGCHLD);

  int listenfd = open_listener(o.host, o.port, 0, 1, 0); /* non-blocking: we wait in ppoll */
  announce_listening(o.host, listenfd);
  pattern_chunk();
  announce_ready();

  unsigned long total = 0;
  struct pollfd pfd = {.fd = listenfd, .events = POLLIN};
  while (!g_stop) {
    if (g_chld) {
      g_chld = 0;
      reap_nohang();
    }
    int r = ppoll(&pfd, 1, NULL, &orig);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    int connfd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC);
    if (connfd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        usleep(1000);
        continue;
      }
      die("accept");
    }
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork"); /* drop this client */
      close(connfd);
      usleep(1000);
      continue;
    }
    if (pid == 0) {
      close(listenfd);
      child_signals(&orig);
      serve_client(connfd, o.service);
      _exit(0);
    }
    close(connfd);
    live_add(pid);
    total++;
  }

  close(listenfd);
  reap_nohang();
  for (size_t i = 0; i < nlive; i++) kill(live[i], SIGTERM);
  while (nlive > 0) {
    pid_t pid = waitpid(-1, NULL, 0);
    if (pid > 0) live_remove(pid);
    else if (errno == ECHILD) break;
  }
  free(live);
  fprintf(stderr, "total served %lu\n", total);
  return 0;
}
