#include "common/histogram.h"

#include <algorithm>
#include <cmath>

namespace preforkd {

void Histogram::merge(const Histogram& other) noexcept {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() noexcept { *this = Histogram(); }

double Histogram::mean() const noexcept {
  if (count_ == 0) return 0.0;
  return static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  if (!(p > 0.0)) return min_;  // also NaN
  if (p >= 100.0) return max_;
  // Nearest rank. p is a binary fraction (99.9 is really 99.900000000000006), so p/100 * count
  // may land a hair above an integer it should equal; a 1e-9 relative tolerance undoes that
  // before ceil(), so p99.9 of 1000 values is rank 999, not 1000.
  const long double scaled =
      static_cast<long double>(p) / 100.0L * static_cast<long double>(count_);
  const long double exact_rank = std::ceil(scaled - scaled * 1e-9L);
  std::uint64_t rank = exact_rank < 1.0L ? 1 : static_cast<std::uint64_t>(exact_rank);
  rank = std::min(rank, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t mid = bucketLow(i) + bucketWidth(i) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;  // unreachable while the bucket counts add up to count_
}

}  // namespace preforkd
