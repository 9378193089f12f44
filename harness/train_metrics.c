/* Classification metrics of cnnbench train (train.h): what the seed's
 * calculate_macro_f1_score meant to compute. Its loop set tp to every
 * prediction of class i, so precision was always 1; here a true positive
 * is an image of class i predicted as i, nothing else. */
#include <math.h>

#include "train.h"

double train_macro_f1(const int64_t *confusion, int classes, train_class_metrics *per)
{
    double sum = 0;
    int present = 0;
    for (int i = 0; i < classes; i++) {
        int64_t tp = confusion[(int64_t)i * classes + i], row = 0, col = 0;
        for (int j = 0; j < classes; j++) {
            row += confusion[(int64_t)i * classes + j]; /* true i: TP + FN */
            col += confusion[(int64_t)j * classes + i]; /* predicted i: TP + FP */
        }
        double p = col > 0 ? (double)tp / (double)col : 0.0;
        double r = row > 0 ? (double)tp / (double)row : 0.0;
        double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
        if (per)
            per[i] = (train_class_metrics){.precision = p, .recall = r, .f1 = f1, .support = row};
        if (row > 0 || col > 0) {
            sum += f1;
            present++;
        }
    }
    return present > 0 ? sum / present : 0.0;
}

void train_predict(const float *logits, int n, int classes, int32_t *pred)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (z[c] > z[best])
                best = c;
        pred[i] = best;
    }
}

double train_xent_sum(const float *logits, const int32_t *labels, int n, int classes)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        double mx = z[0], s = 0;
        for (int c = 1; c < classes; c++)
            mx = fmax(mx, z[c]);
        for (int c = 0; c < classes; c++)
            s += exp((double)z[c] - mx);
        sum += mx + log(s) - z[labels[i]];
    }
    return sum;
}
