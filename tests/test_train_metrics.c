/* cnnbench train's metrics (train.h) on hand-made numbers: macro-F1 with
 * true positives counted right (not the seed's precision-always-1), a class
 * never predicted, a class absent from both truth and predictions, argmax
 * and the host cross-entropy. */
#include <math.h>

#include "test_util.h"
#include "train.h"

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static void test_macro_f1(void)
{
    /* rows: true class, columns: predicted. Class 2 is never predicted;
     * class 3 is neither a true nor a predicted class. */
    const int64_t conf[16] = {5, 1, 0, 0, /**/ 2, 3, 0, 0, /**/ 1, 2, 0, 0, /**/ 0, 0, 0, 0};
    train_class_metrics per[4];
    double m = train_macro_f1(conf, 4, per);
    /* class 0: TP 5, FP 3 (2 + 1 predicted 0), FN 1 */
    TU_CHECK(near(per[0].precision, 5.0 / 8) && near(per[0].recall, 5.0 / 6) &&
                 near(per[0].f1, 10.0 / 14),
             "class 0: P %g R %g F1 %g, want 0.625 0.8333 0.714286", per[0].precision,
             per[0].recall, per[0].f1);
    /* class 1: TP 3, FP 3, FN 2: F1 = 2TP / (2TP + FP + FN) = 6/11 */
    TU_CHECK(near(per[1].precision, 0.5) && near(per[1].recall, 0.6) && near(per[1].f1, 6.0 / 11),
             "class 1: P %g R %g F1 %g", per[1].precision, per[1].recall, per[1].f1);
    TU_CHECK(per[2].precision == 0 && per[2].recall == 0 && per[2].f1 == 0 && per[2].support == 3,
             "class 2 (never predicted): P %g R %g F1 %g support %lld", per[2].precision,
             per[2].recall, per[2].f1, (long long)per[2].support);
    /* the mean over classes 0-2; class 3 does not occur */
    TU_CHECK(near(m, (10.0 / 14 + 6.0 / 11) / 3), "macro-F1 %.12g, want %.12g", m,
             (10.0 / 14 + 6.0 / 11) / 3);
    /* a perfect classifier */
    const int64_t diag[4] = {7, 0, 0, 9};
    TU_CHECK(train_macro_f1(diag, 2, NULL) == 1.0, "diagonal matrix: macro-F1 %g",
             train_macro_f1(diag, 2, NULL));
    /* everything predicted as class 0: the seed's version gave precision 1 */
    const int64_t all0[4] = {4, 0, 6, 0};
    m = train_macro_f1(all0, 2, per);
    TU_CHECK(near(per[0].precision, 0.4) && near(m, (2 * 0.4 / 1.4) / 2),
             "all predicted 0: precision %g (want 0.4), macro-F1 %g", per[0].precision, m);
}

static void test_predict_xent(void)
{
    const float logits[6] = {0.f, 0.f, 0.f, 1.f, 3.f, 2.f};
    int32_t pred[2], labels[2] = {0, 2};
    train_predict(logits, 2, 3, pred);
    TU_CHECK(pred[0] == 0 && pred[1] == 1, "argmax %d %d, want 0 (first of a tie) and 1", pred[0],
             pred[1]);
    double want = log(3.0) + (3 + log(exp(-2.0) + 1 + exp(-1.0)) - 2);
    double got = train_xent_sum(logits, labels, 2, 3);
    TU_CHECK(fabs(got - want) < 1e-6, "cross-entropy sum %.9g, want %.9g", got, want);
}

int main(void)
{
    test_macro_f1();
    test_predict_xent();
    return tu_finish("test_train_metrics");
}
