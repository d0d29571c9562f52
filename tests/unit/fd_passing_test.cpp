// Descriptor passing on real SOCK_SEQPACKET socketpairs, including control data the receiver
// must reject (too many fds, truncated control message, oversized record).
#include "common/fd_passing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

int countOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

FdPair makePipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Sends `fds` in one SCM_RIGHTS message, bypassing sendMessage (which sends at most one).
void sendRaw(int sock, std::string_view payload, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ASSERT_EQ(::sendmsg(sock, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(payload.size()));
}

TEST(FdPassing, MessageWithoutFd) {
  FdPair ch = makeChannelPair();
  ASSERT_EQ(sendMessage(ch.first.get(), bytes("R")), 0);
  ReceivedMessage m = receiveMessage(ch.second.get());
  EXPECT_EQ(m.status, ReceiveStatus::Message);
  EXPECT_EQ(m.payload, "R");
  EXPECT_FALSE(m.fd.valid());
}

TEST(FdPassing, PassedFdWorksAndIsCloexec) {
  FdPair ch = makeChannelPair();
  FdPair pipe = makePipe();
  ASSERT_EQ(sendMessage(ch.first.get(), bytes("C12345678"), pipe.second.get()), 0);
  pipe.second.reset();  // the sender keeps nothing; the message holds its own reference
  ReceivedMessage m = receiveMessage(ch.second.get());
  ASSERT_EQ(m.status, ReceiveStatus::Message);
  EXPECT_EQ(m.payload, "C12345678");
  ASSERT_TRUE(m.fd.valid());
  EXPECT_TRUE(::fcntl(m.fd.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(m.fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(pipe.first.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(FdPassing, RecordBoundariesAreKept) {
  FdPair ch = makeChannelPair();
  ASSERT_EQ(sendMessage(ch.first.get(), bytes("T1")), 0);
  ASSERT_EQ(sendMessage(ch.first.get(), bytes("A22")), 0);
  EXPECT_EQ(receiveMessage(ch.second.get()).payload, "T1");
  EXPECT_EQ(receiveMessage(ch.second.get()).payload, "A22");
}

TEST(FdPassing, PeerClosedIsEof) {
  FdPair ch = makeChannelPair();
  ch.first.reset();
  EXPECT_EQ(receiveMessage(ch.second.get()).status, ReceiveStatus::PeerClosed);
}

TEST(FdPassing, SendToClosedPeerIsEpipeNotSigpipe) {
  FdPair ch = makeChannelPair();
  ch.second.reset();
  // With SIGPIPE at its default action this would kill the test process without MSG_NOSIGNAL.
  EXPECT_EQ(sendMessage(ch.first.get(), bytes("S")), EPIPE);
}

TEST(FdPassing, NonBlockingEmptyIsWouldBlock) {
  FdPair ch = makeChannelPair();
  ASSERT_EQ(::fcntl(ch.second.get(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(receiveMessage(ch.second.get()).status, ReceiveStatus::WouldBlock);
}

TEST(FdPassing, TwoFdsAreRejectedAndClosed) {
  FdPair ch = makeChannelPair();
  FdPair p1 = makePipe(), p2 = makePipe();
  sendRaw(ch.first.get(), "C", {p1.second.get(), p2.second.get()});
  const int before = countOpenFds();
  ReceivedMessage m = receiveMessage(ch.second.get());
  EXPECT_EQ(m.status, ReceiveStatus::BadControl);
  EXPECT_FALSE(m.fd.valid());
  EXPECT_EQ(countOpenFds(), before);  // both arrived and both were closed
  // Proof they are closed on the receiving side: once our originals go, readers see EOF.
  p1.second.reset();
  char c;
  EXPECT_EQ(::read(p1.first.get(), &c, 1), 0);
}

TEST(FdPassing, TruncatedControlMessageClosesWhatArrived) {
  FdPair ch = makeChannelPair();
  std::vector<FdPair> pipes;
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {  // more than the receiver has room for: MSG_CTRUNC
    pipes.push_back(makePipe());
    fds.push_back(pipes.back().second.get());
  }
  sendRaw(ch.first.get(), "C", fds);
  const int before = countOpenFds();
  ReceivedMessage m = receiveMessage(ch.second.get());
  EXPECT_EQ(m.status, ReceiveStatus::Truncated);
  EXPECT_FALSE(m.fd.valid());
  EXPECT_EQ(countOpenFds(), before);
  // Every pipe's only remaining writer is ours: dropping it gives EOF, so no copy leaked.
  for (FdPair& p : pipes) {
    p.second.reset();
    char c;
    EXPECT_EQ(::read(p.first.get(), &c, 1), 0);
  }
}

TEST(FdPassing, OversizedRecordIsTruncatedAndItsFdClosed) {
  FdPair ch = makeChannelPair();
  FdPair pipe = makePipe();
  const std::string big(kMaxChannelMessage + 10, 'x');
  ASSERT_EQ(sendMessage(ch.first.get(), bytes(big), pipe.second.get()), 0);
  pipe.second.reset();
  ReceivedMessage m = receiveMessage(ch.second.get());
  EXPECT_EQ(m.status, ReceiveStatus::Truncated);
  EXPECT_FALSE(m.fd.valid());
  char c;
  EXPECT_EQ(::read(pipe.first.get(), &c, 1), 0);
}

}  // namespace
}  // namespace preforkd
