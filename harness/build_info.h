/* What a result was built from: cnnbench's version, the source commit, the
 * build and the libraries in it. `cnnbench --version` prints it; every
 * run's meta.json holds it.
 *
 * The commit is asked of git at run time (`git -C SOURCE_DIR rev-parse
 * HEAD`, and `git status --porcelain --untracked-files=no` for
 * uncommitted changes to tracked files, read without taking git's locks)
 * when the source tree the build was configured from is still there with
 * its .git; otherwise it is the commit CMake saw at configure time, which
 * goes stale as soon as anything is committed without reconfiguring, and
 * the dirty flag is unknown. */
#ifndef CNN_BUILD_INFO_H
#define CNN_BUILD_INFO_H

#include <stdio.h>

#include "libraries.h"
#include "report.h"

#define BUILD_INFO_LIBS (CNN_LIBRARIES_MAX + 1)

typedef struct build_info {
    const char *version;          /* CMake's project version, "0.1" */
    char commit[72];              /* the full hash, or "unknown" */
    int dirty;                    /* tracked files changed since commit: 1, 0, -1 unknown */
    const char *commit_source;    /* "git at run time" or "configure time" */
    const char *configure_commit; /* the commit at configure time */
    const char *source_dir;       /* where the build was configured from */
    const char *build_type;       /* CMAKE_BUILD_TYPE */
    const char *compiler;         /* __VERSION__ */
    const char *c_flags;          /* CMake's C flags for the build type, -Wall -Wextra */
    cnn_library_version libs[BUILD_INFO_LIBS]; /* the backends' libraries, Google Benchmark */
    int nlibs;
} build_info;

void build_info_read(build_info *b);

/* The --version text. */
void build_info_print(const build_info *b, FILE *out);

/* As JSON members: version, git_commit, git_dirty, commit_source,
 * configure_commit, build_type, compiler, compiler_flags, backends_built, libraries. */
void build_info_json(report_json *j, const build_info *b);

#endif
