#include "table.h"

#include <algorithm>
#include <cctype>

namespace cafs::cafsctl {

void Table::Print(std::ostream& out) const {
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells, bool upper) {
    std::string s;
    for (std::size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : std::string();
      if (upper) {
        for (auto& c : cell) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      s += cell;
      if (i + 1 < width.size()) s += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(headers_, true);
  for (const auto& row : rows_) line(row, false);
  if (rows_.empty()) out << "(none)\n";
}

}  // namespace cafs::cafsctl
