#include "fake_immich_process.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace immichfs::testing {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A JSON string literal (quotes included) for building control bodies.
std::string Quote(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buf.GetString(), buf.GetSize());
}

std::string QuoteList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) absl::StrAppend(&out, i ? "," : "", Quote(items[i]));
  return out + "]";
}

}  // namespace

std::string Base64(const std::string& bytes) {
  return ToBase64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

absl::StatusOr<std::unique_ptr<FakeImmichProcess>> FakeImmichProcess::Start(
    const Options& options) {
  const char* python = std::getenv("IMMICHFS_PYTHON");
  const char* script = std::getenv("IMMICHFS_FAKE_SERVER");
  if (python == nullptr || script == nullptr) {
    return absl::FailedPreconditionError(
        "IMMICHFS_PYTHON / IMMICHFS_FAKE_SERVER unset; run through meson test");
  }
  char dir_template[] = "/tmp/immichfs-client-test-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  std::unique_ptr<FakeImmichProcess> server(new FakeImmichProcess());
  server->data_dir_ = dir_template;
  server->api_key_ = options.api_key;
  const std::string port_file = server->data_dir_ + "/port";
  std::vector<std::string> args = {python, script, "--port", "0", "--port-file", port_file,
                                   "--data-dir", server->data_dir_, "--api-key", options.api_key,
                                   "--version", options.version, "--quiet"};
  for (const std::string& u : options.users) {
    args.push_back("--user");
    args.push_back(u);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  server->pid_ = pid;
  // Wait for the port file, then for /_fake/health.
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(port_file);
    if (in >> server->port_ && server->port_ > 0) break;
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      server->pid_ = -1;
      return absl::InternalError(absl::StrCat("server.py exited early (status ", wstatus, ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (server->port_ <= 0) return absl::DeadlineExceededError("server.py did not start in 10s");
  for (int i = 0; i < 100; ++i) {
    if (server->Json("GET", "/_fake/health").ok()) return server;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("server.py does not answer /_fake/health");
}

FakeImmichProcess::~FakeImmichProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int wstatus = 0;
    waitpid(pid_, &wstatus, 0);
  }
  std::error_code ignored;
  if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_, ignored);
}

absl::StatusOr<rapidjson::Document> FakeImmichProcess::Json(const std::string& method,
                                                            const std::string& path,
                                                            const std::string& body) {
  CURL* h = curl_easy_init();
  if (h == nullptr) return absl::InternalError("curl_easy_init");
  std::string url = this->url() + path, answer;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("x-api-key: " + api_key_).c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  CURLcode code = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method, " ", path, ": ", curl_easy_strerror(code)));
  }
  if (status < 200 || status >= 300) {
    return absl::InternalError(absl::StrCat(method, " ", path, ": HTTP ", status, ": ", answer));
  }
  rapidjson::Document doc;
  if (!answer.empty()) doc.Parse(answer.data(), answer.size());
  if (doc.HasParseError()) return absl::InternalError(absl::StrCat(path, ": not JSON: ", answer));
  return doc;
}

void FakeImmichProcess::Reset() {
  absl::StatusOr<rapidjson::Document> r = Json("POST", "/_fake/reset", "{}");
  if (!r.ok()) ADD_FAILURE() << r.status();
}

std::string FakeImmichProcess::SeedAlbum(const std::string& name, const std::string& user,
                                         const std::vector<std::string>& shared_with) {
  std::string body =
      absl::StrCat("{\"name\":", Quote(name), ",\"shared_with\":", QuoteList(shared_with));
  if (!user.empty()) absl::StrAppend(&body, ",\"user\":", Quote(user));
  absl::StatusOr<rapidjson::Document> r = Json("POST", "/_fake/albums", body + "}");
  if (!r.ok() || !r->IsObject() || !r->HasMember("id")) {
    ADD_FAILURE() << "seed album " << name << ": " << r.status();
    return "";
  }
  return (*r)["id"].GetString();
}

std::string FakeImmichProcess::AddAsset(const std::string& name, const std::string& content,
                                        const std::string& album) {
  std::string spec =
      absl::StrCat("{\"name\":", Quote(name), ",\"content_b64\":", Quote(Base64(content)));
  if (!album.empty()) absl::StrAppend(&spec, ",\"album\":", Quote(album));
  absl::StatusOr<rapidjson::Document> r =
      Json("POST", "/_fake/assets", absl::StrCat("{\"assets\":[", spec, "}]}"));
  if (!r.ok() || !(*r)["assets"].IsArray() || (*r)["assets"].Empty()) {
    ADD_FAILURE() << "seed asset " << name << ": " << r.status();
    return "";
  }
  return (*r)["assets"][0]["id"].GetString();
}

void FakeImmichProcess::Generate(int count, int size, const std::string& album) {
  absl::StatusOr<rapidjson::Document> r = Json(
      "POST", "/_fake/assets",
      absl::StrCat("{\"generate\":{\"count\":", count, ",\"size\":", size,
                   ",\"album\":", Quote(album), "}}"));
  if (!r.ok()) ADD_FAILURE() << "generate: " << r.status();
}

void FakeImmichProcess::Fault(const std::string& route, const std::string& kind, int count,
                              int status, int after_bytes) {
  absl::StatusOr<rapidjson::Document> r =
      Json("POST", "/_fake/faults",
           absl::StrCat("{\"route\":", Quote(route), ",\"kind\":", Quote(kind),
                        ",\"count\":", count, ",\"status\":", status,
                        ",\"after_bytes\":", after_bytes, "}"));
  if (!r.ok()) ADD_FAILURE() << "fault: " << r.status();
}

void FakeImmichProcess::ClearFaults() {
  if (absl::StatusOr<rapidjson::Document> r = Json("DELETE", "/_fake/faults"); !r.ok()) {
    ADD_FAILURE() << r.status();
  }
}

void FakeImmichProcess::ResetStats() {
  if (absl::StatusOr<rapidjson::Document> r = Json("POST", "/_fake/stats/reset", "{}"); !r.ok()) {
    ADD_FAILURE() << r.status();
  }
}

int64_t FakeImmichProcess::Stat(const std::string& name) {
  absl::StatusOr<rapidjson::Document> r = Json("GET", "/_fake/stats");
  if (!r.ok() || !r->HasMember(name.c_str())) {
    ADD_FAILURE() << "stat " << name << ": " << r.status();
    return -1;
  }
  return (*r)[name.c_str()].GetInt64();
}

int64_t FakeImmichProcess::Requests(const std::string& route) {
  absl::StatusOr<rapidjson::Document> r = Json("GET", "/_fake/stats");
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return -1;
  }
  const rapidjson::Value& requests = (*r)["requests"];
  auto it = requests.FindMember(route.c_str());
  return it == requests.MemberEnd() ? 0 : it->value.GetInt64();
}

rapidjson::Document FakeImmichProcess::AssetState(const std::string& id) {
  rapidjson::Document out;
  absl::StatusOr<rapidjson::Document> r = Json("GET", "/_fake/state");
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return out;
  }
  for (rapidjson::Value& a : (*r)["assets"].GetArray()) {
    if (id == a["id"].GetString()) {
      out.CopyFrom(a, out.GetAllocator());
      break;
    }
  }
  return out;
}

}  // namespace immichfs::testing
