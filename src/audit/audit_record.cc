#include "audit/audit_record.h"

#include <nlohmann/json.hpp>

#include "crypto/mac.h"
#include "util/bytes.h"

namespace cafs::audit {

namespace {
constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";
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
  j["server"] = server;
  j["vmset"] = vmset;
  j["vm"] = vm;
  j["file"] = file;
  j["op"] = op;
  j["result"] = std::string(ResultName(result));
  j["reason"] = reason;
  j["bytes"] = bytes;
  j["count"] = count;
  j["prev"] = prev_hash;
  return j;
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
  CAFS_RETURN_IF_ERROR(field("server", &r.server));
  CAFS_RETURN_IF_ERROR(field("vmset", &r.vmset));
  CAFS_RETURN_IF_ERROR(field("vm", &r.vm));
  CAFS_RETURN_IF_ERROR(field("file", &r.file));
  CAFS_RETURN_IF_ERROR(field("op", &r.op));
  CAFS_RETURN_IF_ERROR(field("result", &result));
  CAFS_RETURN_IF_ERROR(field("reason", &r.reason));
  CAFS_RETURN_IF_ERROR(field("bytes", &r.bytes));
  CAFS_RETURN_IF_ERROR(field("count", &r.count));
  CAFS_RETURN_IF_ERROR(field("prev", &r.prev_hash));
  CAFS_RETURN_IF_ERROR(field("hash", &r.hash));
  CAFS_ASSIGN_OR_RETURN(r.result, ParseResult(result));
  if (j.size() != 14) return Status::InvalidArgument("audit line has unknown fields");
  return r;
}

}  // namespace cafs::audit
