#include "worker/wake_signal.h"

#include <csignal>

#include "common/client_read_wake.h"
#include "common/hot_path.h"

namespace preforkd {
namespace {

volatile std::sig_atomic_t g_woken = 0;

void onWakeSignal(int) { g_woken = 1; }

}  // namespace

bool installWakeSignal() noexcept {
  struct sigaction sa {};
  sa.sa_handler = &onWakeSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the blocking recv() must return EINTR
  return ::sigaction(kWakeSignal, &sa, nullptr) == 0;
}

PREFORKD_HOT
bool takeWake() noexcept {
  if (g_woken == 0) return false;
  g_woken = 0;
  return true;
}

}  // namespace preforkd
