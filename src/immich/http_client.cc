#include "immich/http_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/status.h"
#include "immich/http_error.h"
#include "immich/http_exchange.h"
#include "immich/json.h"

namespace immichfs::immich {
namespace {

using internal::Exchange;

long ToMillis(absl::Duration d) { return static_cast<long>(absl::ToInt64Milliseconds(d)); }

// The same status with `suffix` added to its message; payloads (the errno)
// are kept.
absl::Status Annotate(const absl::Status& status, absl::string_view suffix) {
  absl::Status out(status.code(), absl::StrCat(status.message(), suffix));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

// The file part of an upload, read with pread as curl sends it. Every
// kDropBehind bytes the pages already sent are dropped from the page cache:
// an upload reads its file once, and keeping a GiB of it cached pushes out
// everything else (on the bench VM it also made each MiB read land in fresh
// pages, costing the daemon ~1.3 s of CPU per GiB uploaded; reusing the pages
// just freed took that to ~0.3 s). Owned by curl: Free runs when the mime
// structure is freed.
class UploadSource {
 public:
  static constexpr uint64_t kDropBehind = 32 << 20;

  UploadSource(int fd, uint64_t size, std::string path, absl::Status* abort,
               std::function<absl::Status()> hold)
      : fd_(fd), size_(size), path_(std::move(path)), abort_(abort), hold_(std::move(hold)) {}

  static size_t Read(char* buf, size_t size, size_t nitems, void* arg) {
    auto* self = static_cast<UploadSource*>(arg);
    // Never past the size announced in Content-Length.
    size_t want = std::min<uint64_t>(size * nitems, self->size_ - self->pos_);
    if (want == 0) return 0;
    if (self->hold_) {
      // Everything but the last byte goes at once; the last waits for the
      // hold (FileUpload::hold_before_end). Without it the request is not
      // complete, so the server makes no asset.
      if (self->pos_ + 1 < self->size_) {
        want = std::min<uint64_t>(want, self->size_ - 1 - self->pos_);
      } else if (absl::Status st = self->hold_(); !st.ok()) {
        if (self->abort_->ok()) *self->abort_ = st;
        return CURL_READFUNC_ABORT;
      }
    }
    ssize_t n;
    do {
      n = ::pread(self->fd_, buf, want, static_cast<off_t>(self->pos_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      const int err = errno;
      if (self->abort_->ok()) {
        *self->abort_ =
            n < 0 ? ErrnoFromSyscall(err, absl::StrCat("read ", self->path_))
                  : absl::FailedPreconditionError(absl::StrCat(
                        self->path_, " ended at ", self->pos_, " of ", self->size_,
                        " bytes while it was sent; it changed"));
      }
      return CURL_READFUNC_ABORT;
    }
    self->pos_ += static_cast<uint64_t>(n);
    // curl stops asking at the size it was given: the tail is dropped then.
    if (self->pos_ >= self->dropped_ + kDropBehind || self->pos_ >= self->size_) {
      (void)::posix_fadvise(self->fd_, static_cast<off_t>(self->dropped_),
                            static_cast<off_t>(self->pos_ - self->dropped_), POSIX_FADV_DONTNEED);
      self->dropped_ = self->pos_;
    }
    return static_cast<size_t>(n);
  }

  static int Seek(void* arg, curl_off_t offset, int origin) {
    auto* self = static_cast<UploadSource*>(arg);
    if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
    self->pos_ = static_cast<uint64_t>(offset);
    self->dropped_ = std::min(self->dropped_, self->pos_);
    return CURL_SEEKFUNC_OK;
  }

  static void Free(void* arg) {
    auto* self = static_cast<UploadSource*>(arg);
    ::close(self->fd_);
    delete self;
  }

 private:
  const int fd_;
  const uint64_t size_;
  const std::string path_;
  absl::Status* const abort_;
  const std::function<absl::Status()> hold_;
  uint64_t pos_ = 0;
  uint64_t dropped_ = 0;
};

// Frees a header list when the attempt ends.
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

absl::StatusOr<Slist> MakeHeaders(const HttpClientOptions& options, bool accept_json,
                                  bool json_body, const std::vector<std::string>& extra) {
  std::vector<std::string> lines = {absl::StrCat("x-api-key: ", options.api_key)};
  if (accept_json) lines.push_back("Accept: application/json");
  if (json_body) lines.push_back("Content-Type: application/json");
  // No "Expect: 100-continue" wait before a body: proxies that do not answer
  // it would add a second to every upload.
  lines.push_back("Expect:");
  lines.insert(lines.end(), extra.begin(), extra.end());
  Slist list;
  for (const std::string& line : lines) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) return absl::ResourceExhaustedError("out of memory building headers");
    list.release();
    list.reset(grown);
  }
  return list;
}

// One attempt: the options every request shares, then `prepare` for the
// request's own (method, body, timeouts), then the transfer. Returns curl's
// result; the answer and any callback's verdict are in `ex` (a failed
// `prepare` lands in ex.abort and nothing is sent). Frees ex.mime
// while the handle is still on loan (curl keeps a pointer to it).
CURLcode RunOnce(CurlPool& pool, const HttpClientOptions& options, const char* method,
                 const std::string& path, curl_slist* headers, Exchange& ex,
                 const std::function<absl::Status(CURL*)>& prepare) {
  CurlPool::Lease lease = pool.Acquire();
  CURL* h = lease.get();
  if (h == nullptr) return CURLE_OUT_OF_MEMORY;
  ex.handle = h;
  const std::string url = options.api_root + path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // many threads; no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ToMillis(options.connect_timeout));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // never carry the key elsewhere
  curl_easy_setopt(h, CURLOPT_USERAGENT, "immichfs/0.1");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &internal::OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &internal::OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ex.errbuf);
  if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure_tls) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const absl::Time start = absl::Now();
  CURLcode code = CURLE_ABORTED_BY_CALLBACK;
  if (ex.abort = prepare(h); ex.abort.ok()) {
    code = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ex.status);
  }
  if (ex.mime != nullptr) {
    curl_easy_setopt(h, CURLOPT_MIMEPOST, nullptr);
    curl_mime_free(ex.mime);
    ex.mime = nullptr;
  }
  // The handle goes back to the pool; it must not point at our stack.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  LOG(kDebug, "%s %s -> %d%s in %dms", method, path, ex.status,
      code == CURLE_OK ? "" : absl::StrCat(" (curl: ", curl_easy_strerror(code), ")"),
      absl::ToInt64Milliseconds(absl::Now() - start));
  return code;
}

// The status of a finished attempt: a callback's verdict, else curl's error,
// else the HTTP status.
absl::Status Outcome(const Exchange& ex, CURLcode code, const char* method,
                     const HttpClientOptions& options, const std::string& path) {
  if (!ex.abort.ok()) return ex.abort;
  if (code != CURLE_OK) {
    // Transport errors name the URL: that is what the user must check.
    return CurlCodeToStatus(
        code, absl::StrCat(ex.what, " (", method, " ", options.api_root, path, ")"), ex.errbuf);
  }
  if (ex.status < 200 || ex.status >= 300) {
    return HttpStatusToStatus(ex.status, ex.what, json::ParseErrorMessage(ex.body));
  }
  return absl::OkStatus();
}

void SetMethodAndBody(CURL* h, const char* method, const std::optional<std::string>& body) {
  const std::string_view m(method);
  if (m == "GET" && !body.has_value()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    return;
  }
  // POSTFIELDS does not copy: `body` outlives the transfer.
  static const char kEmpty[] = "";
  const char* data = body.has_value() ? body->data() : kEmpty;
  const curl_off_t size = body.has_value() ? static_cast<curl_off_t>(body->size()) : 0;
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, size);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
  if (m != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

// Downloads and uploads have no total time limit (a video may take an hour)
// but give up when nothing moves for `stall`.
void SetStallLimit(CURL* h, absl::Duration stall) {
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(absl::ToInt64Seconds(stall))));
}

}  // namespace

HttpClient::HttpClient(HttpClientOptions options)
    : options_(std::move(options)), pool_(options_.max_connections) {}

absl::Duration HttpClient::Backoff(int attempt) const {
  const absl::Duration delay =
      ExponentialBackoff(options_.retry_base_delay, options_.retry_max_delay, attempt);
  // Jitter in [delay/2, delay], so that clients retrying together spread out.
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.5, 1.0);
  return delay * factor(rng);
}

absl::Status HttpClient::WithRetries(RetryPolicy policy,
                                     const std::function<absl::Status(CURLcode*)>& attempt) {
  for (int n = 0;; ++n) {
    CURLcode code = CURLE_OK;
    absl::Status status = attempt(&code);
    if (status.ok()) return status;
    // An idempotent call also retries an answer cut short (kDataLoss): the
    // connection broke, the server is likely fine.
    const bool retryable =
        policy == RetryPolicy::kIdempotent
            ? IsTransient(status) || status.code() == absl::StatusCode::kDataLoss
            : NeverReachedServer(code);
    if (!retryable) return status;
    if (n >= options_.max_retries) {
      return n == 0 ? status : Annotate(status, absl::StrCat(" (gave up after ", n + 1, " attempts)"));
    }
    const absl::Duration delay = Backoff(n);
    LOG(kWarning, "%s; retry %d of %d in %dms", status.message(), n + 1, options_.max_retries,
        absl::ToInt64Milliseconds(delay));
    absl::SleepFor(delay);
  }
}

absl::StatusOr<HttpResponse> HttpClient::Call(const HttpRequest& req) {
  HttpResponse response;
  absl::Status status = WithRetries(req.retry, [&](CURLcode* code) -> absl::Status {
    absl::StatusOr<Slist> headers =
        MakeHeaders(options_, /*accept_json=*/true, req.json_body.has_value(), {});
    if (!headers.ok()) return headers.status();
    Exchange ex;
    ex.what = req.what;
    ex.max_body = req.max_body;
    *code = RunOnce(pool_, options_, req.method, req.path, headers->get(), ex, [&](CURL* h) {
      SetMethodAndBody(h, req.method, req.json_body);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ToMillis(options_.request_timeout));
      curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip: album lists compress well
      // curl resends a request once by itself when a reused keep-alive
      // connection dies before any answer; the server may have acted on it.
      // A fresh connection rules that out for calls that must not repeat.
      if (req.retry == RetryPolicy::kIfNotSent) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
      return absl::OkStatus();
    });
    if (absl::Status s = Outcome(ex, *code, req.method, options_, req.path); !s.ok()) return s;
    response.status = ex.status;
    response.body = std::move(ex.body);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

absl::Status HttpClient::Download(const RangeRequest& req, const ByteSink& sink,
                                  long* http_status) {
  if (http_status != nullptr) *http_status = 0;
  if (req.length.has_value() && *req.length == 0) return absl::OkStatus();
  absl::StatusOr<Slist> headers = MakeHeaders(options_, /*accept_json=*/false, false, {});
  if (!headers.ok()) return headers.status();
  const std::string range =
      req.length.has_value() ? absl::StrCat(req.offset, "-", req.offset + *req.length - 1)
                             : absl::StrCat(req.offset, "-");
  Exchange ex;
  ex.kind = Exchange::Kind::kRange;
  ex.what = req.what;
  ex.range = &req;
  ex.sink = &sink;
  CURLcode code = RunOnce(pool_, options_, "GET", req.path, headers->get(), ex, [&](CURL* h) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    // libcurl's default 16 KiB receive buffer costs one recv + one poll per
    // 16 KiB (~130k syscalls per GiB); a large one cut the daemon's CPU per
    // byte downloaded by ~12%. The buffer stays with the pooled handle.
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, internal::kDownloadBufferSize);
    SetStallLimit(h, options_.request_timeout);
    return absl::OkStatus();
  });
  if (http_status != nullptr) *http_status = ex.status;
  if (ex.got_enough) return absl::OkStatus();
  if (absl::Status s = Outcome(ex, code, "GET", options_, req.path); !s.ok()) return s;
  if (ex.status != 200 && ex.status != 206) {
    return absl::InternalError(
        absl::StrCat(req.what, ": unexpected HTTP ", ex.status, " to a ranged GET"));
  }
  if (ex.expected.has_value() && ex.delivered != *ex.expected) {
    return absl::DataLossError(absl::StrCat(req.what, ": the answer ended after ", ex.delivered,
                                            " of ", *ex.expected, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> HttpClient::PostFile(const FileUpload& upload) {
  // Fail early, with the path, rather than as curl's "read error" mid-request.
  struct stat st;
  if (stat(upload.file_path.c_str(), &st) != 0) {
    return ErrnoFromSyscall(errno, absl::StrCat(upload.what, ": stat ", upload.file_path));
  }
  if (upload.file_size.has_value() && st.st_size != *upload.file_size) {
    return absl::FailedPreconditionError(absl::StrCat(upload.what, ": ", upload.file_path, " holds ",
                                                      st.st_size, " bytes, expected ",
                                                      *upload.file_size, "; it changed"));
  }
  HttpResponse response;
  absl::Status status = WithRetries(RetryPolicy::kIfNotSent, [&](CURLcode* code) -> absl::Status {
    absl::StatusOr<Slist> headers =
        MakeHeaders(options_, /*accept_json=*/true, false, upload.headers);
    if (!headers.ok()) return headers.status();
    Exchange ex;
    ex.what = upload.what;
    *code = RunOnce(pool_, options_, "POST", upload.path, headers->get(), ex,
                    [&](CURL* h) -> absl::Status {
      ex.mime = curl_mime_init(h);
      if (ex.mime == nullptr) return absl::ResourceExhaustedError("out of memory building the upload");
      for (const MultipartField& field : upload.fields) {
        curl_mimepart* part = curl_mime_addpart(ex.mime);
        curl_mime_name(part, field.name.c_str());
        curl_mime_data(part, field.value.data(), field.value.size());
      }
      // curl reads the file while sending: the content is never in memory.
      curl_mimepart* file = curl_mime_addpart(ex.mime);
      curl_mime_name(file, upload.file_field.c_str());
      const int fd = ::open(upload.file_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        return ErrnoFromSyscall(err, absl::StrCat(upload.what, ": open ", upload.file_path));
      }
      struct stat opened;
      if (::fstat(fd, &opened) != 0 || opened.st_size != st.st_size) {
        ::close(fd);
        return absl::FailedPreconditionError(absl::StrCat(
            upload.what, ": ", upload.file_path, " changed size before it was sent"));
      }
      auto* source =
          new UploadSource(fd, static_cast<uint64_t>(st.st_size), upload.file_path, &ex.abort,
                           upload.hold_before_end);
      if (CURLcode c = curl_mime_data_cb(file, st.st_size, &UploadSource::Read,
                                         &UploadSource::Seek, &UploadSource::Free, source);
          c != CURLE_OK) {
        UploadSource::Free(source);
        return absl::ResourceExhaustedError(
            absl::StrCat(upload.what, ": ", curl_easy_strerror(c)));
      }
      curl_mime_filename(file, upload.file_name.c_str());
      curl_mime_type(file, "application/octet-stream");
      curl_easy_setopt(h, CURLOPT_MIMEPOST, ex.mime);
      curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, internal::kUploadBufferSize);
      SetStallLimit(h, options_.request_timeout);
      return absl::OkStatus();
    });
    if (absl::Status s = Outcome(ex, *code, "POST", options_, upload.path); !s.ok()) return s;
    response.status = ex.status;
    response.body = std::move(ex.body);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

}  // namespace immichfs::immich
