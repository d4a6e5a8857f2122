#include "immich/http_exchange.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace immichfs::immich::internal {
namespace {

// Called once the headers of the final (non-1xx) answer are in: decides how
// its body maps onto the requested range. Returns false, with ex->abort set,
// when the answer cannot be used.
bool CheckRangeAnswer(Exchange* ex) {
  long status = 0;
  curl_easy_getinfo(ex->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200) return true;  // "100 Continue": the real answer follows
  ex->status = status;
  ex->checked = true;
  const RangeRequest& r = *ex->range;
  const uint64_t wanted = r.length.value_or(UINT64_MAX);
  if (status == 206) {
    uint64_t first = 0, last = 0, total = 0;
    if (!ParseContentRange(ex->content_range, &first, &last, &total)) {
      ex->abort = absl::InternalError(absl::StrCat(
          ex->what, ": the server answered 206 with Content-Range '", ex->content_range,
          "', expected 'bytes first-last/total'"));
      return false;
    }
    if (r.expected_total.has_value() && total != *r.expected_total) {
      ex->abort = absl::FailedPreconditionError(absl::StrCat(
          ex->what, ": the file is now ", total, " bytes, not ", *r.expected_total,
          "; it changed on the server"));
      return false;
    }
    if (first != r.offset) {
      ex->abort = absl::InternalError(absl::StrCat(
          ex->what, ": asked for bytes from ", r.offset, ", the server sent ", ex->content_range));
      return false;
    }
    ex->expected = std::min(wanted, last - first + 1);
    ex->want = *ex->expected;
    return true;
  }
  if (status == 200) {
    // The server ignored the Range header and sends the whole file: drop
    // what lies before the offset, stop after the wanted bytes.
    curl_off_t length = -1;
    curl_easy_getinfo(ex->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length >= 0 && r.expected_total.has_value() &&
        static_cast<uint64_t>(length) != *r.expected_total) {
      ex->abort = absl::FailedPreconditionError(absl::StrCat(
          ex->what, ": the file is now ", length, " bytes, not ", *r.expected_total,
          "; it changed on the server"));
      return false;
    }
    ex->skip = r.offset;
    if (length >= 0) {
      uint64_t after = static_cast<uint64_t>(length) > r.offset ? length - r.offset : 0;
      ex->expected = std::min(wanted, after);
    }
    ex->want = wanted;
    return true;
  }
  // Any other answer: its body is collected as the error's message.
  return true;
}

}  // namespace

bool ParseContentRange(absl::string_view value, uint64_t* first, uint64_t* last,
                       uint64_t* total) {
  value = absl::StripAsciiWhitespace(value);
  if (!absl::ConsumePrefix(&value, "bytes ")) return false;
  std::pair<absl::string_view, absl::string_view> span_total = absl::StrSplit(value, '/');
  std::pair<absl::string_view, absl::string_view> first_last =
      absl::StrSplit(span_total.first, '-');
  return absl::SimpleAtoi(first_last.first, first) && absl::SimpleAtoi(first_last.second, last) &&
         absl::SimpleAtoi(span_total.second, total) && *first <= *last && *last < *total;
}

size_t OnHeader(char* data, size_t size, size_t nitems, void* exchange) {
  auto* ex = static_cast<Exchange*>(exchange);
  const size_t n = size * nitems;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new answer begins (after a 1xx): forget the previous one's headers.
    ex->content_range.clear();
    return n;
  }
  if (ex->kind != Exchange::Kind::kRange) return n;
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return CheckRangeAnswer(ex) ? n : 0;
  constexpr absl::string_view kContentRange = "content-range:";
  if (absl::StartsWithIgnoreCase(line, kContentRange)) {
    ex->content_range = std::string(absl::StripAsciiWhitespace(line.substr(kContentRange.size())));
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t nmemb, void* exchange) {
  auto* ex = static_cast<Exchange*>(exchange);
  const size_t n = size * nmemb;
  const bool to_sink = ex->kind == Exchange::Kind::kRange && ex->checked &&
                       (ex->status == 200 || ex->status == 206);
  if (!to_sink) {
    if (ex->kind == Exchange::Kind::kBuffer) {
      if (ex->body.empty()) {
        // An error answer is read only for its message: its start is enough,
        // and a huge one must not cost memory.
        long status = 0;
        curl_easy_getinfo(ex->handle, CURLINFO_RESPONSE_CODE, &status);
        ex->error_answer = status != 0 && (status < 200 || status >= 300);
      }
      if (ex->error_answer) {  // keep its start only
        const size_t room = kMaxErrorBody - std::min(kMaxErrorBody, ex->body.size());
        ex->body.append(data, std::min(n, room));
        return n;
      }
      if (ex->body.size() + n > ex->max_body) {
        ex->abort = absl::ResourceExhaustedError(absl::StrCat(
            ex->what, ": the answer is larger than ", ex->max_body >> 20,
            " MiB (uncompressed); refusing it. Is this an Immich server?"));
        return 0;
      }
      if (ex->body.empty()) {
        // One allocation for the whole answer when its length is announced:
        // growing a 1 MB page by doubling copied it several times over.
        curl_off_t length = -1;
        curl_easy_getinfo(ex->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (length > 0 && static_cast<uint64_t>(length) <= ex->max_body) {
          ex->body.reserve(static_cast<size_t>(length));
        }
      }
      ex->body.append(data, n);
    } else if (ex->body.size() < kMaxErrorBody) {
      ex->body.append(data, std::min(n, kMaxErrorBody - ex->body.size()));
    }
    return n;
  }
  absl::string_view chunk(data, n);
  const size_t drop = static_cast<size_t>(std::min<uint64_t>(ex->skip, chunk.size()));
  chunk.remove_prefix(drop);
  ex->skip -= drop;
  const bool too_much = chunk.size() > ex->want;
  if (too_much) chunk = chunk.substr(0, static_cast<size_t>(ex->want));
  if (!chunk.empty()) {
    if (!(*ex->sink)(chunk.data(), chunk.size())) {
      ex->abort = absl::CancelledError(
          absl::StrCat(ex->what, ": stopped by the reader after ", ex->delivered, " bytes"));
      return 0;
    }
    ex->delivered += chunk.size();
    ex->want -= chunk.size();
  }
  if (too_much) {
    // Only a server that ignored Range sends more than we want: hang up
    // rather than download the rest of the file.
    ex->got_enough = true;
    return 0;
  }
  return n;
}

}  // namespace immichfs::immich::internal
