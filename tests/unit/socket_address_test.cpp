#include "common/socket_address.h"

#include <gtest/gtest.h>

namespace preforkd {
namespace {

struct Good {
  const char* text;
  int family;
  int port;
  const char* formatted;
};

TEST(SocketAddress, ParsesNumericAddresses) {
  const Good cases[] = {
      {"127.0.0.1:2323", AF_INET, 2323, "127.0.0.1:2323"},
      {"0.0.0.0:0", AF_INET, 0, "0.0.0.0:0"},
      {"127.0.0.2:65535", AF_INET, 65535, "127.0.0.2:65535"},
      {"[::1]:80", AF_INET6, 80, "[::1]:80"},
      {"[::]:0", AF_INET6, 0, "[::]:0"},
      {"[fe80::1]:8080", AF_INET6, 8080, "[fe80::1]:8080"},
  };
  for (const Good& c : cases) {
    std::string error;
    const auto addr = parseHostPort(c.text, &error);
    ASSERT_TRUE(addr) << c.text << ": " << error;
    EXPECT_EQ(addr->family(), c.family) << c.text;
    EXPECT_EQ(addr->port(), c.port) << c.text;
    EXPECT_EQ(formatAddress(*addr), c.formatted);
  }
}

TEST(SocketAddress, RejectsWithAReason) {
  const char* cases[] = {
      "",            "127.0.0.1",   "127.0.0.1:",     ":2323",        "localhost:2323",
      "127.0.0.1:x", "127.0.0.1:-1", "127.0.0.1:65536", "::1:80",       "[::1]",
      "[::1:80",     "[::1]80",     "[127.0.0.1]:80", "256.0.0.1:80", "127.0.0.1:80 ",
  };
  for (const char* text : cases) {
    std::string error;
    EXPECT_FALSE(parseHostPort(text, &error)) << "accepted '" << text << "'";
    EXPECT_NE(error.find("invalid address"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace preforkd

namespace preforkd {
namespace {

TEST(SocketAddress, IpKeyIgnoresThePortAndMapsV4InV6) {
  std::string error;
  const auto v4 = parseHostPort("127.0.0.1:80", &error);
  const auto v4other = parseHostPort("127.0.0.1:81", &error);
  const auto mapped = parseHostPort("[::ffff:127.0.0.1]:80", &error);
  const auto v6 = parseHostPort("[::1]:80", &error);
  ASSERT_TRUE(v4 && v4other && mapped && v6);
  EXPECT_EQ(ipKey(*v4), ipKey(*v4other));
  EXPECT_EQ(ipKey(*v4), ipKey(*mapped));
  EXPECT_NE(ipKey(*v4), ipKey(*v6));
  EXPECT_EQ(ipKey(*v4).size(), 4u);
  EXPECT_EQ(ipKey(*v6).size(), 16u);
  EXPECT_EQ(ipKey("127.0.0.1"), ipKey(*v4));
  EXPECT_EQ(ipKey("::ffff:127.0.0.1"), ipKey(*v4));
  EXPECT_EQ(ipKey("::1"), ipKey(*v6));
  EXPECT_FALSE(ipKey("127.0.0.1:80"));
  EXPECT_FALSE(ipKey("localhost"));
  EXPECT_FALSE(ipKey(""));
  EXPECT_EQ(ipKey(SocketAddress{}), "");
}

}  // namespace
}  // namespace preforkd
