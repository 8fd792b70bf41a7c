#include "jobs/rekey_job.h"

#include <algorithm>
#include <array>

#include "format/header_codec.h"
#include "format/header_layout.h"
#include "jobs/policy_vobj.h"
#include "jobs/volume_files.h"
#include "util/logging.h"

namespace cafs::jobs {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 4> kTargets = {"file", "vm", "vmset", "key-version"};

// Gateway path "/a/b" -> Volume path "a/b".
// The header of the pool file of `rel`, parsed without the key.
Result<format::Header> HeaderOf(core::Volume& volume, const std::string& rel) {
  CAFS_ASSIGN_OR_RETURN(core::FileLocation loc, volume.Locate(rel));
  CAFS_ASSIGN_OR_RETURN(pool::Pool * pool, volume.pools().Find(loc.pool));
  CAFS_ASSIGN_OR_RETURN(auto file, pool->OpenFile(loc.pool_path, env::OpenOptions::ReadOnly()));
  std::vector<std::uint8_t> raw(format::kHeaderSize);
  CAFS_ASSIGN_OR_RETURN(std::size_t got, file->ReadAt(0, raw));
  raw.resize(got);
  auto hdr = format::ParseHeaderUnverified(raw);
  if (!hdr.ok()) return hdr.status().WithContext("/" + rel);
  return hdr;
}

std::string KeyName(const Uuid& key, std::uint32_t version) {
  return "key " + key.ToString() + " version " + std::to_string(version);
}

}  // namespace

// The rekey target of a job, from its params.
struct RekeyJob::Target {
  std::optional<Uuid> key;  // none: each file's own key
  std::uint32_t version = 0;
  // A conversion (docs/format.md 8.8): the files' cipher becomes this one (never none);
  // clear-text files are included then. None: each file keeps its cipher.
  std::optional<crypto::CipherId> cipher;
  // {"policy": true}: a policy-driven conversion; each file's target is its vobj's symkey (at
  // its current version) and cipher (the other fields are unused).
  bool policy = false;

  static Result<Target> Of(const json& params) {
    if (!params.is_object()) return Status::InvalidArgument("rekey params must be an object");
    for (const auto& [k, v] : params.items()) {
      if (k != "to_version" && k != "to_key" && k != "to_cipher" && k != "policy") {
        return Status::InvalidArgument("rekey: unknown parameter '" + k + "'");
      }
      (void)v;
    }
    Target t;
    if (auto policy = params.find("policy"); policy != params.end()) {
      if (!policy->is_boolean() || !policy->get<bool>() || params.size() != 1) {
        return Status::InvalidArgument(
            "rekey: \"policy\": true stands alone (each file's target comes from its vobj)");
      }
      t.policy = true;
      return t;
    }
    auto ver = params.find("to_version");
    if (ver == params.end() || !ver->is_number_integer() || ver->get<std::int64_t>() < 1 ||
        ver->get<std::int64_t>() > UINT32_MAX) {
      return Status::InvalidArgument("rekey needs to_version, a key version >= 1");
    }
    t.version = ver->get<std::uint32_t>();
    auto key = params.find("to_key");
    if (key != params.end()) {
      if (!key->is_string()) return Status::InvalidArgument("rekey: to_key must be a key GUID");
      auto guid = Uuid::Parse(key->get<std::string>());
      if (!guid.ok()) return Status::InvalidArgument("rekey: to_key: " + guid.status().message());
      t.key = *guid;
    }
    auto cipher = params.find("to_cipher");
    if (cipher != params.end()) {
      if (!cipher->is_string()) return Status::InvalidArgument("rekey: to_cipher must be a name");
      auto id = crypto::ParseCipherName(cipher->get<std::string>());
      if (!id.ok()) return Status::InvalidArgument("rekey: to_cipher: " + id.status().message());
      if (*id == crypto::CipherId::kNone) {
        // Decision (docs/jobs.md "Conversions"): data at rest is never decrypted by a job.
        return Status::InvalidArgument(
            "rekey: to_cipher none would store the files as clear text: decrypting data at "
            "rest is refused (the files stay encrypted and readable)");
      }
      t.cipher = *id;
    }
    return t;
  }
  // The target for a file whose key is `current`.
  Uuid KeyFor(const Uuid& current) const { return key.value_or(current); }
  // The target cipher for a file whose cipher is `current` (a conversion when it differs).
  crypto::CipherId CipherFor(crypto::CipherId current) const { return cipher.value_or(current); }
  // "version N" or "aes-256-xts under version N".
  std::string Describe() const {
    const std::string v = "version " + std::to_string(version);
    return cipher ? std::string(crypto::CipherName(*cipher)) + " under " + v : v;
  }
};

// The target of one file, kept in its task's cursor (so a policy conversion's per-file targets
// and a restart agree with the plan): {"to_key", "to_version", "to_cipher" (a conversion)}.
struct RekeyJob::FileTarget {
  Uuid key;
  std::uint32_t version = 0;
  std::optional<crypto::CipherId> cipher;  // none: the file's own

  static Result<FileTarget> Of(const TaskRecord& task) {
    const json& c = task.cursor;
    auto key = c.find("to_key");
    auto ver = c.find("to_version");
    if (key == c.end() || !key->is_string() || ver == c.end() || !ver->is_number_unsigned()) {
      return Status::Corruption("rekey cursor of " + task.path + " names no target");
    }
    FileTarget t;
    CAFS_ASSIGN_OR_RETURN(t.key, Uuid::Parse(key->get<std::string>()));
    t.version = ver->get<std::uint32_t>();
    if (auto cipher = c.find("to_cipher"); cipher != c.end()) {
      if (!cipher->is_string()) return Status::Corruption("rekey cursor: bad to_cipher");
      CAFS_ASSIGN_OR_RETURN(t.cipher, crypto::ParseCipherName(cipher->get<std::string>()));
    }
    return t;
  }
  bool Reached(const format::Header& hdr) const {
    return hdr.key_guid == key && hdr.key_version == version &&
           hdr.cipher == cipher.value_or(hdr.cipher);
  }
  std::string Describe() const {
    const std::string v = "version " + std::to_string(version);
    return cipher
               ? std::string(crypto::CipherName(*cipher)) + " under key " + key.ToString() + " " + v
               : v;
  }
};

RekeyJob::~RekeyJob() { live_.Clear(); }

TaskRecord RekeyJob::TaskFor(const std::string& rel, const format::Header& hdr,
                             const FileTarget& to) {
  TaskRecord task;
  task.path = "/" + rel;
  task.total = (hdr.logical_size + hdr.sector_size - 1) / hdr.sector_size * hdr.sector_size;
  task.cursor = json{{"guid", hdr.file_guid.ToString()},
                     {"to_key", to.key.ToString()},
                     {"to_version", to.version},
                     {"watermark", 0}};
  if (to.cipher) task.cursor["to_cipher"] = std::string(crypto::CipherName(*to.cipher));
  return task;
}

Result<std::optional<RekeyJob::FileTarget>> RekeyJob::PolicyTargetOf(const core::CachedVmSet& vs,
                                                                     const std::string& rel,
                                                                     const format::Header& hdr) {
  CAFS_ASSIGN_OR_RETURN(const policy::VirtualObject* vobj, VobjOfPath(vs, position_, "/" + rel));
  if (vobj == nullptr) return std::optional<FileTarget>();  // no vobj: left alone
  const bool file_clear = hdr.cipher == crypto::CipherId::kNone;
  if (vobj->IsClearText()) {
    // Decision (docs/jobs.md "Conversions"): an encrypted file is never decrypted at rest.
    if (!file_clear) {
      CAFS_LOG_WARN(
          "jobs: /{} stays encrypted although its vobj is now clear text "
          "(decrypting data at rest is refused)",
          rel);
    }
    return std::optional<FileTarget>();
  }
  if (hdr.key_guid == vobj->symkey && hdr.cipher == vobj->cipher) {
    return std::optional<FileTarget>();  // where the policy wants it (a rotation is a rekey)
  }
  auto cur = vs.bundle.current_version.find(vobj->symkey);
  if (cur == vs.bundle.current_version.end() || !vs.FindKey(vobj->symkey, cur->second).ok()) {
    return Status::InvalidArgument("/" + rel + ": the key " + vobj->symkey.ToString() +
                                   " its vobj names has no usable version on this gateway");
  }
  return std::optional<FileTarget>(FileTarget{vobj->symkey, cur->second, vobj->cipher});
}

Result<std::shared_ptr<const core::CachedVmSet>> RekeyJob::VmSetOf(const std::string& path) const {
  return VmSetOfPath(*cache_, position_, path);
}

Status RekeyJob::Validate(const JobSpec& spec) const {
  const JobTarget& t = spec.target;
  if (std::find(kTargets.begin(), kTargets.end(), t.type) == kTargets.end()) {
    return Status::NotSupported("rekey works on a file, vm, vmset or key-version, not '" + t.type +
                                "'");
  }
  if (t.path.empty() || t.path.front() != '/' || VolumePathOf(t.path).empty()) {
    return Status::InvalidArgument("rekey needs the gateway path of a VM set, VM or file, not '" +
                                   t.path + "'");
  }
  if (t.type == "key-version" && (t.key.empty() || t.version == 0)) {
    return Status::InvalidArgument("a key-version target names a key GUID and a version");
  }
  CAFS_RETURN_IF_ERROR(volume_->SplitPath(VolumePathOf(t.path)).status());
  CAFS_ASSIGN_OR_RETURN(Target target, Target::Of(spec.params));
  CAFS_ASSIGN_OR_RETURN(auto vs, VmSetOf(t.path));
  if (target.policy) {
    if (t.type == "key-version") {
      return Status::InvalidArgument("a policy conversion works on a file, vm or vmset");
    }
    return Status::OK();  // the targets are the policy's keys, checked per file by Plan
  }
  const std::string& vmset = vs->bundle.vmset.name;
  if (target.key) {
    const bool of_vmset =
        std::any_of(vs->bundle.keys.begin(), vs->bundle.keys.end(),
                    [&](const auto& kv) { return kv.first.first == *target.key; });
    if (!of_vmset) {
      return Status::InvalidArgument("key " + target.key->ToString() + " is not a key of VM set " +
                                     vmset);
    }
    if (!vs->FindKey(*target.key, target.version).ok()) {
      // The key server's state of the version when it told us one (destroyed, pre-active).
      auto state = vs->bundle.unusable.find(core::KeyId{*target.key, target.version});
      if (state != vs->bundle.unusable.end()) {
        return Status::InvalidArgument(KeyName(*target.key, target.version) + " is " +
                                       state->second + " in VM set " + vmset +
                                       ": it cannot be a rekey target");
      }
      return Status::InvalidArgument(KeyName(*target.key, target.version) +
                                     " is destroyed or unknown to VM set " + vmset);
    }
  } else {
    // Each file keeps its key GUID: some key of the VM set must have the version.
    const bool known =
        std::any_of(vs->bundle.keys.begin(), vs->bundle.keys.end(),
                    [&](const auto& kv) { return kv.first.second == target.version; });
    if (!known) {
      return Status::InvalidArgument("no key of VM set " + vmset + " has version " +
                                     std::to_string(target.version) + " (destroyed or unknown)");
    }
  }
  return Status::OK();
}

Result<std::vector<TaskRecord>> RekeyJob::Plan(const JobRecord& job) {
  const JobTarget& t = job.spec.target;
  CAFS_ASSIGN_OR_RETURN(Target target, Target::Of(job.spec.params));
  CAFS_ASSIGN_OR_RETURN(auto vs, VmSetOf(t.path));
  std::optional<Uuid> only_key;
  if (t.type == "key-version") {
    CAFS_ASSIGN_OR_RETURN(Uuid k, Uuid::Parse(t.key));
    only_key = k;
  }
  CAFS_ASSIGN_OR_RETURN(std::vector<std::string> files, FilesOf(*volume_, t));
  std::vector<TaskRecord> tasks;
  if (target.policy) {
    for (const std::string& f : files) {
      CAFS_ASSIGN_OR_RETURN(format::Header hdr, HeaderOf(*volume_, f));
      CAFS_ASSIGN_OR_RETURN(std::optional<FileTarget> to, PolicyTargetOf(*vs, f, hdr));
      if (to) tasks.push_back(TaskFor(f, hdr, *to));
    }
    return tasks;  // nothing to convert: the job is done at once
  }
  std::size_t already = 0;
  for (const std::string& f : files) {
    CAFS_ASSIGN_OR_RETURN(format::Header hdr, HeaderOf(*volume_, f));
    const bool clear =
        hdr.cipher == crypto::CipherId::kNone || hdr.key_guid == Uuid::ClearTextKey();
    if (clear && !target.cipher) continue;  // a clear-text file is converted, never rekeyed
    if (only_key && (hdr.key_guid != *only_key || hdr.key_version != t.version)) continue;
    const Uuid to_key = target.KeyFor(hdr.key_guid);
    const crypto::CipherId to_cipher = target.CipherFor(hdr.cipher);
    if (hdr.key_guid == to_key && hdr.key_version == target.version && hdr.cipher == to_cipher) {
      ++already;
      continue;
    }
    if (to_key == Uuid::ClearTextKey()) {
      return Status::InvalidArgument("/" + f +
                                     " is clear text: converting it needs to_key, the key to "
                                     "encrypt it under");
    }
    if (!vs->FindKey(to_key, target.version).ok()) {
      return Status::InvalidArgument("/" + f + ": " + KeyName(to_key, target.version) +
                                     " is destroyed or unknown to VM set " + vs->bundle.vmset.name);
    }
    tasks.push_back(TaskFor(
        f, hdr,
        FileTarget{to_key, target.version,
                   target.cipher ? std::optional<crypto::CipherId>(to_cipher) : std::nullopt}));
  }
  if (tasks.empty() && already > 0) {
    return Status::InvalidArgument(
        t.path + ": every file is already under " +
        (target.cipher ? target.Describe() : "key " + target.Describe()));
  }
  return tasks;
}

Result<std::shared_ptr<RekeyJob::Live>> RekeyJob::Acquire(const JobRecord& job,
                                                          const TaskRecord& task,
                                                          const FileTarget& target,
                                                          std::uint64_t budget,
                                                          bool* already_done) {
  *already_done = false;
  if (auto live = live_.Find(job, task)) return live;
  auto guid_it = task.cursor.find("guid");
  if (guid_it == task.cursor.end() || !guid_it->is_string()) {
    return Status::Corruption("rekey cursor of " + task.path + " is malformed");
  }
  CAFS_ASSIGN_OR_RETURN(Uuid guid, Uuid::Parse(guid_it->get<std::string>()));
  CAFS_ASSIGN_OR_RETURN(auto vs, VmSetOf(task.path));
  const core::KeyLookup keys = [vs](const Uuid& key,
                                    std::uint32_t version) -> Result<const SecureBuffer*> {
    return vs->FindKey(key, version);
  };
  // THE shared open file of this inode: the front-ends' handles use the same one.
  CAFS_ASSIGN_OR_RETURN(auto file, volume_->OpenExisting(VolumePathOf(task.path), keys));
  const format::Header hdr = file->file().header();
  if (hdr.file_guid != guid) {
    return Status::NotFound(task.path + " was replaced by another file since the job was planned");
  }
  if (target.Reached(hdr)) {
    *already_done = true;  // finished before a restart
    return std::shared_ptr<Live>();
  }
  format::RekeyOptions options;
  const std::uint64_t sectors = std::max<std::uint64_t>(1, budget / hdr.sector_size);
  options.hotzone_sectors =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(sectors, format::kMaxHotzoneSectors));
  options.target_cipher = target.cipher;
  auto live = std::make_shared<Live>();
  live->file = std::move(file);
  live->options = options;
  const format::RekeyState& prev = hdr.rekey;
  if (prev.state == format::kRekeyInProgress &&
      (prev.target_key_guid != target.key || prev.target_key_version != target.version ||
       hdr.target_cipher() != target.cipher.value_or(hdr.cipher))) {
    // Mid-rekey to another target: that one is finished first (docs/jobs.md "Deep rekey").
    auto prev_dek = vs->FindKey(prev.target_key_guid, prev.target_key_version);
    if (!prev_dek.ok()) {
      return prev_dek.status().WithContext(
          task.path + " is mid-rekey to key " + prev.target_key_guid.ToString() + " version " +
          std::to_string(prev.target_key_version) + ", which must finish first");
    }
    format::RekeyOptions prev_options = options;
    prev_options.target_cipher = prev.target_cipher;
    CAFS_ASSIGN_OR_RETURN(
        live->rekeyer, format::Rekeyer::Start(live->file->file(), prev.target_key_guid,
                                              prev.target_key_version, **prev_dek, prev_options));
    live->finishing_previous = true;
  } else {
    CAFS_RETURN_IF_ERROR(StartTarget(task, target, *live));
  }
  live_.Put(job, task, live);
  return live;
}

Status RekeyJob::StartTarget(const TaskRecord& task, const FileTarget& target, Live& live) {
  CAFS_ASSIGN_OR_RETURN(auto vs, VmSetOf(task.path));
  CAFS_ASSIGN_OR_RETURN(const SecureBuffer* dek, vs->FindKey(target.key, target.version));
  live.rekeyer.reset();
  CAFS_ASSIGN_OR_RETURN(live.rekeyer, format::Rekeyer::Start(live.file->file(), target.key,
                                                             target.version, *dek, live.options));
  live.finishing_previous = false;
  return Status::OK();
}

Result<StepResult> RekeyJob::Step(const JobRecord& job, TaskRecord& task, std::uint64_t budget) {
  CAFS_ASSIGN_OR_RETURN(FileTarget target, FileTarget::Of(task));
  bool already_done = false;
  CAFS_ASSIGN_OR_RETURN(auto live, Acquire(job, task, target, budget, &already_done));
  StepResult result;
  if (already_done) {
    task.done = task.total;
    result.done = true;
    return result;
  }
  if (live->finishing_previous) {  // the previous target's rekey, then this task's
    const std::uint64_t start = live->rekeyer->progress().bytes_done;
    format::RekeyProgress prev;
    do {
      auto step = live->rekeyer->Step();
      if (!step.ok()) {
        live_.Drop(job, task);
        return step.status().WithContext(task.path + ": finishing its previous rekey");
      }
      prev = *step;
    } while (!prev.finished && prev.bytes_done < start + budget);
    result.bytes = prev.bytes_done > start ? prev.bytes_done - start : 0;
    if (prev.finished) {
      if (Status s = StartTarget(task, target, *live); !s.ok()) {
        live_.Drop(job, task);
        return s.WithContext(task.path);
      }
    }
    return result;
  }
  const std::uint64_t before = live->rekeyer->progress().bytes_done;
  format::RekeyProgress p;
  do {
    auto step = live->rekeyer->Step();
    if (!step.ok()) {
      live_.Drop(job, task);  // the next attempt restarts from the durable header state
      return step.status().WithContext(task.path);
    }
    p = *step;
  } while (!p.finished && p.bytes_done < before + budget);
  result.bytes = p.bytes_done > before ? p.bytes_done - before : 0;
  result.done = p.finished;
  task.done = p.bytes_done;
  task.total = p.bytes_total;
  task.cursor["watermark"] = p.bytes_done;
  if (p.finished) live_.Drop(job, task);
  return result;
}

void RekeyJob::TaskEnded(const JobRecord& job, const TaskRecord& task) {
  live_.Drop(job, task);
  auto target = FileTarget::Of(task);
  const std::string to = target.ok() ? target->Describe() : std::string("the target");
  switch (task.state) {
    case TaskState::kDone:
      auditor_.Record(job, task.path, "rekey", audit::Result::kOk, "re-encrypted under " + to,
                      task.total);
      break;
    case TaskState::kFailed:
      auditor_.Record(job, task.path, "rekey", audit::Result::kError, task.error, task.done);
      break;
    default:
      auditor_.Record(job, task.path, "rekey", audit::Result::kOk,
                      "stopped: the job was cancelled; the file is consistent and stays "
                      "mid-rekey to " +
                          to + " until a later rekey finishes it",
                      task.done);
      break;
  }
}

}  // namespace cafs::jobs
