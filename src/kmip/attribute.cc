#include "kmip/attribute.h"

namespace cafs::kmip {

Item ToItem(const Attribute& a) {
  Item v = a.value;
  v.tag = Value(Tag::kAttributeValue);
  Item s = Item::Structure(Tag::kAttribute, {Item::TextString(Tag::kAttributeName, a.name)});
  if (a.index != 0) s.children.push_back(Item::Integer(Tag::kAttributeIndex, a.index));
  s.children.push_back(std::move(v));
  return s;
}

Result<Attribute> AttributeFrom(const Item& item) {
  if (item.type != ItemType::kStructure) {
    return Status::InvalidArgument("KMIP Attribute is not a structure");
  }
  const Item* name = item.Find(Tag::kAttributeName);
  const Item* value = item.Find(Tag::kAttributeValue);
  if (name == nullptr || name->type != ItemType::kTextString) {
    return Status::InvalidArgument("KMIP Attribute without an Attribute Name");
  }
  if (value == nullptr) {
    return Status::InvalidArgument("KMIP Attribute '" + name->bytes + "' without a value");
  }
  Attribute a;
  a.name = name->bytes;
  if (const Item* idx = item.Find(Tag::kAttributeIndex)) {
    if (idx->type != ItemType::kInteger) {
      return Status::InvalidArgument("KMIP Attribute Index is not an integer");
    }
    a.index = static_cast<std::int32_t>(idx->integer);
  }
  a.value = *value;
  return a;
}

Result<std::vector<Attribute>> AttributesIn(const Item& parent) {
  std::vector<Attribute> out;
  for (const Item* i : parent.FindAll(Tag::kAttribute)) {
    CAFS_ASSIGN_OR_RETURN(Attribute a, AttributeFrom(*i));
    out.push_back(std::move(a));
  }
  return out;
}

Item NameValue(std::string_view name) {
  return Item::Structure(
      Tag::kAttributeValue,
      {Item::TextString(Tag::kNameValue, name),
       Item::Enumeration(Tag::kNameType,
                         static_cast<std::uint32_t>(NameType::kUninterpretedTextString))});
}

Result<std::string> NameText(const Item& value) {
  const Item* v = value.type == ItemType::kStructure ? value.Find(Tag::kNameValue) : nullptr;
  if (v == nullptr || v->type != ItemType::kTextString) {
    return Status::InvalidArgument("KMIP Name attribute without a Name Value text string");
  }
  return v->bytes;
}

}  // namespace cafs::kmip
