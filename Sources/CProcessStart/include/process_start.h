#ifndef BUILDOS_CLEAN_PROCESS_START_H
#define BUILDOS_CLEAN_PROCESS_START_H

/// Nothing to call: the executables link this target for its constructor
/// (process_start.c), which runs before the Swift runtime starts.

#endif
