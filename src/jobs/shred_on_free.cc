#include "jobs/shred_on_free.h"

namespace cafs::jobs {

Status ShredOnFree::Unlink(const std::string& rel) {
  auto loc = volume_->Locate(rel);
  if (!loc.ok() || loc->nlink > 1) return volume_->Unlink(rel);  // nothing is freed
  kind_->BeginFree(loc->guid);
  JobSpec spec;
  spec.kind = std::string(ShredJob::kName);
  spec.target.type = "freed";
  spec.target.path = "/" + rel;
  spec.params = {
      {"pool", loc->pool}, {"pool_path", loc->pool_path}, {"guid", loc->guid.ToString()}};
  if (!loc->replicas.empty()) {  // a mirrored file: every copy is shredded (a task each)
    nlohmann::json copies = nlohmann::json::array();
    for (const auto& c : loc->replicas) {
      copies.push_back({{"pool", c.pool}, {"pool_path", c.pool_path}});
    }
    spec.params["copies"] = std::move(copies);
  }
  spec.requested_by = "shred on free (unlink)";
  auto job = manager_->Start(std::move(spec));
  if (!job.ok()) {
    kind_->EndFree(loc->guid, false);
    return Status::FromErrno(EIO, "/" + rel + " not removed: its shred job cannot be started: " +
                                      job.status().message());
  }
  Status s = volume_->DetachRedirector(rel, loc->guid);
  kind_->EndFree(loc->guid, s.ok());
  return s;
}

}  // namespace cafs::jobs
