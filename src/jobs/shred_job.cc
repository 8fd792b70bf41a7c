#include "jobs/shred_job.h"

#include <algorithm>
#include <array>
#include <functional>

#include "crypto/rng.h"
#include "format/header_codec.h"
#include "format/header_layout.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 5> kTargets = {"file", "vm", "vmset", "dir", "freed"};
constexpr int kMaxDepth = 64;

// Gateway path "/a/b" -> Volume path "a/b".
std::string ParentOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Where a claimed pool file lives: beside the original, named by the file GUID.
std::string ClaimPath(const std::string& pool_path, const std::string& guid) {
  const std::string parent = ParentOf(pool_path);
  const std::string name = std::string(ShredJob::kClaimPrefix) + guid;
  return parent.empty() ? name : parent + "/" + name;
}

Status SyncParent(pool::Pool& pool, const std::string& path) {
  return pool.SyncDir(ParentOf(path));  // "" is the pool root
}

// The file GUID in a pool file's header; nil if it cannot be read.
Uuid GuidOf(pool::Pool& pool, const std::string& path) {
  auto file = pool.OpenFile(path, env::OpenOptions::ReadOnly());
  if (!file.ok()) return Uuid();
  std::vector<std::uint8_t> raw(format::kHeaderSize);
  auto got = (*file)->ReadAt(0, raw);
  if (!got.ok()) return Uuid();
  raw.resize(*got);
  auto hdr = format::ParseHeaderUnverified(raw);
  return hdr.ok() ? hdr->file_guid : Uuid();
}

struct Cursor {
  std::string phase, pool, pool_path, guid;
  std::uint64_t offset = 0;
  bool freed = false;     // a "freed" task (shred on free)
  bool mirrored = false;  // one copy of a mirrored file: its remove drops the mirror log too
};

Result<Cursor> CursorOf(const TaskRecord& task) {
  const json& c = task.cursor;
  Cursor out;
  auto str = [&](const char* key, std::string* v) {
    auto it = c.find(key);
    if (it == c.end() || !it->is_string()) return false;
    *v = it->get<std::string>();
    return true;
  };
  auto off = c.find("offset");
  if (!str("phase", &out.phase) || !str("pool", &out.pool) || !str("pool_path", &out.pool_path) ||
      !str("guid", &out.guid) || off == c.end() || !off->is_number_unsigned()) {
    return Status::Corruption("shred cursor of " + task.path + " is malformed");
  }
  out.offset = off->get<std::uint64_t>();
  auto freed = c.find("freed");
  out.freed = freed != c.end() && freed->is_boolean() && freed->get<bool>();
  auto mirrored = c.find("mirrored");
  out.mirrored = mirrored != c.end() && mirrored->is_boolean() && mirrored->get<bool>();
  return out;
}

void Store(const Cursor& c, TaskRecord& task) {
  task.cursor = json{{"phase", c.phase},
                     {"pool", c.pool},
                     {"pool_path", c.pool_path},
                     {"guid", c.guid},
                     {"offset", c.offset}};
  if (c.freed) task.cursor["freed"] = true;
  if (c.mirrored) task.cursor["mirrored"] = true;
}

// A "freed" spec's copies: exactly `pool` and `pool_path`, non-empty strings, 1..15 of them.
bool ValidCopies(const json& copies) {
  if (!copies.is_array() || copies.empty() || copies.size() > 15) return false;
  return std::all_of(copies.begin(), copies.end(), [](const json& c) {
    const auto text = [&](const char* key) {
      return c.contains(key) && c[key].is_string() && !c[key].get<std::string>().empty();
    };
    return c.is_object() && c.size() == 2 && text("pool") && text("pool_path");
  });
}

bool AllZero(ByteView data) {
  return std::all_of(data.begin(), data.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

Status ShredJob::Validate(const JobSpec& spec) const {
  if (std::find(kTargets.begin(), kTargets.end(), spec.target.type) == kTargets.end()) {
    return Status::NotSupported("shred works on a file, vm, vmset or dir, not '" +
                                spec.target.type + "'");
  }
  if (spec.target.path.empty() || spec.target.path.front() != '/') {
    return Status::InvalidArgument("shred needs an absolute gateway path, not '" +
                                   spec.target.path + "'");
  }
  if (VolumePathOf(spec.target.path).empty()) {
    return Status::InvalidArgument("shred refuses the gateway root: name a VM set, VM or file");
  }
  if (spec.target.type == "freed") {
    const json& p = spec.params;
    const auto text = [&](const char* key) {
      return p.is_object() && p.contains(key) && p[key].is_string() &&
             !p[key].get<std::string>().empty();
    };
    const bool mirrored = p.is_object() && p.contains("copies");
    if (!p.is_object() || p.size() != (mirrored ? 4u : 3u) || !text("pool") || !text("pool_path") ||
        !text("guid") || !Uuid::Parse(p["guid"].get<std::string>()).ok() ||
        (mirrored && !ValidCopies(p["copies"]))) {
      return Status::InvalidArgument(
          "a shred of a freed file takes exactly pool, pool_path and guid (and copies, a "
          "list of {pool, pool_path}, for a mirrored file)");
    }
    return Status::OK();  // the name is gone (or about to go): nothing to split
  }
  if (!spec.params.is_object() || !spec.params.empty()) {
    return Status::InvalidArgument("shred takes no parameters");
  }
  return volume_->SplitPath(VolumePathOf(spec.target.path)).status();
}

Result<TaskRecord> ShredJob::PlanFile(const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(core::FileLocation loc, volume_->Locate(rel));
  if (!loc.replicas.empty()) {  // refused, not half done: the other copies would survive
    return Status::NotSupported("/" + rel +
                                " is mirrored: shredding mirrored files is not "
                                "implemented yet");
  }
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, volume_->pools().Find(loc.pool));
  TaskRecord task;
  task.path = "/" + rel;
  auto info = pool->Stat(loc.pool_path);
  task.total = info.ok() ? info->size : 0;
  Store(Cursor{"detach", loc.pool, loc.pool_path, loc.guid.ToString(), 0}, task);
  return task;
}

Status ShredJob::PlanTree(const std::string& rel, std::vector<TaskRecord>& out, int depth) {
  if (depth > kMaxDepth) return Status::InvalidArgument("/" + rel + ": too deep");
  CAFS_ASSIGN_OR_RETURN(auto entries, volume_->ReadDir(rel));
  std::sort(entries.begin(), entries.end(),
            [](const core::DirEntry& a, const core::DirEntry& b) { return a.name < b.name; });
  for (const auto& e : entries) {
    const std::string child = rel + "/" + e.name;
    if (e.type == core::FileType::kDirectory) {
      CAFS_RETURN_IF_ERROR(PlanTree(child, out, depth + 1));
    } else if (e.type == core::FileType::kRegular) {
      CAFS_ASSIGN_OR_RETURN(TaskRecord task, PlanFile(child));
      out.push_back(std::move(task));
    }
  }
  return Status::OK();
}

Result<std::vector<TaskRecord>> ShredJob::Plan(const JobRecord& job) {
  const std::string rel = VolumePathOf(job.spec.target.path);
  std::vector<TaskRecord> tasks;
  if (job.spec.target.type == "freed") {
    // One task per copy: the primary, then a mirrored file's other copies. Each learns how
    // the unlink went on its own (detach), so none is shredded when the name was kept.
    const json& p = job.spec.params;
    std::vector<std::pair<std::string, std::string>> copies{
        {p["pool"].get<std::string>(), p["pool_path"].get<std::string>()}};
    const bool mirrored = p.contains("copies");
    if (mirrored) {
      for (const json& c : p["copies"]) {
        copies.emplace_back(c["pool"].get<std::string>(), c["pool_path"].get<std::string>());
      }
    }
    for (const auto& [pool, pool_path] : copies) {
      TaskRecord task;
      task.path = job.spec.target.path;
      Store(Cursor{"detach", pool, pool_path, p["guid"].get<std::string>(), 0, true, mirrored},
            task);
      tasks.push_back(std::move(task));
    }
  } else if (job.spec.target.type == "file") {
    CAFS_ASSIGN_OR_RETURN(TaskRecord task, PlanFile(rel));
    tasks.push_back(std::move(task));
  } else {
    CAFS_RETURN_IF_ERROR(PlanTree(rel, tasks, 0));
  }
  return tasks;
}

bool ShredJob::PointOfNoReturn(const TaskRecord& task) const {
  auto c = CursorOf(task);
  return c.ok() && c->phase != "detach";
}

Result<StepResult> ShredJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  CAFS_ASSIGN_OR_RETURN(Cursor c, CursorOf(task));
  CAFS_ASSIGN_OR_RETURN(Uuid guid, Uuid::Parse(c.guid));
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, volume_->pools().Find(c.pool));
  const std::string rel = VolumePathOf(task.path);
  const std::string claimed = ClaimPath(c.pool_path, c.guid);
  StepResult result;
  if (c.phase == "detach" && c.freed) {
    bool kept = false;
    CAFS_ASSIGN_OR_RETURN(result, StepFreedDetach(rel, guid, &kept));
    if (result.waiting()) return result;
    if (kept) {  // the unlink did not remove the name: nothing was freed
      task.total = task.done = 0;
      c.phase = "kept";
      result.done = true;
    } else {
      c.phase = "claim";
    }
  } else if (c.phase == "claim" && c.freed && volume_->IsOpen(guid)) {
    result.retry_after = kInUseRetry;
    result.waiting_for =
        "the unlinked file is still open through this gateway: shredded after its last close";
    return result;
  } else if (c.phase == "detach") {
    // A VM that has just closed the file: the kernel's release (FUSE RELEASE, the NFS
    // client's last close) reaches the gateway a moment after close() returned there, so
    // the task waits (the runner retries) for up to in_use_grace_ before it fails.
    auto loc = volume_->Locate(rel);
    if (loc.ok() && loc->guid == guid && loc->open) {
      const auto now = std::chrono::steady_clock::now();
      auto since = busy_since_.Find(job, task);
      if (since == nullptr) {
        since = std::make_shared<std::chrono::steady_clock::time_point>(now);
        busy_since_.Put(job, task, since);
      }
      if (now - *since < in_use_grace_) {
        result.retry_after = kInUseRetry;
        result.waiting_for = "the file is open through this gateway (waiting for its release)";
        return result;
      }
      busy_since_.Drop(job, task);
      return Status::FromErrno(EBUSY, task.path +
                                          " is in use (open through this gateway): "
                                          "close it, then resume the job");
    }
    busy_since_.Drop(job, task);
    Status s = volume_->DetachRedirector(rel, guid);
    if (!s.ok() && !s.IsNotFound()) return s;
    c.phase = "claim";
  } else if (c.phase == "claim") {
    if (GuidOf(*pool, c.pool_path) == guid) {
      if (pool->Stat(claimed).ok()) {
        return Status::AlreadyExists(c.pool + ":" + claimed + " exists; not replacing it");
      }
      CAFS_RETURN_IF_ERROR(pool->Rename(c.pool_path, claimed));
      CAFS_RETURN_IF_ERROR(SyncParent(*pool, claimed));
    }
    auto info = pool->Stat(claimed);
    if (!info.ok() && !info.status().IsNotFound()) return info.status();
    if (!info.ok()) {  // neither name holds the data: someone else removed it
      task.total = task.done = 0;
      result.done = true;
      c.phase = "remove";
    } else {
      task.total = info->size;
      c.phase = "overwrite";
      c.offset = 0;
    }
  } else if (c.phase == "overwrite") {
    CAFS_ASSIGN_OR_RETURN(auto file, pool->OpenFile(claimed, env::OpenOptions::ReadWrite()));
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
    task.total = size;
    if (c.offset < size) {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(std::max<std::uint64_t>(budget, 4096), size - c.offset));
      std::vector<std::uint8_t> buf(n);
      CAFS_ASSIGN_OR_RETURN(std::size_t got, file->ReadAt(c.offset, buf));
      buf.resize(got);
      if (!AllZero(buf)) {
        CAFS_RETURN_IF_ERROR(crypto::RandomBytes(buf));
        CAFS_RETURN_IF_ERROR(file->WriteAt(c.offset, buf));
        CAFS_RETURN_IF_ERROR(file->Sync());
      }
      c.offset += n;
      result.bytes = n;
    }
    if (c.offset >= size) c.phase = "discard";
    task.done = std::min(c.offset, size);
  } else if (c.phase == "discard") {
    CAFS_ASSIGN_OR_RETURN(auto file, pool->OpenFile(claimed, env::OpenOptions::ReadWrite()));
    CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
    Status punched = size == 0 ? Status::OK() : file->PunchHole(0, size);
    if (!punched.ok() && punched.code() != Status::Code::kNotSupported) return punched;
    CAFS_RETURN_IF_ERROR(file->Sync());
    c.phase = "remove";
  } else if (c.phase == "remove") {
    Status s = pool->RemoveFile(claimed);
    if (!s.ok() && !s.IsNotFound()) return s;
    CAFS_RETURN_IF_ERROR(SyncParent(*pool, claimed));
    // A mirrored file's log (dirty maps, no data) goes with its copies; each copy's task
    // removes it (idempotent): the file is detached and closed (claim waited for that).
    if (c.mirrored) CAFS_RETURN_IF_ERROR(volume_->RemoveMirrorLog(guid));
    result.done = true;
  } else {
    return Status::Corruption("shred cursor of " + task.path + " has unknown phase '" + c.phase +
                              "'");
  }
  Store(c, task);
  return result;
}

void ShredJob::BeginFree(const Uuid& guid) {
  std::lock_guard lock(free_mu_);
  frees_[guid.ToString()] = FreeState::kDetaching;
}

void ShredJob::EndFree(const Uuid& guid, bool detached) {
  std::lock_guard lock(free_mu_);
  frees_[guid.ToString()] = detached ? FreeState::kDetached : FreeState::kFailed;
}

ShredJob::FreeState ShredJob::TakeFreeState(const Uuid& guid) {
  std::lock_guard lock(free_mu_);
  auto it = frees_.find(guid.ToString());
  if (it == frees_.end()) return FreeState::kUnknown;
  const FreeState state = it->second;
  if (state != FreeState::kDetaching) frees_.erase(it);
  return state;
}

Result<StepResult> ShredJob::StepFreedDetach(const std::string& rel, const Uuid& guid, bool* kept) {
  StepResult result;
  switch (TakeFreeState(guid)) {
    case FreeState::kDetaching:
      result.retry_after = std::chrono::milliseconds(10);
      result.waiting_for = "the unlink is removing the name";
      return result;
    case FreeState::kDetached:
      return result;
    case FreeState::kFailed:
      *kept = true;
      return result;
    case FreeState::kUnknown:
      break;
  }
  // A restart: the name tells whether the unlink reached the disk.
  auto loc = volume_->Locate(rel);
  if (loc.ok() && loc->guid == guid) {
    *kept = true;
  } else if (!loc.ok() && loc.status().errno_value() == EIO) {
    return loc.status();  // cannot tell now (a pool or the backing store): resume retries
  }                       // gone, or the name holds another file, a symlink, a directory now
  return result;
}

void ShredJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  busy_since_.Drop(job, task);
  if (task.state == TaskState::kDone) {
    auto c = CursorOf(task);
    if (c.ok() && c->phase == "kept") {
      auditor_.Record(job, task.path, "shred", audit::Result::kOk,
                      "kept: the unlink did not remove the name, nothing was freed");
      return;
    }
  }
  switch (task.state) {
    case TaskState::kDone: {
      auto c = CursorOf(task);
      auditor_.Record(job, task.path, "shred", audit::Result::kOk,
                      c.ok() && c->mirrored
                          ? "copy in pool " + c->pool + ": overwritten, discarded and removed"
                          : std::string("overwritten, discarded and removed"),
                      task.total);
      break;
    }
    case TaskState::kFailed:
      auditor_.Record(job, task.path, "shred", audit::Result::kError, task.error, task.done);
      break;
    default:
      auditor_.Record(job, task.path, "shred", audit::Result::kOk,
                      "skipped: the job was cancelled before this file was touched");
      break;
  }
}

}  // namespace cafs::jobs
