# EDIF NBD: our server against clients we did not write (qemu-io, qemu-img, nbdinfo, nbdcopy).
if(TARGET nbd_test_server)
  add_test(NAME edif_nbd_external_clients
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/edif_nbd_test.sh $<TARGET_FILE:nbd_test_server>)
  set_tests_properties(edif_nbd_external_clients PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
