#!/bin/bash -eu
# OSS-Fuzz's build script for nodealloc (projects/nodealloc/build.sh in google/oss-fuzz). The
# `compile` step runs it as `bash -eux $SRC/build.sh` in $SRC/nodealloc, with CC, CXX, CFLAGS,
# CXXFLAGS, LIB_FUZZING_ENGINE, SRC, WORK and OUT set; the checkout's own script does the work, so
# the build is the one tested locally (oss-fuzz/test-build) and used by ClusterFuzzLite.
exec "$SRC/nodealloc/tools/oss-fuzz-build"
