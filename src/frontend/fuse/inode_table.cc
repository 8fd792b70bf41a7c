#include "frontend/fuse/inode_table.h"

#include <algorithm>
#include <vector>

namespace cafs::frontend {

InodeTable::InodeTable() {
  nodes_[kRootIno] = Node{"/", 1, {}};
  by_path_["/"] = kRootIno;
}

std::string InodeTable::Child(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

std::optional<std::string> InodeTable::PathOf(std::uint64_t ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || it->second.path.empty()) return std::nullopt;
  return it->second.path;
}

std::uint64_t InodeTable::Remember(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it != by_path_.end()) {
    ++nodes_[it->second].nlookup;
    return it->second;
  }
  const std::uint64_t ino = next_++;
  nodes_[ino] = Node{path, 1, {}};
  by_path_[path] = ino;
  return ino;
}

void InodeTable::Forget(std::uint64_t ino, std::uint64_t n) {
  if (ino == kRootIno) return;
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  it->second.nlookup = it->second.nlookup > n ? it->second.nlookup - n : 0;
  if (it->second.nlookup > 0) return;
  if (!it->second.path.empty()) {
    auto p = by_path_.find(it->second.path);
    if (p != by_path_.end() && p->second == ino) by_path_.erase(p);
  }
  nodes_.erase(it);
}

void InodeTable::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (auto target = by_path_.find(to); target != by_path_.end()) {
    nodes_[target->second].path.clear();
    by_path_.erase(target);
  }
  std::vector<std::pair<std::string, std::uint64_t>> moved;
  for (auto it = by_path_.lower_bound(from); it != by_path_.end();) {
    const std::string& p = it->first;
    if (p != from && (p.size() <= from.size() || p.compare(0, from.size(), from) != 0 ||
                      p[from.size()] != '/')) {
      if (p.compare(0, from.size(), from) != 0) break;
      ++it;
      continue;
    }
    moved.emplace_back(to + p.substr(from.size()), it->second);
    it = by_path_.erase(it);
  }
  for (auto& [path, ino] : moved) {
    if (auto old = by_path_.find(path); old != by_path_.end()) nodes_[old->second].path.clear();
    nodes_[ino].path = path;
    by_path_[path] = ino;
  }
}

void InodeTable::Detach(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  nodes_[it->second].path.clear();
  by_path_.erase(it);
}

void InodeTable::AddOpen(std::uint64_t ino, std::uint64_t fh) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it != nodes_.end()) it->second.open.push_back(fh);
}

void InodeTable::RemoveOpen(std::uint64_t ino, std::uint64_t fh) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  auto& open = it->second.open;
  open.erase(std::remove(open.begin(), open.end(), fh), open.end());
}

std::optional<std::uint64_t> InodeTable::AnyOpen(std::uint64_t ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || it->second.open.empty()) return std::nullopt;
  return it->second.open.front();
}

std::size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

}  // namespace cafs::frontend
