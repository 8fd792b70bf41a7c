#include "cafs/audit_pusher.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "util/logging.h"

namespace cafs::core {

namespace {

// The cursor does not fit the log (shorter, or not the continuation of the chain).
Status CursorMismatch(const std::string& why) { return Status::FailedPrecondition(why); }

std::string Dirname(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

MutableByteView Writable(std::string& s) {
  return MutableByteView(reinterpret_cast<std::uint8_t*>(s.data()), s.size());
}

}  // namespace

AuditPusher::AuditPusher(AuditSink* sink, AuditPusherOptions options, PushCursor cursor)
    : sink_(sink),
      options_(std::move(options)),
      env_(options_.env ? options_.env : env::Env::Default()),
      cursor_(std::move(cursor)) {}

AuditPusher::~AuditPusher() { Stop(); }

Result<std::unique_ptr<AuditPusher>> AuditPusher::Create(AuditSink* sink,
                                                         AuditPusherOptions options) {
  env::Env* fs = options.env ? options.env : env::Env::Default();
  CAFS_ASSIGN_OR_RETURN(PushCursor cursor, LoadCursor(fs, options.cursor_path));
  return std::unique_ptr<AuditPusher>(new AuditPusher(sink, std::move(options), cursor));
}

Result<PushCursor> AuditPusher::LoadCursor(env::Env* fs, const std::string& path) {
  auto file = fs->OpenFile(path, env::OpenOptions::ReadOnly());
  if (!file.ok()) {
    if (file.status().IsNotFound()) return PushCursor{};
    return file.status().WithContext("audit push cursor " + path);
  }
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, (*file)->Size());
  std::string text(size, '\0');
  CAFS_RETURN_IF_ERROR(env::ReadExactly(**file, 0, Writable(text)));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("offset") ||
      !j["offset"].is_number_unsigned() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("hash") || !j["hash"].is_string()) {
    return Status::Corruption("audit push cursor " + path +
                              " is not {\"offset\", \"seq\", \"hash\"} (remove it to push the "
                              "whole log again; kpsd drops the repeats)");
  }
  return PushCursor{j["offset"].get<std::uint64_t>(), j["seq"].get<std::uint64_t>(),
                    j["hash"].get<std::string>()};
}

Status AuditPusher::SaveCursor(env::Env* fs, const std::string& path, const PushCursor& cursor) {
  const std::string text =
      nlohmann::json{{"offset", cursor.offset}, {"seq", cursor.seq}, {"hash", cursor.hash}}.dump() +
      "\n";
  const std::string tmp = path + ".tmp";
  {
    CAFS_ASSIGN_OR_RETURN(auto file,
                          fs->OpenFile(tmp, env::OpenOptions{.create = true, .truncate = true}));
    CAFS_RETURN_IF_ERROR(file->WriteAt(0, AsBytes(text)));
    CAFS_RETURN_IF_ERROR(file->Sync());
  }
  CAFS_RETURN_IF_ERROR(fs->Rename(tmp, path));
  return fs->SyncDir(Dirname(path));
}

Result<std::vector<audit::AuditRecord>> AuditPusher::ReadBatch(const PushCursor& from,
                                                               std::uint64_t* end) {
  *end = from.offset;
  std::vector<audit::AuditRecord> out;
  auto file = env_->OpenFile(options_.log_path, env::OpenOptions::ReadOnly());
  if (!file.ok()) {
    if (file.status().IsNotFound() && from.offset == 0) return out;  // nothing logged yet
    return file.status().WithContext("reading audit log to push");
  }
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, (*file)->Size());
  if (size < from.offset) {
    return CursorMismatch("the audit log is shorter (" + std::to_string(size) +
                          " bytes) than the push cursor (" + std::to_string(from.offset) + ")");
  }
  const std::uint64_t remaining = size - from.offset;
  if (remaining == 0) return out;
  // Read at most one batch worth of bytes, more only if one record is longer than that.
  std::uint64_t want = std::min<std::uint64_t>(remaining, options_.max_batch_bytes);
  std::string buf;
  for (;;) {
    buf.resize(want);
    CAFS_RETURN_IF_ERROR(env::ReadExactly(**file, from.offset, Writable(buf)));
    if (buf.find('\n') != std::string::npos || want == remaining) break;
    want = std::min<std::uint64_t>(remaining, want * 2);
  }
  std::size_t pos = 0;
  while (out.size() < options_.max_batch_records) {
    const std::size_t nl = buf.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn or still-being-written tail
    if (!out.empty() && nl + 1 > options_.max_batch_bytes) break;
    auto rec = audit::AuditRecord::FromLine(std::string_view(buf).substr(pos, nl - pos));
    if (!rec.ok()) {
      if (out.empty() && from.offset > 0) {
        return CursorMismatch("no record starts at the push cursor's offset");
      }
      return Status::Corruption("audit log " + options_.log_path + " at byte " +
                                std::to_string(from.offset + pos) + ": " + rec.status().message() +
                                " (run cafsctl audit verify --file)");
    }
    if (out.empty() && from.seq > 0 && (rec->seq != from.seq + 1 || rec->prev_hash != from.hash)) {
      return CursorMismatch("the record at the push cursor does not continue the chain");
    }
    out.push_back(std::move(rec).value());
    pos = nl + 1;
  }
  *end = from.offset + pos;
  return out;
}

Result<std::uint64_t> AuditPusher::PushPending() {
  std::uint64_t sent = 0;
  PushCursor from = cursor();
  for (;;) {
    std::uint64_t end = 0;
    auto batch = ReadBatch(from, &end);
    if (!batch.ok() && batch.status().code() == Status::Code::kFailedPrecondition &&
        from.offset > 0) {
      CAFS_LOG_WARN("audit push: {}; the log was replaced: pushing it again from its start",
                    batch.status().message());
      from = PushCursor{};
      continue;
    }
    if (!batch.ok()) return batch.status();
    if (batch->empty()) return sent;
    CAFS_RETURN_IF_ERROR(sink_->Push(*batch));
    PushCursor next{end, batch->back().seq, batch->back().hash};
    // The sink has the records: a failure to persist the cursor only means they may be sent
    // again after a restart (kpsd drops repeats).
    if (Status s = SaveCursor(env_, options_.cursor_path, next); !s.ok()) {
      CAFS_LOG_WARN("audit push: cannot persist the cursor: {}", s.ToString());
    }
    {
      std::lock_guard lock(mu_);
      cursor_ = next;
      pushed_ += batch->size();
    }
    sent += batch->size();
    from = next;
  }
}

void AuditPusher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void AuditPusher::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

void AuditPusher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  auto last = PushPending();
  if (!last.ok()) {
    CAFS_LOG_WARN("audit push: records stay pending in {} until the next start: {}",
                  options_.log_path, last.status().ToString());
  }
}

void AuditPusher::Loop() {
  auto backoff = options_.min_backoff;
  bool failing = false;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    notified_ = false;
    lock.unlock();
    Result<std::uint64_t> r = Status::Internal("not pushed");
    try {
      r = PushPending();
    } catch (const std::exception& e) {
      // Nothing below is meant to throw; if something does, this push failed, not cafsd.
      r = Status::Internal(std::string("audit push failed: ") + e.what());
    }
    lock.lock();
    if (r.ok()) {
      if (failing) {
        CAFS_LOG_INFO("audit push: {} takes records again", sink_->Describe());
        failing = false;
      }
      backoff = options_.min_backoff;
      cv_.wait_for(lock, options_.poll, [this] { return stopping_ || notified_; });
      continue;
    }
    if (!failing) {
      CAFS_LOG_WARN("audit push to {} failed, retrying with backoff (records stay in {}): {}",
                    sink_->Describe(), options_.log_path, r.status().ToString());
      failing = true;
    }
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

PushCursor AuditPusher::cursor() const {
  std::lock_guard lock(mu_);
  return cursor_;
}

std::uint64_t AuditPusher::pushed() const {
  std::lock_guard lock(mu_);
  return pushed_;
}

}  // namespace cafs::core
