#include "common/histogram.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kTwo63 = std::uint64_t{1} << 63;

// |got - want| <= want * the advertised bound, computed without overflow or rounding loss.
void expectWithinBound(std::uint64_t got, std::uint64_t want, double p) {
  const std::uint64_t diff = got > want ? got - want : want - got;
  const long double allowed =
      static_cast<long double>(want) * static_cast<long double>(Histogram::kMaxRelativeError);
  EXPECT_LE(static_cast<long double>(diff), allowed)
      << "p" << p << ": got " << got << ", true quantile " << want;
}

TEST(Histogram, EmptyAnswersZeroEverywhere) {
  const Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(h.percentile(p), 0u) << p;
}

TEST(Histogram, SingleValueIsExactAtEveryPercentile) {
  const std::uint64_t values[] = {0,   1,          31,          32,     63,     64,
                                  65,  1000,       123'456'789, kTwo63, kMax64, kMax64 - 1};
  for (std::uint64_t v : values) {
    Histogram h;
    h.record(v);
    EXPECT_EQ(h.count(), 1u);
    EXPECT_EQ(h.min(), v);
    EXPECT_EQ(h.max(), v);
    EXPECT_EQ(h.mean(), static_cast<double>(v));
    for (double p : {0.0, 1.0, 50.0, 90.0, 99.9, 100.0}) {
      EXPECT_EQ(h.percentile(p), v) << "value " << v << " p" << p;
    }
  }
}

TEST(Histogram, UniformOneToAMillionWithinTheErrorBound) {
  constexpr std::uint64_t kN = 1'000'000;
  Histogram h;
  for (std::uint64_t v = 1; v <= kN; ++v) h.record(v);
  EXPECT_EQ(h.count(), kN);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), kN);
  EXPECT_DOUBLE_EQ(h.mean(), 500'000.5);
  // Nearest rank over 1..N: the p-quantile is the value ceil(p/100 * N) itself.
  const struct {
    double p;
    std::uint64_t want;
  } cases[] = {{0.0001, 1},      {0.001, 10},       {0.01, 100},       {1, 10'000},
               {10, 100'000},    {25, 250'000},     {50, 500'000},     {75, 750'000},
               {90, 900'000},    {99, 990'000},     {99.9, 999'000},   {99.99, 999'900},
               {99.999, 999'990}, {100, 1'000'000}};
  for (const auto& c : cases) expectWithinBound(h.percentile(c.p), c.want, c.p);
  EXPECT_EQ(h.percentile(100), kN);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 50; ++v) h.record(v);
  const struct {
    double p;
    std::uint64_t want;
  } cases[] = {{1, 1}, {2, 1}, {2.1, 2}, {50, 25}, {90, 45}, {99, 50}, {100, 50}, {99.9, 50}};
  for (const auto& c : cases) EXPECT_EQ(h.percentile(c.p), c.want) << "p" << c.p;
}

TEST(Histogram, RanksLandingOnAnIntegerAreNotRoundedUp) {
  // 0..59 are recorded exactly; p = 100 * i / 60 is rank i, i.e. the value i - 1, even though
  // p / 100 * 60 computed in floating point may come out a hair above i.
  Histogram h;
  for (std::uint64_t v = 0; v < 60; ++v) h.record(v);
  for (std::uint64_t i = 1; i <= 60; ++i) {
    const double p = 100.0 * static_cast<double>(i) / 60.0;
    EXPECT_EQ(h.percentile(p), i - 1) << "p" << p;
  }
  Histogram thousand;
  for (std::uint64_t v = 1; v <= 1000; ++v) thousand.record(v * 1000);
  expectWithinBound(thousand.percentile(99.9), 999'000, 99.9);
  EXPECT_LT(thousand.percentile(99.9), 1'000'000u);  // not the maximum
}

TEST(Histogram, MergeEqualsRecordingEverythingIntoOne) {
  Histogram a, b, all;
  std::uint64_t x = 88172645463325252ull;  // xorshift64: deterministic, spans every magnitude
  for (int i = 0; i < 20'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::uint64_t v = x >> (x % 64);
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  a.record(42, 1000);
  all.record(42, 1000);
  b.record(kMax64, 3);
  all.record(kMax64, 3);

  Histogram merged = a;
  merged.merge(b);
  merged.merge(Histogram());  // merging an empty histogram changes nothing
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_NEAR(merged.mean(), all.mean(), all.mean() * 1e-12);
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(merged.bucketCount(i), all.bucketCount(i)) << "bucket " << i;
  }
  for (double p : {0.0, 0.1, 1.0, 33.3, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.percentile(p), all.percentile(p)) << "p" << p;
  }

  Histogram empty;
  empty.merge(all);  // into an empty one: min must come from `all`, not stay at its sentinel
  EXPECT_EQ(empty.min(), all.min());
  EXPECT_EQ(empty.percentile(0), all.percentile(0));
}

TEST(Histogram, HugeValues) {
  Histogram h;
  h.record(kTwo63);
  h.record(kTwo63 + 1);
  h.record(kMax64);
  h.record(kMax64, 2);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.min(), kTwo63);
  EXPECT_EQ(h.max(), kMax64);
  EXPECT_EQ(h.percentile(0), kTwo63);
  EXPECT_EQ(h.percentile(100), kMax64);
  expectWithinBound(h.percentile(40), kTwo63 + 1, 40);
  expectWithinBound(h.percentile(50), kMax64, 50);
  const double want_mean = (2.0 * 0x1p63 + 3.0 * 0x1p64) / 5.0;  // within 1 of exact
  EXPECT_NEAR(h.mean(), want_mean, want_mean * 1e-15);
  EXPECT_EQ(Histogram::bucketIndex(kMax64), Histogram::kBucketCount - 1);
  EXPECT_EQ(Histogram::bucketHigh(Histogram::kBucketCount - 1), kMax64);
}

TEST(Histogram, PercentileEndsAreMinAndMaxExactly) {
  Histogram h;
  for (std::uint64_t v : {77'777ull, 5ull, 1'000ull, 99'999'999ull}) h.record(v);
  const struct {
    double p;
    std::uint64_t want;
  } cases[] = {{0, 5}, {-1, 5}, {std::nan(""), 5}, {100, 99'999'999}, {150, 99'999'999}};
  for (const auto& c : cases) EXPECT_EQ(h.percentile(c.p), c.want) << "p" << c.p;
  expectWithinBound(h.percentile(60), 77'777, 60);
  expectWithinBound(h.percentile(99.99), 99'999'999, 99.99);
}

TEST(Histogram, BucketBoundaries) {
  const struct {
    std::uint64_t value;
    std::size_t index;
    std::uint64_t low;
    std::uint64_t high;
  } cases[] = {
      {0, 0, 0, 0},
      {1, 1, 1, 1},
      {31, 31, 31, 31},
      {32, 32, 32, 32},
      {63, 63, 63, 63},  // still exact: the first power-of-two group has width 1
      {64, 64, 64, 65},
      {65, 64, 64, 65},
      {66, 65, 66, 67},
      {127, 95, 126, 127},
      {128, 96, 128, 131},
      {1'000'000, 15 * 32 + 29, 999'424, 1'015'807},
      {kTwo63 - 1, 58 * 32 + 31, kTwo63 - (std::uint64_t{1} << 57), kTwo63 - 1},
      {kTwo63, 59 * 32, kTwo63, kTwo63 + (std::uint64_t{1} << 58) - 1},
      {kMax64, 59 * 32 + 31, kMax64 - (std::uint64_t{1} << 58) + 1, kMax64},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Histogram::bucketIndex(c.value), c.index) << c.value;
    EXPECT_EQ(Histogram::bucketLow(c.index), c.low) << c.value;
    EXPECT_EQ(Histogram::bucketHigh(c.index), c.high) << c.value;
  }
  // Every bucket: contiguous with the next, maps back to itself, and no wider than the bound.
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    const std::uint64_t low = Histogram::bucketLow(i), high = Histogram::bucketHigh(i);
    ASSERT_EQ(Histogram::bucketIndex(low), i);
    ASSERT_EQ(Histogram::bucketIndex(high), i);
    ASSERT_EQ(high - low + 1, Histogram::bucketWidth(i));
    if (low < Histogram::kExactBelow) {
      ASSERT_EQ(low, high);
    } else {
      ASSERT_LE(static_cast<long double>(Histogram::bucketWidth(i)),
                static_cast<long double>(low) / Histogram::kSubBucketCount);
    }
    if (i + 1 < Histogram::kBucketCount) {
      ASSERT_EQ(high + 1, Histogram::bucketLow(i + 1));
    }
  }
}

TEST(Histogram, ValuesOnEitherSideOfABoundaryStayWithinTheBound) {
  // The worst case for the midpoint answer: a bucket's lowest value.
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    for (std::uint64_t v : {Histogram::bucketLow(i), Histogram::bucketHigh(i)}) {
      Histogram h;
      h.record(0);  // keep min() and max() from clamping the answer back to v
      h.record(v, 2);
      h.record(kMax64);
      expectWithinBound(h.percentile(50), v, 50);
    }
  }
}

TEST(Histogram, RecordManyEqualsRecordingOneByOneAndResetClears) {
  Histogram many, single;
  many.record(1234, 7);
  many.record(99, 0);  // nothing
  for (int i = 0; i < 7; ++i) single.record(1234);
  EXPECT_EQ(many.count(), 7u);
  EXPECT_EQ(many.min(), single.min());
  EXPECT_EQ(many.max(), single.max());
  EXPECT_EQ(many.mean(), single.mean());
  EXPECT_EQ(many.percentile(50), single.percentile(50));
  many.reset();
  EXPECT_EQ(many.count(), 0u);
  EXPECT_EQ(many.min(), 0u);
  EXPECT_EQ(many.max(), 0u);
  EXPECT_EQ(many.percentile(50), 0u);
  many.record(3);
  EXPECT_EQ(many.min(), 3u);
  EXPECT_EQ(many.max(), 3u);
}

}  // namespace
}  // namespace preforkd
