/* cnnbench compare: two bench runs' results.csv side by side.
 *
 * A run is compared only when its meta.json says it finished
 * (compare_run_load); what differs between the two machines and builds is
 * printed before any ratio (compare_meta_print); rows are matched by
 * COMPARE_KEY_COLS and each pair judged against a threshold: the larger of
 * a floor (5%, --threshold) and COMPARE_SPREAD_FACTOR times the larger of
 * the two rows' spreads, the spread being the relative median absolute
 * deviation of reps_ms, median(|x_i - median|) / median (compare_rows). */
#ifndef CNN_COMPARE_H
#define CNN_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include "csv_read.h"
#include "json_read.h"
#include "status.h"

#define COMPARE_FLOOR_PCT 5.0
#define COMPARE_SPREAD_FACTOR 3.0
#define COMPARE_CEILING_PCT 10.0 /* ceilings that differ by less are not reported */

/* The columns that name a case (op too: a TOTAL row is over the --ops selection). */
#define COMPARE_KEYS 9
extern const char *const compare_key_cols[COMPARE_KEYS + 1];

typedef struct compare_run {
    const char *label; /* "RUN_A" */
    const char *dir;
    json_doc *meta;
    csv_table *rows; /* results.csv */
    int key[COMPARE_KEYS], status, median, reps;
} compare_run;

/* Read DIR/meta.json and DIR/results.csv. Refused (CNN_ERR_INVALID_ARG,
 * the reason in cnn_last_error, naming the label): a folder without a
 * readable meta.json, a run that did not finish (complete false, status
 * running, interrupted or failed), a run other than bench, a results.csv
 * that the reader rejects (FILE:LINE) or that lacks a needed column. */
cnn_status compare_run_load(compare_run *r, const char *label, const char *dir);
void compare_run_free(compare_run *r);

/* Print what differs between the runs' machines, builds, libraries,
 * threads and ceilings (beyond COMPARE_CEILING_PCT); returns how many. */
int compare_meta_print(FILE *out, const compare_run *a, const compare_run *b);

typedef enum compare_flag {
    CMP_SAME,    /* both timed, within the threshold */
    CMP_SLOWER,  /* B / A > 1 + threshold */
    CMP_FASTER,  /* A / B > 1 + threshold */
    CMP_LOST,    /* timed in A, not in B (B's status not OK) */
    CMP_NEW,     /* timed in B, not in A */
    CMP_UNTIMED, /* timed in neither */
    CMP_ONLY_A,  /* no such row in B */
    CMP_ONLY_B,  /* no such row in A */
    CMP_FLAGS
} compare_flag;

typedef struct compare_row {
    int a, b;                  /* the row in each results.csv, -1 where absent */
    double a_ms, b_ms;         /* median_ms, NaN where not timed */
    double a_spread, b_spread; /* relative MAD of reps_ms; NaN without repetitions */
    double threshold;          /* relative: 0.05 is 5% */
    compare_flag flag;
} compare_row;

typedef struct compare_table {
    compare_row *rows; /* A's rows in A's order, then B's rows absent from A */
    int n;
    int count[CMP_FLAGS];
} compare_table;

/* Match the rows of a and b and judge each pair; floor_pct is the
 * threshold's floor in percent. A case that appears twice in one file is
 * an error naming both lines. */
cnn_status compare_rows(const compare_run *a, const compare_run *b, double floor_pct,
                        compare_table *out);
void compare_table_free(compare_table *t);
const char *compare_flag_name(compare_flag f);

/* The relative median absolute deviation of a reps_ms list ("1.2;1.3;1.1"):
 * false if it is not a list of positive numbers; NaN for an empty one. */
bool compare_spread(const char *reps_ms, double *spread);

/* The table (stdout), the rows present in one run only, and compare.csv. */
void compare_print(FILE *out, const compare_run *a, const compare_run *b, const compare_table *t);
cnn_status compare_write_csv(const char *path, const compare_run *a, const compare_run *b,
                             const compare_table *t);

#endif
