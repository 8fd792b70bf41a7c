#include "config.h"

#include <toml++/toml.h>

#include <cstdlib>

namespace cafs::edifd {
namespace {

Status Bad(const std::string& file, const std::string& what) {
  return Status::InvalidArgument(file + ": " + what);
}

// A WWPN as an integer or a string "0x...", "5000..." (hex) or "50:00:...".
Result<std::uint64_t> Wwpn(const std::string& file, const toml::node* n, const std::string& key) {
  if (n == nullptr) return Bad(file, key + " is required");
  if (auto i = n->value<std::int64_t>()) return static_cast<std::uint64_t>(*i);
  if (auto s = n->value<std::string>()) {
    std::string hex;
    std::string_view v = *s;
    if (v.starts_with("0x") || v.starts_with("0X")) v.remove_prefix(2);
    for (char c : v) {
      if (c != ':') hex.push_back(c);
    }
    if (hex.empty() || hex.size() > 16) return Bad(file, key + " is not a WWPN");
    char* end = nullptr;
    const unsigned long long w = std::strtoull(hex.c_str(), &end, 16);
    if (*end != '\0' || w == 0) return Bad(file, key + " is not a WWPN");
    return static_cast<std::uint64_t>(w);
  }
  return Bad(file, key + " must be an integer or a string");
}

Result<std::uint32_t> PortId(const std::string& file, const toml::node* n, const std::string& key) {
  if (n == nullptr) return Bad(file, key + " is required");
  auto i = n->value<std::int64_t>();
  if (!i || *i < 0 || *i > 0xFFFFFF) return Bad(file, key + " must be a 24-bit integer");
  return static_cast<std::uint32_t>(*i);
}

template <typename View>
std::string Str(View n, std::string def = {}) {
  return n.value_or(std::move(def));
}

template <typename View>
std::chrono::milliseconds Ms(View n, std::int64_t def) {
  return std::chrono::milliseconds(n.value_or(def));
}

// sa_soft_bytes, sa_soft_frames, sa_soft_lifetime_ms (docs/edif.md section 2): the SA soft
// limits that trigger a rekey; a key not set keeps SaLimits' default. Each must be positive and
// below its hard limit.
template <typename View>
Status SoftLimits(const std::string& file, View t, edif::link::SaLimits& l) {
  auto get = [&](const char* key, std::uint64_t& v, std::uint64_t hard) -> Status {
    if (t[key].node() == nullptr) return Status::OK();
    auto i = t[key].template value<std::int64_t>();
    if (!i || *i <= 0 || static_cast<std::uint64_t>(*i) >= hard) {
      return Bad(file, std::string(key) + " must be a positive integer below the hard limit");
    }
    v = static_cast<std::uint64_t>(*i);
    return Status::OK();
  };
  CAFS_RETURN_IF_ERROR(get("sa_soft_bytes", l.soft_bytes, l.hard_bytes));
  CAFS_RETURN_IF_ERROR(get("sa_soft_frames", l.soft_frames, l.hard_frames));
  auto ms = static_cast<std::uint64_t>(l.soft_lifetime.count());
  CAFS_RETURN_IF_ERROR(
      get("sa_soft_lifetime_ms", ms, static_cast<std::uint64_t>(l.hard_lifetime.count())));
  l.soft_lifetime = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  return Status::OK();
}

// frame_workers, frame_queue (docs/edif.md section 2): the DATA frame pools of a port
// (workers per direction, 0..16, 0 = inline; frames in flight per session and direction,
// 1..1024); a key not set keeps FramePoolOptions' default.
template <typename View>
Status FramePoolKeys(const std::string& file, View t, edif::link::FramePoolOptions& o) {
  if (t["frame_workers"].node() != nullptr) {
    auto i = t["frame_workers"].template value<std::int64_t>();
    if (!i || *i < 0 || *i > 16) return Bad(file, "frame_workers must be an integer 0..16");
    o.workers = static_cast<unsigned>(*i);
  }
  if (t["frame_queue"].node() != nullptr) {
    auto i = t["frame_queue"].template value<std::int64_t>();
    if (!i || *i < 1 || *i > 1024) return Bad(file, "frame_queue must be an integer 1..1024");
    o.max_in_flight = static_cast<std::size_t>(*i);
  }
  return Status::OK();
}

Result<toml::table> Parse(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(path + ": " + std::string(e.description()));
  }
}

}  // namespace

Result<TargetFile> LoadTargetConfig(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(toml::table root, Parse(path));
  const auto t = root["target"];
  if (!t.is_table()) return Bad(path, "[target] table is required");
  TargetFile f;
  auto& c = f.config;
  c.port.name = Str(t["name"], "target");
  CAFS_ASSIGN_OR_RETURN(c.port.identity.wwpn, Wwpn(path, t["wwpn"].node(), "target.wwpn"));
  CAFS_ASSIGN_OR_RETURN(c.port.identity.port_id,
                        PortId(path, t["port_id"].node(), "target.port_id"));
  CAFS_ASSIGN_OR_RETURN(auto hp, edif::hba::ParseHostPort(Str(t["listen"], "127.0.0.1:0")));
  c.listen_host = hp.first;
  c.listen_port = hp.second;
  c.mailbox_socket = Str(t["mailbox_socket"]);
  if (c.mailbox_socket.empty()) return Bad(path, "target.mailbox_socket is required");
  f.agent_secret_file = Str(t["agent_secret_file"]);
  if (f.agent_secret_file.empty()) return Bad(path, "target.agent_secret_file is required");
  f.port_file = Str(t["port_file"]);
  c.port.keepalive_timeout = Ms(t["keepalive_timeout_ms"], 60'000);
  c.port.nop_timeout = Ms(t["nop_timeout_ms"], 10'000);
  CAFS_RETURN_IF_ERROR(SoftLimits(path, t, c.port.sa_policy.limits));
  CAFS_RETURN_IF_ERROR(FramePoolKeys(path, t, c.port.frame_pool));
  if (const toml::array* luns = t["lun"].as_array()) {
    for (const toml::node& n : *luns) {
      const toml::table* lt = n.as_table();
      if (lt == nullptr) return Bad(path, "[[target.lun]] entries must be tables");
      edif::target::LunConfig l;
      auto id = (*lt)["id"].value<std::int64_t>();
      if (!id || *id < 0 || *id > 0xFFFFFFFF) return Bad(path, "target.lun.id must be a u32");
      l.id = static_cast<std::uint32_t>(*id);
      l.path = (*lt)["path"].value_or(std::string());
      if (l.path.empty()) return Bad(path, "target.lun.path is required");
      l.require_secure = (*lt)["require_secure"].value_or(false);
      l.read_only = (*lt)["read_only"].value_or(false);
      c.luns.push_back(l);
    }
  }
  return f;
}

Result<HostFile> LoadHostConfig(const std::string& path) {
  CAFS_ASSIGN_OR_RETURN(toml::table root, Parse(path));
  const auto h = root["host"];
  if (!h.is_table()) return Bad(path, "[host] table is required");
  HostFile f;
  auto& c = f.config;
  c.lun_socket = Str(h["lun_socket"]);
  c.lun_listen = Str(h["lun_listen"]);
  f.lun_port_file = Str(h["lun_port_file"]);
  c.lun_handshake_timeout = Ms(h["lun_handshake_timeout_ms"], 10'000);
  c.io_wait_timeout = Ms(h["io_wait_timeout_ms"], 30'000);
  c.io_timeout = Ms(h["io_timeout_ms"], 30'000);
  c.reconnect_interval = Ms(h["reconnect_interval_ms"], 1'000);
  c.auth_timeout = Ms(h["auth_timeout_ms"], 20'000);
  c.auth_retry_interval = Ms(h["auth_retry_ms"], 60'000);
  const auto keepalive = Ms(h["keepalive_timeout_ms"], 60'000);
  const auto nop = Ms(h["nop_timeout_ms"], 10'000);
  const toml::array* ports = h["port"].as_array();
  if (ports == nullptr || ports->empty()) return Bad(path, "at least one [[host.port]]");
  for (const toml::node& pn : *ports) {
    const toml::table* pt = pn.as_table();
    if (pt == nullptr) return Bad(path, "[[host.port]] entries must be tables");
    edif::driver::InitiatorPortConfig p;
    p.port.name = (*pt)["name"].value_or("hba" + std::to_string(c.ports.size()));
    CAFS_ASSIGN_OR_RETURN(p.port.identity.wwpn, Wwpn(path, (*pt)["wwpn"].node(), "port.wwpn"));
    CAFS_ASSIGN_OR_RETURN(p.port.identity.port_id,
                          PortId(path, (*pt)["port_id"].node(), "port.port_id"));
    p.port.keepalive_timeout = keepalive;
    p.port.nop_timeout = nop;
    CAFS_RETURN_IF_ERROR(SoftLimits(path, h, p.port.sa_policy.limits));
    CAFS_RETURN_IF_ERROR(FramePoolKeys(path, h, p.port.frame_pool));
    p.mailbox_socket = (*pt)["mailbox_socket"].value_or(std::string());
    if (p.mailbox_socket.empty()) return Bad(path, "port.mailbox_socket is required");
    std::string secret = (*pt)["agent_secret_file"].value_or(std::string());
    if (secret.empty()) return Bad(path, "port.agent_secret_file is required");
    if (const toml::array* targets = (*pt)["target"].as_array()) {
      for (const toml::node& tn : *targets) {
        const toml::table* tt = tn.as_table();
        if (tt == nullptr) return Bad(path, "[[host.port.target]] entries must be tables");
        edif::driver::TargetSpec s;
        s.name = (*tt)["name"].value_or(std::string());
        if (s.name.empty()) return Bad(path, "port.target.name is required");
        CAFS_ASSIGN_OR_RETURN(auto hp,
                              edif::hba::ParseHostPort((*tt)["address"].value_or(std::string())));
        s.host = hp.first;
        s.port = hp.second;
        if ((*tt)["wwpn"].node() != nullptr) {
          CAFS_ASSIGN_OR_RETURN(s.wwpn, Wwpn(path, (*tt)["wwpn"].node(), "target.wwpn"));
        }
        s.require_secure = (*tt)["require_secure"].value_or(false);
        p.targets.push_back(s);
      }
    }
    c.ports.push_back(std::move(p));
    f.agent_secret_files.push_back(secret);
  }
  return f;
}

}  // namespace cafs::edifd
