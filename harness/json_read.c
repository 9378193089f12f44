#include "json_read.h"

#include "csv_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    const char *name, *s;
    size_t n, at;
    json_doc *d;
    int cap;
} jp;

static int line_of(const jp *p)
{
    int line = 1;
    for (size_t i = 0; i < p->at && i < p->n; i++)
        line += p->s[i] == '\n';
    return line;
}

static cnn_status bad(const jp *p, const char *what)
{
    return cnn_fail(CNN_ERR_INVALID_ARG, "%s:%d: %s", p->name, line_of(p), what);
}

static void skip_ws(jp *p)
{
    while (p->at < p->n && strchr(" \t\r\n", p->s[p->at]))
        p->at++;
}

static cnn_status add(jp *p, const char *key, char *value, json_kind kind)
{
    if (p->d->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        json_member *m = realloc(p->d->m, (size_t)cap * sizeof *m);
        if (!m) {
            free(value);
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
        }
        p->d->m = m;
        p->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(value);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
    }
    p->d->m[p->d->n++] = (json_member){k, value, kind};
    return CNN_OK;
}

/* A string at p->at (the opening quote), unescaped into a new buffer;
 * \uXXXX outside ASCII becomes '?'. */
static cnn_status string(jp *p, char **out)
{
    *out = NULL;
    p->at++;
    char *b = malloc(p->n - p->at + 1);
    if (!b)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
    size_t k = 0;
    while (p->at < p->n && p->s[p->at] != '"') {
        char c = p->s[p->at++];
        if ((unsigned char)c < 0x20) {
            free(b);
            return bad(p, "a control character inside a string");
        }
        if (c != '\\') {
            b[k++] = c;
            continue;
        }
        if (p->at >= p->n)
            break;
        char e = p->s[p->at++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = strchr(from, e);
        if (e && hit) {
            b[k++] = to[hit - from];
        } else if (e == 'u' && p->at + 4 <= p->n) {
            unsigned v = 0;
            for (int i = 0; i < 4; i++) {
                char h = p->s[p->at++];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0) {
                    free(b);
                    return bad(p, "a bad \\u escape");
                }
                v = v * 16 + (unsigned)d;
            }
            b[k++] = v > 0 && v < 0x80 ? (char)v : '?';
        } else {
            free(b);
            return bad(p, "a bad escape in a string");
        }
    }
    if (p->at >= p->n) {
        free(b);
        return bad(p, "a string is not closed before the end");
    }
    p->at++;
    b[k] = '\0';
    *out = b;
    return CNN_OK;
}

static cnn_status value(jp *p, const char *key, int depth);

static cnn_status object(jp *p, const char *prefix, int depth)
{
    if (depth > JSON_READ_MAX_DEPTH)
        return bad(p, "objects nested too deep");
    p->at++; /* { */
    skip_ws(p);
    if (p->at < p->n && p->s[p->at] == '}') {
        p->at++;
        return CNN_OK;
    }
    for (;;) {
        skip_ws(p);
        if (p->at >= p->n || p->s[p->at] != '"')
            return bad(p, "expected a member name in quotes");
        char *k;
        cnn_status st = string(p, &k);
        if (st != CNN_OK)
            return st;
        size_t len = strlen(prefix) + strlen(k) + 2;
        char *full = malloc(len);
        if (!full) {
            free(k);
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
        }
        snprintf(full, len, "%s%s%s", prefix, *prefix ? "." : "", k);
        free(k);
        skip_ws(p);
        if (p->at >= p->n || p->s[p->at] != ':') {
            free(full);
            return bad(p, "expected ':' after a member name");
        }
        p->at++;
        st = value(p, full, depth);
        free(full);
        if (st != CNN_OK)
            return st;
        skip_ws(p);
        if (p->at < p->n && p->s[p->at] == ',') {
            p->at++;
            continue;
        }
        if (p->at < p->n && p->s[p->at] == '}') {
            p->at++;
            return CNN_OK;
        }
        return bad(p, "expected ',' or '}' after a member");
    }
}

/* An array is kept as its text: skip it with bracket and string matching. */
static cnn_status array(jp *p, const char *key, int depth)
{
    size_t start = p->at;
    int level = 0;
    while (p->at < p->n) {
        char c = p->s[p->at];
        if (c == '"') {
            char *junk;
            cnn_status st = string(p, &junk);
            free(junk);
            if (st != CNN_OK)
                return st;
            continue;
        }
        p->at++;
        if (c == '[' && ++level + depth > JSON_READ_MAX_DEPTH)
            return bad(p, "arrays nested too deep");
        if (c == ']' && --level == 0) {
            size_t len = p->at - start;
            char *v = malloc(len + 1);
            if (!v)
                return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
            memcpy(v, p->s + start, len);
            v[len] = '\0';
            return add(p, key, v, JSON_ARRAY);
        }
    }
    return bad(p, "an array is not closed before the end");
}

static cnn_status value(jp *p, const char *key, int depth)
{
    skip_ws(p);
    if (p->at >= p->n)
        return bad(p, "expected a value before the end");
    char c = p->s[p->at];
    if (c == '{')
        return object(p, key, depth + 1);
    if (c == '[')
        return array(p, key, depth);
    if (c == '"') {
        char *v;
        cnn_status st = string(p, &v);
        return st == CNN_OK ? add(p, key, v, JSON_STRING) : st;
    }
    static const struct {
        const char *word;
        json_kind kind;
    } words[] = {{"true", JSON_BOOL}, {"false", JSON_BOOL}, {"null", JSON_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(words[i].word);
        if (p->n - p->at >= len && !strncmp(p->s + p->at, words[i].word, len)) {
            p->at += len;
            char *v = strdup(words[i].word);
            return v ? add(p, key, v, words[i].kind)
                     : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
        }
    }
    size_t start = p->at;
    while (p->at < p->n && strchr("+-.0123456789eE", p->s[p->at]))
        p->at++;
    if (p->at == start)
        return bad(p, "expected a value (string, number, object, array, true, false, null)");
    char num[64];
    size_t len = p->at - start;
    if (len >= sizeof num)
        return bad(p, "a number too long");
    memcpy(num, p->s + start, len);
    num[len] = '\0';
    char *end;
    (void)strtod(num, &end);
    if (*end)
        return bad(p, "a malformed number");
    char *v = strdup(num);
    return v ? add(p, key, v, JSON_NUMBER)
             : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", p->name);
}

void json_free(json_doc *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        free(d->m[i].key);
        free(d->m[i].value);
    }
    free(d->m);
    free(d->path);
    free(d);
}

cnn_status json_parse(const char *name, const char *buf, size_t n, json_doc **out)
{
    *out = NULL;
    if (n > JSON_READ_MAX_BYTES)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %zu bytes, more than a meta.json may have", name,
                        n);
    json_doc *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(name))) {
        free(d);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
    }
    jp p = {.name = name, .s = buf, .n = n, .d = d};
    skip_ws(&p);
    cnn_status st = p.at < n && buf[p.at] == '{' ? object(&p, "", 1)
                                                 : bad(&p, "expected a JSON object ('{')");
    if (st == CNN_OK) {
        skip_ws(&p);
        if (p.at < n)
            st = bad(&p, "text after the object's closing '}'");
    }
    if (st != CNN_OK) {
        json_free(d);
        return st;
    }
    *out = d;
    return CNN_OK;
}

cnn_status json_read(const char *path, json_doc **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    cnn_status st = read_file_bounded(path, JSON_READ_MAX_BYTES, &buf, &n);
    if (st == CNN_OK)
        st = json_parse(path, buf, n, out);
    free(buf);
    return st;
}

const json_member *json_get(const json_doc *d, const char *key)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->m[i].key, key))
            return &d->m[i];
    return NULL;
}

const char *json_str(const json_doc *d, const char *key, const char *fallback)
{
    const json_member *m = json_get(d, key);
    return m ? m->value : fallback;
}

double json_num(const json_doc *d, const char *key)
{
    const json_member *m = json_get(d, key);
    if (!m || m->kind != JSON_NUMBER)
        return NAN;
    return strtod(m->value, NULL);
}

bool json_true(const json_doc *d, const char *key)
{
    const json_member *m = json_get(d, key);
    return m && m->kind == JSON_BOOL && !strcmp(m->value, "true");
}
