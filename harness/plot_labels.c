/* cnnbench plot: placing the text labels of a scatter chart so that they
 * do not cover each other or the points: each label tries the right of its
 * point, then the left, at its height, then a line higher or lower, up to
 * three lines, and takes the first free place. The sizes are estimates of
 * gnuplot's: a 7-point label is about 10 pixels high and 5.4 per letter. */
#include <math.h>
#include <string.h>

#include "plot.h"

#define LINE_PX 10.0
#define CHAR_PX 5.4
#define GAP_PX 9.0 /* point to label */
#define POINT_PX 6.0

typedef struct box {
    double x0, x1, y0, y1;
} box;

static bool overlaps(const box *a, const box *b)
{
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

void plot_place_labels(plot_label *l, int n, const plot_frame *fr)
{
    enum { MAX = 1024 };
    static box taken[2 * MAX];
    int ntaken = 0;
    double px[MAX], py[MAX];
    n = n > MAX ? MAX : n;
    for (int i = 0; i < n; i++) {
        px[i] = (log10(l[i].x) - fr->lx0) / (fr->lx1 - fr->lx0) * fr->width;
        py[i] = (log10(l[i].y) - fr->ly0) / (fr->ly1 - fr->ly0) * fr->height;
    }
    for (int g = 0; g <= 8; g++) { /* each group (panel) on its own */
        ntaken = 0;
        for (int i = 0; i < n; i++)
            if (l[i].group == g)
                taken[ntaken++] =
                    (box){px[i] - POINT_PX, px[i] + POINT_PX, py[i] - POINT_PX, py[i] + POINT_PX};
        for (int i = 0; i < n; i++) {
            if (l[i].group != g)
                continue;
            double w = strlen(l[i].text) * CHAR_PX;
            static const int shifts[7] = {0, 1, -1, 2, -2, 3, -3};
            box best = {0, 0, 0, 0};
            int side = 1, shift = 0;
            bool found = false;
            for (int k = 0; k < 7 && !found; k++)
                for (int s = 1; s >= -1 && !found; s -= 2) {
                    double y = py[i] + shifts[k] * LINE_PX;
                    box b = s > 0 ? (box){px[i] + GAP_PX, px[i] + GAP_PX + w, y - LINE_PX / 2,
                                          y + LINE_PX / 2}
                                  : (box){px[i] - GAP_PX - w, px[i] - GAP_PX, y - LINE_PX / 2,
                                          y + LINE_PX / 2};
                    bool free = b.x0 >= 0 && b.x1 <= fr->width && b.y0 >= 0 && b.y1 <= fr->height;
                    for (int t = 0; t < ntaken && free; t++)
                        free = !overlaps(&b, &taken[t]);
                    if (free) {
                        found = true;
                        best = b;
                        side = s;
                        shift = shifts[k];
                    }
                }
            if (!found) /* crowded: at the right of the point, over whatever is there */
                best = (box){px[i] + GAP_PX, px[i] + GAP_PX + w, py[i] - LINE_PX / 2,
                             py[i] + LINE_PX / 2};
            if (ntaken < 2 * MAX)
                taken[ntaken++] = best;
            l[i].side = side;
            l[i].ly =
                pow(10, fr->ly0 + (py[i] + shift * LINE_PX) / fr->height * (fr->ly1 - fr->ly0));
        }
    }
}
