// cafsctl: the admin CLI of the CAFS key & policy server (docs/cafsctl.md).
//
//   cafsctl [--server https://HOST:PORT] [--cert BUNDLE] [--json] GROUP COMMAND ...
//   groups: vmset policy key kek server pool gateway admin audit usage inventory rekey
//
// Defaults: --server from CAFS_KPS_URL (else https://127.0.0.1:5697), --cert from
// CAFS_KPS_CERT. Output: human tables, or the server's JSON with --json.
// Exit codes: 0 ok, 1 refused by kpsd or failed (says why and what to do), 2 usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "audit/audit_log.h"
#include "kps/catalog.h"
#include "kps/client/kps_client.h"
#include "rekey_status.h"
#include "replica_commands.h"
#include "table.h"
#include "util/utc_time.h"

namespace {

using cafs::Result;
using cafs::Status;
using cafs::cafsctl::Table;
using cafs::kps::client::KpsClient;
using cafs::kps::client::Reply;
using cafs::kps::client::UrlEncode;
using nlohmann::json;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

struct Globals {
  std::string server;
  std::string cert;
  bool json = false;
};

// What a parsed command runs: remote commands get a connected client.
struct Command {
  std::function<int(KpsClient&)> remote;
  std::function<int()> local;
};

int Fail(const std::string& message) {
  std::cerr << "cafsctl: " << message << "\n";
  return kFailed;
}

// Explains a non-2xx reply: what kpsd said and what to do about it.
int Refused(const Reply& r) {
  const std::string why = r.Reason();
  switch (r.status) {
    case 403:
      return Fail("kpsd refused: " + why +
                  " (the refusal is audited; ask a security-admin for a bundle with the right "
                  "role or scope)");
    case 404:
      return Fail("not found: " + why);
    case 409:
      return Fail("conflict: " + why +
                  (why.find("version conflict") != std::string::npos
                       ? " (someone changed it since you read it: run the command again)"
                       : ""));
    case 400:
      return Fail("kpsd rejected the request: " + why);
    case 413:
      return Fail("kpsd rejected the request: " + why + " (bodies are limited to 1 MiB)");
    case 507:
      return Fail("kpsd's data directory is full: " + why +
                  " (nothing was stored; free space there, then run the command again)");
    case 503:
      return Fail("kpsd's store is unavailable: " + why + " (check kpsd's log and its store)");
    default:
      return Fail("kpsd answered HTTP " + std::to_string(r.status) + ": " + why);
  }
}

// Calls kpsd; on success prints JSON (with --json) or runs `human`.
int CallAndShow(KpsClient& c, const Globals& g, const std::string& method, const std::string& path,
                const json& body, const std::function<void(const json&)>& human) {
  auto r = c.Call(method, path, body);
  if (!r.ok()) return Fail(r.status().message());
  if (!r->ok()) return Refused(*r);
  if (g.json) {
    std::cout << r->body.dump(2) << "\n";
  } else {
    human(r->body);
  }
  return kOk;
}

std::string Str(const json& j, const char* field) {
  if (!j.is_object() || !j.contains(field)) return {};
  const json& v = j[field];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump();
}

std::string Join(const json& arr, const char* sep = ",") {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (!out.empty()) out += sep;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::string TimeText(std::int64_t t) { return t == 0 ? "-" : cafs::UtcIsoText(t); }

std::int64_t Int(const json& j, const char* field) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_number()) return 0;
  return j[field].get<std::int64_t>();
}

// Unix seconds, or an ISO-8601 UTC time "2024-05-01T09:00:00Z" / "2024-05-01".
Result<std::int64_t> ParseTime(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) {
    return static_cast<std::int64_t>(std::stoll(s));
  }
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) {
    tm = {};
    end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  }
  if (end == nullptr || (*end != '\0' && std::string(end) != "Z")) {
    return Status::InvalidArgument("--since wants Unix seconds or YYYY-MM-DD[THH:MM:SSZ], got '" +
                                   s + "'");
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a secret bundle: a new file, mode 0600 (never overwrites).
Status WriteBundle(const std::string& path, const std::string& pem) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "cannot create " + path);
  std::size_t done = 0;
  while (done < pem.size()) {
    ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::FromErrno(errno, "cannot write " + path);
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Status::FromErrno(errno, "cannot write " + path);
    ::unlink(path.c_str());
    return s;
  }
  return Status::OK();
}

// ---- human renderings ---------------------------------------------------------------------

void VmSetRows(Table& t, const json& v) {
  t.AddRow({Str(v, "name"), Str(v, "mount_point"), Str(v, "position"), Join(v["servers"]),
            Str(v, "policy_id"), Str(v, "version"), Str(v, "guid")});
}
Table VmSetTable() {
  return Table({"name", "mount", "position", "servers", "policy", "version", "guid"});
}

void PolicyRows(Table& t, const json& p) {
  t.AddRow({Str(p, "id"), Str(p, "name"), Str(p, "vmset"), Str(p, "version")});
}
Table PolicyTable() { return Table({"id", "name", "vmset", "version"}); }

std::string KeyVersions(const json& k) {
  std::string out;
  if (!k.contains("versions")) return out;
  for (const auto& v : k["versions"]) {
    if (!out.empty()) out += " ";
    out += Str(v, "number") + ":" + Str(v, "state");
  }
  return out;
}
void KeyRows(Table& t, const json& k) {
  t.AddRow({Str(k, "id"), Str(k, "vmset"), Str(k, "cipher"), KeyVersions(k)});
}
Table KeyTable() { return Table({"id", "vmset", "cipher", "versions"}); }

void ServerRows(Table& t, const json& s) {
  t.AddRow({Str(s, "id"), Str(s, "name"), Join(s["addresses"]), Str(s, "version")});
}
Table ServerTable() { return Table({"id", "name", "addresses", "version"}); }

void PoolRows(Table& t, const json& p) {
  t.AddRow({Str(p, "name"), Str(p, "guid"), Join(p["vmsets"]), Str(p, "version")});
}
Table PoolTable() { return Table({"name", "guid", "vmsets (allowed)", "version"}); }

void GatewayRows(Table& t, const json& g) {
  const json none = json::array();
  t.AddRow({Str(g, "name"), Join(g["vmsets"]), Join(g.value("approved", none)),
            TimeText(Int(g, "enrolled")), g.value("revoked", false) ? "yes" : "no",
            Str(g, "cert_serial")});
}
Table GatewayTable() {
  return Table({"name", "vmsets", "approved", "enrolled", "revoked", "serial"});
}

void AdminRows(Table& t, const json& a) {
  const json none = json::array();
  t.AddRow({Str(a, "name"), Str(a, "role"), Join(a["vmsets"]), Join(a.value("exports", none)),
            a.value("revoked", false) ? "yes" : "no", Str(a, "cert_serial")});
}
Table AdminTable() { return Table({"name", "role", "vmsets", "exports", "revoked", "serial"}); }

// A gateway's record as pushed (docs/audit.md), or null for kpsd's own records.
const json& Access(const json& r) {
  static const json kNone;
  return r.is_object() && r.contains("access") && r["access"].is_object() ? r["access"] : kNone;
}

// A gateway record's caller: the server id(s), and the NFS client's address when it has one
// ("755083456 at 192.0.2.10"; docs/audit.md `client`).
std::string CallerText(const json& a) {
  const std::string client = Str(a, "client");
  if (client.empty()) return Str(a, "server");
  const std::string server = Str(a, "server");
  return server.empty() ? client : server + " at " + client;
}

void AuditRows(Table& t, const json& r) {
  std::string reason = Str(r, "reason");
  if (const json& a = Access(r); !a.is_null()) {
    const std::string what = "server " + CallerText(a) + ", " + Str(a, "bytes") + " bytes in " +
                             Str(a, "count") + " ops";
    reason = reason.empty() ? what : what + "; " + reason;
  }
  t.AddRow({Str(r, "seq"), TimeText(Int(r, "time")), Str(r, "actor"), Str(r, "role"),
            Str(r, "action"), Str(r, "object"), Str(r, "result"), reason});
}
Table AuditTable() {
  return Table({"seq", "time", "actor", "role", "action", "object", "result", "reason"});
}

// Gateway records with their own fields (cafsctl audit list --access).
void AccessRows(Table& t, const json& r) {
  const json& a = Access(r);
  t.AddRow({Str(r, "seq"), TimeText(Int(a, "time_ms") / 1000), Str(r, "actor"), CallerText(a),
            Str(a, "vmset"), Str(a, "vm"), Str(a, "file"), Str(a, "op"), Str(a, "result"),
            Str(a, "bytes"), Str(a, "count"), Str(a, "reason")});
}
Table AccessTable() {
  return Table({"seq", "time", "gateway", "server", "vmset", "vm", "file", "op", "result", "bytes",
                "count", "reason"});
}

std::string SizeText(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

// `cafsctl usage`: each gateway's last snapshot (GET /v1/usage).
void ShowUsage(const json& body) {
  Table vmsets({"gateway", "vmset", "pool", "bytes", "size", "as of"});
  Table pools({"gateway", "pool", "total", "free", "used", "threshold", "state"});
  for (const auto& s : body) {
    const std::string asof = TimeText(Int(s, "time_ms") / 1000);
    for (const auto& v : s.value("vmsets", json::array())) {
      const auto bytes = v.value("bytes", std::uint64_t{0});
      vmsets.AddRow({Str(s, "gateway"), Str(v, "vmset"), Str(v, "pool"), std::to_string(bytes),
                     SizeText(bytes), asof});
    }
    for (const auto& p : s.value("pools", json::array())) {
      const double used = p.value("used_percent", 0.0);
      const auto threshold = p.value("threshold_percent", 0u);
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.1f%%", used);
      const std::string state = !p.value("available", true) ? "UNAVAILABLE: " + Str(p, "error")
                                : used >= static_cast<double>(threshold) ? "OVER THRESHOLD"
                                                                         : "ok";
      pools.AddRow({Str(s, "gateway"), Str(p, "pool"),
                    SizeText(p.value("total_bytes", std::uint64_t{0})),
                    SizeText(p.value("free_bytes", std::uint64_t{0})), pct,
                    std::to_string(threshold) + "%", state});
    }
  }
  if (body.empty()) {
    std::cout << "no usage snapshot yet (a gateway sends one every [kps] usage_interval_s)\n";
    return;
  }
  std::cout << "Bytes stored per VM set per pool:\n";
  vmsets.Print(std::cout);
  std::cout << "\nPools:\n";
  pools.Print(std::cout);
}

// One object as a table of one row; a list as rows.
// A destroy's answer: a forced destroy's "warning" (what became unreadable) goes to stderr
// first, then `human` shows the record.
std::function<void(const json&)> WarnThen(std::function<void(const json&)> human) {
  return [human = std::move(human)](const json& j) {
    if (j.is_object() && j.contains("warning")) {
      std::cerr << "cafsctl: WARNING: " << Str(j, "warning") << "\n";
    }
    human(j);
  };
}

void ShowKek(const json& k) {
  Table t({"version", "state", "created", "changed"});
  for (const auto& v : k.value("versions", json::array())) {
    t.AddRow({Str(v, "number"), Str(v, "state"), TimeText(Int(v, "created")),
              TimeText(Int(v, "changed"))});
  }
  std::cout << "KEK of VM set " << Str(k, "vmset") << "  cipher " << Str(k, "cipher")
            << "  rotated " << TimeText(Int(k, "rotated")) << "\n";
  t.Print(std::cout);
}

void ShowInventory(const json& body) {
  Table keys({"gateway", "vmset", "key", "version", "files", "bytes", "as of"});
  Table files({"gateway", "key", "version", "file guid", "path"});
  for (const auto& s : body) {
    const std::string asof = TimeText(Int(s, "time_ms") / 1000);
    for (const auto& v : s.value("vmsets", json::array())) {
      for (const auto& k : v.value("keys", json::array())) {
        keys.AddRow({Str(s, "gateway"), Str(v, "vmset"), Str(k, "id"), Str(k, "version"),
                     Str(k, "files"), Str(k, "bytes"), asof});
        for (const auto& f : k.value("listed", json::array())) {
          files.AddRow(
              {Str(s, "gateway"), Str(k, "id"), Str(k, "version"), Str(f, "guid"), Str(f, "path")});
        }
      }
    }
  }
  if (body.empty()) {
    std::cout << "no inventory yet (a gateway sends one every [kps] inventory_interval_s and "
                 "after each key change it sees)\n";
    return;
  }
  std::cout << "Key versions in use:\n";
  keys.Print(std::cout);
  std::cout << "\nFiles per key version:\n";
  files.Print(std::cout);
}

std::function<void(const json&)> Show(Table (*make)(), void (*rows)(Table&, const json&)) {
  return [make, rows](const json& body) {
    Table t = make();
    if (body.is_array()) {
      for (const auto& x : body) rows(t, x);
    } else {
      rows(t, body);
    }
    t.Print(std::cout);
  };
}

// Reads an object, applies `change` and writes it back with the version read (409 if someone
// changed it in between; the message says to retry).
int ReadModifyWrite(KpsClient& c, const Globals& g, const std::string& path,
                    const std::function<void(json&)>& change,
                    const std::function<void(const json&)>& human) {
  auto cur = c.Call("GET", path);
  if (!cur.ok()) return Fail(cur.status().message());
  if (!cur->ok()) return Refused(*cur);
  json body = cur->body;
  change(body);
  return CallAndShow(c, g, "PUT", path, body, human);
}

// ---- audit chain (kpsd's): fetched through the API and checked here -------------------------

// `vmset` non-empty: the records about that VM set, chosen by kpsd (its rule, audit_scope.h,
// is the only one: this program does not filter by VM set itself).
Result<std::vector<json>> FetchAudit(KpsClient& c, const std::string& vmset = {}) {
  std::vector<json> all;
  std::uint64_t after = 0;
  const std::string about = vmset.empty() ? std::string() : "&vmset=" + UrlEncode(vmset);
  for (;;) {
    auto r = c.Call("GET", "/v1/audit?after=" + std::to_string(after) + "&limit=10000" + about);
    if (!r.ok()) return r.status();
    if (!r->ok()) {
      return Status::PermissionDenied(r->status == 403
                                          ? "kpsd refused: " + r->Reason()
                                          : "kpsd answered HTTP " + std::to_string(r->status) +
                                                ": " + r->Reason());
    }
    if (!r->body.is_array() || r->body.empty()) return all;
    for (auto& rec : r->body) {
      after = rec.value("seq", after);
      all.push_back(std::move(rec));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Globals g;
  Command cmd;
  CLI::App app{
      "cafsctl: admin CLI of the CAFS key & policy server (kpsd). See docs/cafsctl.md.\n"
      "Exit codes: 0 ok, 1 refused or failed, 2 usage."};
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--server", g.server,
                 "kpsd URL https://HOST:PORT (default https://127.0.0.1:5697)")
      ->envname("CAFS_KPS_URL");
  app.add_option("--cert", g.cert, "certificate bundle (PEM: client cert, key, kpsd CA)")
      ->envname("CAFS_KPS_CERT");
  app.add_flag("--json", g.json, "print the server's JSON instead of tables");

  // Every leaf command sets `cmd` from its callback.
  auto remote = [&](CLI::App* sub, std::function<int(KpsClient&)> fn) {
    sub->callback([&cmd, fn] { cmd.remote = fn; });
  };

  // ---- vmset -------------------------------------------------------------------------------
  auto* vmset = app.add_subcommand("vmset", "VM sets (tenant-admin of the set, security-admin)");
  vmset->require_subcommand(1);
  struct VmSetArgs {
    std::string name, mount, policy, xml_file;
    int position = 1;
    std::vector<std::string> servers;
  };
  static VmSetArgs va;
  {
    auto* c = vmset->add_subcommand("create", "create a VM set (or from the seed's <vmset> XML)");
    c->add_option("name", va.name, "VM set name, e.g. my_vmset");
    c->add_option("--mount", va.mount, "mount point, e.g. /nfs");
    c->add_option("--position", va.position, "path component of the VM set under the mount");
    c->add_option("--server", va.servers, "virtualization server id (repeatable)");
    c->add_option("--policy", va.policy, "policy descriptor GUID");
    c->add_option("--xml", va.xml_file, "a <vmset> XML file (the seed's form) instead of flags")
        ->check(CLI::ExistingFile);
    remote(c, [&g](KpsClient& k) {
      json body = json::object();
      if (!va.xml_file.empty()) {
        auto xml = ReadText(va.xml_file);
        if (!xml.ok()) return Fail(xml.status().message());
        body["xml"] = *xml;
        if (!va.name.empty()) body["name"] = va.name;
      } else {
        if (va.name.empty()) {
          std::cerr << "cafsctl: vmset create needs a NAME or --xml FILE\n";
          return kUsage;
        }
        body = {{"name", va.name},
                {"mount_point", va.mount},
                {"position", va.position},
                {"servers", va.servers}};
        if (!va.policy.empty()) body["policy_id"] = va.policy;
      }
      return CallAndShow(k, g, "POST", "/v1/vmsets", body, Show(VmSetTable, VmSetRows));
    });
  }
  remote(vmset->add_subcommand("list", "list VM sets (tenant admins see their own)"),
         [&g](KpsClient& k) {
           return CallAndShow(k, g, "GET", "/v1/vmsets", nullptr, Show(VmSetTable, VmSetRows));
         });
  {
    auto* c = vmset->add_subcommand("show", "show one VM set");
    c->add_option("name", va.name)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "GET", "/v1/vmsets/" + UrlEncode(va.name), nullptr,
                         Show(VmSetTable, VmSetRows));
    });
  }
  {
    auto* c = vmset->add_subcommand("update", "change fields of a VM set (read, change, write)");
    c->add_option("name", va.name)->required();
    auto* mount = c->add_option("--mount", va.mount, "new mount point");
    auto* pos = c->add_option("--position", va.position, "new position");
    auto* srv = c->add_option("--server", va.servers, "new server list (repeatable)");
    auto* pol = c->add_option("--policy", va.policy, "policy descriptor GUID ('' to detach)");
    remote(c, [&g, mount, pos, srv, pol](KpsClient& k) {
      return ReadModifyWrite(
          k, g, "/v1/vmsets/" + UrlEncode(va.name),
          [&](json& v) {
            v.erase("name");
            if (*mount) v["mount_point"] = va.mount;
            if (*pos) v["position"] = va.position;
            if (*srv) v["servers"] = va.servers;
            if (*pol) v["policy_id"] = va.policy;
          },
          Show(VmSetTable, VmSetRows));
    });
  }
  {
    // The VM set keeps its GUID, keys, KEK and policies (docs/kps.md "VM set GUIDs").
    static std::string new_name;
    auto* c = vmset->add_subcommand("rename", "rename a VM set (keeps its GUID and keys)");
    c->add_option("name", va.name)->required();
    c->add_option("new_name", new_name)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/vmsets/" + UrlEncode(va.name) + "/rename",
                         json{{"name", new_name}}, Show(VmSetTable, VmSetRows));
    });
  }
  {
    auto* c = vmset->add_subcommand("delete", "delete a VM set");
    c->add_option("name", va.name)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "DELETE", "/v1/vmsets/" + UrlEncode(va.name), nullptr,
                         [](const json&) { std::cout << "deleted VM set " << va.name << "\n"; });
    });
  }

  // ---- policy ------------------------------------------------------------------------------
  auto* policy = app.add_subcommand("policy", "policy descriptors (tenant-admin of the VM set)");
  policy->require_subcommand(1);
  static std::string pfile, pid, pvmset, pname;
  {
    auto* c = policy->add_subcommand(
        "upload",
        "store a policy descriptor XML (<vobj-list> or <policy-descriptor>); replaces "
        "the descriptor of that --id if it exists");
    c->add_option("file", pfile, "the XML file")->required()->check(CLI::ExistingFile);
    c->add_option("--vmset", pvmset, "VM set it governs (default: the vmset= attribute)");
    c->add_option("--id", pid, "descriptor GUID (default: the guid= attribute, else random)");
    c->add_option("--name", pname, "a display name");
    remote(c, [&g](KpsClient& k) {
      auto xml = ReadText(pfile);
      if (!xml.ok()) return Fail(xml.status().message());
      json body = {{"xml", *xml}};
      if (!pvmset.empty()) body["vmset"] = pvmset;
      if (!pname.empty()) body["name"] = pname;
      auto show = [](const json& p) {
        std::cout << "policy " << Str(p, "id") << " stored for VM set " << Str(p, "vmset")
                  << " (version " << Str(p, "version") << ")\n";
      };
      if (!pid.empty()) {
        body["id"] = pid;
        auto cur = k.Call("GET", "/v1/policies/" + UrlEncode(pid));
        if (!cur.ok()) return Fail(cur.status().message());
        if (cur->ok()) {  // replace: PUT with the version read
          body.erase("id");
          body["version"] = cur->body.value("version", 0);
          if (!body.contains("vmset")) body["vmset"] = cur->body.value("vmset", "");
          if (!body.contains("name")) body["name"] = cur->body.value("name", "");
          return CallAndShow(k, g, "PUT", "/v1/policies/" + UrlEncode(pid), body, show);
        }
        if (cur->status != 404) return Refused(*cur);
      }
      return CallAndShow(k, g, "POST", "/v1/policies", body, show);
    });
  }
  remote(policy->add_subcommand("list", "list policy descriptors"), [&g](KpsClient& k) {
    return CallAndShow(k, g, "GET", "/v1/policies", nullptr, Show(PolicyTable, PolicyRows));
  });
  {
    auto* c = policy->add_subcommand("show", "show a policy descriptor with its XML");
    c->add_option("id", pid)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "GET", "/v1/policies/" + UrlEncode(pid), nullptr, [](const json& p) {
        Table t = PolicyTable();
        PolicyRows(t, p);
        t.Print(std::cout);
        std::cout << "\n" << Str(p, "xml") << "\n";
      });
    });
  }
  {
    auto* c = policy->add_subcommand("delete", "delete a policy descriptor");
    c->add_option("id", pid)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "DELETE", "/v1/policies/" + UrlEncode(pid), nullptr,
                         [](const json&) { std::cout << "deleted policy " << pid << "\n"; });
    });
  }

  // ---- key ---------------------------------------------------------------------------------
  auto* key = app.add_subcommand("key", "data keys (key-admin manages; others read metadata)");
  key->require_subcommand(1);
  static std::string kid, kvmset, kcipher = "aes-256-xts", kstate;
  static std::uint32_t kversion = 0;
  static bool kpre = false, kyes = false, kforce = false;
  {
    auto* c = key->add_subcommand("create", "create a key (version 1) for a VM set");
    c->add_option("--vmset", kvmset, "owning VM set")->required();
    c->add_option("--cipher", kcipher,
                  "aes-256-xts (default), aes-128-xts, aes-256-cbc-essiv, aes-128-cbc-essiv");
    c->add_option("--id", kid, "GUID to use (e.g. the <symkey> a policy names)");
    c->add_flag("--pre-active", kpre, "create it pre-active instead of active");
    remote(c, [&g](KpsClient& k) {
      json body = {{"vmset", kvmset}, {"cipher", kcipher}};
      if (!kid.empty()) body["id"] = kid;
      if (kpre) body["state"] = "pre-active";
      return CallAndShow(k, g, "POST", "/v1/keys", body, Show(KeyTable, KeyRows));
    });
  }
  {
    auto* c = key->add_subcommand("list", "list keys (metadata only, never key bytes)");
    c->add_option("--vmset", kvmset, "only keys of this VM set");
    remote(c, [&g](KpsClient& k) {
      std::string path = "/v1/keys";
      if (!kvmset.empty()) path += "?vmset=" + UrlEncode(kvmset);
      return CallAndShow(k, g, "GET", path, nullptr, Show(KeyTable, KeyRows));
    });
  }
  {
    auto* c = key->add_subcommand("show", "show a key's versions and states");
    c->add_option("id", kid)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(
          k, g, "GET", "/v1/keys/" + UrlEncode(kid), nullptr, [](const json& key_json) {
            Table t({"version", "state", "created", "changed"});
            for (const auto& v : key_json["versions"]) {
              t.AddRow({Str(v, "number"), Str(v, "state"), TimeText(Int(v, "created")),
                        TimeText(Int(v, "changed"))});
            }
            std::cout << "key " << Str(key_json, "id") << "  VM set " << Str(key_json, "vmset")
                      << "  cipher " << Str(key_json, "cipher") << "\n";
            t.Print(std::cout);
          });
    });
  }
  {
    auto* c = key->add_subcommand("rotate", "new active version; the old one is deactivated");
    c->add_option("id", kid)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/keys/" + UrlEncode(kid) + "/rotate", json::object(),
                         Show(KeyTable, KeyRows));
    });
  }
  {
    auto* c = key->add_subcommand("state", "change a version's KMIP state");
    c->add_option("id", kid)->required();
    c->add_option("--version", kversion, "key version number")->required();
    c->add_option("--state", kstate, "pre-active, active, deactivated, compromised")->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(
          k, g, "POST", "/v1/keys/" + UrlEncode(kid) + "/state",
          json{{"version", kversion}, {"state", kstate}}, [](const json& b) {
            Show(KeyTable, KeyRows)(b);
            // Compromised: kpsd queued an urgent deep rekey (rekey_triggers.h).
            for (const auto& id : b.value("rekey_requests", json::array())) {
              std::cout << "urgent rekey requested: " << id.get<std::string>()
                        << " (follow it: cafsctl rekey status " << Str(b, "vmset") << ")\n";
            }
            if (b.contains("rekey_error")) {
              std::cout << "rekey not requested yet: " << Str(b, "rekey_error") << "\n";
            }
          });
    });
  }
  {
    auto* c = key->add_subcommand("destroy", "crypto-shred one version or all (irreversible)");
    c->add_option("id", kid)->required();
    auto* ver = c->add_option("--version", kversion, "only this version (default: all)");
    c->add_flag("--yes", kyes, "confirm: data under the destroyed versions becomes unreadable");
    c->add_flag("--force", kforce,
                "destroy even while files still use the version or a gateway has not reported "
                "its inventory since the last rotation: THOSE FILES BECOME UNREADABLE");
    remote(c, [&g, ver](KpsClient& k) {
      if (!kyes) {
        std::cerr << "cafsctl: destroying a key is irreversible: add --yes to confirm\n";
        return kUsage;
      }
      json body = json::object();
      if (*ver) body["version"] = kversion;
      if (kforce) body["force"] = true;
      return CallAndShow(k, g, "POST", "/v1/keys/" + UrlEncode(kid) + "/destroy", body,
                         WarnThen(Show(KeyTable, KeyRows)));
    });
  }

  // ---- kek ---------------------------------------------------------------------------------
  auto* kek = app.add_subcommand("kek", "VM set key-encryption keys (key-admin: shallow rekey)");
  kek->require_subcommand(1);
  {
    auto* c = kek->add_subcommand("show", "show a VM set's KEK versions (never key bytes)");
    c->add_option("vmset", kvmset)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "GET", "/v1/keks/" + UrlEncode(kvmset), nullptr, ShowKek);
    });
  }
  {
    auto* c = kek->add_subcommand(
        "rotate",
        "new KEK for a VM set; every key version re-wrapped under it in one transaction (pool "
        "files untouched); the old KEK's bytes are erased");
    c->add_option("vmset", kvmset)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/keks/" + UrlEncode(kvmset) + "/rotate", json::object(),
                         [](const json& j) {
                           std::cout << "re-wrapped " << Str(j, "rewrapped")
                                     << " key version(s) under the new KEK\n";
                           ShowKek(j);
                         });
    });
  }
  {
    auto* c = kek->add_subcommand(
        "destroy",
        "crypto-shred a whole VM set: its KEK and every version of every key (irreversible)");
    c->add_option("vmset", kvmset)->required();
    c->add_flag("--yes", kyes, "confirm: every file of the VM set becomes unreadable");
    c->add_flag("--force", kforce,
                "destroy even while files still use its keys or a gateway has not reported: "
                "THOSE FILES BECOME UNREADABLE");
    remote(c, [&g](KpsClient& k) {
      if (!kyes) {
        std::cerr << "cafsctl: destroying a KEK is irreversible: add --yes to confirm\n";
        return kUsage;
      }
      json body = json::object();
      if (kforce) body["force"] = true;
      return CallAndShow(k, g, "POST", "/v1/keks/" + UrlEncode(kvmset) + "/destroy", body,
                         WarnThen(ShowKek));
    });
  }

  // ---- server ------------------------------------------------------------------------------
  auto* server = app.add_subcommand("server", "virtualization servers (security, storage admin)");
  server->require_subcommand(1);
  static std::string sid, sname;
  static std::vector<std::string> saddr;
  {
    auto* c = server->add_subcommand("add", "register a virtualization server (seed <vmserv>)");
    c->add_option("id", sid, "server id, e.g. 755083456")->required();
    c->add_option("--name", sname, "display name");
    c->add_option("--address", saddr, "address it connects from (repeatable)");
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/servers",
                         json{{"id", sid}, {"name", sname}, {"addresses", saddr}},
                         Show(ServerTable, ServerRows));
    });
  }
  remote(server->add_subcommand("list", "list virtualization servers"), [&g](KpsClient& k) {
    return CallAndShow(k, g, "GET", "/v1/servers", nullptr, Show(ServerTable, ServerRows));
  });
  {
    auto* c = server->add_subcommand("remove", "remove a virtualization server");
    c->add_option("id", sid)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "DELETE", "/v1/servers/" + UrlEncode(sid), nullptr,
                         [](const json&) { std::cout << "removed server " << sid << "\n"; });
    });
  }

  // ---- pool: kpsd's pool records and their allow lists (storage-admin) ----------------------
  auto* pool = app.add_subcommand(
      "pool", "storage pools: records with a GUID and the VM sets allowed on each (storage-admin)");
  pool->require_subcommand(1);
  static std::string poolname, poolguid, poolvmset;
  {
    auto* c = pool->add_subcommand("create", "create a pool record (kpsd mints its GUID)");
    c->add_option("name", poolname, "pool name, as cafsd's [[pool]] name= and <storepol> say")
        ->required();
    c->add_option("--guid", poolguid, "the pool's GUID instead of a new one (e.g. re-creating it)");
    remote(c, [&g](KpsClient& k) {
      json body = {{"name", poolname}};
      if (!poolguid.empty()) body["guid"] = poolguid;
      return CallAndShow(k, g, "POST", "/v1/pools", body, Show(PoolTable, PoolRows));
    });
  }
  remote(pool->add_subcommand("list", "list pools (tenant-admins see their VM sets' pools)"),
         [&g](KpsClient& k) {
           return CallAndShow(k, g, "GET", "/v1/pools", nullptr, Show(PoolTable, PoolRows));
         });
  {
    auto* c = pool->add_subcommand("show", "show one pool");
    c->add_option("name", poolname)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "GET", "/v1/pools/" + UrlEncode(poolname), nullptr,
                         Show(PoolTable, PoolRows));
    });
  }
  {
    auto* c =
        pool->add_subcommand("delete", "delete a pool record (refused while a policy names it)");
    c->add_option("name", poolname)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "DELETE", "/v1/pools/" + UrlEncode(poolname), nullptr,
                         [](const json&) { std::cout << "deleted pool " << poolname << "\n"; });
    });
  }
  // allow / deny VMSET POOL: the allow list policies are checked against at upload.
  for (const bool allow : {true, false}) {
    auto* c = pool->add_subcommand(
        allow ? "allow" : "deny",
        allow ? "let a VM set's policies name a pool"
              : "take a pool back from a VM set (refused while its policy names the pool)");
    c->add_option("vmset", poolvmset, "the VM set")->required();
    c->add_option("pool", poolname, "the pool")->required();
    remote(c, [&g, allow](KpsClient& k) {
      json body = {{"vmset", poolvmset}};
      if (!allow) body["withdraw"] = true;
      return CallAndShow(k, g, "POST", "/v1/pools/" + UrlEncode(poolname) + "/allow", body,
                         Show(PoolTable, PoolRows));
    });
  }

  // ---- gateway and admin: enrollment writes a certificate bundle -----------------------------
  static std::string ename, erole, eout;
  static std::vector<std::string> evmsets;
  auto enroll = [&g](KpsClient& k, bool gw) {
    if (eout.empty()) {
      std::cerr << "cafsctl: give --out BUNDLE (the new certificate bundle is written there)\n";
      return kUsage;
    }
    struct stat st {};
    if (::stat(eout.c_str(), &st) == 0) {
      return Fail(eout + " already exists: choose another --out or remove it first");
    }
    json body = {{"name", ename}};
    if (!evmsets.empty()) body["vmsets"] = evmsets;
    if (!gw) body["role"] = erole;
    auto r = k.Call("POST", gw ? "/v1/gateways" : "/v1/admins", body);
    if (!r.ok()) return Fail(r.status().message());
    if (!r->ok()) return Refused(*r);
    Status w = WriteBundle(eout, r->body.value("bundle", ""));
    if (!w.ok()) {
      return Fail(w.ToString() + " (the enrollment is done but its bundle is lost: revoke '" +
                  ename + "' and enroll again)");
    }
    json rec = r->body[gw ? "gateway" : "admin"];
    if (g.json) {
      std::cout << json{{gw ? "gateway" : "admin", rec}, {"bundle_file", eout}}.dump(2) << "\n";
    } else {
      std::cout << (gw ? "gateway " : "admin ") << ename
                << (gw ? "" : " (" + Str(rec, "role") + ")") << " enrolled, serial "
                << Str(rec, "cert_serial") << "; bundle written to " << eout << " (mode 0600)\n";
    }
    return kOk;
  };
  auto* gateway = app.add_subcommand("gateway", "CAFS gateways (security-admin enrolls)");
  gateway->require_subcommand(1);
  {
    auto* c = gateway->add_subcommand("enroll", "enroll a gateway and write its bundle");
    c->add_option("name", ename, "gateway name (certificate CN)")->required();
    c->add_option("--vmset", evmsets,
                  "VM set it is for (repeatable; each takes effect once its tenant-admin "
                  "approves: `cafsctl gateway approve`)")
        ->required();
    c->add_option("--out", eout, "where to write the bundle (new file, mode 0600)")->required();
    remote(c, [enroll](KpsClient& k) { return enroll(k, true); });
  }
  // Approving a gateway's scope / granting a key-admin's export right (docs/kps.md "Roles"):
  // POST {"vmset", "withdraw"?} to `path`.
  static std::string gvmset;
  static bool gwithdraw = false;
  auto grant = [&g](KpsClient& k, const std::string& path, void (*rows)(Table&, const json&),
                    Table (*table)()) {
    json body = {{"vmset", gvmset}};
    if (gwithdraw) body["withdraw"] = true;
    return CallAndShow(k, g, "POST", path, body, Show(table, rows));
  };
  {
    auto* c = gateway->add_subcommand(
        "approve", "approve a gateway's scope for a VM set (tenant-admin of that VM set)");
    c->add_option("name", ename)->required();
    c->add_option("--vmset", gvmset, "the VM set (one of those it was enrolled for)")->required();
    c->add_flag("--withdraw", gwithdraw, "withdraw the approval instead");
    remote(c, [grant](KpsClient& k) {
      return grant(k, "/v1/gateways/" + UrlEncode(ename) + "/approve", GatewayRows, GatewayTable);
    });
  }
  remote(gateway->add_subcommand("list", "list gateways"), [&g](KpsClient& k) {
    return CallAndShow(k, g, "GET", "/v1/gateways", nullptr, Show(GatewayTable, GatewayRows));
  });
  {
    auto* c = gateway->add_subcommand("revoke", "revoke a gateway's certificate");
    c->add_option("name", ename)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/gateways/" + UrlEncode(ename) + "/revoke",
                         json::object(), Show(GatewayTable, GatewayRows));
    });
  }
  auto* admin = app.add_subcommand("admin", "administrators and their roles (security-admin)");
  admin->require_subcommand(1);
  {
    auto* c = admin->add_subcommand("add", "issue an admin bundle with a role and scope");
    c->add_option("name", ename, "admin name (certificate CN)")->required();
    c->add_option("--role", erole,
                  "security-admin, tenant-admin, key-admin, storage-admin or auditor")
        ->required()
        ->check(CLI::IsMember(
            {"security-admin", "tenant-admin", "key-admin", "storage-admin", "auditor"}));
    c->add_option("--vmset", evmsets,
                  "VM set in charge of (tenant-admin), or the scope of a key-admin or "
                  "storage-admin (none = every VM set); repeatable");
    c->add_option("--out", eout, "where to write the bundle (new file, mode 0600)")->required();
    remote(c, [enroll](KpsClient& k) { return enroll(k, false); });
  }
  {
    auto* c = admin->add_subcommand(
        "export",
        "grant a key-admin the right to Get key bytes of a VM set over KMIP "
        "(tenant-admin of that VM set; security-admin for a VM set without record)");
    c->add_option("name", ename, "the key-admin")->required();
    c->add_option("--vmset", gvmset, "the VM set whose keys it may export")->required();
    c->add_flag("--withdraw", gwithdraw, "withdraw the right instead");
    remote(c, [grant](KpsClient& k) {
      return grant(k, "/v1/admins/" + UrlEncode(ename) + "/export", AdminRows, AdminTable);
    });
  }
  remote(admin->add_subcommand("list", "list admins"), [&g](KpsClient& k) {
    return CallAndShow(k, g, "GET", "/v1/admins", nullptr, Show(AdminTable, AdminRows));
  });
  {
    auto* c = admin->add_subcommand("revoke", "revoke an admin's certificate");
    c->add_option("name", ename)->required();
    remote(c, [&g](KpsClient& k) {
      return CallAndShow(k, g, "POST", "/v1/admins/" + UrlEncode(ename) + "/revoke", json::object(),
                         Show(AdminTable, AdminRows));
    });
  }

  // ---- audit -------------------------------------------------------------------------------
  auto* audit = app.add_subcommand(
      "audit", "kpsd's audit trail (security-admin, auditor; tenant-admin: its VM sets' records)");
  audit->require_subcommand(1);
  static std::string avmset, asince, aresult, aactor, afile, aserver, aop;
  static bool aaccess = false;
  {
    auto* c = audit->add_subcommand("list", "list audit records (filters combine)");
    c->add_option("--vmset", avmset,
                  "records about this VM set (kpsd's rule: docs/kps-api.md \"Audit\")");
    c->add_option("--since", asince, "from this time (Unix seconds or YYYY-MM-DD[THH:MM:SSZ])");
    c->add_option("--result", aresult, "ok, denied, error or alert")
        ->check(CLI::IsMember({"ok", "denied", "error", "alert"}));
    c->add_option("--actor", aactor, "records of this certificate name (a gateway, an admin)");
    c->add_option("--server", aserver,
                  "gateway records about this virtualization server (implies --access)");
    c->add_option("--op", aop, "gateway records of this operation: read, write, create, ...");
    c->add_flag("--access", aaccess,
                "only the records gateways pushed, with their fields (server, VM set, VM, file, "
                "operation, result, bytes)");
    remote(c, [&g](KpsClient& k) {
      std::int64_t since = 0;
      if (!asince.empty()) {
        auto t = ParseTime(asince);
        if (!t.ok()) {
          std::cerr << "cafsctl: " << t.status().message() << "\n";
          return kUsage;
        }
        since = *t;
      }
      auto all = FetchAudit(k, avmset);
      if (!all.ok()) return Fail(all.status().message());
      json out = json::array();
      for (const auto& r : *all) {
        if (!aresult.empty() && Str(r, "result") != aresult) continue;
        if (!aactor.empty() && Str(r, "actor") != aactor) continue;
        const json& access = Access(r);
        if ((aaccess || !aserver.empty() || !aop.empty()) && access.is_null()) continue;
        if (!aserver.empty() && Str(access, "server") != aserver) continue;
        if (!aop.empty() && Str(access, "op") != aop) continue;
        if (since != 0 && Int(r, "time") < since) continue;
        out.push_back(r);
      }
      if (g.json) {
        std::cout << out.dump(2) << "\n";
      } else if (aaccess || !aserver.empty() || !aop.empty()) {
        Show(AccessTable, AccessRows)(out);
      } else {
        Show(AuditTable, AuditRows)(out);
      }
      return kOk;
    });
  }
  {
    auto* c = audit->add_subcommand(
        "verify", "check kpsd's hash chain, or with --file a gateway's local audit log");
    c->add_option("--file", afile, "a local JSON-lines audit log (cafsd) to verify instead");
    c->callback([&cmd, &g] {
      if (!afile.empty()) {
        cmd.local = [&g] {
          auto rep = cafs::audit::VerifyAuditLog(afile);
          if (!rep.ok()) return Fail(rep.status().ToString());
          if (g.json) {
            std::cout << json{{"file", afile},
                              {"ok", rep->ok},
                              {"records", rep->records},
                              {"bad_line", rep->bad_line},
                              {"problem", rep->problem}}
                             .dump(2)
                      << "\n";
          } else if (rep->ok) {
            std::cout << "audit log " << afile << " ok: " << rep->records
                      << " records, hash chain intact\n";
          }
          if (!rep->ok) {
            return Fail("audit log " + afile + " is BROKEN at line " +
                        std::to_string(rep->bad_line) + ": " + rep->problem + " (" +
                        std::to_string(rep->records) + " valid records before it)");
          }
          return kOk;
        };
        return;
      }
      cmd.remote = [&g](KpsClient& k) {
        auto all = FetchAudit(k);
        if (!all.ok()) return Fail(all.status().message());
        std::string prev;
        for (const auto& j : *all) {
          auto r = cafs::kps::AuditFromJson(j);
          if (!r.ok() || r->prev_hash != prev || r->hash != cafs::kps::AuditRecordHash(*r)) {
            return Fail("kpsd's audit chain is BROKEN at record " + Str(j, "seq") +
                        " (a record was changed, removed or inserted)");
          }
          prev = r->hash;
        }
        if (g.json) {
          std::cout << json{{"ok", true}, {"records", all->size()}, {"last_hash", prev}}.dump(2)
                    << "\n";
        } else {
          std::cout << "kpsd audit chain ok: " << all->size() << " records"
                    << (prev.empty() ? "" : ", last hash " + prev) << "\n";
        }
        return kOk;
      };
    });
  }

  // ---- usage, inventory: the gateways' last reports ----------------------------------------
  static std::string uvmset;
  auto reports = [&](const char* name, const char* help, const char* path,
                     void (*show)(const json&)) {
    auto* c = app.add_subcommand(name, help);
    c->add_option("--vmset", uvmset, "only this VM set");
    remote(c, [&g, path, show](KpsClient& k) {
      const std::string p =
          std::string(path) + (uvmset.empty() ? "" : "?vmset=" + UrlEncode(uvmset));
      return CallAndShow(k, g, "GET", p, nullptr, show);
    });
  };
  reports("usage",
          "bytes stored per VM set per pool, pool space and thresholds (gateways' last "
          "snapshots; security, storage, auditor, tenant-admin for its VM sets)",
          "/v1/usage", ShowUsage);
  reports("inventory",
          "which key versions the gateways' files use (files, bytes, dependent files), as each "
          "gateway last reported (readers of key metadata)",
          "/v1/inventory", ShowInventory);

  // ---- rekey: kpsd's rekey requests and the gateways' progress (rekey_status.h) ----------
  auto* rekey = app.add_subcommand("rekey", "deep rekeys kpsd asked the gateways for");
  rekey->require_subcommand(1);
  static cafs::cafsctl::RekeyStatusOptions rekey_status;
  {
    auto* c = rekey->add_subcommand(
        "status",
        "a VM set's rekey requests (rotation periods, compromised versions) and every "
        "gateway's progress: bytes, rate, ETA (exit 0 all done, 3 not yet, 1 failed)");
    c->add_option("vmset", rekey_status.vmset, "VM set")->required();
    c->add_flag("--watch", rekey_status.watch,
                "redraw every second until all are done or one failed");
    c->add_option("--timeout", rekey_status.timeout_s, "seconds --watch waits at most")
        ->capture_default_str()
        ->check(CLI::Range(1, 7 * 24 * 3600));
    remote(c, [&g](KpsClient& k) {
      rekey_status.json = g.json;
      return cafs::cafsctl::RekeyStatus(k, rekey_status);
    });
  }

  // ---- replica: DR replicas through the gateway's control socket (replica_commands.h) -------
  auto* replica = app.add_subcommand(
      "replica", "DR replicas of VMs (on the gateway host, through cafsd's control socket)");
  replica->require_subcommand(1);
  static cafs::cafsctl::ReplicaCommand replica_cmd;
  {
    const char* env_socket = std::getenv("CAFS_CONTROL_SOCKET");
    replica_cmd.socket = env_socket != nullptr ? env_socket : "";
    auto common = [&](CLI::App* c, const char* verb, bool which) {
      c->add_option("--socket", replica_cmd.socket,
                    "cafsd's control socket, <backing store>/.cafs-control (or "
                    "CAFS_CONTROL_SOCKET)");
      c->add_option("--pool", replica_cmd.pool, "the DR pool")->required();
      if (which) {
        c->add_option("--vmset", replica_cmd.vmset, "the VM set's GUID")->required();
        c->add_option("--vm", replica_cmd.vm, "the VM's name at the replica")->required();
        c->add_option("--replica", replica_cmd.replica, "the replica id (default: the newest)");
      }
      c->callback([&g, &cmd, verb] {
        replica_cmd.verb = verb;
        replica_cmd.json = g.json;
        cmd.local = [] {
          if (replica_cmd.socket.empty()) {
            std::cerr << "cafsctl: give --socket <backing store>/.cafs-control or set "
                         "CAFS_CONTROL_SOCKET\n";
            return kUsage;
          }
          return cafs::cafsctl::RunReplicaCommand(replica_cmd);
        };
      });
    };
    common(replica->add_subcommand("list", "the replicas in a DR pool (exit 1: one is bad)"),
           "list", false);
    common(replica->add_subcommand(
               "verify", "check a replica's lineage: every manifest MAC and stored chunk hash"),
           "verify", true);
    auto* r = replica->add_subcommand(
        "restore", "restore a VM from a replica: to its old place (VM set found by GUID) or --as");
    common(r, "restore", true);
    r->add_option("--as", replica_cmd.as,
                  "the restored VM's gateway path (default: its old place)");
    r->add_option("--to-pool", replica_cmd.to_pool,
                  "the pool for the files (default: each file's)");
    r->add_flag("--no-wait", replica_cmd.no_wait, "print the job id and return");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : kUsage;
  }
  if (cmd.local) return cmd.local();
  if (!cmd.remote) {
    std::cerr << app.help();
    return kUsage;
  }
  if (g.cert.empty()) {
    std::cerr << "cafsctl: give --cert BUNDLE or set CAFS_KPS_CERT (the PEM bundle `kpsd init`, "
                 "`cafsctl admin add` or `cafsctl gateway enroll` wrote)\n";
    return kUsage;
  }
  if (g.server.empty()) g.server = "https://127.0.0.1:5697";
  auto client = KpsClient::Connect(g.server, g.cert);
  if (!client.ok()) {
    std::cerr << "cafsctl: " << client.status().message() << "\n";
    return client.status().IsInvalidArgument() ? kUsage : kFailed;
  }
  return cmd.remote(**client);
}
