# Front-end fuzzers: one file per front-end, each optional.
include(${CMAKE_CURRENT_LIST_DIR}/nfs.cmake OPTIONAL)
