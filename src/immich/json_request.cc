// The JSON request bodies of json.h, written with RapidJSON's Writer (which
// escapes every string, so names with quotes or non-ASCII travel intact).
#include "immich/json.h"

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace immichfs::immich::json {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteStr(Writer& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteStrArray(Writer& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const std::string& s : items) WriteStr(w, s);
  w.EndArray();
}

}  // namespace

std::string SearchAlbumAssetsBody(absl::string_view album_id, int page, int size) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("albumIds");
  w.StartArray();
  WriteStr(w, album_id);
  w.EndArray();
  w.Key("withExif");
  w.Bool(true);
  w.Key("size");
  w.Int(size);
  w.Key("page");
  w.Int(page);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string SearchByChecksumBody(absl::string_view checksum_b64) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("checksum");
  WriteStr(w, checksum_b64);
  w.Key("withDeleted");
  w.Bool(true);
  w.Key("withExif");
  w.Bool(true);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string BulkUploadCheckBody(const std::vector<std::pair<std::string, std::string>>& id_and_checksum) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("assets");
  w.StartArray();
  for (const auto& [id, checksum] : id_and_checksum) {
    w.StartObject();
    w.Key("id");
    WriteStr(w, id);
    w.Key("checksum");
    WriteStr(w, checksum);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string IdsBody(const std::vector<std::string>& ids) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ids");
  WriteStrArray(w, ids);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string DeleteAssetsBody(const std::vector<std::string>& ids, bool force) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ids");
  WriteStrArray(w, ids);
  w.Key("force");
  w.Bool(force);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string AlbumNameBody(absl::string_view name) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("albumName");
  WriteStr(w, name);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string CopyAssetBody(absl::string_view source_id, absl::string_view target_id) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("sourceId");
  WriteStr(w, source_id);
  w.Key("targetId");
  WriteStr(w, target_id);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace immichfs::immich::json
