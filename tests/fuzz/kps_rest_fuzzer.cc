// Fuzzes kpsd's REST request handling (src/kps/rest_api.h): routing, the checks before it
// (UTF-8, JSON depth) and the JSON decoding of every endpoint's body, against a real keyring
// and SQLite store (in memory), as one of eight callers.
//
// Input: byte 0 picks the caller (security-admin, tenant-admin of my_vmset, key-admin,
// storage-admin, auditor, gateway of my_vmset, a certificate nobody enrolled, a storage-admin
// scoped to other_vmset), byte 1 the
// method (GET, POST, PUT, DELETE, or the next bytes up to ' '), then "PATH[?k=v&...]\n" and
// the body. Checks, besides "no crash, no leak, no UB, no exception out of Handle": the
// answer serializes (its text is UTF-8), and the store still runs a transaction afterwards
// (issue 20 class 1: a refused request left a transaction open).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "kps/catalog.h"
#include "kps/rekey_triggers.h"
#include "kps/rest_api.h"
#include "util/clock.h"

namespace {

using namespace cafs;
using namespace cafs::kps;

constexpr const char* kFuzzKey = "062b9056-bf64-11df-8d3e-000c29abeb4d";

struct Server {
  std::string dir;
  std::optional<MasterKey> master;
  std::optional<CertificateAuthority> ca;
  std::unique_ptr<Store> store;
  std::optional<Keyring> keyring;
  std::optional<RestApi> api;

  Server() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kps-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    auto mk = MasterKey::Create(dir, std::nullopt);
    auto c = CertificateAuthority::Create(dir, {});
    auto st = OpenStore("sqlite::memory:", dir);
    if (!mk.ok() || !c.ok() || !st.ok()) std::abort();
    master.emplace(std::move(mk).value());
    ca.emplace(std::move(c).value());
    store = std::move(st).value();
    keyring.emplace(*master, *store, SystemClock::Instance());
    api.emplace(*keyring, *store, *ca, SystemClock::Instance());
    std::vector<AdminRecord> admins = {
        {"sec", Role::kSecurityAdmin, {}, "11", "", false, 0},
        {"ten", Role::kTenantAdmin, {"my_vmset"}, "12", "", false, 0},
        {"keys", Role::kKeyAdmin, {}, "14", "", false, 0},
        {"stor", Role::kStorageAdmin, {}, "15", "", false, 0},
        {"aud", Role::kAuditor, {}, "16", "", false, 0},
        {"sso", Role::kStorageAdmin, {"other_vmset"}, "18", "", false, 0}};
    GatewayRecord gw{"gw", "17", "", {"my_vmset"}, 0, false, 0};
    gw.approved = {"my_vmset"};  // approved scope (rbac.h "two people"): fetches and pushes run
    VmSetRecord v{"my_vmset", "/nfs", 1, {}, "", 0};
    Status s = store->InTransaction([&](StoreTxn& txn) -> Status {
      for (auto& a : admins) CAFS_RETURN_IF_ERROR(PutRecord(txn, a));
      CAFS_RETURN_IF_ERROR(PutRecord(txn, v));
      return PutRecord(txn, gw);
    });
    if (!s.ok()) std::abort();
    // A compromised key version, so the rekey request endpoints have a request to work on
    // (corpus: rekey_*; kps/rekey_triggers.h).
    auto key = keyring->CreateKey("my_vmset", "aes-256-xts", true, kFuzzKey);
    if (!key.ok() || !keyring->SetState(kFuzzKey, 1, KeyState::kCompromised).ok() ||
        !EvaluateRekeyTriggers(*keyring, *store, SystemClock::Instance()).ok()) {
      std::abort();
    }
  }
  ~Server() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const PeerIdentity kPeers[] = {
    {"sec", "security-admin", "11", ""},    {"ten", "tenant-admin", "12", ""},
    {"keys", "key-admin", "14", ""},        {"stor", "storage-admin", "15", ""},
    {"aud", "auditor", "16", ""},           {"gw", "gateway", "17", ""},
    {"nobody", "security-admin", "99", ""}, {"sso", "storage-admin", "18", ""}};
const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Server server;
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ApiRequest req;
  req.peer = kPeers[static_cast<std::uint8_t>(in[0]) % std::size(kPeers)];
  const auto m = static_cast<std::uint8_t>(in[1]);
  in.remove_prefix(2);
  if (m < 4 * 60) {
    req.method = kMethods[m % 4];
  } else {
    const auto sp = in.find(' ');
    req.method = std::string(in.substr(0, sp));
    in.remove_prefix(sp == std::string_view::npos ? in.size() : sp + 1);
  }
  const auto nl = in.find('\n');
  std::string_view target = in.substr(0, nl);
  req.body = nl == std::string_view::npos ? std::string() : std::string(in.substr(nl + 1));
  const auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      const auto eq = kv.find('=');
      req.query[std::string(kv.substr(0, eq))] =
          eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    }
  }
  ApiResponse r = server.api->Handle(req);
  if (r.status < 200 || r.status > 599) std::abort();
  (void)r.body.dump();  // throws (and so fails) on text that is not UTF-8
  if (!server.store->InTransaction([](StoreTxn&) { return Status::OK(); }).ok()) std::abort();
  return 0;
}
