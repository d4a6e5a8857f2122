// An ImmichApi for the read-path tests: only Download works. It serves
// deterministic bytes from memory, records every request, and can add
// latency, hold requests at a gate, or fail at a given offset.
#ifndef IMMICHFS_TESTS_UNIT_CACHE_FAKE_DOWNLOAD_API_H_
#define IMMICHFS_TESTS_UNIT_CACHE_FAKE_DOWNLOAD_API_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "immich/api.h"

namespace immichfs::cache::fakes {

// Deterministic, position-dependent bytes: a wrong offset shows up as wrong data.
inline std::string MakeBytes(uint64_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

class FakeDownloadApi : public immich::ImmichApi {
 public:
  struct Request {
    std::string asset_id;
    uint64_t offset;
    std::optional<uint64_t> length;
  };
  // Requests that reach `at_offset` stop there with `status` (OK: a short body).
  struct Fault {
    uint64_t at_offset;
    absl::Status status;
    int times;  // -1: every time
  };

  void SetAsset(const std::string& id, std::string bytes) {
    absl::MutexLock lock(&mu_);
    assets_[id] = std::make_shared<const std::string>(std::move(bytes));
  }
  void SetFault(const std::string& id, Fault fault) {
    absl::MutexLock lock(&mu_);
    faults_[id] = std::move(fault);
  }
  void SetLatency(absl::Duration latency) {
    absl::MutexLock lock(&mu_);
    latency_ = latency;
  }
  // Bytes handed to the sink per call (64 KiB unless set).
  void SetChunk(uint64_t bytes) {
    absl::MutexLock lock(&mu_);
    chunk_ = bytes;
  }
  void SetGate(bool open) {
    absl::MutexLock lock(&mu_);
    gate_open_ = open;
  }
  int requests() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(log_.size());
  }
  int waiting_at_gate() {
    absl::MutexLock lock(&mu_);
    return at_gate_;
  }
  uint64_t bytes_sent() {
    absl::MutexLock lock(&mu_);
    return bytes_sent_;
  }
  std::vector<Request> log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }

  absl::Status Download(const std::string& asset_id, uint64_t offset,
                        std::optional<uint64_t> length, std::optional<uint64_t> expected_total,
                        const immich::ByteSink& sink) override {
    std::shared_ptr<const std::string> held;
    std::optional<Fault> fault;
    absl::Duration latency;
    uint64_t chunk;
    {
      absl::MutexLock lock(&mu_);
      log_.push_back(Request{asset_id, offset, length});
      auto it = assets_.find(asset_id);
      if (it == assets_.end()) return absl::NotFoundError("no such asset");
      held = it->second;  // SetAsset may replace it meanwhile
      auto f = faults_.find(asset_id);
      if (f != faults_.end() && f->second.times != 0) {
        fault = f->second;
        if (f->second.times > 0) --f->second.times;
      }
      latency = latency_;
      chunk = chunk_;
      ++at_gate_;
      mu_.Await(absl::Condition(&gate_open_));
      --at_gate_;
    }
    absl::SleepFor(latency);
    const std::string& bytes = *held;
    // Real Immich answers a Range starting at or past the end with 404.
    if (offset >= bytes.size()) return absl::NotFoundError("range past the end");
    if (length && (*length == 0 || offset + *length > bytes.size())) {
      return absl::InvalidArgumentError("bad range");
    }
    if (expected_total && *expected_total != bytes.size()) {
      return absl::FailedPreconditionError("Content-Range total differs");
    }
    uint64_t end = length ? offset + *length : bytes.size();
    uint64_t stop = end;
    if (fault && fault->at_offset < end) stop = std::max(offset, fault->at_offset);
    for (uint64_t at = offset; at < stop;) {
      uint64_t n = std::min(chunk, stop - at);
      {
        absl::MutexLock lock(&mu_);
        bytes_sent_ += n;
      }
      if (!sink(bytes.data() + at, n)) return absl::CancelledError("sink stopped");
      at += n;
    }
    if (stop < end) return fault->status;
    return absl::OkStatus();
  }

  // Everything else is not used by the read path.
  absl::Status Ping() override { return Unused(); }
  absl::StatusOr<immich::ServerVersion> GetVersion() override { return Unused(); }
  absl::StatusOr<immich::User> GetMe() override { return Unused(); }
  absl::StatusOr<immich::MediaTypes> GetMediaTypes() override { return Unused(); }
  absl::StatusOr<immich::Storage> GetStorage() override { return Unused(); }
  absl::StatusOr<std::vector<immich::Album>> ListAlbums() override { return Unused(); }
  absl::StatusOr<std::vector<immich::Album>> ListAlbumsForAsset(const std::string&) override {
    return Unused();
  }
  absl::StatusOr<immich::Album> GetAlbum(const std::string&) override { return Unused(); }
  absl::StatusOr<immich::Album> CreateAlbum(const std::string&) override { return Unused(); }
  absl::StatusOr<immich::Album> RenameAlbum(const std::string&, const std::string&) override {
    return Unused();
  }
  absl::Status DeleteAlbum(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<immich::BulkIdResult>> AddToAlbum(
      const std::string&, const std::vector<std::string>&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<immich::BulkIdResult>> RemoveFromAlbum(
      const std::string&, const std::vector<std::string>&) override {
    return Unused();
  }
  absl::StatusOr<immich::AssetPage> SearchAlbumAssets(const std::string&, int, int) override {
    return Unused();
  }
  absl::StatusOr<std::vector<immich::Asset>> SearchByChecksum(const std::string&) override {
    return Unused();
  }
  absl::StatusOr<immich::Asset> GetAsset(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<immich::BulkCheckResult>> BulkUploadCheck(
      const std::vector<std::pair<std::string, std::string>>&) override {
    return Unused();
  }
  absl::StatusOr<immich::UploadResult> Upload(const immich::UploadRequest&) override {
    return Unused();
  }
  absl::Status DeleteAssets(const std::vector<std::string>&, bool) override { return Unused(); }
  absl::Status RestoreFromTrash(const std::vector<std::string>&) override { return Unused(); }
  absl::Status CopyAssetMetadata(const std::string&, const std::string&) override {
    return Unused();
  }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by the read path"); }

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> assets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> log_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_sent_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration latency_ ABSL_GUARDED_BY(mu_);
  uint64_t chunk_ ABSL_GUARDED_BY(mu_) = 64 << 10;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
  int at_gate_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace immichfs::cache::fakes

#endif  // IMMICHFS_TESTS_UNIT_CACHE_FAKE_DOWNLOAD_API_H_
