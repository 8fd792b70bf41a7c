# Build speed: a compiler cache and a fast linker, for every tree.
#
# Compiler cache (docs/ci.md "Compiler cache"): every tree (release, ASan, fuzz, a user's)
# compiles through ccache when it is installed, so a CI run in a fresh clone in another
# folder reuses what the developer's own build compiled:
# - base_dir = the source tree: absolute paths below it are hashed as relative ones;
# - hash_dir off: the build directory (DW_AT_comp_dir of the -g builds) is not hashed
#   (a cached object keeps the comp_dir of the tree that compiled it first);
# - sloppiness for precompiled headers (pch_defines, time_macros) and for headers written
#   just before the compile (include_file_mtime/ctime: the PCH itself, generated files);
# - an explicit max_size, since free disk on these machines can run low.
# The cache directory is ccache's default (~/.cache/ccache); CCACHE_DIR overrides it.
# -DCAFS_CCACHE=OFF compiles without it.
option(CAFS_CCACHE "Compile through ccache when it is installed" ON)
set(CAFS_CCACHE_MAXSIZE "8G" CACHE STRING "ccache max_size for CAFS builds")
find_program(CAFS_CCACHE_PROGRAM ccache)
if(CAFS_CCACHE AND CAFS_CCACHE_PROGRAM)
  set(CAFS_CCACHE_LAUNCHER
      ${CMAKE_COMMAND} -E env
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}
      CCACHE_NOHASHDIR=1
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_MAXSIZE=${CAFS_CCACHE_MAXSIZE}
      ${CAFS_CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CAFS_CCACHE_LAUNCHER})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CAFS_CCACHE_LAUNCHER})
  message(STATUS "ccache: ${CAFS_CCACHE_PROGRAM} (max_size ${CAFS_CCACHE_MAXSIZE})")
endif()

# Linker: mold (Debian's `mold`) when installed links the test, app and fuzz executables
# several times faster than GNU ld (docs/ci.md). -DCAFS_MOLD=OFF uses the default linker.
option(CAFS_MOLD "Link with mold when it is installed" ON)
if(CAFS_MOLD)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=mold" CAFS_HAVE_MOLD)
  if(CAFS_HAVE_MOLD)
    add_link_options(-fuse-ld=mold)
    message(STATUS "linker: mold")
  endif()
endif()

# Debug information (docs/ci.md "Debug information"): the -g build types (RelWithDebInfo, the
# default, and Debug) emit line tables only (-g1; clang: -gline-tables-only) unless
# CAFS_DEBUG_INFO=full: enough for ASan/UBSan reports, backtraces and profilers with
# file:line, not for inspecting variables in a debugger, and about a quarter cheaper to
# compile. One default for developers and CI, so a developer's build fills the compiler cache
# CI reads. -DCAFS_DEBUG_INFO=full before a debugging session.
set(CAFS_DEBUG_INFO "lines" CACHE STRING "Debug information of the -g build types: lines or full")
set_property(CACHE CAFS_DEBUG_INFO PROPERTY STRINGS full lines)
if(CAFS_DEBUG_INFO STREQUAL "lines")
  foreach(var CMAKE_C_FLAGS_DEBUG CMAKE_CXX_FLAGS_DEBUG
              CMAKE_C_FLAGS_RELWITHDEBINFO CMAKE_CXX_FLAGS_RELWITHDEBINFO)
    string(REGEX REPLACE "(^| )-g( |$)" "\\1-g1\\2" ${var} "${${var}}")
  endforeach()
elseif(NOT CAFS_DEBUG_INFO STREQUAL "full")
  message(FATAL_ERROR "CAFS_DEBUG_INFO must be full or lines, not '${CAFS_DEBUG_INFO}'")
endif()
