#include "jobs/job_store.h"

#include "util/json_text.h"
#include "util/uuid.h"

namespace cafs::jobs {
namespace {

// Job ids are UUIDs: a name from a file or a request can never leave the directory.
Status CheckId(const std::string& id) {
  auto u = Uuid::Parse(id);
  if (!u.ok() || u->ToString() != id) return Status::InvalidArgument("bad job id '" + id + "'");
  return Status::OK();
}

}  // namespace

std::string JobStore::PathOf(const std::string& id) const {
  return dir_ + "/" + std::string(kPrefix) + id;
}

Status JobStore::Save(const JobRecord& job) {
  CAFS_RETURN_IF_ERROR(CheckId(job.id));
  const std::string path = PathOf(job.id);
  // JobManager keeps names UTF-8; `replace` only keeps a bug from throwing.
  const std::string text =
      ToJson(job).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return env::ReplaceFileAtomically(*env_, dir_, path, AsBytes(text));
}

Status JobStore::Remove(const std::string& id) { return RemoveAll({id}); }

Status JobStore::RemoveAll(const std::vector<std::string>& ids) {
  for (const auto& id : ids) CAFS_RETURN_IF_ERROR(CheckId(id));
  Status first = Status::OK();
  for (const auto& id : ids) {
    Status s = env_->RemoveFile(PathOf(id));
    if (!s.ok() && !s.IsNotFound()) {
      first = s;
      break;
    }
  }
  // The removals done so far are made durable even when one failed.
  Status synced = env_->SyncDir(dir_);
  return first.ok() ? synced : first;
}

Result<JobStore::Loaded> JobStore::Load() {
  CAFS_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  Loaded out;
  for (const auto& name : names) {
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string path = dir_ + "/" + name;
    if (name.size() > kTempSuffix.size() &&
        name.compare(name.size() - kTempSuffix.size(), kTempSuffix.size(), kTempSuffix) == 0) {
      (void)env_->RemoveFile(path);  // a Save that did not reach its rename
      continue;
    }
    auto read = [&]() -> Result<JobRecord> {
      CAFS_ASSIGN_OR_RETURN(auto file, env_->OpenFile(path, env::OpenOptions::ReadOnly()));
      CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
      if (size > (64u << 20)) return Status::Corruption("larger than 64 MiB");
      std::string text(size, '\0');
      CAFS_RETURN_IF_ERROR(env::ReadExactly(
          *file, 0, MutableByteView(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
      CAFS_ASSIGN_OR_RETURN(auto j, ParseJson(text, "job record"));
      CAFS_ASSIGN_OR_RETURN(JobRecord job, JobFromJson(j));
      if (std::string(kPrefix) + job.id != name) {
        return Status::Corruption("holds job " + job.id + ", not the one its name says");
      }
      return job;
    };
    auto job = read();
    if (!job.ok()) {
      out.problems.push_back(path + ": " + job.status().ToString());
      continue;
    }
    out.jobs.push_back(std::move(*job));
  }
  return out;
}

}  // namespace cafs::jobs
