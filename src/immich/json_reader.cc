#include "immich/json_reader.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/iso_time.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace immichfs::immich::json::internal {
namespace {

using rapidjson::Document;
using rapidjson::SizeType;
using rapidjson::Value;

// Passes SAX events on to the document, refusing to open level kMaxDepth+1.
class DepthLimit {
 public:
  explicit DepthLimit(Document& doc) : doc_(doc) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
  bool String(const char* s, SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool Key(const char* s, SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool StartObject() { return Enter() && doc_.StartObject(); }
  bool EndObject(SizeType n) { --depth_; return doc_.EndObject(n); }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(SizeType n) { --depth_; return doc_.EndArray(n); }
  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ <= kMaxDepth) return true;
    too_deep_ = true;
    return false;
  }
  Document& doc_;
  int depth_ = 0;
  bool too_deep_ = false;
};

template <unsigned kFlags, typename Stream>
absl::Status ParseStream(Stream& stream, Document* doc) {
  rapidjson::Reader reader;
  bool too_deep = false;
  auto generate = [&](Document& d) {
    DepthLimit limited(d);
    constexpr unsigned kIterative = kFlags | rapidjson::kParseIterativeFlag;
    const bool ok = !reader.Parse<kIterative>(stream, limited).IsError();
    too_deep = limited.too_deep();
    return ok;
  };
  doc->Populate(generate);
  if (too_deep) {
    return Malformed(absl::StrCat("JSON nested deeper than ", kMaxDepth, " levels (at byte ",
                                  reader.GetErrorOffset(), ")"));
  }
  if (reader.HasParseError()) {
    // Usually an HTML page from a reverse proxy or a web server that is not Immich.
    return absl::InternalError(absl::StrCat(
        "the answer is not JSON (", rapidjson::GetParseError_En(reader.GetParseErrorCode()),
        " at byte ", reader.GetErrorOffset(), "); does url point at the Immich server?"));
  }
  return absl::OkStatus();
}

const char* TypeName(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return "a number";
  }
  return "?";
}

// The value as it appeared, for messages: numbers and short strings in full.
std::string Shown(const Value& v) {
  if (v.IsUint64()) return absl::StrCat(v.GetUint64());
  if (v.IsInt64()) return absl::StrCat(v.GetInt64());
  if (v.IsDouble()) return absl::StrCat(v.GetDouble());
  if (v.IsString() && v.GetStringLength() <= 40) {
    return absl::StrCat("\"", absl::string_view(v.GetString(), v.GetStringLength()), "\"");
  }
  return TypeName(v);
}

}  // namespace

absl::Status Malformed(absl::string_view detail) {
  return absl::InternalError(absl::StrCat("malformed answer from the server: ", detail));
}

absl::Status ParseDocument(absl::string_view body, Document* doc) {
  rapidjson::MemoryStream memory(body.data(), body.size());
  return ParseStream<rapidjson::kParseDefaultFlags>(memory, doc);
}

absl::Status ParseDocumentInPlace(char* body, Document* doc) {
  rapidjson::InsituStringStream in_place(body);
  return ParseStream<rapidjson::kParseInsituFlag>(in_place, doc);
}

IntProblem ToInt64(const Value& v, int64_t* out) {
  if (v.IsInt64()) {
    *out = v.GetInt64();
    return IntProblem::kNone;
  }
  if (v.IsUint64()) return IntProblem::kTooBig;  // above INT64_MAX
  if (v.IsDouble()) {
    // 2^63 is exact in a double; every double below it and >= -2^63 fits.
    const double d = v.GetDouble();
    if (!std::isfinite(d)) return d < 0 ? IntProblem::kTooSmall : IntProblem::kTooBig;
    if (d >= 9223372036854775808.0) return IntProblem::kTooBig;
    if (d < -9223372036854775808.0) return IntProblem::kTooSmall;
    if (std::trunc(d) != d) return IntProblem::kFraction;
    *out = static_cast<int64_t>(d);
    return IntProblem::kNone;
  }
  if (v.IsString()) {
    // Bigints may come as decimal strings.
    absl::string_view s(v.GetString(), v.GetStringLength());
    if (absl::SimpleAtoi(s, out)) return IntProblem::kNone;
    absl::string_view digits = absl::StripPrefix(absl::StripAsciiWhitespace(s), "-");
    digits = absl::StripPrefix(digits, "+");
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
      return IntProblem::kWrongType;
    }
    return absl::StrContains(s, '-') ? IntProblem::kTooSmall : IntProblem::kTooBig;
  }
  return IntProblem::kWrongType;
}

Fields::Fields(const Value& obj, std::string object) : obj_(obj), object_(std::move(object)) {
  if (!obj_.IsObject()) {
    status_ = Malformed(absl::StrCat(object_, " is ", TypeName(obj_), ", not an object"));
  }
}

void Fields::Fail(const char* key, absl::string_view detail) {
  if (!status_.ok()) return;
  status_ = Malformed(absl::StrCat(object_, " field '", key, "' ", detail));
}

void Fields::Merge(const absl::Status& nested) {
  if (status_.ok()) status_ = nested;
}

const Value* Fields::Get(const char* key) const {
  if (!obj_.IsObject()) return nullptr;
  auto it = obj_.FindMember(key);
  if (it == obj_.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string Fields::Str(const char* key) {
  const Value* v = Get(key);
  if (v == nullptr) return "";
  if (!v->IsString()) {
    Fail(key, absl::StrCat("is ", Shown(*v), ", not a string"));
    return "";
  }
  return std::string(v->GetString(), v->GetStringLength());
}

bool Fields::Bool(const char* key, bool fallback) {
  const Value* v = Get(key);
  if (v == nullptr) return fallback;
  if (!v->IsBool()) {
    Fail(key, absl::StrCat("is ", Shown(*v), ", not a boolean"));
    return fallback;
  }
  return v->GetBool();
}

absl::Time Fields::Time(const char* key) {
  const Value* v = Get(key);
  if (v == nullptr) return absl::InfinitePast();
  if (!v->IsString()) {
    Fail(key, absl::StrCat("is ", Shown(*v), ", not a date"));
    return absl::InfinitePast();
  }
  return ParseIsoTime(absl::string_view(v->GetString(), v->GetStringLength()))
      .value_or(absl::InfinitePast());
}

std::optional<int64_t> Fields::Int(const char* key, int64_t min, int64_t max, Above above) {
  const Value* v = Get(key);
  if (v == nullptr) return std::nullopt;
  int64_t n = 0;
  IntProblem problem = ToInt64(*v, &n);
  if (problem == IntProblem::kNone && n > max) problem = IntProblem::kTooBig;
  if (problem == IntProblem::kNone && n < min) problem = IntProblem::kTooSmall;
  switch (problem) {
    case IntProblem::kNone:
      return n;
    case IntProblem::kTooBig:
      if (above == Above::kClamp) return max;
      [[fallthrough]];
    case IntProblem::kTooSmall:
      Fail(key, absl::StrCat("is ", Shown(*v), ", out of range ", min, "..", max));
      return std::nullopt;
    case IntProblem::kFraction:
      Fail(key, absl::StrCat("is ", Shown(*v), ", not a whole number"));
      return std::nullopt;
    case IntProblem::kWrongType:
      Fail(key, absl::StrCat("is ", Shown(*v), ", not a number"));
      return std::nullopt;
  }
  return std::nullopt;
}

const Value* Fields::Object(const char* key) {
  const Value* v = Get(key);
  if (v != nullptr && !v->IsObject()) {
    Fail(key, absl::StrCat("is ", Shown(*v), ", not an object"));
    return nullptr;
  }
  return v;
}

const Value* Fields::Array(const char* key) {
  const Value* v = Get(key);
  if (v != nullptr && !v->IsArray()) {
    Fail(key, absl::StrCat("is ", Shown(*v), ", not an array"));
    return nullptr;
  }
  return v;
}

void Fields::RequireStr(const char* key, std::string* out) {
  const Value* v = Get(key);
  if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
    if (status_.ok()) {
      status_ = Malformed(absl::StrCat(object_, " has no string field '", key, "'"));
    }
    return;
  }
  out->assign(v->GetString(), v->GetStringLength());
}

}  // namespace immichfs::immich::json::internal
