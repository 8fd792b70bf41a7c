// Table: the human output of cafsctl, columns padded to their widest cell.
// Threading: a plain value.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cafs::cafsctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Headers in upper case, then one line per row; "(none)" when there are no rows.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace cafs::cafsctl
