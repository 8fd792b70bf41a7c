# EDIF fuzzers: one file per part, each optional.
include(${CMAKE_CURRENT_LIST_DIR}/edif_nbd_fuzz.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_mailbox_fuzz.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_link_fuzz.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_hba_fuzz.cmake OPTIONAL)
