#include "cafs/backing_store_id.h"

#include <string>
#include <vector>

#include "util/bytes.h"

namespace cafs::core {
namespace {

constexpr std::string_view kMagic = "CAFS-ID 1\n";
constexpr std::size_t kMaxSize = 256;

std::string Encode(const Uuid& id) { return std::string(kMagic) + id.ToString() + "\n"; }

}  // namespace

Result<std::optional<Uuid>> ReadBackingStoreId(env::Dir& root) {
  auto file = root.OpenFile(std::string(kBackingStoreIdName), env::OpenOptions::ReadOnly());
  if (!file.ok()) {
    if (file.status().IsNotFound()) return std::optional<Uuid>();
    return file.status().WithContext("backing store id");
  }
  std::vector<std::uint8_t> buf(kMaxSize);
  CAFS_ASSIGN_OR_RETURN(std::size_t n, (*file)->ReadAt(0, MutableByteView(buf)));
  std::string_view text(reinterpret_cast<const char*>(buf.data()), n);
  if (text.substr(0, kMagic.size()) != kMagic || text.empty() || text.back() != '\n') {
    return Status::Corruption(std::string(kBackingStoreIdName) + ": bad content");
  }
  text.remove_prefix(kMagic.size());
  text.remove_suffix(1);
  auto id = Uuid::Parse(text);
  if (!id.ok()) return id.status().WithContext(std::string(kBackingStoreIdName));
  if (id->IsNil()) return Status::Corruption(std::string(kBackingStoreIdName) + ": nil id");
  return std::optional<Uuid>(*id);
}

Result<Uuid> LoadOrMintBackingStoreId(env::Dir& root) {
  CAFS_ASSIGN_OR_RETURN(std::optional<Uuid> have, ReadBackingStoreId(root));
  if (have) return *have;
  const Uuid id = Uuid::Random();
  const std::string temp = std::string(kBackingStoreIdName) + "." + Uuid::Random().ToString();
  CAFS_ASSIGN_OR_RETURN(auto file, root.OpenFile(temp, env::OpenOptions::CreateNew()));
  const std::string data = Encode(id);
  Status s = file->WriteAt(0, AsBytes(data));
  if (s.ok()) s = file->Sync();
  file.reset();
  if (s.ok()) {
    s = root.Rename(temp, root, std::string(kBackingStoreIdName), env::RenameMode::kNoReplace);
    if (s.code() == Status::Code::kAlreadyExists) {  // another opener minted first: theirs
      (void)root.Unlink(temp);
      CAFS_ASSIGN_OR_RETURN(std::optional<Uuid> theirs, ReadBackingStoreId(root));
      if (theirs) return *theirs;
      return Status::Corruption(std::string(kBackingStoreIdName) + " vanished");
    }
  }
  if (s.ok()) s = root.Sync();
  if (!s.ok()) {
    (void)root.Unlink(temp);
    return s.WithContext("minting the backing store id");
  }
  return id;
}

}  // namespace cafs::core
