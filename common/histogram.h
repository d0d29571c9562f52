// Histogram: a log-linear (HdrHistogram-like) histogram of unsigned 64-bit values, meant for
// latencies in nanoseconds.
//
// Contract: pure and single-threaded; fixed memory (one std::array of kBucketCount counters,
// about 15 KiB), so record() never allocates and never fails. Values below 2^kSubBucketBits
// get one bucket each; every power of two [2^e, 2^(e+1)) above that is split into
// 2^kSubBucketBits equal buckets of width 2^(e-kSubBucketBits). Hence values below
// kExactBelow (64) are recorded exactly, and any bucket's width is at most 1/32 of its lowest
// value. Every uint64_t value, 0 through 2^64-1, has a bucket.
//
// percentile(p) uses the nearest-rank definition: the true p-quantile q is the value of rank
// ceil(p/100 * count()) (at least 1) in sorted order, the product taken with a 1e-9 relative
// tolerance so that binary rounding of p (99.9 is not exact) cannot push it up a rank. The
// result is the midpoint of q's bucket, clamped to [min(), max()], so
// |result - q| <= q * kMaxRelativeError (1/64, about 1.6 %), and it is exact below kExactBelow.
// percentile(0) (or less) is min() and percentile(100) (or more) is max(), both exact. On an
// empty histogram every query returns 0.
//
// min(), max() and count() are exact; mean() is the exact sum over count() computed in long
// double (exact while the sum stays below 2^64, within long double rounding above). Counters
// wrap on overflow past 2^64 records, which no benchmark reaches.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace preforkd {

class Histogram {
 public:
  static constexpr unsigned kSubBucketBits = 5;
  static constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
  // One group of kSubBucketCount buckets for [0, 2^k) and one per power of two 2^k .. 2^63.
  static constexpr std::size_t kBucketCount = (64 - kSubBucketBits + 1) * kSubBucketCount;
  static constexpr std::uint64_t kExactBelow = 2 * kSubBucketCount;
  static constexpr double kMaxRelativeError = 1.0 / static_cast<double>(2 * kSubBucketCount);

  // The bucket holding `value`; always < kBucketCount.
  static constexpr std::size_t bucketIndex(std::uint64_t value) noexcept {
    if (value < kSubBucketCount) return static_cast<std::size_t>(value);
    const unsigned exponent = static_cast<unsigned>(std::bit_width(value)) - 1;  // >= k
    const unsigned shift = exponent - kSubBucketBits;
    return static_cast<std::size_t>((shift + 1) * kSubBucketCount +
                                    ((value >> shift) - kSubBucketCount));
  }
  // The smallest and largest value of bucket `index` (< kBucketCount), both inclusive.
  static constexpr std::uint64_t bucketLow(std::size_t index) noexcept {
    const std::size_t group = index / kSubBucketCount;
    if (group == 0) return index;
    return (kSubBucketCount + index % kSubBucketCount) << (group - 1);
  }
  static constexpr std::uint64_t bucketHigh(std::size_t index) noexcept {
    return bucketLow(index) + (bucketWidth(index) - 1);
  }
  static constexpr std::uint64_t bucketWidth(std::size_t index) noexcept {
    const std::size_t group = index / kSubBucketCount;
    return group == 0 ? 1 : std::uint64_t{1} << (group - 1);
  }

  void record(std::uint64_t value) noexcept { record(value, 1); }
  // Records `value` `times` times; times == 0 records nothing.
  void record(std::uint64_t value, std::uint64_t times) noexcept {
    if (times == 0) return;
    counts_[bucketIndex(value)] += times;
    count_ += times;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
    sum_ += static_cast<long double>(value) * static_cast<long double>(times);
  }

  // Adds every value recorded in `other`, as if each had been recorded here.
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;
  std::uint64_t percentile(double p) const noexcept;
  // How many recorded values fell into bucket `index` (< kBucketCount).
  std::uint64_t bucketCount(std::size_t index) const noexcept { return counts_[index]; }

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace preforkd
