#include "units.h"

#include <math.h>
#include <stdio.h>

/* Three significant digits of v / scale, then the prefix and the unit. */
static char *scaled(double v, double base, const char *const *prefix, int nprefix, const char *unit,
                    char *buf, size_t n)
{
    int i = 0;
    double a = fabs(v);
    while (i + 1 < nprefix && a >= base * 0.9995) {
        a /= base;
        v /= base;
        i++;
    }
    int decimals = i == 0 && v == floor(v) ? 0 : a < 9.995 ? 2 : a < 99.95 ? 1 : 0;
    snprintf(buf, n, "%.*f %s%s", decimals, v, prefix[i], unit);
    return buf;
}

char *units_si(double v, const char *unit, char *buf, size_t n)
{
    static const char *const p[] = {"", "k", "M", "G", "T", "P"};
    if (!isfinite(v)) {
        snprintf(buf, n, "%g %s", v, unit);
        return buf;
    }
    return scaled(v, 1000.0, p, 6, unit, buf, n);
}

char *units_bytes(double bytes, char *buf, size_t n)
{
    static const char *const p[] = {"", "Ki", "Mi", "Gi", "Ti"};
    return scaled(bytes, 1024.0, p, 5, "B", buf, n);
}
