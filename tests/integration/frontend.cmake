# Front-end integration tests live with the gateway's (cafs.cmake): the FUSE front-end is
# exercised end to end by cafs_fuse_end_to_end. NFS tests will be added here.
