#include "immich/batching_api.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace immichfs::immich {

BatchingApi::BatchingApi(ImmichApi* inner, BatchingOptions options)
    : inner_(inner), options_(std::move(options)) {}

BatchingApi::~BatchingApi() = default;

BatchingStats BatchingApi::Stats() const {
  absl::MutexLock l(&mu_);
  BatchingStats s = stats_;
  s.uploads_in_flight = upload_slots_used_;
  s.checks_waiting = checks_.queued_items;
  for (const auto& [album, q] : adds_) s.adds_waiting += q->queued_items;
  return s;
}

template <typename Item, typename Result>
std::vector<BatchingApi::Ask<Item, Result>*> BatchingApi::TakeBatch(Queue<Item, Result>& q,
                                                                    Ask<Item, Result>* mine) {
  std::vector<Ask<Item, Result>*> batch{mine};
  size_t items = mine->items.size();
  q.asks.erase(std::find(q.asks.begin(), q.asks.end(), mine));
  while (!q.asks.empty() && items + q.asks.front()->items.size() <= options_.max_batch) {
    items += q.asks.front()->items.size();
    batch.push_back(q.asks.front());
    q.asks.pop_front();
  }
  q.queued_items -= items;
  return batch;
}

void BatchingApi::DistributeChecks(const std::vector<CheckAsk*>& batch,
                                   const absl::StatusOr<std::vector<BulkCheckResult>>& answer) {
  if (!answer.ok()) {
    for (CheckAsk* ask : batch) ask->results = answer.status();
    return;
  }
  absl::flat_hash_map<std::string, const BulkCheckResult*> by_id;
  for (const BulkCheckResult& r : *answer) by_id.try_emplace(r.id, &r);
  for (CheckAsk* ask : batch) {
    std::vector<BulkCheckResult> mine;
    for (const CheckItem& item : ask->items) {
      // A missing answer stays missing: the caller reports it.
      if (auto it = by_id.find(item.first); it != by_id.end()) mine.push_back(*it->second);
    }
    ask->results = std::move(mine);
  }
}

void BatchingApi::DistributeAdds(const std::vector<AddAsk*>& batch,
                                 const absl::StatusOr<std::vector<BulkIdResult>>& answer) {
  if (!answer.ok()) {
    for (AddAsk* ask : batch) ask->results = answer.status();
    return;
  }
  absl::flat_hash_map<std::string, const BulkIdResult*> by_id;
  for (const BulkIdResult& r : *answer) by_id.try_emplace(r.id, &r);
  // An id asked again after its first asker: in the album by then, as a
  // second call would have found it, unless the first add failed.
  absl::flat_hash_set<std::string> answered;
  for (AddAsk* ask : batch) {
    std::vector<BulkIdResult> mine;
    for (const std::string& id : ask->items) {
      auto it = by_id.find(id);
      if (it == by_id.end()) continue;
      const BulkIdResult& r = *it->second;
      const bool in_album = r.success || r.error == "duplicate";
      if (!answered.insert(id).second && in_album) {
        mine.push_back(BulkIdResult{id, false, "duplicate"});
      } else {
        mine.push_back(r);
      }
    }
    ask->results = std::move(mine);
  }
}

void BatchingApi::SetCheckAhead(CheckAhead check_ahead) { check_ahead_ = std::move(check_ahead); }

std::vector<BulkCheckResult> BatchingApi::TakeAccepted(std::vector<CheckItem>& items) {
  std::vector<BulkCheckResult> answered;
  const absl::Time now = absl::Now();
  std::vector<CheckItem> rest;
  for (CheckItem& item : items) {
    auto it = accepted_.find(item.second);
    if (it != accepted_.end() && now - it->second <= options_.check_ahead_ttl) {
      // Once: after the upload it leads to, the bytes are a duplicate.
      accepted_.erase(it);
      answered.push_back(BulkCheckResult{item.first, true, "", "", false});
      ++stats_.checks_ahead_used;
    } else {
      rest.push_back(std::move(item));
    }
  }
  items = std::move(rest);
  return answered;
}

void BatchingApi::AddCheckAhead(std::vector<CheckItem>& items) {
  if (!check_ahead_ || items.size() >= options_.max_batch) return;
  // Called without mu_: the callback takes the spool's lock.
  std::vector<std::string> ahead = check_ahead_(options_.max_batch - items.size());
  absl::flat_hash_set<std::string> asked;
  for (const CheckItem& item : items) asked.insert(item.second);
  absl::MutexLock l(&mu_);
  const absl::Time now = absl::Now();
  // Expired answers go; so does everything if the table grew past reason
  // (files asked about that never came to commit).
  absl::erase_if(accepted_, [&](const auto& kv) {
    return now - kv.second > options_.check_ahead_ttl;
  });
  if (accepted_.size() > 16 * options_.max_batch) accepted_.clear();
  size_t n = 0;
  for (std::string& sha : ahead) {
    if (items.size() >= options_.max_batch) break;
    if (accepted_.contains(sha) || !asked.insert(sha).second) continue;
    items.emplace_back(absl::StrCat("ahead-", n++), std::move(sha));
  }
}

absl::StatusOr<std::vector<BulkCheckResult>> BatchingApi::BulkUploadCheck(
    const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) {
  if (id_and_checksum_hex.empty()) return inner_->BulkUploadCheck(id_and_checksum_hex);
  CheckAsk ask;
  ask.items = id_and_checksum_hex;
  std::vector<CheckAsk*> batch;
  std::vector<CheckItem> items;
  std::vector<BulkCheckResult> known;
  {
    absl::MutexLock l(&mu_);
    known = TakeAccepted(ask.items);
    if (ask.items.empty()) return known;
    checks_.asks.push_back(&ask);
    checks_.queued_items += ask.items.size();
    // Answered by another caller's call, or nothing in flight: send.
    auto turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ask.done || !checks_.in_flight;
    };
    mu_.Await(absl::Condition(&turn));
    if (ask.done) return std::move(ask.results);
    checks_.in_flight = true;
    batch = TakeBatch(checks_, &ask);
    for (CheckAsk* a : batch) items.insert(items.end(), a->items.begin(), a->items.end());
  }
  // Outside the lock: the callback takes the spool's.
  const size_t asked = items.size();
  AddCheckAhead(items);
  absl::StatusOr<std::vector<BulkCheckResult>> answer = inner_->BulkUploadCheck(items);
  absl::MutexLock l(&mu_);
  ++stats_.check_calls;
  stats_.check_items += items.size();
  if (answer.ok()) {
    absl::flat_hash_map<std::string, const std::string*> sha_of;
    for (size_t i = asked; i < items.size(); ++i) sha_of.emplace(items[i].first, &items[i].second);
    const absl::Time now = absl::Now();
    for (const BulkCheckResult& r : *answer) {
      auto it = sha_of.find(r.id);
      if (it != sha_of.end() && r.accepted) accepted_[*it->second] = now;
    }
  }
  DistributeChecks(batch, answer);
  for (CheckAsk* a : batch) a->done = true;
  checks_.in_flight = false;
  if (!known.empty() && ask.results.ok()) {
    ask.results->insert(ask.results->begin(), known.begin(), known.end());
  }
  return std::move(ask.results);
}

absl::StatusOr<std::vector<BulkIdResult>> BatchingApi::AddToAlbum(
    const std::string& album_id, const std::vector<std::string>& asset_ids) {
  if (asset_ids.empty()) return inner_->AddToAlbum(album_id, asset_ids);
  AddAsk ask;
  ask.items = asset_ids;
  std::vector<AddAsk*> batch;
  std::vector<std::string> ids;
  Queue<std::string, BulkIdResult>* q = nullptr;
  {
    absl::MutexLock l(&mu_);
    std::unique_ptr<Queue<std::string, BulkIdResult>>& slot = adds_[album_id];
    if (slot == nullptr) slot = std::make_unique<Queue<std::string, BulkIdResult>>();
    q = slot.get();
    q->asks.push_back(&ask);
    q->queued_items += ask.items.size();
    auto turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ask.done || !q->in_flight; };
    mu_.Await(absl::Condition(&turn));
    if (ask.done) return std::move(ask.results);
    q->in_flight = true;
    // Files still uploading are about to be added too: let them join.
    if (uploads_wanted_ > 0 && options_.album_linger > absl::ZeroDuration()) {
      auto full = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return q->queued_items >= options_.max_batch;
      };
      mu_.AwaitWithTimeout(absl::Condition(&full), options_.album_linger);
    }
    batch = TakeBatch(*q, &ask);
    absl::flat_hash_set<std::string> seen;
    for (AddAsk* a : batch) {
      for (const std::string& id : a->items) {
        if (seen.insert(id).second) ids.push_back(id);
      }
    }
    ++stats_.add_calls;
    stats_.add_items += ids.size();
  }
  absl::StatusOr<std::vector<BulkIdResult>> answer = inner_->AddToAlbum(album_id, ids);
  absl::MutexLock l(&mu_);
  DistributeAdds(batch, answer);
  for (AddAsk* a : batch) a->done = true;
  q->in_flight = false;
  if (q->asks.empty()) adds_.erase(album_id);
  return std::move(ask.results);
}

absl::StatusOr<UploadResult> BatchingApi::Upload(const UploadRequest& req) {
  {
    absl::MutexLock l(&mu_);
    ++uploads_wanted_;
    auto free_slot = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return upload_slots_used_ < std::max(1, options_.max_uploads);
    };
    mu_.Await(absl::Condition(&free_slot));
    ++upload_slots_used_;
    ++stats_.uploads;
  }
  absl::StatusOr<UploadResult> result = inner_->Upload(req);
  absl::MutexLock l(&mu_);
  --upload_slots_used_;
  --uploads_wanted_;
  return result;
}

}  // namespace immichfs::immich
