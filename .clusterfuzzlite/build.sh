#!/bin/bash -eu
# ClusterFuzzLite runs this as `bash -eux $SRC/build.sh` in $SRC/nodealloc, with CC, CXX, CFLAGS,
# CXXFLAGS, LIB_FUZZING_ENGINE, SRC, WORK and OUT set for the sanitizer it builds. The checkout's
# script does the work: the same build as OSS-Fuzz's and as the local test (oss-fuzz/test-build).
exec "$SRC/nodealloc/tools/oss-fuzz-build"
