// Internal to json.cc: RapidJSON parsing that a hostile or broken server
// cannot turn into a crash, and typed, range-checked reads of one object's
// fields. RapidJSON types appear here, so only src/immich includes this.
//
// Parsing is iterative (kParseIterativeFlag: no recursion, so no stack
// overflow on `[[[[...`) and stops at kMaxDepth levels of nesting: a 1 KB
// gzipped body can inflate to millions of levels, and even an iterative
// parser would spend memory on each. Immich's deepest answer (a search page:
// assets.items[].exifInfo, people[].faces[]) nests about 6 levels.
//
// Numbers: RapidJSON itself refuses 1e400, NaN and Infinity (a parse error).
// What remains is checked per field by Fields::Int: a uint64 above INT64_MAX,
// a double out of int64 range or with a fraction, a non-numeric string, or
// any other type is an error naming the object and field (or, where the
// caller asks for it, clamped). Nothing is ever cast out of range.
#ifndef IMMICHFS_IMMICH_JSON_READER_H_
#define IMMICHFS_IMMICH_JSON_READER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace immichfs::immich::json::internal {

constexpr int kMaxDepth = 64;

// "malformed answer from the server: <detail>" (kInternal, see json.h).
absl::Status Malformed(absl::string_view detail);

// Parses `body` into `doc`, iteratively and at most kMaxDepth deep.
absl::Status ParseDocument(absl::string_view body, rapidjson::Document* doc);
// The same in place: `body` must be NUL-terminated and outlive `doc`.
absl::Status ParseDocumentInPlace(char* body, rapidjson::Document* doc);

// How an integer field that is too big is read.
enum class Above {
  kError,  // a decode error: the value means something we cannot represent
  kClamp,  // the field's maximum: the value is only a hint (a count)
};

// Why a JSON value is not an int64.
enum class IntProblem { kNone, kWrongType, kFraction, kTooBig, kTooSmall };
// A JSON integer, an integral double or a decimal string within int64.
IntProblem ToInt64(const rapidjson::Value& v, int64_t* out);

// Reads fields of one object, remembering the first that has the wrong type
// or is out of range: a decoder reads what it needs, then checks status().
// An absent or null field is "not set" (the reader's default): the server
// sends null for that. `object` names the object in errors ("asset #3").
class Fields {
 public:
  Fields(const rapidjson::Value& obj, std::string object);

  const rapidjson::Value* Get(const char* key) const;  // nullptr: absent or null
  std::string Str(const char* key);                    // "" if not set
  bool Bool(const char* key, bool fallback = false);
  absl::Time Time(const char* key);                    // InfinitePast if not set
  // nullopt if not set or in error; [min, max] else.
  std::optional<int64_t> Int(const char* key, int64_t min, int64_t max,
                             Above above = Above::kError);
  const rapidjson::Value* Object(const char* key);     // nullptr if not set
  const rapidjson::Value* Array(const char* key);      // nullptr if not set
  // A non-empty string; an error if not set.
  void RequireStr(const char* key, std::string* out);

  // Records `detail` about field `key` unless an error is already recorded.
  void Fail(const char* key, absl::string_view detail);
  // Takes over a nested reader's error (its object names the path).
  void Merge(const absl::Status& nested);
  const absl::Status& status() const { return status_; }
  const std::string& object() const { return object_; }

 private:
  const rapidjson::Value& obj_;
  std::string object_;
  absl::Status status_;
};

}  // namespace immichfs::immich::json::internal

#endif  // IMMICHFS_IMMICH_JSON_READER_H_
