/* Reading meta.json back (plot, compare, the runs index): a small strict
 * JSON parser that flattens objects into dotted keys ("ceilings.fma_peak_gflops",
 * "libraries.OpenBLAS") with each value's text (strings unescaped; numbers,
 * true, false, null as written; an array as its JSON text). Errors name the
 * file, line and what was expected; depth and size are bounded, so a
 * hostile file cannot exhaust the stack or memory. */
#ifndef CNN_JSON_READ_H
#define CNN_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define JSON_READ_MAX_BYTES ((size_t)16 << 20)
#define JSON_READ_MAX_DEPTH 16

typedef enum json_kind { JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_NULL, JSON_ARRAY } json_kind;

typedef struct json_member {
    char *key;   /* dotted path */
    char *value; /* text */
    json_kind kind;
} json_member;

typedef struct json_doc {
    char *path;
    int n;
    json_member *m;
} json_doc;

cnn_status json_read(const char *path, json_doc **out);
/* The same from a buffer; `name` stands for the file in messages. */
cnn_status json_parse(const char *name, const char *buf, size_t n, json_doc **out);
void json_free(json_doc *d);

/* The member with this dotted key, or NULL. */
const json_member *json_get(const json_doc *d, const char *key);
/* Its text, or `fallback` when absent. */
const char *json_str(const json_doc *d, const char *key, const char *fallback);
/* Its number; NaN when absent, null or not a number. */
double json_num(const json_doc *d, const char *key);
/* true only for a member that is the literal true. */
bool json_true(const json_doc *d, const char *key);

#endif
