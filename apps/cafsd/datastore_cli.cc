#include "datastore_cli.h"

#include <cstdio>
#include <filesystem>

#include "cafs/backing_store_lock.h"
#include "cafs/datastore_move.h"

namespace cafs::cafsd {
namespace {

// The store lock, or exit 2 with the reason.
bool Lock(const char* verb, const std::string& backing_store,
          std::unique_ptr<core::BackingStoreLock>* lock) {
  auto acquired = core::BackingStoreLock::Acquire(backing_store);
  if (!acquired.ok()) {
    std::fprintf(stderr, "cafsd datastore %s: %s\n", verb, acquired.status().ToString().c_str());
    return false;
  }
  *lock = std::move(*acquired);
  return true;
}

void Summary(const char* done, const core::MoveRecord& m, const std::string& record_path) {
  std::printf("%s\t%s\t%s\t%zu entries\t%zu pool files\t%s\n", done, m.vmset.c_str(),
              m.move_id.ToString().c_str(), m.entries.size(), m.files.size(), record_path.c_str());
}

}  // namespace

int RunDatastoreExport(const std::string& backing_store, const std::string& vmset,
                       const std::string& record_path) {
  std::unique_ptr<core::BackingStoreLock> lock;
  if (!Lock("export", backing_store, &lock)) return 2;
  const std::string path = std::filesystem::absolute(record_path).string();
  auto m = core::ExportDatastore(backing_store, vmset, path);
  if (!m.ok()) {
    std::fprintf(stderr, "cafsd datastore export: %s\n", m.status().ToString().c_str());
    return 1;
  }
  Summary("exported", *m, path);
  return 0;
}

int RunDatastoreImport(const std::string& backing_store, const std::string& record_path,
                       pool::PoolMapper& pools) {
  std::unique_ptr<core::BackingStoreLock> lock;
  if (!Lock("import", backing_store, &lock)) return 2;
  auto m = core::ImportDatastore(backing_store, record_path, pools);
  if (!m.ok()) {
    std::fprintf(stderr, "cafsd datastore import: %s\n", m.status().ToString().c_str());
    return 1;
  }
  Summary("imported", *m, record_path);
  return 0;
}

}  // namespace cafs::cafsd
