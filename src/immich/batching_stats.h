// What BatchingApi (batching_api.h) counted: the calls the spool's commits
// made and the items they carried. A header of its own, so that the fs layer
// can show them without knowing the class.
#ifndef IMMICHFS_IMMICH_BATCHING_STATS_H_
#define IMMICHFS_IMMICH_BATCHING_STATS_H_

#include <cstddef>
#include <cstdint>

namespace immichfs::immich {

// Counters for /.immich/status and the benchmark.
struct BatchingStats {
  uint64_t check_calls = 0;   // bulk-upload-check calls sent
  uint64_t check_items = 0;   // checksums they carried
  uint64_t checks_ahead_used = 0;  // checks answered from an accept asked ahead
  uint64_t add_calls = 0;     // album add calls sent
  uint64_t add_items = 0;     // asset ids they carried
  uint64_t uploads = 0;       // uploads started
  int uploads_in_flight = 0;
  size_t checks_waiting = 0;  // checksums queued behind a call in flight
  size_t adds_waiting = 0;    // asset ids queued behind one, all albums
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_BATCHING_STATS_H_
