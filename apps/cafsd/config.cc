#include "config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "pool/pool_kinds.h"

namespace cafs::cafsd {

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status Error(const toml::node* node, std::string_view what) const {
    std::string where = source_;
    if (node != nullptr && node->source().begin.line > 0) {
      where += " line " + std::to_string(node->source().begin.line);
    }
    return Status::InvalidArgument(where + ": " + std::string(what));
  }

  // Fails on keys of `table` not in `known`.
  Status OnlyKnown(const toml::table& table, std::string_view name,
                   std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table) {
      bool ok = false;
      for (auto k : known) ok |= key.str() == k;
      if (!ok) {
        return Error(&node,
                     "unknown key '" + std::string(key.str()) + "' in [" + std::string(name) + "]");
      }
    }
    return Status::OK();
  }

  Status String(const toml::table& table, std::string_view tname, std::string_view key,
                bool required, std::string* out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      if (required) {
        return Error(&table, "[" + std::string(tname) + "] " + std::string(key) + " is required");
      }
      return Status::OK();
    }
    auto v = node->value<std::string>();
    if (!v || v->empty()) {
      return Error(
          node, "[" + std::string(tname) + "] " + std::string(key) + " must be a non-empty string");
    }
    *out = *v;
    return Status::OK();
  }

  Status Int(const toml::table& table, std::string_view tname, std::string_view key,
             std::int64_t min, std::int64_t* out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return Status::OK();
    auto v = node->value<std::int64_t>();
    if (!v || *v < min) {
      return Error(node, "[" + std::string(tname) + "] " + std::string(key) +
                             " must be an integer >= " + std::to_string(min));
    }
    *out = *v;
    return Status::OK();
  }

  Status Bool(const toml::table& table, std::string_view tname, std::string_view key,
              bool* out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return Status::OK();
    auto v = node->value<bool>();
    if (!v) {
      return Error(node,
                   "[" + std::string(tname) + "] " + std::string(key) + " must be true or false");
    }
    *out = *v;
    return Status::OK();
  }

  Result<const toml::table*> Table(const toml::table& root, std::string_view name,
                                   bool required) const {
    const toml::node* node = root.get(name);
    if (node == nullptr) {
      if (required) return Error(nullptr, "table [" + std::string(name) + "] is required");
      return static_cast<const toml::table*>(nullptr);
    }
    if (!node->is_table()) return Error(node, "'" + std::string(name) + "' must be a table");
    return node->as_table();
  }

 private:
  std::string source_;
};

// A [[pool]] table: name and kind here, every other key as text for the kind to check
// (pool registry: unknown keys, required keys, values), errors with the table's line.
Result<PoolConfig> ParsePool(const Reader& r, const toml::table& t) {
  PoolConfig p;
  CAFS_RETURN_IF_ERROR(r.String(t, "pool", "name", true, &p.name));
  CAFS_RETURN_IF_ERROR(r.String(t, "pool", "kind", false, &p.kind));
  if (const toml::node* g = t.get("guid")) {
    // The pool's identity in kpsd (docs/gateway.md "Pool identity"); a nil GUID names nothing.
    const auto text = g->value_exact<std::string>();
    auto id = text ? Uuid::Parse(*text) : Result<Uuid>(Status::InvalidArgument("not a string"));
    if (!id.ok() || id->IsNil()) {
      return r.Error(g, "[[pool]] '" + p.name +
                            "' guid must be the GUID of kpsd's record of the pool, such as "
                            "\"3f2b6c1e-5d4a-4b7e-9c0d-1a2b3c4d5e6f\" (cafsctl pool show " +
                            p.name + ")");
    }
    p.guid = *id;
  }
  for (const auto& [key, node] : t) {
    if (key.str() == "name" || key.str() == "kind" || key.str() == "guid") continue;
    std::string text;
    if (auto s = node.value_exact<std::string>()) {
      text = *s;
    } else if (auto i = node.value_exact<std::int64_t>()) {
      text = std::to_string(*i);
    } else if (auto b = node.value_exact<bool>()) {
      text = *b ? "true" : "false";
    } else {
      return r.Error(
          &node, "[pool] " + std::string(key.str()) + " must be a string, an integer or a boolean");
    }
    p.values.emplace(std::string(key.str()), std::move(text));
  }
  // The message names the pool and the key; the line is the table's.
  if (Status s = pool::BuiltinPoolKinds().Validate(p); !s.ok()) return r.Error(&t, s.message());
  return p;
}

Status Port(const Reader& r, const toml::table& t, std::string_view key, bool zero_ok,
            std::uint16_t* out) {
  std::int64_t v = *out;
  CAFS_RETURN_IF_ERROR(r.Int(t, "nfs", key, zero_ok ? 0 : 1, &v));
  if (v > 65535) return r.Error(t.get(key), "[nfs] " + std::string(key) + " must be <= 65535");
  *out = static_cast<std::uint16_t>(v);
  return Status::OK();
}

Status ParseExport(const Reader& r, const toml::table& t, frontend::nfs::ExportConfig* e) {
  CAFS_RETURN_IF_ERROR(r.OnlyKnown(
      t, "nfs.export", {"path", "clients", "access", "squash", "anon_uid", "anon_gid"}));
  CAFS_RETURN_IF_ERROR(r.String(t, "nfs.export", "path", true, &e->path));
  const toml::node* clients = t.get("clients");
  const toml::array* list = clients != nullptr ? clients->as_array() : nullptr;
  if (list == nullptr || list->empty()) {
    return r.Error(clients != nullptr ? clients : &t,
                   "[nfs.export] clients must be a non-empty array of addresses, CIDRs or "
                   "host names");
  }
  for (const toml::node& n : *list) {
    auto v = n.value<std::string>();
    if (!v || v->empty()) return r.Error(&n, "[nfs.export] clients must hold non-empty strings");
    e->clients.push_back(*v);
  }
  std::string access = "rw";
  CAFS_RETURN_IF_ERROR(r.String(t, "nfs.export", "access", false, &access));
  if (access != "rw" && access != "ro") {
    return r.Error(t.get("access"), "[nfs.export] access must be \"rw\" or \"ro\"");
  }
  e->read_only = access == "ro";
  std::string squash = "root_squash";
  CAFS_RETURN_IF_ERROR(r.String(t, "nfs.export", "squash", false, &squash));
  Result<frontend::nfs::Squash> parsed = frontend::nfs::ParseSquash(squash);
  if (!parsed.ok()) return r.Error(t.get("squash"), "[nfs.export] " + parsed.status().message());
  e->squash = *parsed;
  for (auto [key, out] :
       {std::pair{"anon_uid", &e->anon_uid}, std::pair{"anon_gid", &e->anon_gid}}) {
    std::int64_t v = *out;
    CAFS_RETURN_IF_ERROR(r.Int(t, "nfs.export", key, 0, &v));
    if (v > 0xffffffffLL)
      return r.Error(t.get(key), "[nfs.export] " + std::string(key) + " too large");
    *out = static_cast<std::uint32_t>(v);
  }
  return Status::OK();
}

// A thread count of [nfs]: `min` to 256.
Status Threads(const Reader& r, const toml::table& t, const char* key, std::int64_t min,
               unsigned* out) {
  std::int64_t v = *out;
  CAFS_RETURN_IF_ERROR(r.Int(t, "nfs", key, min, &v));
  if (v > 256) return r.Error(t.get(key), "[nfs] " + std::string(key) + " must be <= 256");
  *out = static_cast<unsigned>(v);
  return Status::OK();
}

Status ParseNfs(const Reader& r, const toml::table& root, NfsConfig* nfs) {
  CAFS_ASSIGN_OR_RETURN(const toml::table* t, r.Table(root, "nfs", false));
  if (t == nullptr) return Status::OK();
  CAFS_RETURN_IF_ERROR(
      r.OnlyKnown(*t, "nfs",
                  {"enabled", "listen", "port", "mount_port", "portmap_port", "register_rpcbind",
                   "compute_threads", "worker_threads", "idle_timeout_s", "export"}));
  nfs->enabled = true;
  CAFS_RETURN_IF_ERROR(r.Bool(*t, "nfs", "enabled", &nfs->enabled));
  CAFS_RETURN_IF_ERROR(r.String(*t, "nfs", "listen", false, &nfs->listen));
  CAFS_RETURN_IF_ERROR(Port(r, *t, "port", false, &nfs->port));
  CAFS_RETURN_IF_ERROR(Port(r, *t, "mount_port", false, &nfs->mount_port));
  CAFS_RETURN_IF_ERROR(Port(r, *t, "portmap_port", true, &nfs->portmap_port));
  CAFS_RETURN_IF_ERROR(r.Bool(*t, "nfs", "register_rpcbind", &nfs->register_rpcbind));
  CAFS_RETURN_IF_ERROR(Threads(r, *t, "compute_threads", 0, &nfs->compute_threads));
  CAFS_RETURN_IF_ERROR(Threads(r, *t, "worker_threads", 1, &nfs->worker_threads));
  CAFS_RETURN_IF_ERROR(r.Int(*t, "nfs", "idle_timeout_s", 1, &nfs->idle_timeout_s));
  if (nfs->port == nfs->mount_port ||
      (nfs->portmap_port != 0 &&
       (nfs->portmap_port == nfs->port || nfs->portmap_port == nfs->mount_port))) {
    return r.Error(t, "[nfs] port, mount_port and portmap_port must differ");
  }
  const toml::node* exports = t->get("export");
  if (exports != nullptr && !exports->is_array_of_tables()) {
    return r.Error(exports, "[nfs] export must be [[nfs.export]] tables");
  }
  if (exports != nullptr) {
    for (const toml::node& node : *exports->as_array()) {
      frontend::nfs::ExportConfig e;
      CAFS_RETURN_IF_ERROR(ParseExport(r, *node.as_table(), &e));
      nfs->exports.push_back(std::move(e));
    }
  }
  if (nfs->enabled && nfs->exports.empty()) {
    return r.Error(t, "[nfs] needs at least one [[nfs.export]] with path and clients");
  }
  return Status::OK();
}

constexpr std::string_view kNoRegistryMessage =
    "[nfs] with [local_keys] needs the server registry: an NFS client is admitted as the "
    "registered server whose addresses hold its address, never by its address in <vmserv> "
    "(docs/nfs.md \"Server identity\"). Add one table per virtualization server: "
    "[[server]] id = \"<its <vmserv> id>\" addresses = [\"<its NFS client address>\"]";

// [jobs]: the default rate limit of each job kind ("64M", or an integer; 0 = unlimited) and
// the retention of finished jobs' records (0 = no limit).
Status ParseJobs(const Reader& r, const toml::table& root, Config* c) {
  CAFS_ASSIGN_OR_RETURN(const toml::table* t, r.Table(root, "jobs", false));
  if (t == nullptr) return Status::OK();
  CAFS_RETURN_IF_ERROR(r.OnlyKnown(*t, "jobs",
                                   {"shred_rate", "rekey_rate", "migrate_rate", "resync_rate",
                                    "keep_finished_days", "keep_finished_per_kind"}));
  CAFS_RETURN_IF_ERROR(r.Int(*t, "jobs", "keep_finished_days", 0, &c->keep_finished_days));
  CAFS_RETURN_IF_ERROR(r.Int(*t, "jobs", "keep_finished_per_kind", 0, &c->keep_finished_per_kind));
  if (c->keep_finished_days > 36500 || c->keep_finished_per_kind > 1000000) {
    return r.Error(t,
                   "[jobs] keep_finished_days must be <= 36500 and keep_finished_per_kind "
                   "<= 1000000 (0 = no limit)");
  }
  const std::pair<const char*, std::uint64_t*> keys[] = {{"shred_rate", &c->shred_rate_bps},
                                                         {"rekey_rate", &c->rekey_rate_bps},
                                                         {"migrate_rate", &c->migrate_rate_bps},
                                                         {"resync_rate", &c->resync_rate_bps}};
  for (const auto& [key, out] : keys) {
    const toml::node* node = t->get(key);
    if (node == nullptr) continue;
    std::string text;
    if (auto n = node->value_exact<std::int64_t>(); n && *n >= 0) {
      text = std::to_string(*n);
    } else if (auto str = node->value_exact<std::string>()) {
      text = *str;
    }
    if (!ParseByteRate(text, out)) {
      return r.Error(node, "[jobs] " + std::string(key) +
                               " must be a byte rate such as \"32M\" (bytes/s, K/M/G; 0 = "
                               "unlimited)");
    }
  }
  return Status::OK();
}

// [[server]] tables: id, addresses (docs/nfs.md "Server identity"). With [kps] the registry is
// kpsd's: the tables are refused rather than ignored.
Status ParseServers(const Reader& r, const toml::table& root, Config* c) {
  const toml::node* servers = root.get("server");
  if (servers == nullptr) return Status::OK();
  if (!servers->is_array_of_tables()) {
    return r.Error(servers, "server must be [[server]] tables with id and addresses");
  }
  if (!c->kps_url.empty()) {
    return r.Error(servers,
                   "[[server]] is for [local_keys]: with [kps] the server registry is kpsd's "
                   "(cafsctl server add ID --address ADDRESS)");
  }
  for (const toml::node& node : *servers->as_array()) {
    const toml::table& t = *node.as_table();
    CAFS_RETURN_IF_ERROR(r.OnlyKnown(t, "server", {"id", "addresses"}));
    policy::RegisteredServer s;
    CAFS_RETURN_IF_ERROR(r.String(t, "server", "id", true, &s.id));
    const toml::node* addresses = t.get("addresses");
    const toml::array* list = addresses != nullptr ? addresses->as_array() : nullptr;
    if (list == nullptr || list->empty()) {
      return r.Error(addresses != nullptr ? addresses : &t,
                     "[[server]] addresses must be a non-empty array of IP addresses");
    }
    for (const toml::node& n : *list) {
      auto v = n.value<std::string>();
      if (!v) return r.Error(&n, "[[server]] addresses must hold strings");
      s.addresses.push_back(*v);
    }
    if (Status ok = policy::ValidateRegisteredServer(s); !ok.ok()) {
      return r.Error(&t, "[[server]] " + ok.message());
    }
    c->servers.push_back(std::move(s));
  }
  if (auto registry = policy::ServerRegistry::Create(c->servers); !registry.ok()) {
    return r.Error(servers, "[[server]] " + registry.status().message());
  }
  return Status::OK();
}

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(source_name + " line " + std::to_string(e.source().begin.line) +
                                   ": " + std::string(e.description()));
  }
  Reader r(source_name);
  Config c;
  c.allow_other = ::geteuid() == 0;
  for (const auto& [key, node] : root) {
    static const std::set<std::string_view> kTables = {
        "gateway", "local_keys", "kps", "pool", "server", "audit", "cache", "log", "nfs", "jobs"};
    if (!kTables.count(key.str())) {
      return r.Error(&node, "unknown table or key '" + std::string(key.str()) + "'");
    }
  }
  CAFS_ASSIGN_OR_RETURN(const toml::table* gw, r.Table(root, "gateway", true));
  CAFS_RETURN_IF_ERROR(r.OnlyKnown(
      *gw, "gateway", {"server_id", "backing_store", "mountpoint", "position", "allow_other"}));
  CAFS_RETURN_IF_ERROR(r.String(*gw, "gateway", "server_id", true, &c.server_id));
  CAFS_RETURN_IF_ERROR(r.String(*gw, "gateway", "backing_store", true, &c.backing_store));
  CAFS_RETURN_IF_ERROR(r.String(*gw, "gateway", "mountpoint", false, &c.mountpoint));
  std::int64_t position = 1;
  CAFS_RETURN_IF_ERROR(r.Int(*gw, "gateway", "position", 1, &position));
  c.position = static_cast<unsigned>(position);
  CAFS_RETURN_IF_ERROR(r.Bool(*gw, "gateway", "allow_other", &c.allow_other));

  CAFS_ASSIGN_OR_RETURN(const toml::table* local, r.Table(root, "local_keys", false));
  CAFS_ASSIGN_OR_RETURN(const toml::table* kps, r.Table(root, "kps", false));
  if ((local == nullptr) == (kps == nullptr)) {
    return r.Error(kps ? root.get("kps") : nullptr,
                   "exactly one of [local_keys] and [kps] must be given");
  }
  if (local != nullptr) {
    CAFS_RETURN_IF_ERROR(r.OnlyKnown(*local, "local_keys", {"dir"}));
    CAFS_RETURN_IF_ERROR(r.String(*local, "local_keys", "dir", true, &c.local_keys_dir));
  } else {
    CAFS_RETURN_IF_ERROR(r.OnlyKnown(*kps, "kps",
                                     {"url", "cert", "push_audit", "usage_interval_s",
                                      "inventory_interval_s", "rekey_poll_interval_s"}));
    CAFS_RETURN_IF_ERROR(r.Bool(*kps, "kps", "push_audit", &c.push_audit));
    CAFS_RETURN_IF_ERROR(r.Int(*kps, "kps", "usage_interval_s", 1, &c.usage_interval_s));
    CAFS_RETURN_IF_ERROR(r.Int(*kps, "kps", "inventory_interval_s", 1, &c.inventory_interval_s));
    CAFS_RETURN_IF_ERROR(r.Int(*kps, "kps", "rekey_poll_interval_s", 0, &c.rekey_poll_interval_s));
    CAFS_RETURN_IF_ERROR(r.String(*kps, "kps", "url", true, &c.kps_url));
    CAFS_RETURN_IF_ERROR(r.String(*kps, "kps", "cert", true, &c.kps_cert));
    if (c.kps_url.rfind("https://", 0) != 0) {
      return r.Error(kps->get("url"), "[kps] url must be https://HOST:PORT");
    }
  }

  const toml::node* pools = root.get("pool");
  if (pools == nullptr || !pools->is_array_of_tables() || pools->as_array()->empty()) {
    return r.Error(pools, "at least one [[pool]] with name and path is required");
  }
  for (const auto& node : *pools->as_array()) {
    CAFS_ASSIGN_OR_RETURN(PoolConfig p, ParsePool(r, *node.as_table()));
    if (p.guid) {
      const toml::node* g = node.as_table()->get("guid");
      // With local keys there is no pool record to map to: refused, not ignored.
      if (!c.local_keys_dir.empty()) {
        return r.Error(g, "[[pool]] '" + p.name +
                              "' guid maps the pool to kpsd's pool record: only with [kps] "
                              "([local_keys] has no pool records)");
      }
      for (const PoolConfig& before : c.pools) {
        if (before.guid == p.guid) {
          return r.Error(g, "[[pool]] '" + p.name + "' guid is also the guid of [[pool]] '" +
                                before.name + "': two pools cannot be one record");
        }
      }
    }
    c.pools.push_back(std::move(p));
  }

  CAFS_RETURN_IF_ERROR(ParseServers(r, root, &c));

  CAFS_ASSIGN_OR_RETURN(const toml::table* audit, r.Table(root, "audit", true));
  CAFS_RETURN_IF_ERROR(r.OnlyKnown(
      *audit, "audit", {"log", "aggregate_interval_s", "sync_every_record", "push_cursor"}));
  CAFS_RETURN_IF_ERROR(r.String(*audit, "audit", "log", true, &c.audit_log));
  c.push_cursor = c.audit_log + ".kps-cursor";
  CAFS_RETURN_IF_ERROR(r.String(*audit, "audit", "push_cursor", false, &c.push_cursor));
  CAFS_RETURN_IF_ERROR(r.Int(*audit, "audit", "aggregate_interval_s", 1, &c.aggregate_interval_s));
  CAFS_RETURN_IF_ERROR(r.Bool(*audit, "audit", "sync_every_record", &c.sync_every_record));

  CAFS_ASSIGN_OR_RETURN(const toml::table* cache, r.Table(root, "cache", false));
  if (cache != nullptr) {
    CAFS_RETURN_IF_ERROR(r.OnlyKnown(*cache, "cache", {"ttl_s", "grace_s"}));
    CAFS_RETURN_IF_ERROR(r.Int(*cache, "cache", "ttl_s", 1, &c.cache_ttl_s));
    CAFS_RETURN_IF_ERROR(r.Int(*cache, "cache", "grace_s", 0, &c.cache_grace_s));
  }
  CAFS_ASSIGN_OR_RETURN(const toml::table* log, r.Table(root, "log", false));
  if (log != nullptr) {
    CAFS_RETURN_IF_ERROR(r.OnlyKnown(*log, "log", {"level"}));
    CAFS_RETURN_IF_ERROR(r.String(*log, "log", "level", false, &c.log_level));
  }
  CAFS_RETURN_IF_ERROR(ParseNfs(r, root, &c.nfs));
  CAFS_RETURN_IF_ERROR(ParseJobs(r, root, &c));
  if (c.nfs.enabled && !c.local_keys_dir.empty() && c.servers.empty()) {
    return r.Error(root.get("nfs"), std::string(kNoRegistryMessage));
  }
  if (c.mountpoint.empty() && !c.nfs.enabled) {
    return r.Error(gw, "[gateway] mountpoint is required unless [nfs] is enabled");
  }
  return c;
}

bool ParseByteRate(const std::string& text, std::uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0 || !std::isfinite(v)) return false;
  std::string unit(end);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() > 1 && (unit.back() == 'i')) unit.pop_back();
  double mult = 1;
  if (unit == "k" || unit == "K") {
    mult = 1024.0;
  } else if (unit == "m" || unit == "M") {
    mult = 1024.0 * 1024;
  } else if (unit == "g" || unit == "G") {
    mult = 1024.0 * 1024 * 1024;
  } else if (!unit.empty()) {
    return false;
  }
  const double bytes = v * mult;
  if (bytes > 1e18) return false;
  *out = static_cast<std::uint64_t>(bytes);
  return true;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno, "cannot read config " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace cafs::cafsd
