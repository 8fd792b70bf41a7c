# Warning flags for all CAFS code. -Werror is on unless CAFS_WERROR=OFF.
set(CAFS_WARNING_FLAGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND CAFS_WARNING_FLAGS -Wmisleading-indentation -Wduplicated-cond -Wlogical-op)
endif()
if(CAFS_WERROR)
  list(APPEND CAFS_WARNING_FLAGS -Werror)
endif()
