# EDIF integration tests: one file per part, each optional.
include(${CMAKE_CURRENT_LIST_DIR}/edif_nbd.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_mailbox.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_link.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_host.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_agent.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_lifecycle.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_faults.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/edif_hostile.cmake OPTIONAL)
