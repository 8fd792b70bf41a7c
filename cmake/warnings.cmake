# Warning flags for all CAFS code. -Werror only with CAFS_WERROR=ON (developer and CI builds).
# -Wnull-dereference is left out: GCC 12 reports false positives inside libstdc++ at -O2.
set(CAFS_WARNING_FLAGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND CAFS_WARNING_FLAGS -Wmisleading-indentation -Wduplicated-cond -Wlogical-op)
endif()
if(CAFS_WERROR)
  list(APPEND CAFS_WARNING_FLAGS -Werror)
endif()
