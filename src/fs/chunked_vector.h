// An append-only array in fixed chunks of 2^kBits elements, for the tables
// with one element per asset or inode.
//
// Why not std::vector: it grows by doubling, so just past a power of two
// half its capacity is unused (up to 2x the memory), and each growth copies
// everything while old and new buffers are both alive. Here the waste is at
// most one chunk, growth never copies, and elements never move (a reference
// stays valid for the life of the container).
#ifndef IMMICHFS_FS_CHUNKED_VECTOR_H_
#define IMMICHFS_FS_CHUNKED_VECTOR_H_

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace immichfs::fs {

template <typename T, int kBits = 12>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = size_t{1} << kBits;

  size_t size() const { return size_; }
  T& operator[](size_t i) { return chunks_[i >> kBits][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kBits][i & (kChunk - 1)]; }

  T& push_back(T value) {
    if ((size_ & (kChunk - 1)) == 0) chunks_.push_back(std::make_unique<T[]>(kChunk));
    T& slot = (*this)[size_++];
    slot = std::move(value);
    return slot;
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_CHUNKED_VECTOR_H_
