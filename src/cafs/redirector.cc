#include "cafs/redirector.h"

#include <sstream>

#include "pool/pool_mapper.h"

namespace cafs::core {

std::optional<RedirectorName> SplitRedirectorName(std::string_view backing_name) {
  const auto sep = backing_name.rfind(kRedirectorSeparator);
  if (sep == std::string_view::npos || sep == 0 ||
      sep + kRedirectorSeparator.size() == backing_name.size()) {
    return std::nullopt;
  }
  return RedirectorName{backing_name.substr(0, sep),
                        backing_name.substr(sep + kRedirectorSeparator.size())};
}

std::string RedirectorBackingName(std::string_view name, std::string_view pool) {
  std::string out;
  out.reserve(name.size() + kRedirectorSeparator.size() + pool.size());
  out.append(name).append(kRedirectorSeparator).append(pool);
  return out;
}

bool IsRedirectorOf(std::string_view backing_name, std::string_view name) {
  const auto split = SplitRedirectorName(backing_name);
  return split && split->name == name && pool::ValidatePoolName(std::string(split->pool)).ok();
}

std::string NewPoolPath(const Uuid& owner, const Uuid& guid) {
  const std::string g = guid.ToString();
  return owner.ToString() + "/" + g.substr(0, 2) + "/" + g;
}

bool IsUnderOwner(std::string_view pool_path, const Uuid& owner) {
  const std::string o = owner.ToString();
  return pool_path.size() > o.size() && pool_path.compare(0, o.size(), o) == 0 &&
         pool_path[o.size()] == '/';
}

std::string EncodeRedirector(const Redirector& r) {
  std::string out = std::string(kRedirectorMagic) + "\nguid " + r.guid.ToString() + "\npath " +
                    r.pool_path + "\n";
  for (const ReplicaLocation& c : r.replicas) out += "replica " + c.pool + " " + c.pool_path + "\n";
  return out;
}

Result<Redirector> DecodeRedirector(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string magic, line;
  std::getline(in, magic);
  if (magic != kRedirectorMagic) return Status::Corruption("redirector: bad first line");
  Redirector r;
  bool have_guid = false, have_path = false;
  while (std::getline(in, line)) {
    if (line.rfind("guid ", 0) == 0) {
      if (have_guid) return Status::Corruption("redirector: two guid lines");
      CAFS_ASSIGN_OR_RETURN(r.guid, Uuid::Parse(line.substr(5)));
      have_guid = true;
    } else if (line.rfind("path ", 0) == 0) {
      if (have_path) return Status::Corruption("redirector: two path lines");
      r.pool_path = line.substr(5);
      have_path = true;
    } else if (line.rfind("replica ", 0) == 0) {
      const std::string rest = line.substr(8);
      const auto sp = rest.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == rest.size()) {
        return Status::Corruption("redirector: replica line needs a pool and a path: '" + line +
                                  "'");
      }
      ReplicaLocation c{rest.substr(0, sp), rest.substr(sp + 1)};
      if (!pool::ValidatePoolName(c.pool).ok()) {
        return Status::Corruption("redirector: replica line names an invalid pool '" + c.pool +
                                  "'");
      }
      for (const ReplicaLocation& o : r.replicas) {
        if (o.pool == c.pool)
          return Status::Corruption("redirector: two replicas in pool " + c.pool);
      }
      if (r.replicas.size() == kMaxReplicaLines) {
        return Status::Corruption("redirector: more than 15 replica lines");
      }
      r.replicas.push_back(std::move(c));
    } else if (!line.empty()) {
      return Status::Corruption("redirector: unknown line '" + line + "'");
    }
  }
  if (!have_guid || !have_path) return Status::Corruption("redirector: guid or path missing");
  return r;
}

}  // namespace cafs::core
