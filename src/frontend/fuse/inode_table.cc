#include "frontend/fuse/inode_table.h"

#include <algorithm>
#include <vector>

namespace cafs::frontend {

InodeTable::InodeTable() {
  nodes_[kRootIno] = Node{{"/"}, 1, {}, 0};
  by_path_["/"] = kRootIno;
}

std::string InodeTable::Child(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

std::optional<std::string> InodeTable::PathOf(std::uint64_t ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || it->second.paths.empty()) return std::nullopt;
  return it->second.paths.front();
}

std::uint64_t InodeTable::Remember(const std::string& path, std::uint64_t backing_ino,
                                   std::uint64_t nlink) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it != by_path_.end()) {
    Node& known = nodes_[it->second];
    if (backing_ino == 0 || known.backing_ino == backing_ino) {
      ++known.nlookup;
      return it->second;
    }
    DropPathLocked(it->second, path);  // the name now serves another file
  }
  if (backing_ino != 0 && nlink > 1) {
    if (auto b = by_backing_.find(backing_ino); b != by_backing_.end()) {
      Node& n = nodes_[b->second];
      n.paths.push_back(path);
      ++n.nlookup;
      by_path_[path] = b->second;
      return b->second;
    }
  }
  const std::uint64_t ino = next_++;
  nodes_[ino] = Node{{path}, 1, {}, backing_ino};
  by_path_[path] = ino;
  if (backing_ino != 0) by_backing_[backing_ino] = ino;
  return ino;
}

void InodeTable::DropPathLocked(std::uint64_t ino, const std::string& path) {
  if (auto p = by_path_.find(path); p != by_path_.end() && p->second == ino) by_path_.erase(p);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  auto& paths = it->second.paths;
  paths.erase(std::remove(paths.begin(), paths.end(), path), paths.end());
  if (paths.empty() && it->second.backing_ino != 0) {
    auto b = by_backing_.find(it->second.backing_ino);
    if (b != by_backing_.end() && b->second == ino) by_backing_.erase(b);
  }
}

void InodeTable::Forget(std::uint64_t ino, std::uint64_t n) {
  if (ino == kRootIno) return;
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  it->second.nlookup = it->second.nlookup > n ? it->second.nlookup - n : 0;
  if (it->second.nlookup > 0) return;
  for (const std::string& path : std::vector<std::string>(it->second.paths)) {
    DropPathLocked(ino, path);
  }
  if (it->second.backing_ino != 0) {
    auto b = by_backing_.find(it->second.backing_ino);
    if (b != by_backing_.end() && b->second == ino) by_backing_.erase(b);
  }
  nodes_.erase(it);
}

void InodeTable::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (from == to) return;
  if (auto target = by_path_.find(to); target != by_path_.end()) {
    const std::uint64_t replaced = target->second;
    if (auto src = by_path_.find(from); src != by_path_.end() && src->second == replaced) {
      return;  // two names of one file: rename(2) did nothing
    }
    DropPathLocked(replaced, to);
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
    if (auto old = by_path_.find(path); old != by_path_.end()) DropPathLocked(old->second, path);
    auto& paths = nodes_[ino].paths;
    const std::string old_path = from + path.substr(to.size());
    std::replace(paths.begin(), paths.end(), old_path, path);
    by_path_[path] = ino;
  }
}

void InodeTable::Detach(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  DropPathLocked(it->second, path);
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
