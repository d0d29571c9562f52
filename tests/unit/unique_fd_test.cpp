// UniqueFd on real socketpairs: destroying the owner closes the fd (the peer sees EOF).
#include "common/unique_fd.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

FdPair streamPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(UniqueFd, DestructorClosesAndPeerSeesEof) {
  FdPair p = streamPair();
  const int raw = p.first.get();
  { UniqueFd gone = std::move(p.first); }
  EXPECT_FALSE(isOpen(raw));
  char c;
  EXPECT_EQ(::recv(p.second.get(), &c, 1, 0), 0);  // EOF
}

TEST(UniqueFd, MoveTransfersOwnership) {
  FdPair p = streamPair();
  const int raw = p.first.get();
  UniqueFd moved(std::move(p.first));
  EXPECT_FALSE(p.first.valid());
  EXPECT_EQ(moved.get(), raw);
  UniqueFd assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.get(), raw);
  EXPECT_TRUE(isOpen(raw));
}

TEST(UniqueFd, MoveAssignClosesPreviousFd) {
  FdPair a = streamPair();
  FdPair b = streamPair();
  const int old_raw = a.first.get();
  a.first = std::move(b.first);
  EXPECT_FALSE(isOpen(old_raw));
  char c;
  EXPECT_EQ(::recv(a.second.get(), &c, 1, 0), 0);
}

TEST(UniqueFd, ReleaseDoesNotClose) {
  FdPair p = streamPair();
  const int raw = p.first.release();
  EXPECT_FALSE(p.first.valid());
  EXPECT_TRUE(isOpen(raw));
  ::close(raw);
}

TEST(UniqueFd, ResetClosesOldAndAdoptsNew) {
  FdPair p = streamPair();
  FdPair q = streamPair();
  const int old_raw = p.first.get();
  const int new_raw = q.first.release();
  p.first.reset(new_raw);
  EXPECT_FALSE(isOpen(old_raw));
  EXPECT_EQ(p.first.get(), new_raw);
  p.first.reset();
  EXPECT_FALSE(isOpen(new_raw));
}

}  // namespace
}  // namespace preforkd
