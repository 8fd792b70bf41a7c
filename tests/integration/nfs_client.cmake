# NFS clients we did not write (libnfs) against the NFSv3 servers: nfs_procedures (every
# MOUNT and NFSv3 procedure, checked) against a private NFS-Ganesha (lib/ganesha.sh), which
# proves the program, and against cafsd. Each script exits 77 when a peer is missing.
add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/nfs_client ${CMAKE_CURRENT_BINARY_DIR}/nfs_client)
if(TARGET nfs_procedures)
  add_test(NAME nfs_ganesha_procedures
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_ganesha_test.sh $<TARGET_FILE:nfs_procedures>)
  set_tests_properties(nfs_ganesha_procedures PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
if(TARGET nfs_procedures AND TARGET cafsd)
  add_test(NAME nfs_cafs_procedures
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_procedures_cafs_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:nfs_procedures>)
  set_tests_properties(nfs_cafs_procedures PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# Names are bytes over NFS ('#', spaces, UTF-8, not UTF-8, name_max), pool file modes, the
# audit chain with non-UTF-8 names (issue 20 classes 9, 10, 11).
if(TARGET nfs_names AND TARGET cafsd)
  add_test(NAME nfs_cafs_names
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_names_cafs_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:nfs_names>)
  set_tests_properties(nfs_cafs_names PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
                       RESOURCE_LOCK heavy)
endif()
# POSIX semantics over NFS (issue 17): modes whatever cafsd's umask, MOUNT of a configured VM
# set without a directory, knfsd's permission checks with non-root AUTH_SYS uids, root squash.
if(TARGET nfs_posix AND TARGET cafsd)
  add_test(NAME nfs_cafs_posix
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_posix_cafs_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:nfs_posix>)
  set_tests_properties(nfs_cafs_posix PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
                       RESOURCE_LOCK heavy)
endif()
# Live migration through NFS (issue 15): libnfs pattern I/O with its first file handle checked
# throughout while `cafsd migrate` moves the image back and forth (docs/migration.md).
if(TARGET nfs_pattern_io AND TARGET cafsd)
  add_test(NAME nfs_cafs_migrate
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/nfs_migrate_cafs_test.sh $<TARGET_FILE:cafsd>
            $<TARGET_FILE:nfs_pattern_io> 8 4)
  set_tests_properties(nfs_cafs_migrate PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       RESOURCE_LOCK heavy)
endif()
