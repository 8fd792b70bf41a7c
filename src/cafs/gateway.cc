#include "cafs/gateway.h"

#include <algorithm>
#include <set>

#include "audit/text_field.h"
#include "cafs/pool_identity.h"
#include "policy/vmset_path.h"
#include "pool/write_lease.h"
#include "util/logging.h"

namespace cafs::core {

struct Gateway::Context {
  std::string rel;        // Volume-relative path ("my_vmset/windows_xp/osdisk1.vmdk")
  std::size_t depth = 0;  // number of components
  std::string vmset;      // empty above VM set level
  std::string vm;
  std::string file;                       // path inside the VM
  std::string path_within_vmset;          // what vglobs match
  std::shared_ptr<const CachedVmSet> vs;  // null above VM set level
  policy::Decision decision;

  bool governed() const { return vs != nullptr; }
  bool audit_all() const { return governed() && decision.audit == policy::AuditLevel::kAllRecords; }
};

struct Gateway::HandleState {
  Context ctx;
  std::shared_ptr<OpenFile> file;
  std::atomic<bool> written{false};

  // The last allowed decision for this handle's path (docs/performance.md "Decision cache"):
  // valid while the PolicyCache still serves the same entry, for the same server, within
  // the same UTC minute. Access windows start and end on whole local minutes and zone
  // offsets are whole minutes (checked when the decision is stored), so no window boundary
  // falls inside a minute.
  std::mutex decision_mu;
  std::shared_ptr<const CachedVmSet> decided_vs;  // guarded by decision_mu; null: none
  std::string decided_server;                     // guarded by decision_mu: the caller's id
  std::string decided_address;                    // guarded by decision_mu: and address
  std::string decided_as;           // guarded by decision_mu: the server id(s) it was identified as
  std::int64_t decided_minute = 0;  // guarded by decision_mu
};

namespace {

// The Volume-relative path of a gateway path: "/a/b/" -> "a/b". InvalidArgument if relative.
Result<std::string> VolumePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("gateway paths are absolute, got '" + std::string(path) + "'");
  }
  std::string_view trimmed = path.substr(1);
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
  return std::string(trimmed);
}

// The caller's server id(s) for audit records and logs: what the policy identified it as,
// else (no decision was made: no matching vobj, position mismatch) the configured id.
std::string ServerOf(const Caller& caller, const policy::Decision& d) {
  return d.server.empty() && caller.address.empty() ? caller.server_id : d.server;
}

// For log lines and alerts: "755083456", "755083456 at 10.0.0.5", or the bare address of a
// client no registered server holds.
std::string Who(const Caller& caller, const policy::Decision& d) {
  const std::string server = ServerOf(caller, d);
  if (caller.address.empty()) return server;
  if (server.empty()) return caller.address;
  return server + " at " + caller.address;
}

std::int64_t UtcMinute(Clock::TimePoint t) {
  return std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count();
}

}  // namespace

Gateway::Gateway(PolicyCache* cache, Volume* volume, audit::AuditLog* audit, const Clock* clock,
                 GatewayOptions options)
    : cache_(cache),
      volume_(volume),
      audit_(audit),
      clock_(clock),
      options_(options),
      aggregator_(options.aggregate_interval,
                  [this](audit::AuditRecord r) { Append(std::move(r)); }) {
  volume_->SetReplicaEventSink(
      [this](const std::string& rel, const ReplicaEvent& ev) { OnReplicaEvent(rel, ev); });
}

Gateway::~Gateway() {
  volume_->SetReplicaEventSink(nullptr);
  aggregator_.Flush(NowMs(), /*force=*/true);
}

// A copy of a mirrored file failed or was resynced (cafs/mirrored_file.h): one audit record
// (op `replica-failed` / `replica-resynced`), and for a failure a data-error alert to the VM
// set's <audit-dest> (docs/gateway.md "Alerts"). Uses the cached VM set only: this runs on
// the I/O path and must not fetch.
void Gateway::OnReplicaEvent(const std::string& rel, const ReplicaEvent& ev) {
  const bool failed = ev.kind == ReplicaEvent::Kind::kFailed;
  const std::string text =
      fmt::format("/{}: copy in pool {} {}: {}", rel, ev.pool,
                  failed ? "failed, the file is degraded" : "is in sync again", ev.detail);
  {
    std::lock_guard lock(failed_copies_mu_);
    const auto key = std::make_pair(ev.guid, ev.pool);
    const bool changed = failed ? failed_copies_.insert(key).second : true;
    if (!failed) failed_copies_.erase(key);
    if (!changed) {
      CAFS_LOG_INFO("{} (reported already)", text);
      return;
    }
  }
  audit::AuditRecord r;
  r.time_ms = r.end_ms = NowMs();
  const auto slash = rel.find('/');
  r.vmset = rel.substr(0, slash);
  if (slash != std::string::npos) {
    const std::string rest = rel.substr(slash + 1);
    const auto vm_end = rest.find('/');
    r.vm = vm_end == std::string::npos ? std::string() : rest.substr(0, vm_end);
    r.file = vm_end == std::string::npos ? rest : rest.substr(vm_end + 1);
  }
  r.op = failed ? "replica-failed" : "replica-resynced";
  r.result = failed ? audit::Result::kError : audit::Result::kOk;
  r.reason = text;
  Append(std::move(r));
  if (!failed) return;
  CAFS_LOG_ERROR("{}", text);
  const auto cached = cache_->Snapshot();
  if (auto it = cached.find(rel.substr(0, slash)); it != cached.end()) {
    SendAlert(*it->second, AlertKind::kDataError, text);
  }
}

std::int64_t Gateway::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
      .count();
}

void Gateway::Append(audit::AuditRecord record) {
  if (audit_ == nullptr) return;
  auto r = audit_->Append(std::move(record));
  if (!r.ok()) CAFS_LOG_ERROR("audit log append failed: {}", r.status().ToString());
}

Result<Gateway::Context> Gateway::Check(const Caller& caller, std::string_view path,
                                        std::string_view op, bool audit_allowed) {
  return CheckAt(caller, path, op, audit_allowed, clock_->Now());
}

Result<Gateway::Context> Gateway::CheckAt(const Caller& caller, std::string_view path,
                                          std::string_view op, bool /*audit_allowed*/,
                                          Clock::TimePoint now) {
  Context ctx;
  CAFS_ASSIGN_OR_RETURN(ctx.rel, VolumePath(path));
  CAFS_ASSIGN_OR_RETURN(auto comps, volume_->SplitPath(ctx.rel));
  ctx.depth = comps.size();
  if (comps.size() < options_.position) return ctx;  // above VM set level: not governed
  policy_decisions_.fetch_add(1, std::memory_order_relaxed);
  CAFS_ASSIGN_OR_RETURN(policy::VmSetPath vp,
                        policy::ResolveVmSetPath("/", options_.position, "/" + ctx.rel));
  ctx.vmset = vp.vmset_name;
  ctx.vm = vp.vm_name;
  ctx.path_within_vmset = vp.path_within_vmset;
  if (!ctx.vm.empty() && ctx.path_within_vmset.size() > ctx.vm.size()) {
    ctx.file = ctx.path_within_vmset.substr(ctx.vm.size() + 1);
  }
  // VM set names are kpsd's, and kpsd's names are text: a name that is not UTF-8 is no VM
  // set, and is not sent to kpsd as a question (names are bytes; docs/audit.md).
  if (!audit::IsValidUtf8(ctx.vmset)) {
    return Status::NotFound("VM set " + audit::DisplayText(ctx.vmset) + " does not exist");
  }
  auto vs = cache_->Get(ctx.vmset);
  if (!vs.ok()) {
    if (vs.status().IsNotFound()) {
      return Status::NotFound("VM set " + ctx.vmset + " is not known to the key server");
    }
    return vs.status();
  }
  ctx.vs = *vs;
  // A VM set the gateway refuses (another <position>; a policy naming a pool its allow list
  // does not hold, PolicyCache) governs nothing: every access is a denial.
  auto decision = ctx.vs->bundle.vmset.position != options_.position
                      ? Result<policy::Decision>(Status::FailedPrecondition(fmt::format(
                            "VM set {} says <position> {}, but this gateway finds VM sets at "
                            "position {} (cafsd [gateway] position)",
                            ctx.vmset, ctx.vs->bundle.vmset.position, options_.position)))
                  : !ctx.vs->refusal.ok() ? Result<policy::Decision>(ctx.vs->refusal)
                                          : ctx.vs->evaluator.Evaluate(
                                                policy::Requester{caller.server_id, caller.address},
                                                ctx.path_within_vmset, now);
  if (!decision.ok()) {
    ctx.decision.allowed = false;
    ctx.decision.reason = decision.status().message();
  } else {
    ctx.decision = *decision;
  }
  if (!ctx.decision.allowed) {
    // Every denial is recorded singly, whatever the audit level (docs/gateway.md "Audit").
    audit::AuditRecord r = RecordFor(caller, ctx, op);
    r.result = audit::Result::kDenied;
    r.reason = ctx.decision.reason;
    Append(std::move(r));
    const std::string who = Who(caller, ctx.decision);
    CAFS_LOG_WARN("denied {} of /{} to {}: {}", op, ctx.rel, who, ctx.decision.reason);
    SendAlert(*ctx.vs, AlertKind::kDenial,
              fmt::format("denied {} of /{} to {}: {}", op, ctx.rel, who, ctx.decision.reason));
    return Status::PermissionDenied(ctx.decision.reason);
  }
  return ctx;
}

void Gateway::AuditOp(const Caller& caller, const Context& ctx, std::string_view op,
                      const Status& outcome) {
  if (!ctx.governed()) return;
  const bool data_error = !outcome.ok() && outcome.errno_value() == EIO;
  // Another gateway writes the file (docs/pools.md "Write leases"): recorded and logged at
  // every audit level, like data errors: it is a configuration or hand-over problem.
  const bool lease_held = pool::IsLeaseHeld(outcome);
  if (!ctx.audit_all() && !data_error && !lease_held) return;
  audit::AuditRecord r = RecordFor(caller, ctx, op);
  r.result = outcome.ok() ? audit::Result::kOk : audit::Result::kError;
  if (!outcome.ok()) r.reason = outcome.message();
  Append(std::move(r));
  if (lease_held) CAFS_LOG_WARN("{} of /{} refused: {}", op, ctx.rel, outcome.message());
  if (data_error) {
    CAFS_LOG_ERROR("{} of /{}: {}", op, ctx.rel, outcome.ToString());
    SendAlert(*ctx.vs, AlertKind::kDataError,
              fmt::format("{} of /{} by {}: {}", op, ctx.rel, Who(caller, ctx.decision),
                          outcome.message()));
  }
}

audit::AuditRecord Gateway::RecordFor(const Caller& caller, const Context& ctx,
                                      std::string_view op) const {
  audit::AuditRecord r;
  r.time_ms = r.end_ms = NowMs();
  r.server = ServerOf(caller, ctx.decision);
  r.client = caller.address;
  r.vmset = ctx.vmset;
  r.vm = ctx.vm;
  r.file = ctx.file;
  r.op = std::string(op);
  return r;
}

std::uint32_t Gateway::GroupFor(const Caller& caller, const Context& ctx) const {
  const auto slash = ctx.rel.rfind('/');
  const std::string parent = slash == std::string::npos ? std::string() : ctx.rel.substr(0, slash);
  auto dir = volume_->GetAttr(parent, KeysOf(ctx));
  return dir.ok() && (dir->mode & S_ISGID) != 0 ? dir->gid : caller.gid;
}

KeyLookup Gateway::KeysOf(const Context& ctx) const {
  std::shared_ptr<const CachedVmSet> vs = ctx.vs;
  return KeyLookup(
      [vs](const Uuid& key, std::uint32_t version) -> Result<const SecureBuffer*> {
        if (!vs) return Status::NotFound("no VM set governs this path");
        return vs->FindKey(key, version);
      },
      vs ? vs->bundle.vmset.id : Uuid());
}

Result<Placement> Gateway::PlacementFor(const Context& ctx) const {
  const policy::VirtualObject* vobj = ctx.decision.vobj;
  if (vobj == nullptr) return Status::Internal("allowed decision without a virtual object");
  Placement p;
  p.pool = vobj->storage_pool;
  p.replica_pools = vobj->replica_pools;
  // Each pool must still be the one kpsd's record of its name is (pool_identity.h).
  std::vector<std::string> pools{p.pool};
  pools.insert(pools.end(), p.replica_pools.begin(), p.replica_pools.end());
  for (const std::string& pool : pools) {
    CAFS_RETURN_IF_ERROR(
        CheckPlacementPool(pool, volume_->pools().ConfiguredGuid(pool), ctx.vs->bundle));
  }
  p.params.cipher = vobj->cipher;
  p.params.sector_size = vobj->sector_size;
  p.params.key_guid = vobj->symkey;
  p.params.policy_guid = ctx.vs->bundle.vmset.policy_descriptor;
  p.params.vm_set_id = ctx.vs->bundle.vmset.id;  // nil with local keys and no <vmset-id>
  p.params.kps_locator = ctx.vs->bundle.kps_locator;
  if (!vobj->IsClearText()) {
    auto cur = ctx.vs->bundle.current_version.find(vobj->symkey);
    if (cur == ctx.vs->bundle.current_version.end()) {
      return Status::AuthFailed("key " + vobj->symkey.ToString() + " of VM set " + ctx.vmset +
                                " is not available to this gateway (destroyed or not issued)");
    }
    p.params.key_version = cur->second;
  }
  CAFS_ASSIGN_OR_RETURN(p.dek, ctx.vs->FindKey(p.params.key_guid, p.params.key_version));
  return p;
}

FileHandle Gateway::AddHandle(std::shared_ptr<HandleState> state) {
  const FileHandle fh = next_handle_.fetch_add(1);
  std::unique_lock lock(handles_mu_);
  handles_.emplace(fh, std::move(state));
  return fh;
}

Result<std::shared_ptr<Gateway::HandleState>> Gateway::FindHandle(FileHandle fh) {
  std::shared_lock lock(handles_mu_);
  auto it = handles_.find(fh);
  if (it == handles_.end()) return Status::FromErrno(EBADF, "unknown file handle");
  return it->second;
}

Result<std::shared_ptr<Gateway::HandleState>> Gateway::CheckHandle(const Caller& caller,
                                                                   FileHandle fh,
                                                                   std::string_view op,
                                                                   std::string* server) {
  CAFS_ASSIGN_OR_RETURN(auto h, FindHandle(fh));
  // The window may have closed and the policy may have changed since open: check again,
  // unless this handle's last allowed decision still holds (see HandleState). The cache
  // lookup stays, so TTL refreshes, invalidation and the grace period apply as before.
  const Clock::TimePoint now = clock_->Now();
  const std::int64_t minute = UtcMinute(now);
  std::shared_ptr<const CachedVmSet> current;
  if (h->ctx.governed()) {
    auto vs = cache_->Get(h->ctx.vmset);
    if (vs.ok()) {
      current = std::move(vs).value();
      std::lock_guard lock(h->decision_mu);
      if (h->decided_vs == current && h->decided_minute == minute &&
          h->decided_server == caller.server_id && h->decided_address == caller.address) {
        policy_decisions_.fetch_add(1, std::memory_order_relaxed);
        if (server != nullptr) *server = h->decided_as;
        return h;
      }
    }
  }
  CAFS_ASSIGN_OR_RETURN(Context ctx, CheckAt(caller, "/" + h->ctx.rel, op, false, now));
  const std::string as = ServerOf(caller, ctx.decision);
  if (current != nullptr && ctx.vs == current &&
      ctx.vs->evaluator.time_zone().ToLocal(now).utc_offset_seconds % 60 == 0) {
    std::lock_guard lock(h->decision_mu);
    h->decided_vs = std::move(current);
    h->decided_server = caller.server_id;
    h->decided_address = caller.address;
    h->decided_as = as;
    h->decided_minute = minute;
  }
  if (server != nullptr) *server = as;
  return h;
}

// ---- names and attributes ---------------------------------------------------------------

Result<Attr> Gateway::Lookup(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "lookup", true));
  auto attr = volume_->GetAttr(ctx.rel, KeysOf(ctx));
  // A name that is not there is an answer, not a failure (every create looks its name up
  // first): not recorded, so that `error` records are real errors (docs/audit.md).
  if (!attr.ok() && attr.status().IsNotFound()) return attr;
  AuditOp(caller, ctx, "lookup", attr.status());
  return attr;
}

Result<Attr> Gateway::GetAttr(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "getattr", false));
  auto attr = volume_->GetAttr(ctx.rel, KeysOf(ctx));
  if (!attr.ok() && attr.status().errno_value() == EIO)
    AuditOp(caller, ctx, "getattr", attr.status());
  return attr;
}

Result<Attr> Gateway::SetAttr(const Caller& caller, std::string_view path,
                              const SetAttrRequest& req) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "setattr", true));
  SetAttrRequest rest = req;
  if (req.size && ShredsOnFree(ctx)) {  // truncated here (clearing what it frees), the rest
                                        // by the Volume
    auto file = volume_->OpenExisting(ctx.rel, KeysOf(ctx));
    Status s = file.ok() ? TruncateFile(caller, ctx, **file, *req.size) : file.status();
    if (!s.ok()) {
      AuditOp(caller, ctx, "truncate", s);
      return s;
    }
    rest.size.reset();
    if (!rest.mtime) rest.mtime = timespec{0, UTIME_NOW};
  }
  auto attr = volume_->SetAttr(ctx.rel, rest, KeysOf(ctx));
  AuditOp(caller, ctx, req.size ? "truncate" : "setattr", attr.status());
  return attr;
}

Result<std::vector<DirEntry>> Gateway::ReadDir(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "readdir", false));
  return volume_->ReadDir(ctx.rel);
}

Result<std::vector<Gateway::DirEntryPlus>> Gateway::ReadDirPlus(const Caller& caller,
                                                                std::string_view path, bool handles,
                                                                std::size_t first,
                                                                std::size_t limit) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "readdir", false));
  CAFS_ASSIGN_OR_RETURN(auto listed, volume_->ReadDirPlus(ctx.rel, KeysOf(ctx), first, limit));
  const auto in_range = [&](std::size_t i) { return i >= first && i - first < limit; };
  std::vector<Result<Bytes>> fhs;
  if (handles) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < listed.size(); ++i) {
      if (in_range(i)) names.push_back(listed[i].entry.name);
    }
    auto comps = volume_->SplitPath(ctx.rel);
    auto fh = Handles();
    if (comps.ok() && fh.ok()) {
      fhs = (*fh)->HandlesIn(*comps, names, volume_->pools().names());
    } else {
      fhs.assign(names.size(), comps.ok() ? fh.status() : comps.status());
    }
  }
  const std::string dir(path.empty() || path.back() != '/' ? path
                                                           : path.substr(0, path.size() - 1));
  std::vector<DirEntryPlus> out;
  out.reserve(listed.size());
  for (std::size_t i = 0; i < listed.size(); ++i) {
    DirEntryAttr& e = listed[i];
    if (e.attr.ok() && ctx.depth + 1 >= options_.position) {
      auto allowed = Check(caller, dir + "/" + e.entry.name, "getattr", false);
      if (!allowed.ok()) e.attr = allowed.status();
    }
    Result<Bytes> handle = Status::NotFound("not asked");
    if (handles && in_range(i)) handle = std::move(fhs[i - first]);
    out.push_back({std::move(e.entry), std::move(e.attr), std::move(handle)});
  }
  return out;
}

Result<Attr> Gateway::MakeDir(const Caller& caller, std::string_view path, std::uint32_t mode) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "mkdir", true));
  auto attr = volume_->MakeDir(ctx.rel, mode, caller.uid, GroupFor(caller, ctx));
  AuditOp(caller, ctx, "mkdir", attr.status());
  return attr;
}

Status Gateway::MakeVmSetDir(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "mkdir", true));
  if (!ctx.governed() || ctx.depth != options_.position) {
    return Status::InvalidArgument(std::string(path) + " is not a VM set directory");
  }
  constexpr std::uint32_t kVmSetDirMode = 0755;
  auto attr = volume_->MakeDir(ctx.rel, kVmSetDirMode, caller.uid, GroupFor(caller, ctx));
  if (!attr.ok() && attr.status().code() == Status::Code::kAlreadyExists) return Status::OK();
  AuditOp(caller, ctx, "mkdir", attr.status());
  if (attr.ok()) CAFS_LOG_INFO("made the directory of VM set {} (/{})", ctx.vmset, ctx.rel);
  return attr.status();
}

Status Gateway::RemoveDir(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "rmdir", true));
  Status s = volume_->RemoveDir(ctx.rel);
  namespace_generation_.fetch_add(1, std::memory_order_acq_rel);
  AuditOp(caller, ctx, "rmdir", s);
  return s;
}

Result<Attr> Gateway::Symlink(const Caller& caller, std::string_view target,
                              std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "symlink", true));
  if (!ctx.governed()) return Status::PermissionDenied("entries above VM set level are VM sets");
  auto attr = volume_->Symlink(std::string(target), ctx.rel, caller.uid, GroupFor(caller, ctx));
  AuditOp(caller, ctx, "symlink", attr.status());
  return attr;
}

Result<std::string> Gateway::ReadLink(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "readlink", false));
  return volume_->ReadLink(ctx.rel);
}

Result<Attr> Gateway::Link(const Caller& caller, std::string_view existing,
                           std::string_view new_path) {
  CAFS_ASSIGN_OR_RETURN(Context src, Check(caller, existing, "link", true));
  CAFS_ASSIGN_OR_RETURN(Context dst, Check(caller, new_path, "link", true));
  if (src.vmset != dst.vmset || !src.governed() || !dst.governed()) {
    return Status::FromErrno(EXDEV, "hard link across VM sets (or of a VM set)");
  }
  if (Status kept = KeepsItsVobj(src, dst, FileType::kRegular); !kept.ok()) {
    AuditOp(caller, dst, "link", kept);
    return kept;
  }
  Status s = volume_->Link(src.rel, dst.rel);
  namespace_generation_.fetch_add(1, std::memory_order_acq_rel);
  AuditOp(caller, dst, "link", s);
  if (!s.ok()) return s;
  return volume_->GetAttr(dst.rel, KeysOf(dst));
}

Status Gateway::KeepsItsVobj(const Context& src, const Context& dst, FileType type) const {
  const policy::PolicyDescriptor& descriptor = src.vs->evaluator.descriptor();
  auto vobj_of = [&](std::string_view path_within_vmset) -> Result<std::size_t> {
    CAFS_ASSIGN_OR_RETURN(const std::string path,
                          policy::NormalizePathWithinVmSet(path_within_vmset));
    return descriptor.MatchIndex(path);
  };
  auto refuse = [&](std::string_view old_rel, std::string_view new_rel) {
    return Status::FromErrno(
        EXDEV, fmt::format("/{} would be governed by another vobj at /{}", old_rel, new_rel));
  };
  if (type != FileType::kDirectory) {
    CAFS_ASSIGN_OR_RETURN(std::size_t from, vobj_of(src.path_within_vmset));
    CAFS_ASSIGN_OR_RETURN(std::size_t to, vobj_of(dst.path_within_vmset));
    return from == to ? Status::OK() : refuse(src.rel, dst.rel);
  }
  // A directory: every regular file below it, by its path under the directory (bounded).
  std::vector<std::string> dirs = {""};  // below src, "" or "a/b/"
  std::size_t seen = 0;
  while (!dirs.empty()) {
    const std::string sub = std::move(dirs.back());
    dirs.pop_back();
    const std::string rel = sub.empty() ? src.rel : src.rel + "/" + sub.substr(0, sub.size() - 1);
    CAFS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, volume_->ReadDir(rel));
    for (const DirEntry& e : entries) {
      if (++seen > kMaxRenameWalk) {
        return Status::FromErrno(
            EXDEV, fmt::format("/{} has more than {} entries to check for a change of vobj",
                               src.rel, kMaxRenameWalk));
      }
      if (e.type == FileType::kDirectory) {
        dirs.push_back(sub + e.name + "/");
      } else if (e.type == FileType::kRegular) {
        CAFS_ASSIGN_OR_RETURN(std::size_t from,
                              vobj_of(src.path_within_vmset + "/" + sub + e.name));
        CAFS_ASSIGN_OR_RETURN(std::size_t to, vobj_of(dst.path_within_vmset + "/" + sub + e.name));
        if (from != to) return refuse(src.rel + "/" + sub + e.name, dst.rel + "/" + sub + e.name);
      }
    }
  }
  return Status::OK();
}

Result<Attr> Gateway::MakeNode(const Caller& caller, std::string_view path, std::uint32_t mode,
                               std::uint64_t rdev) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "mknod", true));
  if (!ctx.governed() || ctx.depth <= options_.position) {
    return Status::PermissionDenied("special files live inside a VM set directory");
  }
  // Device nodes only for root, as mknod(2) asks CAP_MKNOD of the caller (the kernel checks
  // cafsd, which is root).
  if ((S_ISCHR(mode) || S_ISBLK(mode)) && caller.uid != 0) {
    return Status::FromErrno(EPERM, "only root makes device nodes");
  }
  auto attr = volume_->MakeNode(ctx.rel, mode, rdev, caller.uid, GroupFor(caller, ctx));
  namespace_generation_.fetch_add(1, std::memory_order_acq_rel);
  AuditOp(caller, ctx, "mknod", attr.status());
  return attr;
}

Status Gateway::Unlink(const Caller& caller, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "remove", true));
  Status s;
  if (ShredsOnFree(ctx)) {
    s = options_.unlink_shredder != nullptr
            ? options_.unlink_shredder->Unlink(ctx.rel)
            : Status::FromErrno(EOPNOTSUPP, "/" + ctx.rel +
                                                " is under <shred-on-free> but this gateway "
                                                "runs no shred jobs");
  } else {
    s = volume_->Unlink(ctx.rel);
  }
  namespace_generation_.fetch_add(1, std::memory_order_acq_rel);
  AuditOp(caller, ctx, "remove", s);
  return s;
}

bool Gateway::ShredsOnFree(const Context& ctx) {
  return ctx.governed() && ctx.decision.vobj != nullptr && ctx.decision.vobj->shred_on_free;
}

Status Gateway::TruncateFile(const Caller& caller, const Context& ctx, OpenFile& file,
                             std::uint64_t size) {
  const bool shred = ShredsOnFree(ctx);
  const std::uint64_t before = file.file().Size();
  file.file().SetShredFreed(shred);
  Status s = file.file().Truncate(size);
  if (s.ok()) s = file.file().Sync();
  if (shred && size < before) {
    audit::AuditRecord r = RecordFor(caller, ctx, "shred");
    r.result = s.ok() ? audit::Result::kOk : audit::Result::kError;
    r.reason = s.ok() ? "truncate: the freed range was cleared and discarded" : s.message();
    r.bytes = before - size;
    Append(std::move(r));
  }
  return s;
}

Status Gateway::Rename(const Caller& caller, std::string_view from, std::string_view to,
                       bool no_replace) {
  CAFS_ASSIGN_OR_RETURN(Context src, Check(caller, from, "rename", true));
  CAFS_ASSIGN_OR_RETURN(Context dst, Check(caller, to, "rename", true));
  if (src.vmset != dst.vmset || !src.governed() || !dst.governed()) {
    return Status::FromErrno(EXDEV, "rename across VM sets (or of a VM set) is not supported");
  }
  if (src.depth <= options_.position || dst.depth <= options_.position) {
    return Status::FromErrno(EXDEV, "a VM set directory cannot be renamed");
  }
  // Only the files' (and directories') vobj matters: a symlink or special file carries no
  // data. A missing source is left to Volume::Rename to answer. No pool is touched.
  Status s;
  auto type = volume_->EntryType(src.rel);
  if (!type.ok() && !type.status().IsNotFound()) s = type.status();
  if (s.ok() && type.ok() && (*type == FileType::kRegular || *type == FileType::kDirectory)) {
    s = KeepsItsVobj(src, dst, *type);
  }
  if (s.ok()) s = volume_->Rename(src.rel, dst.rel, no_replace);
  namespace_generation_.fetch_add(1, std::memory_order_acq_rel);
  AuditOp(caller, src, "rename", s);
  return s;
}

// ---- files --------------------------------------------------------------------------------

Result<OpenResult> Gateway::Create(const Caller& caller, std::string_view path, std::uint32_t mode,
                                   bool exclusive) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "create", true));
  if (!ctx.governed() || ctx.depth <= options_.position) {
    return Status::PermissionDenied("files live inside a VM set directory");
  }
  auto existing = volume_->GetAttr(ctx.rel, KeysOf(ctx));
  if (existing.ok() || !existing.status().IsNotFound()) {
    if (exclusive && existing.ok()) return Status::AlreadyExists(std::string(path) + " exists");
    if (!existing.ok()) return existing.status();
    return Open(caller, path, /*truncate=*/true);
  }
  auto placement = PlacementFor(ctx);
  if (!placement.ok()) {
    AuditOp(caller, ctx, "create", placement.status());
    return placement.status();
  }
  auto file = volume_->CreateFile(ctx.rel, mode, caller.uid, GroupFor(caller, ctx), *placement);
  AuditOp(caller, ctx, "create", file.status());
  if (!file.ok()) return file.status();
  auto state = std::make_shared<HandleState>();
  state->ctx = ctx;
  state->file = *file;
  OpenResult out;
  CAFS_ASSIGN_OR_RETURN(out.attr, volume_->GetAttr(ctx.rel, KeysOf(ctx)));
  out.handle = AddHandle(std::move(state));
  return out;
}

Result<OpenResult> Gateway::Open(const Caller& caller, std::string_view path, bool truncate) {
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, path, "open", true));
  auto file = volume_->OpenExisting(ctx.rel, KeysOf(ctx));
  Status s = file.status();
  if (s.ok() && truncate) s = TruncateFile(caller, ctx, **file, 0);
  AuditOp(caller, ctx, "open", s);
  CAFS_RETURN_IF_ERROR(s);
  auto state = std::make_shared<HandleState>();
  state->ctx = ctx;
  state->file = *file;
  state->written = truncate;
  OpenResult out;
  CAFS_ASSIGN_OR_RETURN(out.attr, volume_->GetAttr(ctx.rel, KeysOf(ctx)));
  out.handle = AddHandle(std::move(state));
  return out;
}

Result<Gateway::Grant> Gateway::Access(const Caller& caller, FileHandle fh, std::string_view op) {
  Grant g;
  CAFS_ASSIGN_OR_RETURN(g.h_, CheckHandle(caller, fh, op, &g.server_));
  return g;
}

Result<std::size_t> Gateway::Read(const Caller& caller, FileHandle fh, std::uint64_t offset,
                                  MutableByteView out) {
  CAFS_ASSIGN_OR_RETURN(Grant g, Access(caller, fh, "read"));
  return Read(caller, g, offset, out);
}

Result<std::size_t> Gateway::Read(const Caller& caller, const Grant& grant, std::uint64_t offset,
                                  MutableByteView out, format::EncryptedFile::Wait wait) {
  HandleState& h = *grant.h_;
  auto n = h.file->file().Read(offset, out, wait);
  if (!n.ok() && wait == format::EncryptedFile::Wait::kNever &&
      n.status().errno_value() == EAGAIN) {
    return n.status();  // not an outcome: the caller reads again, allowed to wait
  }
  if (!n.ok()) {
    AuditOp(caller, h.ctx, "read", n.status());
    return n.status();
  }
  if (h.ctx.audit_all()) {
    aggregator_.Record(grant.server_, h.ctx.vmset, h.ctx.vm, h.ctx.file, "read", *n, NowMs(),
                       caller.address);
  }
  return n;
}

Status Gateway::Write(const Caller& caller, FileHandle fh, std::uint64_t offset, ByteView data) {
  CAFS_ASSIGN_OR_RETURN(Grant g, Access(caller, fh, "write"));
  return Write(caller, g, offset, data);
}

Status Gateway::Write(const Caller& caller, const Grant& grant, std::uint64_t offset,
                      ByteView data) {
  HandleState& h = *grant.h_;
  Status s = h.file->file().Write(offset, data);
  if (!s.ok()) {
    AuditOp(caller, h.ctx, "write", s);
    return s;
  }
  h.written.store(true, std::memory_order_relaxed);
  if (h.ctx.audit_all()) {
    aggregator_.Record(grant.server_, h.ctx.vmset, h.ctx.vm, h.ctx.file, "write", data.size(),
                       NowMs(), caller.address);
  }
  return s;
}

Status Gateway::Allocate(const Caller& caller, FileHandle fh, std::uint64_t offset,
                         std::uint64_t length) {
  CAFS_ASSIGN_OR_RETURN(auto h, CheckHandle(caller, fh, "allocate"));
  if (length == 0) return Status::InvalidArgument("fallocate of 0 bytes");
  if (offset > format::kMaxLogicalSize || length > format::kMaxLogicalSize - offset) {
    return Status::FromErrno(EFBIG, "fallocate beyond the maximum file size");
  }
  auto& file = h->file->file();
  if (offset + length > file.Size()) {
    CAFS_RETURN_IF_ERROR(file.Truncate(offset + length));
    h->written.store(true, std::memory_order_relaxed);
  }
  return Status::OK();
}

Status Gateway::Fsync(const Caller& caller, FileHandle fh) {
  CAFS_ASSIGN_OR_RETURN(Grant g, Access(caller, fh, "fsync"));
  return Fsync(caller, g);
}

Status Gateway::Fsync(const Caller& caller, const Grant& grant) {
  HandleState& h = *grant.h_;
  Status s = h.file->file().Sync();
  if (!s.ok()) AuditOp(caller, h.ctx, "fsync", s);
  if (s.ok() && h.written.exchange(false)) TouchWritten(h);
  return s;
}

Status Gateway::Release(const Caller&, FileHandle fh) {
  std::shared_ptr<HandleState> h;
  {
    std::unique_lock lock(handles_mu_);
    auto it = handles_.find(fh);
    if (it == handles_.end()) return Status::FromErrno(EBADF, "unknown file handle");
    h = std::move(it->second);
    handles_.erase(it);
  }
  if (!h->written.load()) return Status::OK();
  // The logical size reaches the pool file header only on Sync: a closed file must show
  // its size to the next opener (and survive a crash of the gateway after close).
  Status s = h->file->file().Sync();
  if (!s.ok()) CAFS_LOG_ERROR("sync at close of /{}: {}", h->ctx.rel, s.ToString());
  TouchWritten(*h);
  return s;
}

void Gateway::TouchWritten(HandleState& h) {
  if (!volume_->TouchOpen(*h.file).ok()) (void)volume_->Touch(h.ctx.rel);
}

Result<Attr> Gateway::GetAttrByHandle(const Caller& caller, FileHandle fh, std::string_view op) {
  CAFS_ASSIGN_OR_RETURN(Grant g, Access(caller, fh, op));
  return AttrOf(g);
}

Result<Attr> Gateway::AttrOf(const Grant& grant) {
  HandleState& h = *grant.h_;
  auto attr = volume_->AttrOf(*h.file);
  if (attr.ok() || attr.status().code() != Status::Code::kNotSupported) return attr;
  attr = volume_->GetAttr(h.ctx.rel, KeysOf(h.ctx));
  if (attr.ok()) Volume::SetLogicalSize(*attr, h.file->file().Size());
  return attr;
}

Attr Gateway::WithCurrentSize(const Grant& grant, Attr attr) {
  Volume::SetLogicalSize(attr, grant.h_->file->file().Size());
  return attr;
}

Result<Attr> Gateway::SetAttrByHandle(const Caller& caller, FileHandle fh,
                                      const SetAttrRequest& req) {
  CAFS_ASSIGN_OR_RETURN(auto h, FindHandle(fh));
  CAFS_ASSIGN_OR_RETURN(Context ctx, Check(caller, "/" + h->ctx.rel, "setattr", true));
  SetAttrRequest rest = req;
  if (req.size) {
    Status s = TruncateFile(caller, ctx, *h->file, *req.size);
    AuditOp(caller, ctx, "truncate", s);
    CAFS_RETURN_IF_ERROR(s);
    rest.size.reset();
    if (!rest.mtime) rest.mtime = timespec{0, UTIME_NOW};
  }
  // Through the open file, not its old name: after a rename or an unlink (ftruncate, fchmod
  // of an open, unlinked file) the name may be gone or belong to another file.
  auto attr = volume_->SetAttrOf(*h->file, rest);
  if (!attr.ok() && attr.status().code() == Status::Code::kNotSupported) {
    return SetAttr(caller, "/" + h->ctx.rel, rest);
  }
  AuditOp(caller, ctx, "setattr", attr.status());
  return attr;
}

Result<FsStats> Gateway::StatFs(const Caller&) { return volume_->StatFs(); }

std::size_t Gateway::open_handles() const {
  std::shared_lock lock(handles_mu_);
  return handles_.size();
}

// ---- usage and capacity ------------------------------------------------------------------

std::set<std::string> Gateway::ServedVmSets() {
  std::set<std::string> vmsets;
  for (const auto& [name, vs] : cache_->Snapshot()) vmsets.insert(name);
  if (options_.position == 1) {
    if (auto top = volume_->ReadDir(""); top.ok()) {
      for (const auto& e : *top) {
        // A directory whose name is not UTF-8 cannot be a VM set (see CheckAt).
        if (e.type == FileType::kDirectory && audit::IsValidUtf8(e.name)) vmsets.insert(e.name);
      }
    }
  }
  return vmsets;
}

std::vector<VmSetKeyInventory> Gateway::KeyInventory() {
  // What the gateway knows of each VM set's keys is taken before the walk: a file created
  // during the walk under a version newer than `known` cannot be one kpsd is asked about.
  const auto cached = cache_->Snapshot();
  std::vector<VmSetKeyInventory> out;
  for (const auto& vmset : ServedVmSets()) {
    auto it = cached.find(vmset);
    std::optional<std::map<Uuid, std::uint32_t>> known;
    if (it != cached.end()) known = it->second->bundle.NewestVersions();
    VmSetKeyInventory inv = TakeKeyInventory(volume_->backing_root(), volume_->pools(), vmset);
    inv.known = std::move(known);
    out.push_back(std::move(inv));
  }
  return out;
}

std::map<std::string, std::map<Uuid, std::uint32_t>> Gateway::KnownKeyVersions() const {
  std::map<std::string, std::map<Uuid, std::uint32_t>> out;
  for (const auto& [name, vs] : cache_->Snapshot()) out[name] = vs->bundle.NewestVersions();
  return out;
}

Result<std::vector<UsageRecord>> Gateway::Usage() {
  const std::set<std::string> vmsets = ServedVmSets();
  std::vector<UsageRecord> out;
  for (const auto& vmset : vmsets) {
    CAFS_ASSIGN_OR_RETURN(auto bytes, volume_->PoolBytes(vmset));
    for (const auto& [pool, n] : bytes) out.push_back({vmset, pool, n});
  }
  return out;
}

std::vector<PoolStatus> Gateway::CheckCapacity() {
  std::map<std::string, unsigned> thresholds;
  // The VM sets whose policy places files in each pool: they are told of its alerts.
  std::map<std::string, std::map<std::string, std::shared_ptr<const CachedVmSet>>> users;
  for (const auto& [name, vs] : cache_->Snapshot()) {
    for (const auto& vobj : vs->bundle.descriptor.objects) {
      unsigned t =
          vobj.capacity_threshold_percent.value_or(vs->bundle.vmset.capacity_threshold_percent);
      auto [it, inserted] = thresholds.emplace(vobj.storage_pool, t);
      if (!inserted) it->second = std::min(it->second, t);
      users[vobj.storage_pool].emplace(name, vs);
    }
  }
  std::vector<PoolStatus> out;
  for (const auto& name : volume_->pools().names()) {
    PoolStatus ps;
    ps.pool = name;
    auto t = thresholds.find(name);
    ps.threshold_percent =
        t != thresholds.end() ? t->second : policy::VmSet::kDefaultCapacityThreshold;
    auto pool = volume_->pools().Find(name);
    auto space = pool.ok() ? (*pool)->Space() : Result<pool::PoolSpace>(pool.status());
    if (!space.ok()) {
      ps.available = false;
      ps.error = space.status().message();
      out.push_back(ps);
      continue;
    }
    ps.space = *space;
    const double used = ps.space.UsedPercent();
    bool crossed = false, now_over = false;
    {
      std::lock_guard lock(capacity_mu_);
      bool& over = over_threshold_[name];
      now_over = used >= static_cast<double>(ps.threshold_percent);
      crossed = now_over != over;
      over = now_over;
    }
    // One record per crossing, up or down (never one per write or per tick): a pool starts
    // below its threshold, so the first check of a full pool alerts.
    if (crossed) {
      const std::string text = now_over ? fmt::format("pool {} is {:.1f}% full (threshold {}%)",
                                                      name, used, ps.threshold_percent)
                                        : fmt::format(
                                              "pool {} is back below its threshold: {:.1f}% full "
                                              "(threshold {}%)",
                                              name, used, ps.threshold_percent);
      CAFS_LOG_WARN("capacity alert: {}", text);
      // One record per VM set that uses the pool (named in it), or one without a VM set.
      auto record = [&](const std::string& vmset) {
        audit::AuditRecord r;
        r.time_ms = r.end_ms = NowMs();
        r.vmset = vmset;
        r.op = "capacity";
        r.file = name;
        r.result = audit::Result::kAlert;
        r.reason = text;
        r.bytes = ps.space.total_bytes - ps.space.free_bytes;
        Append(std::move(r));
      };
      if (users[name].empty()) record("");
      for (const auto& [vmset, vs] : users[name]) {
        record(vmset);
        SendAlert(*vs, AlertKind::kCapacity, text);
      }
    }
    out.push_back(ps);
  }
  return out;
}

void Gateway::SendAlert(const CachedVmSet& vs, AlertKind kind, std::string text) {
  const policy::VmSet& v = vs.bundle.vmset;
  if (options_.alerts == nullptr || v.audit_destinations.empty()) return;
  options_.alerts->Send(Alert{kind, v.name, std::move(text)}, v.audit_destinations);
}

void Gateway::Tick(bool force) {
  aggregator_.Flush(NowMs(), force);
  (void)CheckCapacity();
  // Open mirrored files whose failed pool is back: resynced online (docs/redirectors.md).
  if (!force && options_.resync_in_tick) (void)volume_->ResyncOpenFiles(1 << 20);
}

Result<const FileHandles*> Gateway::Handles() {
  std::call_once(file_handles_once_,
                 [this] { file_handles_ = FileHandles::Open(volume_->backing_root()); });
  if (!file_handles_.ok()) return file_handles_.status();
  return file_handles_->get();
}

Result<Bytes> Gateway::HandleOf(std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(const FileHandles* handles, Handles());
  CAFS_ASSIGN_OR_RETURN(std::string rel, VolumePath(path));
  CAFS_ASSIGN_OR_RETURN(auto comps, volume_->SplitPath(rel));
  return handles->HandleOf(comps, volume_->pools().names());
}

Result<std::string> Gateway::PathOfHandle(ByteView handle) {
  CAFS_ASSIGN_OR_RETURN(const FileHandles* handles, Handles());
  return handles->Resolve(handle);
}

}  // namespace cafs::core
