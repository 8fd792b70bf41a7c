// KMIP attributes (KMIP 1.1 specification sections 2.1.1 Attribute and 3): the
// (Attribute Name, [Attribute Index], Attribute Value) structure that Create's Template-
// Attribute, Locate and Get Attributes carry, and the names kpsd serves.
// Threading: values; functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmip/ttlv.h"

namespace cafs::kmip {

// Attribute names (section 3), as they appear in Attribute Name.
inline constexpr std::string_view kAttrUniqueIdentifier = "Unique Identifier";
inline constexpr std::string_view kAttrName = "Name";
inline constexpr std::string_view kAttrObjectType = "Object Type";
inline constexpr std::string_view kAttrCryptographicAlgorithm = "Cryptographic Algorithm";
inline constexpr std::string_view kAttrCryptographicLength = "Cryptographic Length";
inline constexpr std::string_view kAttrCryptographicUsageMask = "Cryptographic Usage Mask";
inline constexpr std::string_view kAttrState = "State";
inline constexpr std::string_view kAttrInitialDate = "Initial Date";
inline constexpr std::string_view kAttrActivationDate = "Activation Date";

struct Attribute {
  std::string name;
  std::int32_t index = 0;
  Item value;  // tag Attribute Value; its type depends on the attribute
};

// Builds the Attribute structure.
Item ToItem(const Attribute& a);
// Parses one Attribute structure: InvalidArgument when the name or the value is missing.
Result<Attribute> AttributeFrom(const Item& item);
// Every Attribute child of `parent` (e.g. a Template-Attribute or a Locate payload).
Result<std::vector<Attribute>> AttributesIn(const Item& parent);

// The Name attribute's value: a structure (Name Value text, Name Type enumeration).
Item NameValue(std::string_view name);
// The text of a Name attribute value; InvalidArgument if it is not that structure.
Result<std::string> NameText(const Item& value);

}  // namespace cafs::kmip
