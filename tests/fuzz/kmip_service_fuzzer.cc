// Fuzzes kpsd's KMIP operations (KmipService::Handle, src/kps/kmip_service.h) on a real kpsd
// core: master key, SQLite store and keyring in a temporary directory, with a key-admin that
// holds an export right, an auditor, a gateway approved for VM set `kmip` and one key.
// Input: byte 0 picks the caller (key-admin, auditor, gateway, an unenrolled certificate),
// the rest is the request message. Checks, besides "no crash, no leak, no UB" (an exception
// escaping Handle is a crash): every reply decodes as a Response Message with one batch item
// per request item (or one Invalid Message item), and the audit chain verifies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include "kmip/message.h"
#include "kps/catalog.h"
#include "kps/kmip_service.h"
#include "kps/master_key.h"
#include "unit/kps/test_dir.h"

namespace {

using namespace cafs;
using namespace cafs::kps;

struct World {
  testing::TempDir dir;
  std::optional<MasterKey> master;
  std::unique_ptr<Store> store;
  std::optional<Keyring> keyring;
  std::optional<KmipService> service;
  PeerIdentity peers[4];
  std::size_t runs = 0;

  World() {
    master.emplace(MasterKey::Create(dir.path(), std::nullopt).value());
    store = OpenStore("", dir.path()).value();
    keyring.emplace(*master, *store, SystemClock::Instance());
    service.emplace(*keyring, *store, SystemClock::Instance());
    AdminRecord kate{"kate", Role::kKeyAdmin, {}, "01", "", false, 0, {"kmip"}};
    AdminRecord audrey{"audrey", Role::kAuditor, {}, "02", "", false, 0, {}};
    GatewayRecord gw{"gw1", "03", "", {"kmip"}, 0, false, 0, {"kmip"}, "admin"};
    if (!store
             ->InTransaction([&](StoreTxn& txn) -> Status {
               CAFS_RETURN_IF_ERROR(PutRecord(txn, kate));
               CAFS_RETURN_IF_ERROR(PutRecord(txn, audrey));
               return PutRecord(txn, gw);
             })
             .ok()) {
      std::abort();
    }
    // A key the Get / GetAttributes / Activate ... seeds name.
    if (!keyring->CreateKey("kmip", "aes-256", false, "0b7b1b2c-6f35-4f8e-9a7e-5d3c2b1a0f9e", "k")
             .ok()) {
      std::abort();
    }
    peers[0] = {"kate", "key-admin", "01", ""};
    peers[1] = {"audrey", "auditor", "02", ""};
    peers[2] = {"gw1", "gateway", "03", ""};
    peers[3] = {"mallory", "key-admin", "99", ""};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();  // lives for the process (the fuzzer exits, not returns)
  if (size == 0) return 0;
  const PeerIdentity& peer = world->peers[data[0] % 4];
  const ByteView request(data + 1, size - 1);
  KmipService::Reply reply = world->service->Handle(request, peer);
  auto item = kmip::Decode(reply.message);
  if (!item.ok()) std::abort();
  auto resp = kmip::ParseResponse(*item);
  if (!resp.ok() || resp->items.empty()) std::abort();
  if (!reply.close) {
    auto decoded = kmip::Decode(request, world->service->options().limits);
    auto req = decoded.ok() ? kmip::ParseRequest(*decoded) : decoded.status();
    if (!req.ok() || req->items.size() != resp->items.size()) std::abort();
  }
  if (++world->runs % 256 == 0) {
    Status chain = world->store->InTransaction([](StoreTxn& txn) { return VerifyAuditChain(txn); });
    if (!chain.ok()) std::abort();
  }
  return 0;
}
