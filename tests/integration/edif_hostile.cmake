# EDIF hostile-client suites (issue 20): real edifd processes, attacked through their NBD
# exports and the mailbox disk by tests/integration/edif_hostile_client.py; after each attack a
# normal client (qemu-io; for the mailbox a fresh edif-agent) must be served within 5 s.
if(TARGET edifd)
  add_test(NAME edif_nbd_hostile
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_nbd_hostile_test.sh $<TARGET_FILE:edifd>)
  set_tests_properties(edif_nbd_hostile PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 180 RESOURCE_LOCK heavy)
endif()
if(TARGET edifd AND TARGET edif-agent)
  add_test(NAME edif_mailbox_hostile
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_mailbox_hostile_test.sh $<TARGET_FILE:edifd>
            $<TARGET_FILE:edif-agent>)
  set_tests_properties(edif_mailbox_hostile PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 180 RESOURCE_LOCK heavy)
endif()
