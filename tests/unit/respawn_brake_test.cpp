#include "supervisor/respawn_brake.h"

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using ms = std::chrono::milliseconds;

TEST(RespawnBrake, DoublesUpToTheCapAndReleasesOnHealthyStart) {
  RespawnBrake brake(ms(100), ms(1000));
  EXPECT_FALSE(brake.throttled());
  EXPECT_EQ(brake.delay(), ms(0));
  const ms expected[] = {ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)};
  for (ms e : expected) {
    brake.onStartFailure();
    EXPECT_TRUE(brake.throttled());
    EXPECT_EQ(brake.delay(), e);
  }
  for (int i = 0; i < 100; ++i) brake.onStartFailure();  // no overflow past the cap
  EXPECT_EQ(brake.delay(), ms(1000));
  brake.onHealthyStart();
  EXPECT_FALSE(brake.throttled());
  EXPECT_EQ(brake.delay(), ms(0));
}

}  // namespace
}  // namespace preforkd
