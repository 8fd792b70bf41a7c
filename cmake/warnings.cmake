# Warning flags for all CAFS code. -Werror only with CAFS_WERROR=ON (developer and CI builds).
# -Wnull-dereference is left out: GCC 12 reports false positives inside libstdc++ at -O2.
set(CAFS_WARNING_FLAGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND CAFS_WARNING_FLAGS -Wmisleading-indentation -Wduplicated-cond -Wlogical-op)
endif()
# GCC 12 at -O3 (CMAKE_BUILD_TYPE=Release) reports -Wrestrict and -Wstringop-overflow false
# positives inside libstdc++'s inlined std::string and std::copy (GCC bugs 105329, 105651,
# 106199: "accessing 9223372036854775810 or more bytes"); they are off for that case only, so
# a user's Release build compiles cleanly. The CI trees (-O2 and -O0) keep both warnings.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND CAFS_WARNING_FLAGS $<$<CONFIG:Release>:-Wno-restrict$<SEMICOLON>-Wno-stringop-overflow>)
endif()
if(CAFS_WERROR)
  list(APPEND CAFS_WARNING_FLAGS -Werror)
endif()
