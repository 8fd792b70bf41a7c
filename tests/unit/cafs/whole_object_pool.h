// WholeObjectPool: a directory pool (PosixPool) with the capabilities of a whole-object store
// (the s3 kind's flags, docs/pools.md "Capabilities": no random_write, sparse, discard or
// atomic_rename), for tests of what callers do with such a pool without a server.
//
// With `append_only`, its files also hold callers to those flags: WriteAt only at the file's
// end, Truncate only to its size, PunchHole and Allocate NotSupported (EOPNOTSUPP), so a
// caller that writes at offsets of an existing file or leaves holes fails the test instead of
// working only because a directory forgives it. Without it, every call is the PosixPool's.
// Threading: as PosixPool. Test-only.
#pragma once

#include <memory>
#include <string>

#include "env/file_wrapper.h"
#include "pool/posix_pool.h"

namespace cafs::core {

class WholeObjectPool final : public pool::Pool {
 public:
  WholeObjectPool(const std::string& name, const std::string& root, bool append_only = false)
      : base_(name, root, env::Env::Default()), append_only_(append_only) {}
  const std::string& name() const override { return base_.name(); }
  std::string location() const override { return base_.location(); }
  std::string_view kind() const override { return "whole-object"; }
  pool::PoolCapabilities capabilities() const override {
    return {.random_write = false, .sparse = false, .discard = false, .atomic_rename = false};
  }
  Result<std::unique_ptr<env::File>> OpenFile(std::string_view p,
                                              const env::OpenOptions& o) override {
    auto file = base_.OpenFile(p, o);
    if (!file.ok() || !append_only_) return file;
    return std::unique_ptr<env::File>(std::make_unique<AppendOnlyFile>(std::move(*file)));
  }
  Status RemoveFile(std::string_view p) override { return base_.RemoveFile(p); }
  Status Rename(std::string_view from, std::string_view to) override {
    return base_.Rename(from, to);
  }
  Status CreateDirs(std::string_view p) override { return base_.CreateDirs(p); }
  Status RemoveDir(std::string_view p) override { return base_.RemoveDir(p); }
  Result<env::FileInfo> Stat(std::string_view p) override { return base_.Stat(p); }
  Result<std::vector<std::string>> ListDir(std::string_view p) override { return base_.ListDir(p); }
  Status SyncDir(std::string_view p) override { return base_.SyncDir(p); }
  Result<pool::PoolSpace> Space() override { return base_.Space(); }
  Status CheckAvailable() override { return base_.CheckAvailable(); }

 private:
  class AppendOnlyFile final : public env::FileWrapper {
   public:
    using env::FileWrapper::FileWrapper;
    Status WriteAt(std::uint64_t offset, ByteView data) override {
      CAFS_ASSIGN_OR_RETURN(std::uint64_t size, inner_->Size());
      if (offset != size) return Refused("a write at " + std::to_string(offset), size);
      return inner_->WriteAt(offset, data);
    }
    Status Truncate(std::uint64_t to) override {
      CAFS_ASSIGN_OR_RETURN(std::uint64_t size, inner_->Size());
      if (to != size) return Refused("a truncate to " + std::to_string(to), size);
      return Status::OK();
    }
    Status PunchHole(std::uint64_t, std::uint64_t) override { return Refused("a hole", 0); }
    Status Allocate(std::uint64_t, std::uint64_t) override { return Refused("an allocate", 0); }

   private:
    Status Refused(const std::string& what, std::uint64_t size) const {
      return Status::NotSupported(path() + ": " + what + " of a file of " + std::to_string(size) +
                                  " bytes in an append-only pool");
    }
  };

  pool::PosixPool base_;
  const bool append_only_;
};

}  // namespace cafs::core
