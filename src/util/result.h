// Result<T>: either a value of type T or a non-OK Status.
//
// Usage:
//   Result<Header> r = DecodeHeader(bytes);
//   if (!r.ok()) return r.status();
//   Header h = std::move(r).value();
// or with the macro: CAFS_ASSIGN_OR_RETURN(Header h, DecodeHeader(bytes));
//
// Accessing value() of a failed Result aborts (a bug, not an error path).
#pragma once

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "util/status.h"

namespace cafs {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "Result<Status> makes no sense");

 public:
  // Implicit from a value or from a (non-OK) Status, so functions can `return value;` or
  // `return Status::NotFound(...)`.
  Result(const T& value) : data_(value) {}            // NOLINT(google-explicit-constructor)
  Result(T&& value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(data_).ok()) std::abort();   // an OK Status carries no value
  }
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Status> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& value)
      : data_(std::in_place_type<T>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }

  // OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(data_); }

  T& value() & { return Checked(); }
  const T& value() const& { return const_cast<Result*>(this)->Checked(); }
  T&& value() && { return std::move(Checked()); }

  T* operator->() { return &Checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Checked(); }

  // The value, or `fallback` when failed.
  T value_or(T fallback) const& { return ok() ? std::get<T>(data_) : std::move(fallback); }

 private:
  T& Checked() {
    if (!ok()) std::abort();
    return std::get<T>(data_);
  }

  std::variant<T, Status> data_;
};

}  // namespace cafs

#define CAFS_CONCAT_INNER_(a, b) a##b
#define CAFS_CONCAT_(a, b) CAFS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (a Result<T>); on failure returns its Status from the enclosing function,
// otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#define CAFS_ASSIGN_OR_RETURN(lhs, rexpr) \
  CAFS_ASSIGN_OR_RETURN_IMPL_(CAFS_CONCAT_(cafs_result_, __LINE__), lhs, rexpr)
#define CAFS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
