// Nfs3Program: the NFSv3 program (RFC 1813, program 100003 version 3, all 22 procedures) over
// the gateway core. No logic of its own beyond protocol and the caller checks knfsd makes
// (cafs/permission.h): names and attributes come from the Gateway (policy, audit, keys happen
// there), file handles are Gateway::HandleOf (persistent, docs/nfs.md "File handles"), errors go
// through ToNfs3Status.
//
// Per call: the handle is resolved to a gateway path (Gateway::PathOfHandle; ESTALE ->
// NFS3ERR_STALE), the export covering that path must admit the client address (otherwise
// NFS3ERR_ACCES), and the caller is core::Caller{AUTH_SYS uid/gid after the export's squash,
// address = the client address} (the Gateway identifies it by the registered servers at that
// address, docs/nfs.md "Server identity"); a read-only export answers NFS3ERR_ROFS to modifying
// procedures. That identity is then checked against the entries' mode and owner as knfsd does
// (cafs/permission.h, docs/nfs.md "Permission checks") before the Gateway applies the policy.
//
// Write stability: FILE_SYNC and DATA_SYNC WRITEs reply after Gateway::Fsync (data + header);
// UNSTABLE WRITEs reply at once and COMMIT syncs. The 8-byte write verifier is random per
// instance (so per server start) and changes when closing an idle file fails to sync.
// Open gateway files are cached per NFS handle (Nfs3OpenFiles) and released when idle; READ,
// WRITE, COMMIT and GETATTR of a cached file use its cached path while no rename or removal
// happened anywhere in the gateway (Gateway::namespace_generation), instead of resolving the
// handle again.
//
// CREATE EXCLUSIVE stores the client's verifier as Linux knfsd does: its first four bytes in
// atime.tv_sec, its last four in mtime.tv_sec; a retransmission with the same verifier gets
// the same answer, another verifier NFS3ERR_EXIST.
//
// Threading: Dispatch is safe from many threads at once. A background thread releases idle
// open files every second; the destructor stops it and releases every cached file.
// Ownership: the Gateway and Exports are not owned and must outlive the program.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "cafs/gateway.h"
#include "frontend/nfs/exports.h"
#include "frontend/nfs/nfs3_open_files.h"
#include "frontend/nfs/nfs3_xdr.h"
#include "frontend/nfs/rpc_program.h"

namespace cafs::frontend::nfs {

struct Nfs3Options {
  std::size_t max_open_files = 256;
  std::chrono::milliseconds idle_close{std::chrono::seconds(5)};
  std::uint64_t fsid = 0xCAF5;  // fattr3 fsid of every entry
};

class Nfs3Program final : public RpcProgram {
 public:
  Nfs3Program(core::Gateway* gateway, const Exports* exports, Nfs3Options options = {});
  ~Nfs3Program() override;

  std::uint32_t program() const override { return kNfsProgram; }
  std::uint32_t min_version() const override { return kNfsVersion3; }
  std::uint32_t max_version() const override { return kNfsVersion3; }
  AcceptStat Dispatch(const RpcCall& call, XdrDecoder& args, XdrEncoder& reply) override;
  // False for the procedures that only read (GETATTR, LOOKUP, ACCESS, READLINK, READ,
  // READDIR(PLUS), FSSTAT, FSINFO, PATHCONF, NULL) and for UNSTABLE WRITEs; true for stable
  // WRITEs, COMMIT and namespace changes (they fsync).
  bool WaitsForDisk(const RpcCall& call, ByteView args) const override;

  // The current write verifier (WRITE and COMMIT replies carry it).
  std::array<std::uint8_t, 8> write_verifier() const;
  std::size_t open_files() const { return open_.size(); }

 private:
  struct Request;
  class Procs;

  void NewVerifier();
  // Runs the procedure of `r` (Dispatch is the catch-all around it).
  AcceptStat Serve(Request& r, Procs& procs);

  core::Gateway* const gateway_;
  const Exports* const exports_;
  const Nfs3Options options_;
  Nfs3OpenFiles open_;

  mutable std::mutex verf_mu_;
  std::array<std::uint8_t, 8> verifier_{};  // guarded by verf_mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread idle_thread_;
};

}  // namespace cafs::frontend::nfs
