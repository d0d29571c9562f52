#include "supervisor/admission.h"

#include "common/hot_path.h"

namespace preforkd {
namespace {

std::size_t waitingCapacity(const AdmissionView& view) {
  return view.usable_idle + view.starting + view.spawn_headroom;
}

}  // namespace

PREFORKD_HOT
bool shouldAccept(const AdmissionView& view) {
  if (view.draining || view.paused) return false;
  if (view.queue_capacity == 0) return view.queued < waitingCapacity(view);
  return true;
}

const char* toString(Admission admission) noexcept {
  switch (admission) {
    case Admission::Queue: return "queue";
    case Admission::RejectQueueFull: return "reject-queue-full";
  }
  return "?";
}

PREFORKD_HOT
Admission admit(const AdmissionView& view) {
  return view.queued < waitingCapacity(view) + view.queue_capacity ? Admission::Queue
                                                                   : Admission::RejectQueueFull;
}

}  // namespace preforkd
