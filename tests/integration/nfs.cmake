# NFSv3 front-end end to end: cafsd (NFS only) in a private network namespace driven by the
# libnfs tools, qemu-img and qemu-io; a denied client through a veth pair; kill -9 + restart.
if(TARGET cafsd)
  add_test(NAME cafs_nfs_end_to_end
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/nfs_e2e_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(cafs_nfs_end_to_end PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# Hostile clients on the NFS, MOUNT and portmapper ports (issue 20): malformed records, bad
# headers, non-UTF-8 and '#' names, idle floods and slow clients from 127.0.0.2; a normal
# request within 5 s after each, the audit chain verifies. Bounded: < 2 minutes.
if(TARGET cafsd)
  add_test(NAME nfs_hostile
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_hostile_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(nfs_hostile PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 150
                       RESOURCE_LOCK heavy)
endif()
# Server identity over NFS (issue 16 defect 5): three network namespaces, cafsd in one, a
# registered and an unregistered NFS client (libnfs tools) in the others; the registered one
# reads and writes, the other is refused and audited with its address. < 30 s.
if(TARGET cafsd)
  add_test(NAME nfs_server_identity
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_server_identity_test.sh $<TARGET_FILE:cafsd>)
  set_tests_properties(nfs_server_identity PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120
                       RESOURCE_LOCK heavy)
endif()
