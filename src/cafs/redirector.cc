#include "cafs/redirector.h"

#include <sstream>

#include "crypto/mac.h"
#include "pool/pool_mapper.h"
#include "util/bytes.h"

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

bool IsLongNameStem(std::string_view s) {
  if (s.size() != kLongNamePrefix.size() + 64 ||
      s.substr(0, kLongNamePrefix.size()) != kLongNamePrefix) {
    return false;
  }
  for (char c : s.substr(kLongNamePrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The longest pool name is the one whose hashed backing name just fits (src/pool/pool_name.h).
static_assert(kLongNamePrefix.size() + 64 + kRedirectorSeparator.size() + pool::kMaxPoolNameBytes ==
              kBackingNameMax);

bool NeedsLongName(std::string_view name, std::string_view pool) {
  return name.size() + kRedirectorSeparator.size() + pool.size() > kBackingNameMax ||
         name.find(kRedirectorSeparator) != std::string_view::npos || IsLongNameStem(name);
}

bool NeedsHashedPlainName(std::string_view name) {
  return name.find(kRedirectorSeparator) != std::string_view::npos || IsLongNameStem(name) ||
         LongNameEntryStem(name).has_value();
}

std::string PlainBackingName(std::string_view name) {
  return NeedsHashedPlainName(name) ? LongNameStem(name) : std::string(name);
}

std::string_view LongNameStemOf(std::string_view backing_name) {
  if (IsLongNameStem(backing_name)) return backing_name;
  const auto split = SplitRedirectorName(backing_name);
  return split && IsLongNameStem(split->name) ? split->name : std::string_view();
}

std::string LongNameStem(std::string_view name) {
  const crypto::Sha256Mac digest = crypto::Sha256(AsBytes(name));
  return std::string(kLongNamePrefix) + ToHex(ByteView(digest.data(), digest.size()));
}

std::string LongNameEntry(std::string_view stem) {
  return std::string(stem) + std::string(kLongNameEntrySuffix);
}

std::optional<std::string_view> LongNameEntryStem(std::string_view entry) {
  if (entry.size() <= kLongNameEntrySuffix.size() ||
      entry.substr(entry.size() - kLongNameEntrySuffix.size()) != kLongNameEntrySuffix) {
    return std::nullopt;
  }
  const std::string_view stem = entry.substr(0, entry.size() - kLongNameEntrySuffix.size());
  if (!IsLongNameStem(stem)) return std::nullopt;
  return stem;
}

std::string EncodeLongNameEntry(std::string_view name) {
  std::string out(kLongNameMagic);
  out.append("\n").append(name).append("\n");
  return out;
}

Result<std::string> DecodeLongNameEntry(std::string_view text, std::string_view stem) {
  const std::string head = std::string(kLongNameMagic) + "\n";
  if (text.substr(0, head.size()) != head)
    return Status::Corruption("long name entry: bad first line");
  // The name is everything up to the last byte, a '\n' (a name may hold '\n' itself).
  std::string_view name = text.substr(head.size());
  if (name.size() < 2 || name.back() != '\n')
    return Status::Corruption("long name entry: no name line");
  name.remove_suffix(1);
  if (LongNameStem(name) != stem) {
    return Status::Corruption("long name entry: the name does not hash to " + std::string(stem));
  }
  return std::string(name);
}

std::string JoinRedirectorName(std::string_view stem, std::string_view pool) {
  std::string out;
  out.reserve(stem.size() + kRedirectorSeparator.size() + pool.size());
  out.append(stem).append(kRedirectorSeparator).append(pool);
  return out;
}

std::string RedirectorBackingName(std::string_view name, std::string_view pool) {
  return NeedsLongName(name, pool) ? JoinRedirectorName(LongNameStem(name), pool)
                                   : JoinRedirectorName(name, pool);
}

Result<std::string> CallerNameOf(
    const RedirectorName& split,
    const std::function<Result<std::string>(const std::string& entry)>& read_entry) {
  if (!IsLongNameStem(split.name)) return std::string(split.name);
  const std::string entry = LongNameEntry(split.name);
  CAFS_ASSIGN_OR_RETURN(std::string text, read_entry(entry));
  CAFS_ASSIGN_OR_RETURN(std::string name, DecodeLongNameEntry(text, split.name));
  if (!NeedsLongName(name, split.pool)) {
    return Status::Corruption(entry + " holds a name that is stored under its own name");
  }
  return name;
}

Result<std::string> CallerNameOfEntry(
    std::string_view backing_name, bool regular,
    const std::function<Result<std::string>(const std::string& entry)>& read_entry) {
  if (regular) {
    const auto split = SplitRedirectorName(backing_name);
    if (!split) return Status::NotFound(std::string(backing_name) + " is not a redirector");
    return CallerNameOf(*split, read_entry);
  }
  if (!IsLongNameStem(backing_name)) return std::string(backing_name);
  const std::string entry = LongNameEntry(backing_name);
  CAFS_ASSIGN_OR_RETURN(std::string text, read_entry(entry));
  CAFS_ASSIGN_OR_RETURN(std::string name, DecodeLongNameEntry(text, backing_name));
  if (!NeedsHashedPlainName(name)) {
    return Status::Corruption(entry + " holds a name that is stored under its own name");
  }
  return name;
}

bool IsRedirectorOf(std::string_view backing_name, std::string_view name) {
  const auto split = SplitRedirectorName(backing_name);
  return split && pool::ValidatePoolName(std::string(split->pool)).ok() &&
         RedirectorBackingName(name, split->pool) == backing_name;
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
