// Fuzzes cafsd's jobs control requests (src/jobs/control_service.h): ControlService::HandleLine
// on one request line, with its JSON depth check, op table, spec and target decoding, against
// a real JobManager (job records in a MemEnv) with the shred kind registered on a real, empty
// Volume (a temp backing store and pool): a `start` that passes validation is persisted and
// run, and fails in its plan (no file exists), so no state leaks between inputs beyond job
// records, which are forgotten after each input.
//
// Input: one request line. Each "$ID" in it is replaced by the id of a failed job kept for
// the purpose (recreated when an input forgot it), so get/pause/resume/cancel/forget reach a
// real job. Checks, besides "no crash, no leak, no UB, no exception out of HandleLine": the
// reply is exactly one line of JSON (so UTF-8) with a boolean "ok", and an error reply has a
// "code" and an "errno".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "cafs/volume.h"
#include "env/mem_env.h"
#include "jobs/control_service.h"
#include "jobs/job_manager.h"
#include "jobs/shred_job.h"
#include "pool/pool_mapper.h"
#include "pool/posix_pool.h"
#include "util/clock.h"

namespace {

using namespace cafs;
using namespace cafs::jobs;
using json = nlohmann::json;
using namespace std::chrono_literals;

struct Gateway {
  std::string dir;
  env::MemEnv mem;
  pool::PoolMapper pools;
  std::unique_ptr<core::Volume> volume;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<JobManager> manager;
  std::unique_ptr<ControlService> service;
  std::string id;  // the kept failed job

  Gateway() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "jobs-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    std::filesystem::create_directories(dir + "/backing");
    std::filesystem::create_directories(dir + "/pool");
    if (!pools.Add(std::make_unique<pool::PosixPool>("pool_A", dir + "/pool", env::Env::Default()))
             .ok()) {
      std::abort();
    }
    auto v = core::Volume::Open(dir + "/backing", &pools);
    auto log = audit::AuditLog::Open(dir + "/audit.log", {});
    if (!v.ok() || !log.ok() || !mem.CreateDir("/jobs").ok()) std::abort();
    volume = std::move(*v);
    audit = std::move(*log);
    const JobAuditor auditor(audit.get(), &SystemClock::Instance(), 1);
    auto m = JobManager::Open(&mem, "/jobs", auditor, {});
    if (!m.ok()) std::abort();
    manager = std::move(*m);
    manager->RegisterKind(std::make_unique<ShredJob>(volume.get(), auditor));
    manager->ResumeAll();
    service = std::make_unique<ControlService>(manager.get());
  }

  // A final job to aim "$ID" at.
  void KeepJob() {
    if (!id.empty() && manager->Get(id).ok()) return;
    JobSpec spec;
    spec.kind = "shred";
    spec.target.type = "file";
    spec.target.path = "/vs/vm/missing.img";
    spec.params = json::object();
    auto st = manager->Start(spec);
    if (!st.ok()) std::abort();
    id = st->record.id;
    (void)manager->Wait(id, 10s);
  }

  // Forgets every job but the kept one, once it is final (a started job fails its plan).
  void ForgetOthers() {
    for (const auto& st : manager->List()) {
      const std::string& other = st.record.id;
      if (other == id) continue;
      (void)manager->Cancel(other);
      (void)manager->Wait(other, 10s);
      if (!manager->Forget(other).ok()) std::abort();  // a job that never ends: a bug
    }
  }
};

Gateway& TheGateway() {
  static Gateway* g = new Gateway();
  return *g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 70 * 1024) return 0;  // the socket reads at most 64 KiB + '\n'
  Gateway& g = TheGateway();
  g.KeepJob();
  std::string line(reinterpret_cast<const char*>(data), size);
  for (std::size_t at; (at = line.find("$ID")) != std::string::npos;) line.replace(at, 3, g.id);
  const std::string reply = g.service->HandleLine(line, "local uid 0");
  if (reply.empty() || reply.back() != '\n' || reply.find('\n') != reply.size() - 1) std::abort();
  const json parsed = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) std::abort();
  auto ok = parsed.find("ok");
  if (ok == parsed.end() || !ok->is_boolean()) std::abort();
  if (!ok->get<bool>() && (!parsed.contains("code") || !parsed.contains("errno"))) std::abort();
  g.ForgetOthers();
  return 0;
}
