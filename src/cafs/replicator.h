// DR replicas of VMs (issue 15 items 4 and 5; docs/replicas.md): a VM's pool files copied as
// ciphertext and headers only (never decrypted: the DR side holds no key) to a DR pool (any
// pool kind), first fully, then incrementally (the chunks the change log says changed since
// the last replica: unchanged data is never read), as one crash-consistent point in time for
// the whole VM; kept K deep; listed, verified and restored.
//
// Layout on the DR pool (docs/replicas.md "Layout"):
//   cafs-replicas/<VM set GUID>/<VM name>/<replica id>/<file GUID>   data: the chunks the
//        manifest stores, appended (each extent names its offset; no write at an offset of
//        existing bytes, no holes: any pool kind takes it, an s3 object is uploaded whole)
//   cafs-replicas/<VM set GUID>/<VM name>/<replica id>/manifest      ReplicaManifest, written
//        last (manifest.new, synced, renamed; a rename that is a copy makes the target appear
//        whole in every kind): a replica exists once its manifest does
//
//  - ReplicaStore: reading and maintaining replicas on a DR pool (no gateway state): list,
//    the lineage of a replica (it and its parents back to a full one, each manifest's MAC
//    checked), verify (every stored chunk re-read and hashed), prune to K (the oldest merged
//    into its child, which becomes full), removal of partial replicas.
//  - ReplicaRun: one replica of one VM in bounded steps (the job kind "replica" drives it,
//    jobs/replica_job.h). Start makes the cut (FileChanges::CutOver on every file with all
//    gates closed: the write pause), Step copies pending chunks, the last Step seals: data
//    synced, manifest published, change logs committed, retention applied. Abort (or
//    destruction before the seal) gives the cut's chunks back to the change logs.
//  - RestoreRun: a replica brought back as files of a VM directory, in bounded steps: every
//    chunk read from the lineage and checked against its manifest hash (tampered data is
//    never restored), each file under a new file GUID (its header re-MAC'd with the DEK found
//    by the header's key GUID: the keys are found by GUID, not by names), written to a
//    temporary pool path (its final path in a pool without atomic rename: CopyTargetPath;
//    front to back without holes in a pool without random writes or sparse files), synced,
//    renamed, then its redirector placed.
//
// Threading: a ReplicaRun / RestoreRun is driven by one thread at a time (the job's task);
// writers of the VM's files run concurrently (copy-before-write, change_log.h).
// Ownership: Volume, ChangeTracker, pools are not owned and must outlive the runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cafs/change_log.h"
#include "cafs/replica_manifest.h"
#include "cafs/volume.h"
#include "format/header.h"
#include "pool/pool.h"

namespace cafs::core {

inline constexpr std::string_view kReplicaRoot = "cafs-replicas";

// Which VM a replica is of: the VM set by GUID (survives renames of the VM set), the VM by name.
struct ReplicaVm {
  Uuid vm_set_id;
  std::string vm_name;
  std::string Dir() const;  // "cafs-replicas/<GUID>/<name>"
};

class ReplicaStore {
 public:
  // `dr` not owned; `mac_key` from ReplicaMacKey.
  ReplicaStore(pool::Pool* dr, SecureBuffer mac_key) : dr_(dr), mac_key_(std::move(mac_key)) {}

  pool::Pool& pool() { return *dr_; }
  ByteView mac_key() const { return ByteView(mac_key_.data(), mac_key_.size()); }

  struct Listed {
    ReplicaVm vm;
    std::string id;                    // the replica directory's name
    Result<ReplicaManifest> manifest;  // AuthFailed / Corruption for a tampered one
  };
  // Every replica with a manifest on the pool, per VM oldest first.
  Result<std::vector<Listed>> List();
  // The replicas of a VM whose manifests check, oldest first (a bad manifest: its error).
  Result<std::vector<ReplicaManifest>> Chain(const ReplicaVm& vm);
  // `id` (nil: the newest) and its parents back to a full replica, newest first.
  Result<std::vector<ReplicaManifest>> Lineage(const ReplicaVm& vm, const Uuid& id);
  // Checks the lineage of `id` and every chunk each of its replicas stores; the bytes read.
  Result<std::uint64_t> Verify(const ReplicaVm& vm, const Uuid& id);
  // Data files opened read-only by ReadChunk, by DR pool path: a caller reading many chunks
  // keeps one so each data file is opened once (on s3 an open is a HEAD request). Owned by
  // the caller, used by one thread at a time; replicas are immutable once sealed.
  using OpenDataFiles = std::map<std::string, std::unique_ptr<env::File>>;
  // The bytes of chunk `k` of file `guid` as of lineage[0] into `out` (its length: the chunk's
  // length at that replica), checked against the manifest hash (AuthFailed on mismatch).
  // `open` (may be null: the data file is opened for this read only) keeps the files opened.
  Status ReadChunk(const ReplicaVm& vm, const std::vector<ReplicaManifest>& lineage,
                   const Uuid& guid, std::uint64_t k, MutableByteView out,
                   OpenDataFiles* open = nullptr);
  // Keeps the newest `keep` replicas of the VM (>= 1): the oldest merged into its child.
  Status Prune(const ReplicaVm& vm, unsigned keep);
  // Removes replica directories without a manifest (a replica that failed or was cut short).
  Status RemovePartial(const ReplicaVm& vm);

  Status WriteManifest(const ReplicaVm& vm, const ReplicaManifest& m);
  std::string ReplicaDir(const ReplicaVm& vm, const Uuid& id) const;

 private:
  Result<ReplicaManifest> ReadManifest(const ReplicaVm& vm, const std::string& id);
  Status RemoveReplica(const ReplicaVm& vm, const std::string& id);

  pool::Pool* const dr_;
  const SecureBuffer mac_key_;
};

struct ReplicaReport {
  Uuid replica_id;
  Uuid parent_id;                  // nil: a full replica
  std::uint64_t bytes_copied = 0;  // chunk bytes read from the pool files (holes included)
  std::uint64_t bytes_total = 0;   // the pool files' sizes at the cut
  std::chrono::microseconds pause{0};
  std::size_t files = 0;
};

class ReplicaRun {
 public:
  // Cuts a replica of the VM at `vm_rel` ("my_vmset/vm1") whose files are `file_rels` (each
  // "my_vmset/vm1/disk"). Every file must carry the VM set GUID (FailedPrecondition for a
  // header not bound yet: open it writable once). Unavailable when `store`'s pool is not
  // reachable. EBUSY when a replica of one of the files runs already.
  static Result<std::unique_ptr<ReplicaRun>> Start(Volume& volume, ReplicaStore& store,
                                                   const std::string& vm_rel,
                                                   const std::vector<std::string>& file_rels,
                                                   unsigned keep);
  ~ReplicaRun();

  // Copies about `budget` bytes; true once sealed. An error leaves the run to Abort.
  Result<bool> Step(std::uint64_t budget);
  // Gives the changes back (the next replica copies them) and removes the partial replica.
  void Abort();
  const ReplicaReport& report() const { return report_; }
  const ReplicaVm& vm() const { return vm_; }

 private:
  struct File;
  ReplicaRun(ReplicaStore& store, ReplicaVm vm, unsigned keep);
  Status Seal();

  ReplicaStore& store_;
  const ReplicaVm vm_;
  const unsigned keep_;
  std::string vm_path_;
  std::uint64_t created_ms_ = 0;
  std::vector<std::unique_ptr<File>> files_;
  std::size_t cursor_ = 0;  // the file being copied
  std::atomic<std::uint64_t> copied_{0};
  bool sealed_ = false, aborted_ = false;
  ReplicaReport report_;
};

class RestoreRun {
 public:
  // The DEK of (key GUID, version): the gateway's keys of the VM set (PolicyCache).
  using FindKey = std::function<Result<const SecureBuffer*>(const Uuid&, std::uint32_t)>;
  // Restores replica `id` (nil: newest) of `vm` as the VM directory `target_vm_rel` (created
  // when missing; none of the files may exist there: AlreadyExists). `pool`: where the files
  // go ("" = each file's pool at the replica). The lineage's manifests are checked here.
  static Result<std::unique_ptr<RestoreRun>> Start(Volume& volume, ReplicaStore& store,
                                                   const ReplicaVm& vm, const Uuid& id,
                                                   const std::string& target_vm_rel,
                                                   const std::string& pool, FindKey keys);
  ~RestoreRun();
  Result<bool> Step(std::uint64_t budget);
  // Removes what was written (temporary pool files; placed files stay).
  void Abort();
  const ReplicaManifest& manifest() const { return lineage_.front(); }
  std::uint64_t bytes_total() const { return total_; }

 private:
  struct File;
  RestoreRun(Volume& volume, ReplicaStore& store, ReplicaVm vm);
  Status Finish(File& f);

  Volume& volume_;
  ReplicaStore& store_;
  const ReplicaVm vm_;
  std::vector<ReplicaManifest> lineage_;
  ReplicaStore::OpenDataFiles open_;  // the lineage's data files, opened once
  std::string target_;
  FindKey keys_;
  std::vector<std::unique_ptr<File>> files_;
  std::size_t cursor_ = 0;
  std::uint64_t total_ = 0;
  bool finished_ = false;
};

}  // namespace cafs::core
