#include "audit/audit_record.h"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "audit/text_field.h"
#include "crypto/mac.h"
#include "util/bytes.h"

namespace cafs::audit {

namespace {
constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";
constexpr std::size_t kFieldCount = 14;    // without `client` and the `<field>_b64` members
constexpr const char* kClient = "client";  // optional: only when not empty
constexpr std::string_view kExactSuffix = "_b64";

// The text fields that may carry bytes (names, caller-supplied text): docs/audit.md "Names
// that are not UTF-8". `prev`, `hash` and `result` are ours and always ASCII.
template <typename Record>
auto TextFields(Record& r) {
  using Field = std::pair<const char*, decltype(&r.server)>;
  return std::array<Field, 6>{{{"server", &r.server},
                               {"vmset", &r.vmset},
                               {"vm", &r.vm},
                               {"file", &r.file},
                               {"op", &r.op},
                               {"reason", &r.reason}}};
}

// Sets `name` (and `name_b64` when `value` is not UTF-8) in `j` (text_field.h).
void PutText(nlohmann::json& j, const char* name, const std::string& value) {
  if (IsValidUtf8(value)) {
    j[name] = value;
    return;
  }
  j[name] = DisplayText(value);
  j[std::string(name) + std::string(kExactSuffix)] = Base64Encode(value);
}
}  // namespace

std::string_view GenesisHash() { return kGenesis; }

std::string_view ResultName(Result r) {
  switch (r) {
    case Result::kOk:
      return "ok";
    case Result::kDenied:
      return "denied";
    case Result::kError:
      return "error";
    case Result::kAlert:
      return "alert";
  }
  return "unknown";
}

cafs::Result<Result> ParseResult(std::string_view text) {
  for (Result r : {Result::kOk, Result::kDenied, Result::kError, Result::kAlert}) {
    if (ResultName(r) == text) return r;
  }
  return Status::InvalidArgument("audit result must be ok, denied, error or alert, got '" +
                                 std::string(text) + "'");
}

nlohmann::json AuditRecord::ToCanonicalJson() const {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  nlohmann::json j;
  j["seq"] = seq;
  j["time_ms"] = time_ms;
  j["end_ms"] = end_ms;
  for (const auto& [name, value] : TextFields(*this)) PutText(j, name, *value);
  if (!client.empty()) j[kClient] = DisplayText(client);  // an address: ASCII in practice
  j["result"] = std::string(ResultName(result));
  j["bytes"] = bytes;
  j["count"] = count;
  j["prev"] = prev_hash;
  return j;
}

AuditRecord AuditRecord::ForDisplay() const {
  AuditRecord shown = *this;
  for (const auto& [name, value] : TextFields(shown)) *value = DisplayText(*value);
  return shown;
}

std::string AuditRecord::ComputeHash() const {
  std::string material = prev_hash;
  material += ToCanonicalJson().dump();
  auto digest = crypto::Sha256(AsBytes(material));
  return ToHex(ByteView(digest.data(), digest.size()));
}

std::string AuditRecord::ToLine() const {
  nlohmann::json j = ToCanonicalJson();
  j["hash"] = hash;
  return j.dump();
}

cafs::Result<AuditRecord> AuditRecord::FromLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("audit line is not a JSON object");
  }
  AuditRecord r;
  auto field = [&](const char* name, auto* out) -> Status {
    auto it = j.find(name);
    if (it == j.end())
      return Status::InvalidArgument(std::string("audit line lacks '") + name + "'");
    using T = std::remove_pointer_t<decltype(out)>;
    if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string())
        return Status::InvalidArgument(std::string("'") + name + "' must be a string");
    } else {
      if (!it->is_number_integer()) {
        return Status::InvalidArgument(std::string("'") + name + "' must be an integer");
      }
    }
    *out = it->template get<T>();
    return Status::OK();
  };
  std::string result;
  CAFS_RETURN_IF_ERROR(field("seq", &r.seq));
  CAFS_RETURN_IF_ERROR(field("time_ms", &r.time_ms));
  CAFS_RETURN_IF_ERROR(field("end_ms", &r.end_ms));
  CAFS_RETURN_IF_ERROR(field("result", &result));
  CAFS_RETURN_IF_ERROR(field("bytes", &r.bytes));
  CAFS_RETURN_IF_ERROR(field("count", &r.count));
  CAFS_RETURN_IF_ERROR(field("prev", &r.prev_hash));
  CAFS_RETURN_IF_ERROR(field("hash", &r.hash));
  CAFS_ASSIGN_OR_RETURN(r.result, ParseResult(result));
  std::size_t exact_fields = 0;
  if (j.contains(kClient)) {
    CAFS_RETURN_IF_ERROR(field(kClient, &r.client));
    // One form per record: an empty client is written as no member.
    if (r.client.empty()) return Status::InvalidArgument("'client' must not be empty");
    ++exact_fields;
  }
  for (const auto& [name, value] : TextFields(r)) {
    CAFS_RETURN_IF_ERROR(field(name, value));
    const std::string exact_name = std::string(name) + std::string(kExactSuffix);
    std::string exact;
    if (!j.contains(exact_name)) continue;
    CAFS_RETURN_IF_ERROR(field(exact_name.c_str(), &exact));
    ++exact_fields;
    // One form per value: `<field>_b64` only for bytes that are not UTF-8, and the field
    // itself must be their display form (a record cannot show one name and pin another).
    auto bytes = Base64Decode(exact);
    if (!bytes || IsValidUtf8(*bytes) || DisplayText(*bytes) != *value) {
      return Status::InvalidArgument("'" + exact_name + "' is not the base64 of the non-UTF-8 '" +
                                     name + "' it stands for");
    }
    *value = std::move(*bytes);
  }
  if (j.size() != kFieldCount + exact_fields) {
    return Status::InvalidArgument("audit line has unknown fields");
  }
  return r;
}

}  // namespace cafs::audit
