// Parses arbitrary bytes as a VM set and as a policy descriptor. Whatever parses must
// serialize to a canonical form that parses back to an equal value and serializes identically.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/policy_descriptor.h"
#include "policy/vm_set.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto v = cafs::policy::VmSet::Parse(text); v.ok()) {
    const std::string xml = v->ToXml();
    auto again = cafs::policy::VmSet::Parse(xml);
    Check(again.ok());
    Check(*again == *v);
    Check(again->ToXml() == xml);
  }
  if (auto d = cafs::policy::PolicyDescriptor::Parse(text); d.ok()) {
    const std::string xml = d->ToXml();
    auto again = cafs::policy::PolicyDescriptor::Parse(xml);
    Check(again.ok());
    Check(*again == *d);
    Check(again->ToXml() == xml);
    for (std::string_view path : {"windows_xp/osdisk1.vmdk", "", "a/b/c"}) {
      auto m = d->Match(path);
      Check(m.ok() || m.status().IsNotFound());
    }
  }
  return 0;
}
