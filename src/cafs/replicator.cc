#include "cafs/replicator.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>

#include "crypto/mac.h"
#include "format/file_keys.h"
#include "format/header_codec.h"
#include "format/header_layout.h"
#include "util/logging.h"

namespace cafs::core {
namespace {

constexpr std::string_view kManifestName = "manifest";

std::uint64_t NowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

bool AllZero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t c) { return c == 0; });
}

std::uint64_t ChunksOf(std::uint64_t size, std::uint64_t chunk) {
  return (size + chunk - 1) / chunk;
}

std::string LastComponent(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// The one rule of writing a replica's data file: append-only (any pool kind can take it, an
// s3 object is uploaded whole, no kind needs to be sparse). Chunk `k`'s bytes go at `*end`,
// which advances; an all-zero chunk is a hole and is not stored. Returns its extent.
Result<ReplicaExtent> AppendChunk(env::File& data, std::uint64_t& end, std::uint64_t k,
                                  ByteView bytes) {
  if (AllZero(bytes)) return ReplicaExtent{.chunk = k};
  CAFS_RETURN_IF_ERROR(data.WriteAt(end, bytes));
  ReplicaExtent e{.chunk = k, .sha256 = crypto::Sha256(bytes), .offset = end};
  end += bytes.size();
  return e;
}

Result<format::Header> ReadPoolHeader(env::File& file) {
  std::vector<std::uint8_t> raw(format::kHeaderSize);
  CAFS_RETURN_IF_ERROR(env::ReadExactly(file, 0, raw));
  return format::ParseHeaderUnverified(raw);
}

}  // namespace

std::string ReplicaVm::Dir() const {
  return std::string(kReplicaRoot) + "/" + vm_set_id.ToString() + "/" + vm_name;
}

// --- ReplicaStore ---

std::string ReplicaStore::ReplicaDir(const ReplicaVm& vm, const Uuid& id) const {
  return vm.Dir() + "/" + id.ToString();
}

Result<ReplicaManifest> ReplicaStore::ReadManifest(const ReplicaVm& vm, const std::string& id) {
  const std::string path = vm.Dir() + "/" + id + "/" + std::string(kManifestName);
  CAFS_ASSIGN_OR_RETURN(auto file, dr_->OpenFile(path, env::OpenOptions::ReadOnly()));
  CAFS_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  if (size > (256u << 20)) return Status::Corruption(path + ": larger than 256 MiB");
  std::vector<std::uint8_t> raw(size);
  CAFS_RETURN_IF_ERROR(env::ReadExactly(*file, 0, raw));
  auto m = DecodeManifest(raw, mac_key());
  if (!m.ok()) return m.status().WithContext(dr_->name() + ":" + path);
  if (m->replica_id.ToString() != id || m->vm_set_id != vm.vm_set_id ||
      LastComponent(m->vm_path) != vm.vm_name) {
    return Status::AuthFailed(dr_->name() + ":" + path + ": manifest of another replica");
  }
  return m;
}

Result<std::vector<ReplicaStore::Listed>> ReplicaStore::List() {
  std::vector<Listed> out;
  auto sets = dr_->ListDir(kReplicaRoot);
  if (!sets.ok()) {
    if (sets.status().IsNotFound()) return out;
    return sets.status();
  }
  for (const auto& set : *sets) {
    auto set_id = Uuid::Parse(set);
    if (!set_id.ok()) continue;
    auto vms = dr_->ListDir(std::string(kReplicaRoot) + "/" + set);
    if (!vms.ok()) continue;
    for (const auto& name : *vms) {
      ReplicaVm vm{*set_id, name};
      auto ids = dr_->ListDir(vm.Dir());
      if (!ids.ok()) continue;
      std::vector<Listed> of_vm;
      for (const auto& id : *ids) {
        if (!dr_->Stat(vm.Dir() + "/" + id + "/" + std::string(kManifestName)).ok()) continue;
        of_vm.push_back({vm, id, ReadManifest(vm, id)});
      }
      std::sort(of_vm.begin(), of_vm.end(), [](const Listed& a, const Listed& b) {
        const std::uint64_t ta = a.manifest.ok() ? a.manifest->created_ms : 0;
        const std::uint64_t tb = b.manifest.ok() ? b.manifest->created_ms : 0;
        return ta != tb ? ta < tb : a.id < b.id;
      });
      for (auto& l : of_vm) out.push_back(std::move(l));
    }
  }
  return out;
}

Result<std::vector<ReplicaManifest>> ReplicaStore::Chain(const ReplicaVm& vm) {
  std::vector<ReplicaManifest> out;
  auto ids = dr_->ListDir(vm.Dir());
  if (!ids.ok()) {
    if (ids.status().IsNotFound()) return out;
    return ids.status();
  }
  for (const auto& id : *ids) {
    if (!dr_->Stat(vm.Dir() + "/" + id + "/" + std::string(kManifestName)).ok()) continue;
    CAFS_ASSIGN_OR_RETURN(ReplicaManifest m, ReadManifest(vm, id));
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const ReplicaManifest& a, const ReplicaManifest& b) {
    return a.created_ms < b.created_ms;
  });
  return out;
}

Result<std::vector<ReplicaManifest>> ReplicaStore::Lineage(const ReplicaVm& vm, const Uuid& id) {
  CAFS_ASSIGN_OR_RETURN(auto chain, Chain(vm));
  if (chain.empty()) {
    return Status::NotFound("no replica of VM " + vm.vm_name + " of VM set " +
                            vm.vm_set_id.ToString() + " in pool " + dr_->name());
  }
  auto find = [&](const Uuid& want) -> const ReplicaManifest* {
    for (const auto& m : chain) {
      if (m.replica_id == want) return &m;
    }
    return nullptr;
  };
  const ReplicaManifest* m = id.IsNil() ? &chain.back() : find(id);
  if (m == nullptr) return Status::NotFound("replica " + id.ToString() + " not found");
  std::vector<ReplicaManifest> out{*m};
  while (!out.back().parent_id.IsNil()) {
    const ReplicaManifest* parent = find(out.back().parent_id);
    if (parent == nullptr || out.size() > chain.size()) {
      return Status::Corruption("replica " + out.back().replica_id.ToString() + ": its parent " +
                                out.back().parent_id.ToString() + " is missing");
    }
    out.push_back(*parent);
  }
  return out;
}

Status ReplicaStore::ReadChunk(const ReplicaVm& vm, const std::vector<ReplicaManifest>& lineage,
                               const Uuid& guid, std::uint64_t k, MutableByteView out,
                               OpenDataFiles* open) {
  OpenDataFiles just_this_read;
  if (open == nullptr) open = &just_this_read;
  for (const auto& m : lineage) {
    const ReplicaFileEntry* f = m.Find(guid);
    if (f == nullptr) break;  // the file did not exist before: zeros
    auto it = std::lower_bound(
        f->extents.begin(), f->extents.end(), k,
        [](const ReplicaExtent& e, std::uint64_t chunk) { return e.chunk < chunk; });
    if (it == f->extents.end() || it->chunk != k) continue;  // unchanged: an older replica
    if (it->IsHole()) break;
    const std::string path = ReplicaDir(vm, m.replica_id) + "/" + guid.ToString();
    std::unique_ptr<env::File>& file = (*open)[path];
    if (file == nullptr) {
      CAFS_ASSIGN_OR_RETURN(file, dr_->OpenFile(path, env::OpenOptions::ReadOnly()));
    }
    // The chunk as stored: its length at that replica (a later replica may be longer), at the
    // offset its extent names in the data file.
    const std::size_t stored = static_cast<std::size_t>(
        std::min<std::uint64_t>(m.chunk_bytes, f->pool_file_size - k * m.chunk_bytes));
    std::vector<std::uint8_t> buf(stored);
    CAFS_RETURN_IF_ERROR(
        env::ReadExactly(*file, it->offset, buf).WithContext(dr_->name() + ":" + path));
    if (crypto::Sha256(buf) != it->sha256) {
      return Status::AuthFailed(dr_->name() + ":" + path + ": chunk " + std::to_string(k) +
                                " does not match its manifest hash (tampered or damaged)");
    }
    std::fill(out.begin(), out.end(), 0);
    std::copy_n(buf.begin(), std::min(buf.size(), out.size()), out.begin());
    return Status::OK();
  }
  std::fill(out.begin(), out.end(), 0);
  return Status::OK();
}

Result<std::uint64_t> ReplicaStore::Verify(const ReplicaVm& vm, const Uuid& id) {
  CAFS_ASSIGN_OR_RETURN(auto lineage, Lineage(vm, id));
  std::uint64_t bytes = 0;
  OpenDataFiles open;
  for (std::size_t i = 0; i < lineage.size(); ++i) {
    const std::vector<ReplicaManifest> from_here(lineage.begin() + static_cast<long>(i),
                                                 lineage.end());
    const ReplicaManifest& m = lineage[i];
    for (const auto& f : m.files) {
      for (const auto& e : f.extents) {
        if (e.IsHole()) continue;
        const std::uint64_t off = e.chunk * m.chunk_bytes;
        std::vector<std::uint8_t> buf(
            std::min<std::uint64_t>(m.chunk_bytes, f.pool_file_size - off));
        CAFS_RETURN_IF_ERROR(ReadChunk(vm, from_here, f.file_guid, e.chunk, buf, &open));
        bytes += buf.size();
      }
    }
  }
  return bytes;
}

Status ReplicaStore::WriteManifest(const ReplicaVm& vm, const ReplicaManifest& m) {
  CAFS_ASSIGN_OR_RETURN(Bytes raw, EncodeManifest(m, mac_key()));
  const std::string dir = ReplicaDir(vm, m.replica_id);
  const std::string path = dir + "/" + std::string(kManifestName);
  {
    CAFS_ASSIGN_OR_RETURN(auto file,
                          dr_->OpenFile(path + ".new", {.create = true, .truncate = true}));
    CAFS_RETURN_IF_ERROR(file->WriteAt(0, raw));
    CAFS_RETURN_IF_ERROR(file->Sync());
  }
  CAFS_RETURN_IF_ERROR(dr_->Rename(path + ".new", path));
  return dr_->SyncDir(dir);
}

Status ReplicaStore::RemoveReplica(const ReplicaVm& vm, const std::string& id) {
  const std::string dir = vm.Dir() + "/" + id;
  // The manifest first: from then on it is a partial replica, never half a listed one.
  Status s = dr_->RemoveFile(dir + "/" + std::string(kManifestName));
  if (!s.ok() && !s.IsNotFound()) return s;
  CAFS_RETURN_IF_ERROR(dr_->SyncDir(dir));
  auto names = dr_->ListDir(dir);
  if (names.ok()) {
    for (const auto& n : *names) (void)dr_->RemoveFile(dir + "/" + n);
  }
  s = dr_->RemoveDir(dir);
  if (!s.ok() && !s.IsNotFound()) return s;
  return dr_->SyncDir(vm.Dir());
}

Status ReplicaStore::RemovePartial(const ReplicaVm& vm) {
  auto ids = dr_->ListDir(vm.Dir());
  if (!ids.ok()) return ids.status().IsNotFound() ? Status::OK() : ids.status();
  for (const auto& id : *ids) {
    if (dr_->Stat(vm.Dir() + "/" + id + "/" + std::string(kManifestName)).ok()) continue;
    CAFS_RETURN_IF_ERROR(RemoveReplica(vm, id));
  }
  return Status::OK();
}

Status ReplicaStore::Prune(const ReplicaVm& vm, unsigned keep) {
  keep = std::max(keep, 1u);
  for (;;) {
    CAFS_ASSIGN_OR_RETURN(auto chain, Chain(vm));
    if (chain.size() <= keep) return Status::OK();
    const ReplicaManifest& oldest = chain.front();
    for (std::size_t i = 1; i < chain.size(); ++i) {
      ReplicaManifest child = chain[i];
      if (child.parent_id != oldest.replica_id) continue;
      // The child becomes full: every chunk it does not store comes from the oldest.
      const std::vector<ReplicaManifest> lineage{oldest};
      OpenDataFiles open;  // closed before the oldest is removed
      for (auto& f : child.files) {
        const ReplicaFileEntry* old = oldest.Find(f.file_guid);
        std::map<std::uint64_t, ReplicaExtent> have;
        for (const auto& e : f.extents) have[e.chunk] = e;
        const std::string path = ReplicaDir(vm, child.replica_id) + "/" + f.file_guid.ToString();
        CAFS_ASSIGN_OR_RETURN(auto out, dr_->OpenFile(path, env::OpenOptions::ReadWrite()));
        // Appended after what the child stores (its manifest does not name these bytes until
        // it is rewritten below: a crash between leaves an unused tail).
        CAFS_ASSIGN_OR_RETURN(std::uint64_t end, out->Size());
        for (std::uint64_t k = 0; k < ChunksOf(f.pool_file_size, child.chunk_bytes); ++k) {
          if (have.count(k) != 0) continue;
          std::vector<std::uint8_t> buf(
              std::min<std::uint64_t>(child.chunk_bytes, f.pool_file_size - k * child.chunk_bytes));
          if (old != nullptr) {
            CAFS_RETURN_IF_ERROR(ReadChunk(vm, lineage, f.file_guid, k, buf, &open));
          }
          CAFS_ASSIGN_OR_RETURN(have[k], AppendChunk(*out, end, k, buf));
        }
        CAFS_RETURN_IF_ERROR(out->Sync());
        f.extents.clear();
        for (const auto& [k, e] : have) f.extents.push_back(e);
      }
      child.parent_id = Uuid();
      CAFS_RETURN_IF_ERROR(WriteManifest(vm, child));
    }
    CAFS_RETURN_IF_ERROR(RemoveReplica(vm, oldest.replica_id.ToString()));
  }
}

// --- ReplicaRun ---

struct ReplicaRun::File {
  std::string rel, pool;
  Uuid guid;
  std::uint32_t mode = 0, uid = 0, gid = 0;  // the name's, when the run started
  std::unique_ptr<env::File> src;            // a read-only descriptor of the pool file
  std::shared_ptr<FileChanges> changes;
  ChangeCut cut;
  bool cut_taken = false;
  std::shared_ptr<ReplicaSnapshot> snap;
  std::unique_ptr<env::File> dst;                  // the data file in the DR pool
  std::uint64_t dst_end = 0;                       // its size: where the next chunk goes
  std::map<std::uint64_t, ReplicaExtent> extents;  // by the sink (snapshot mutex held)
  format::Header header;
  std::uint64_t size = 0;
  bool incremental = false;
  std::uint64_t next = 0;  // the copier's position (chunks)
};

ReplicaRun::ReplicaRun(ReplicaStore& store, ReplicaVm vm, unsigned keep)
    : store_(store), vm_(std::move(vm)), keep_(keep) {}

ReplicaRun::~ReplicaRun() {
  if (!sealed_) Abort();
}

Result<std::unique_ptr<ReplicaRun>> ReplicaRun::Start(Volume& volume, ReplicaStore& store,
                                                      const std::string& vm_rel,
                                                      const std::vector<std::string>& file_rels,
                                                      unsigned keep) {
  ChangeTracker* tracker = volume.change_tracker();
  if (tracker == nullptr) return Status::FailedPrecondition("the gateway tracks no changes");
  if (file_rels.empty()) return Status::InvalidArgument("/" + vm_rel + " has no files");
  if (Status s = store.pool().CheckAvailable(); !s.ok()) {
    return s.WithContext("DR pool " + store.pool().name());
  }
  // 1. Every file located and its change state acquired (no pause yet).
  std::vector<std::unique_ptr<File>> files;
  for (const auto& rel : file_rels) {
    auto f = std::make_unique<File>();
    f->rel = rel;
    CAFS_ASSIGN_OR_RETURN(FileLocation loc, volume.Locate(rel));
    f->pool = loc.pool;
    f->guid = loc.guid;
    f->mode = loc.mode;
    f->uid = loc.uid;
    f->gid = loc.gid;
    CAFS_ASSIGN_OR_RETURN(pool::Pool * p, volume.pools().Find(loc.pool));
    CAFS_ASSIGN_OR_RETURN(f->src, p->OpenFile(loc.pool_path, env::OpenOptions::ReadOnly()));
    CAFS_ASSIGN_OR_RETURN(f->changes, tracker->Acquire(loc.guid));
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a->guid < b->guid; });
  for (std::size_t i = 1; i < files.size(); ++i) {
    if (files[i]->guid == files[i - 1]->guid) {
      return Status::InvalidArgument("/" + files[i]->rel + " is a second name of a file");
    }
  }
  Uuid vm_set;
  {
    CAFS_ASSIGN_OR_RETURN(format::Header h, ReadPoolHeader(*files.front()->src));
    vm_set = h.vm_set_id;
  }
  if (vm_set.IsNil()) {
    return Status::FailedPrecondition("/" + files.front()->rel +
                                      " is not bound to a VM set GUID yet: open it once");
  }
  std::unique_ptr<ReplicaRun> run(
      new ReplicaRun(store, ReplicaVm{vm_set, LastComponent(vm_rel)}, keep));
  run->vm_path_ = vm_rel;
  CAFS_RETURN_IF_ERROR(store.RemovePartial(run->vm_));
  CAFS_ASSIGN_OR_RETURN(auto chain, store.Chain(run->vm_));
  const ReplicaManifest* latest = chain.empty() ? nullptr : &chain.back();
  run->report_.replica_id = Uuid::Random();
  const std::string dir = store.ReplicaDir(run->vm_, run->report_.replica_id);
  CAFS_RETURN_IF_ERROR(store.pool().CreateDirs(dir));
  for (auto& f : files) {
    CAFS_ASSIGN_OR_RETURN(f->dst, store.pool().OpenFile(dir + "/" + f->guid.ToString(),
                                                        env::OpenOptions::CreateNew()));
  }
  // 2. The cut: every gate closed (GUID order), headers and sizes read, changes taken and the
  // copy-before-write snapshots installed, gates reopened. No write of the VM runs meanwhile.
  Status cut_status;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& f : files) f->changes->CloseGate();
  for (auto& f : files) {
    auto h = ReadPoolHeader(*f->src);
    auto size = f->src->Size();
    if (!h.ok() || !size.ok()) {
      cut_status = !h.ok() ? h.status() : size.status();
      break;
    }
    if (h->vm_set_id != vm_set) {
      cut_status =
          Status::FailedPrecondition("/" + f->rel + " belongs to VM set " +
                                     h->vm_set_id.ToString() + ", not " + vm_set.ToString());
      break;
    }
    f->header = *h;
    f->size = *size;
    File* fp = f.get();
    ReplicaRun* r = run.get();
    const std::uint64_t chunk = f->changes->chunk_bytes();
    auto cut = f->changes->CutOver([&](const ChangeCut& c) {
      fp->incremental = latest != nullptr && latest->Find(fp->guid) != nullptr && !c.everything &&
                        c.base == latest->replica_id && latest->chunk_bytes == chunk;
      ChunkSet pending;
      const std::uint64_t n = ChunksOf(fp->size, chunk);
      if (fp->incremental) {
        for (auto k = c.chunks.Next(0); k && *k < n; k = c.chunks.Next(*k + 1)) pending.Add(*k);
      } else {
        for (std::uint64_t k = 0; k < n; ++k) pending.Add(k);
      }
      fp->snap = std::make_shared<ReplicaSnapshot>(
          std::move(pending), fp->size, chunk, [fp, r](std::uint64_t k, ByteView bytes) {
            r->copied_ += bytes.size();
            CAFS_ASSIGN_OR_RETURN(fp->extents[k], AppendChunk(*fp->dst, fp->dst_end, k, bytes));
            return Status::OK();
          });
      return fp->snap;
    });
    if (!cut.ok()) {
      cut_status = cut.status();
      break;
    }
    f->cut = std::move(*cut);
    f->cut_taken = true;
  }
  for (auto& f : files) f->changes->OpenGate();
  run->report_.pause =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  run->created_ms_ = NowMs();
  run->files_ = std::move(files);
  if (!cut_status.ok()) {
    run->Abort();
    return cut_status;
  }
  bool any_incremental = false;
  for (auto& f : run->files_) {
    any_incremental = any_incremental || f->incremental;
    run->report_.bytes_total += f->size;
  }
  run->report_.parent_id = any_incremental ? latest->replica_id : Uuid();
  run->report_.files = run->files_.size();
  return run;
}

Result<bool> ReplicaRun::Step(std::uint64_t budget) {
  if (sealed_) return true;
  if (aborted_) return Status::FailedPrecondition("the replica was abandoned");
  CAFS_RETURN_IF_ERROR(
      store_.pool().CheckAvailable().WithContext("DR pool " + store_.pool().name()));
  const std::uint64_t start = copied_.load();
  while (cursor_ < files_.size() && copied_.load() - start < budget) {
    File& f = *files_[cursor_];
    auto k = f.snap->NextPending(f.next);
    if (!k) {
      CAFS_RETURN_IF_ERROR(f.snap->status().WithContext("/" + f.rel));
      ++cursor_;
      continue;
    }
    f.next = *k;
    CAFS_RETURN_IF_ERROR(f.snap->CopyIfPending(*f.src, *k).WithContext("/" + f.rel));
  }
  report_.bytes_copied = copied_.load();
  if (cursor_ < files_.size()) return false;
  CAFS_RETURN_IF_ERROR(Seal());
  return true;
}

Status ReplicaRun::Seal() {
  const std::string dir = store_.ReplicaDir(vm_, report_.replica_id);
  ReplicaManifest m;
  m.replica_id = report_.replica_id;
  m.parent_id = report_.parent_id;
  m.vm_set_id = vm_.vm_set_id;
  m.created_ms = created_ms_;
  m.vm_path = vm_path_;
  for (auto& f : files_) {
    CAFS_RETURN_IF_ERROR(f->snap->status().WithContext("/" + f->rel));
    CAFS_RETURN_IF_ERROR(f->dst->Sync());
    m.chunk_bytes = static_cast<std::uint32_t>(f->changes->chunk_bytes());
    ReplicaFileEntry e;
    e.file_guid = f->guid;
    e.key_guid = f->header.key_guid;
    e.key_version = f->header.key_version;
    e.sector_size = f->header.sector_size;
    e.pool_file_size = f->size;
    e.logical_size = f->header.logical_size;
    e.name = LastComponent(f->rel);
    e.pool = f->pool;
    e.mode = f->mode;
    e.uid = f->uid;
    e.gid = f->gid;
    // A file new in an incremental replica is listed whole (its pending set was every chunk).
    for (const auto& [k, x] : f->extents) e.extents.push_back(x);
    m.files.push_back(std::move(e));
  }
  CAFS_RETURN_IF_ERROR(store_.pool().SyncDir(dir));
  CAFS_RETURN_IF_ERROR(store_.WriteManifest(vm_, m));  // published
  sealed_ = true;
  for (auto& f : files_) {
    // A log not committed keeps its old base: the next replica of the file is full.
    if (Status s = f->changes->Commit(m.replica_id); !s.ok()) {
      CAFS_LOG_WARN("replica {}: change log of /{}: {}", m.replica_id.ToString(), f->rel,
                    s.ToString());
    }
  }
  report_.bytes_copied = copied_.load();
  return store_.Prune(vm_, keep_).WithContext("retention (the replica itself is complete)");
}

void ReplicaRun::Abort() {
  if (sealed_ || aborted_) return;
  aborted_ = true;
  for (auto& f : files_) {
    if (f->cut_taken) f->changes->Abandon(f->cut);
  }
  for (auto& f : files_) f->dst.reset();
  if (Status s = store_.RemovePartial(vm_); !s.ok()) {
    CAFS_LOG_WARN("replica {}: removing the partial replica: {} (the next replica removes it)",
                  report_.replica_id.ToString(), s.ToString());
  }
}

// --- RestoreRun ---

namespace {

// A replica's header, checked, with the MAC key that re-encodes it.
struct ReplicaHeader {
  format::Header header;
  SecureBuffer mac_key;
};

// The header in `chunk0` (the first chunk of entry `e`, restored as /`rel`): its structure, its
// file GUID, its MAC under the file's key, and, when a deep rekey ran at the replica's cut
// (docs/format.md 8: sectors below the watermark are under the target key), the target key,
// checked against the header's target key check. A replica is a crash-consistent cut, so a
// header mid-rekey with its hotzone journal restores like a file after a crash: the gateway
// opens it with both keys and the next deep rekey of the VM set finishes it.
Result<ReplicaHeader> CheckReplicaHeader(ByteView chunk0, const ReplicaFileEntry& e,
                                         const std::string& rel, const RestoreRun::FindKey& keys) {
  if (chunk0.size() < format::kHeaderSize) return Status::Corruption("replica: header truncated");
  CAFS_ASSIGN_OR_RETURN(format::Header h, format::ParseHeaderUnverified(chunk0));
  if (h.file_guid != e.file_guid) return Status::Corruption("replica: header of another file");
  auto dek = keys(h.key_guid, h.key_version);
  if (!dek.ok()) return dek.status().WithContext("/" + rel + ": the file's key");
  CAFS_ASSIGN_OR_RETURN(auto fk, format::DeriveFileKeys(**dek, h.cipher, h.file_nonce));
  CAFS_RETURN_IF_ERROR(format::VerifyHeaderMac(chunk0.first(format::kHeaderSize),
                                               ByteView(fk.mac_key.data(), fk.mac_key.size()))
                           .WithContext("/" + rel + ": replica header"));
  if (h.rekey.state == format::kRekeyInProgress) {
    const std::string what = "/" + rel + ": replicated during a deep rekey to key " +
                             h.rekey.target_key_guid.ToString() + " version " +
                             std::to_string(h.rekey.target_key_version);
    auto target = keys(h.rekey.target_key_guid, h.rekey.target_key_version);
    if (!target.ok()) return target.status().WithContext(what + ", whose key is needed");
    CAFS_ASSIGN_OR_RETURN(auto tk,
                          format::DeriveFileKeys(**target, h.target_cipher(), h.file_nonce));
    if (!crypto::ConstantTimeEquals(
            ByteView(tk.key_check.data(), tk.key_check.size()),
            ByteView(h.rekey.target_key_check.data(), h.rekey.target_key_check.size()))) {
      return Status::AuthFailed(what + ": the key found does not match the header's key check");
    }
  }
  return ReplicaHeader{std::move(h), std::move(fk.mac_key)};
}

}  // namespace

struct RestoreRun::File {
  const ReplicaFileEntry* entry = nullptr;
  std::string rel, pool, path, temp;
  Uuid guid;  // the restored file's new GUID
  std::unique_ptr<env::File> out;
  std::uint64_t next = 0;  // chunk
  // Written front to back without gaps (all-zero chunks too): a pool without random writes or
  // sparse files (s3) takes the file as it comes; a sparse one gets holes.
  bool dense = false;
  bool placed = false;
  // The header, checked by Start with its keys (CheckReplicaHeader); Step writes it under the
  // new GUID (none for an empty pool file).
  std::optional<ReplicaHeader> header;
};

RestoreRun::RestoreRun(Volume& volume, ReplicaStore& store, ReplicaVm vm)
    : volume_(volume), store_(store), vm_(std::move(vm)) {}

RestoreRun::~RestoreRun() {
  if (!finished_) Abort();
}

Result<std::unique_ptr<RestoreRun>> RestoreRun::Start(Volume& volume, ReplicaStore& store,
                                                      const ReplicaVm& vm, const Uuid& id,
                                                      const std::string& target_vm_rel,
                                                      const std::string& pool, FindKey keys) {
  std::unique_ptr<RestoreRun> run(new RestoreRun(volume, store, vm));
  CAFS_ASSIGN_OR_RETURN(run->lineage_, store.Lineage(vm, id));
  run->target_ = target_vm_rel;
  run->keys_ = std::move(keys);
  const ReplicaManifest& m = run->lineage_.front();
  for (const auto& e : m.files) {
    auto f = std::make_unique<File>();
    f->entry = &e;
    f->rel = target_vm_rel + "/" + e.name;
    CAFS_RETURN_IF_ERROR(volume.CheckName(e.name));
    if (auto there = volume.Locate(f->rel); there.ok() || !there.status().IsNotFound()) {
      return there.ok() ? Status::AlreadyExists("/" + f->rel + " exists: restore as another VM")
                        : there.status();
    }
    f->pool = pool.empty() ? e.pool : pool;
    CAFS_ASSIGN_OR_RETURN(pool::Pool * p, volume.pools().Find(f->pool));
    CAFS_RETURN_IF_ERROR(p->CheckAvailable());
    // The keys are found by the header's key GUIDs now, before anything is written: the
    // file's key, and the target of a deep rekey that ran at the replica's cut.
    if (e.pool_file_size == 0) {
      CAFS_RETURN_IF_ERROR(run->keys_(e.key_guid, e.key_version).status());
    } else {
      std::vector<std::uint8_t> head(std::min<std::uint64_t>(m.chunk_bytes, e.pool_file_size));
      CAFS_RETURN_IF_ERROR(store.ReadChunk(vm, run->lineage_, e.file_guid, 0, head));
      CAFS_ASSIGN_OR_RETURN(f->header, CheckReplicaHeader(head, e, f->rel, run->keys_));
    }
    run->total_ += e.pool_file_size;
    run->files_.push_back(std::move(f));
  }
  if (auto dir = volume.GetAttr(target_vm_rel, KeyLookup()); !dir.ok()) {
    if (!dir.status().IsNotFound()) return dir.status();
    CAFS_RETURN_IF_ERROR(volume.MakeDir(target_vm_rel, 0755, 0, 0).status());
  }
  for (auto& f : run->files_) {
    f->guid = Uuid::Random();
    f->path = volume.NewPoolPath(f->guid);
    CAFS_ASSIGN_OR_RETURN(pool::Pool * p, volume.pools().Find(f->pool));
    f->temp = CopyTargetPath(*p, f->path, f->guid);
    f->dense = !p->capabilities().sparse || !p->capabilities().random_write;
    CAFS_RETURN_IF_ERROR(p->CreateDirs(f->path.substr(0, f->path.rfind('/'))));
    CAFS_ASSIGN_OR_RETURN(f->out, p->OpenFile(f->temp, env::OpenOptions::CreateNew()));
  }
  return run;
}

Result<bool> RestoreRun::Step(std::uint64_t budget) {
  const ReplicaManifest& m = lineage_.front();
  std::uint64_t done = 0;
  while (cursor_ < files_.size() && done < budget) {
    File& f = *files_[cursor_];
    const ReplicaFileEntry& e = *f.entry;
    const std::uint64_t n = ChunksOf(e.pool_file_size, m.chunk_bytes);
    if (f.next >= n) {
      CAFS_RETURN_IF_ERROR(Finish(f).WithContext("restoring /" + f.rel));
      ++cursor_;
      continue;
    }
    const std::uint64_t k = f.next;
    std::vector<std::uint8_t> buf(
        std::min<std::uint64_t>(m.chunk_bytes, e.pool_file_size - k * m.chunk_bytes));
    CAFS_RETURN_IF_ERROR(store_.ReadChunk(vm_, lineage_, e.file_guid, k, buf, &open_));
    if (k == 0) {
      // The header Start checked (ReadChunk verified these bytes against the manifest, as
      // there), under the file's new GUID, MAC'd with the same key.
      if (!f.header) return Status::Internal("replica: header not checked at start");
      format::Header h = f.header->header;
      h.file_guid = f.guid;
      const ByteView mac_key(f.header->mac_key.data(), f.header->mac_key.size());
      CAFS_RETURN_IF_ERROR(
          format::EncodeHeader(h, mac_key, MutableByteView(buf).first(format::kHeaderSize)));
    }
    if (f.dense || !AllZero(buf)) CAFS_RETURN_IF_ERROR(f.out->WriteAt(k * m.chunk_bytes, buf));
    done += buf.size();
    ++f.next;
  }
  if (cursor_ < files_.size()) return false;
  finished_ = true;
  return true;
}

Status RestoreRun::Finish(File& f) {
  if (f.placed) return Status::OK();
  CAFS_ASSIGN_OR_RETURN(pool::Pool * p, volume_.pools().Find(f.pool));
  CAFS_RETURN_IF_ERROR(f.out->Truncate(f.entry->pool_file_size));
  CAFS_RETURN_IF_ERROR(f.out->Sync());
  f.out.reset();
  const std::string dir = f.path.substr(0, f.path.rfind('/'));
  if (f.temp != f.path) CAFS_RETURN_IF_ERROR(p->Rename(f.temp, f.path));
  CAFS_RETURN_IF_ERROR(p->SyncDir(dir));
  CAFS_RETURN_IF_ERROR(volume_.PlaceRestoredFile(f.rel, f.pool, {f.guid, f.path}, f.entry->mode,
                                                 f.entry->uid, f.entry->gid));
  f.placed = true;
  return Status::OK();
}

void RestoreRun::Abort() {
  finished_ = true;
  for (auto& f : files_) {
    if (f->placed) continue;
    f->out.reset();
    auto p = volume_.pools().Find(f->pool);
    if (!p.ok()) continue;
    (void)(*p)->RemoveFile(f->temp);
    (void)volume_.RemovePoolCopy(f->pool, f->path, f->guid);
  }
}

}  // namespace cafs::core
