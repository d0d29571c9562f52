// RAII owners for libevent objects, and the rule for callbacks.
//
// Every libevent callback in preforkd is a `noexcept` static trampoline that forwards to a
// member function; nothing may throw through libevent's C frames (an exception there would
// terminate the process). Objects are freed by their owner, never inside libevent.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <memory>

namespace preforkd {

struct EventBaseDeleter {
  void operator()(event_base* b) const noexcept { event_base_free(b); }
};
struct EventDeleter {
  void operator()(event* e) const noexcept { event_free(e); }
};
struct BufferEventDeleter {
  void operator()(bufferevent* b) const noexcept { bufferevent_free(b); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using BufferEventPtr = std::unique_ptr<bufferevent, BufferEventDeleter>;

inline timeval toTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace preforkd
