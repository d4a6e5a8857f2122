// Loads the answers recorded from a real Immich 3.1 server
// (tests/data/immich-api-responses/). meson passes the data directory in
// IMMICHFS_TEST_DATA; a missing file fails the test rather than skipping it.
#ifndef IMMICHFS_TESTS_UNIT_IMMICH_FIXTURE_H_
#define IMMICHFS_TESTS_UNIT_IMMICH_FIXTURE_H_

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace immichfs::immich::testing {

inline std::string Recorded(const std::string& name) {
  const char* dir = std::getenv("IMMICHFS_TEST_DATA");
  if (dir == nullptr) {
    ADD_FAILURE() << "IMMICHFS_TEST_DATA is not set; run the test through meson test";
    return "";
  }
  const std::string path = std::string(dir) + "/immich-api-responses/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace immichfs::immich::testing

#endif  // IMMICHFS_TESTS_UNIT_IMMICH_FIXTURE_H_
