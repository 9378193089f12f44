/* cnnbench train: options, the run folder, one training per backend of
 * --backends (train_loop.c), the summary and the PyTorch peer (train.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auto_plan.h"
#include "cli.h"
#include "csv_read.h"
#include "commands.h"
#include "data_fmnist.h"
#include "data_transform.h"
#include "peer.h"
#include "registry.h"
#include "run_dir.h"
#include "train.h"

#define MAX_JOBS 8

typedef struct train_args {
    const char *model, *backends, *optimizer, *data, *results, *resume, *save_weights, *plan;
    const char *peer;
    int epochs, batch, threads, classes, image_size, limit;
    double lr, momentum, weight_decay;
    uint64_t seed;
    bool no_fuse;
} train_args;

/* The jobs of --backends (one per item; "a+b" is the ordered list a,b;
 * "auto" a searched plan) and of --plan. */
static int make_jobs(const cli_cmd *cmd, const train_args *a, train_job *jobs, int *njobs)
{
    *njobs = 0;
    const char *p = a->backends ? a->backends : "";
    char item[256];
    while (cli_next_item(&p, item, sizeof item)) {
        if (*njobs == MAX_JOBS - 2) /* room for --plan and the peer */
            return cli_usage_error(cmd, "--backends: at most %d trainings", MAX_JOBS - 2);
        train_job *j = &jobs[(*njobs)++];
        if (strlen(item) >= sizeof j->tag)
            return cli_usage_error(cmd, "--backends item '%s' is longer than %d characters", item,
                                   (int)sizeof j->tag - 1);
        snprintf(j->tag, sizeof j->tag, "%.63s", item);
        snprintf(j->backends, sizeof j->backends, "%s", item);
        for (char *c = j->backends; *c; c++)
            if (*c == '+')
                *c = ',';
        if (strcmp(item, "auto") == 0)
            continue;
        const cnn_backend *list[CNN_BACKEND_LIST_MAX];
        int n;
        if (cnn_backend_list_parse(j->backends, NULL, CNN_BACKEND_LIST_MAX, list, &n) != CNN_OK)
            return cli_usage_error(cmd, "--backends: %s", cnn_last_error());
        for (int k = 0; k < *njobs - 1; k++)
            if (strcmp(jobs[k].tag, j->tag) == 0)
                return cli_usage_error(cmd, "--backends lists %s twice", j->tag);
    }
    if (a->plan) {
        train_job *j = &jobs[(*njobs)++];
        snprintf(j->tag, sizeof j->tag, "plan");
    }
    if (!*njobs)
        return cli_usage_error(cmd, "give --backends B[,B2...], --plan FILE or both");
    return -1;
}

/* Plans for the "auto" and "plan" jobs: searched once, or read. */
static cnn_status make_plans(const train_args *a, const train_cfg *cfg, train_job *jobs, int njobs,
                             auto_plan *plans)
{
    cnn_status st = CNN_OK;
    for (int i = 0; i < njobs && st == CNN_OK; i++) {
        if (strcmp(jobs[i].tag, "auto") == 0) {
            auto_search s = {.model = a->model,
                             .batch = cfg->batch,
                             .image_size = cfg->image_size,
                             .threads = cfg->threads,
                             .device = CNN_DEVICE_HOST};
            printf("auto: searching the fastest backend of every layer pass...\n");
            st = auto_plan_search(&s, &plans[i], stdout);
        } else if (strcmp(jobs[i].tag, "plan") == 0) {
            st = auto_plan_read_named(a->plan, a->model, cfg->image_size, &plans[i]);
        } else {
            continue;
        }
        if (st == CNN_OK) {
            snprintf(jobs[i].backends, sizeof jobs[i].backends, "%s", plans[i].backends);
            jobs[i].plan = plans[i].entries;
            jobs[i].nplan = plans[i].nrows;
        }
    }
    return st;
}

static cnn_status load_data(const train_args *a, cnn_dataset *tr, cnn_dataset *te)
{
    cnn_status st = cnn_fmnist_load(a->data, CNN_FMNIST_TRAIN, tr);
    if (st == CNN_OK)
        st = cnn_fmnist_load(a->data, CNN_FMNIST_TEST, te);
    if (st == CNN_OK && a->limit > 0)
        st = cnn_dataset_limit(tr, a->limit, false, a->seed);
    if (st == CNN_OK && a->limit > 0)
        st = cnn_dataset_limit(te, a->limit, false, a->seed);
    if (st == CNN_OK && tr->n < a->batch)
        st = cnn_fail(CNN_ERR_INVALID_ARG,
                      "the training set has %lld images, fewer than one batch of %d",
                      (long long)tr->n, a->batch);
    return st;
}

static void settings(run_dir *rd, const train_args *a, const train_cfg *cfg, const cnn_dataset *tr,
                     const cnn_dataset *te)
{
    report_json *j = run_dir_settings(rd);
    report_json_str(j, "model", a->model);
    report_json_str(j, "backends", a->backends);
    report_json_str(j, "plan", a->plan);
    report_json_str(j, "optimizer", a->optimizer);
    report_json_raw(j, "lr", "%.17g", a->lr);
    report_json_raw(j, "momentum", "%.17g", cfg->optim.mode == CNN_OPTIM_SGD ? a->momentum : 0);
    report_json_raw(j, "betas", "[%.17g, %.17g]", cfg->optim.beta1, cfg->optim.beta2);
    report_json_raw(j, "eps", "%.17g", cfg->optim.eps);
    report_json_raw(j, "weight_decay", "%.17g", a->weight_decay);
    report_json_raw(j, "batch", "%d", a->batch);
    report_json_raw(j, "epochs", "%d", a->epochs);
    report_json_raw(j, "image_size", "%d", cfg->image_size);
    report_json_raw(j, "channels", "%d", cfg->c);
    report_json_raw(j, "classes", "%d", cfg->classes);
    report_json_raw(j, "limit", "%lld", (long long)a->limit);
    report_json_raw(j, "train_images", "%lld", (long long)tr->n);
    report_json_raw(j, "test_images", "%lld", (long long)te->n);
    report_json_str(j, "train_images_file", tr->images_path);
    report_json_str(j, "train_labels_file", tr->labels_path);
    report_json_str(j, "test_images_file", te->images_path);
    report_json_str(j, "test_labels_file", te->labels_path);
    report_json_str(j, "resume", a->resume);
    report_json_str(j, "peer", a->peer);
    report_json_str(j, "drop_last", "training batches: floor(n / batch) an epoch");
}

/* The PyTorch peer's epochs as rows of backend pytorch. */
/* The peer's last epoch and total time into job, for the summary. */
static cnn_status peer_summary(const char *path, train_job *job)
{
    csv_table *t = NULL;
    cnn_status st = csv_read(path, &t);
    if (st != CNN_OK)
        return st;
    snprintf(job->tag, sizeof job->tag, "pytorch");
    for (int r = 0; r < t->nrows; r++) {
        job->epochs_done = (int)csv_num(t, r, csv_col(t, "epoch"));
        job->final_test_acc = csv_num(t, r, csv_col(t, "test_acc"));
        job->final_macro_f1 = csv_num(t, r, csv_col(t, "test_macro_f1"));
        job->total_s += csv_num(t, r, csv_col(t, "epoch_s"));
    }
    csv_free(t);
    return CNN_OK;
}

static cnn_status run_peer(const train_args *a, const train_cfg *cfg, const cnn_dataset *tr,
                           report_csv *csv, train_job *job)
{
    char info[1024];
    if (!peer_probe(info, sizeof info)) {
        printf("pytorch: not usable here (%s); the run goes on without it\n", info);
        return CNN_OK;
    }
    char data[4096], csv_path[4096];
    snprintf(data, sizeof data, "%s", tr->images_path);
    char *slash = strrchr(data, '/');
    if (slash)
        *slash = '\0';
    peer_train_request rq = {.dir = cfg->run_path,
                             .model = a->model,
                             .data_dir = data,
                             .optimizer = a->optimizer,
                             .threads = cfg->threads,
                             .epochs = a->epochs,
                             .batch = a->batch,
                             .image_size = cfg->image_size,
                             .lr = a->lr,
                             .momentum = a->momentum,
                             .weight_decay = a->weight_decay,
                             .seed = a->seed,
                             .limit = a->limit};
    char *comma = strchr(info, ',');
    if (comma)
        *comma = '\0'; /* the python; the script is pytorch_train.py beside the probed one */
    printf("pytorch: training %s with harness/peers/pytorch_train.py (%s)...\n", a->model, info);
    fflush(stdout);
    cnn_status st = peer_run_train(&rq, csv_path, sizeof csv_path);
    if (st == CNN_OK)
        st = train_csv_append_file(csv, csv_path, "pytorch");
    if (st == CNN_OK)
        st = peer_summary(csv_path, job);
    return st;
}

static void summary(const train_job *jobs, int njobs)
{
    printf("\n%-24s %8s %9s %6s %12s\n", "backend", "epochs", "test acc", "macro-F1", "total time");
    for (int i = 0; i < njobs; i++)
        printf("%-24s %8d %9.4f %8.4f %10.1f s%s\n", jobs[i].tag, jobs[i].epochs_done,
               jobs[i].final_test_acc, jobs[i].final_macro_f1, jobs[i].total_s,
               jobs[i].interrupted ? "  (interrupted)" : "");
}

static int train(const train_args *a, train_cfg *cfg, train_job *jobs, int njobs, int argc,
                 char **argv)
{
    cnn_dataset tr = {0}, te = {0};
    auto_plan plans[MAX_JOBS] = {0};
    cnn_status st = load_data(a, &tr, &te);
    cfg->train = &tr;
    cfg->test = &te;
    if (st == CNN_OK)
        st = make_plans(a, cfg, jobs, njobs, plans);
    run_dir rd;
    bool have_rd = false;
    if (st == CNN_OK &&
        (st = run_dir_init(&rd, "train", argc, argv, a->seed, cfg->threads)) == CNN_OK) {
        settings(&rd, a, cfg, &tr, &te);
        st = run_dir_create(&rd, a->results);
        have_rd = st == CNN_OK;
    }
    report_csv *csv = NULL;
    if (have_rd) {
        cfg->run_path = rd.path;
        st = train_csv_open(rd.path, &csv);
    }
    int ran = 0;
    for (int i = 0; i < njobs && st == CNN_OK && !run_dir_stopping(); i++, ran++) {
        if (cfg->save_weights)
            snprintf(jobs[i].save_dir, sizeof jobs[i].save_dir, njobs > 1 ? "%s/%s" : "%s",
                     a->save_weights, jobs[i].tag);
        st = train_run(cfg, &jobs[i], csv);
    }
    if (st == CNN_OK && have_rd && ran)
        st = train_confusion_write(rd.path, jobs, ran, cfg->classes);
    if (st == CNN_OK && have_rd && strcmp(a->peer, "pytorch") == 0 && !run_dir_stopping())
        st = run_peer(a, cfg, &tr, csv, &jobs[ran]);
    if (csv) {
        cnn_status cst = report_csv_close(csv, st == CNN_OK);
        st = st == CNN_OK ? cst : st;
    }
    if (ran)
        summary(jobs, ran + (jobs[ran].epochs_done > 0));
    for (int i = 0; i < njobs; i++) {
        free(jobs[i].confusion);
        auto_plan_free(&plans[i]);
    }
    cnn_dataset_free(&tr);
    cnn_dataset_free(&te);
    if (!have_rd)
        return cli_fail("train", st);
    int rc = run_dir_close(&rd, st, "train.csv, confusion.csv, checkpoints/, meta.json");
    return rc >= 0 ? rc : CLI_EXIT_OK;
}

/* Options that need more than the parser's checks; -1 when all are fine. */
static int check_args(const cli_cmd *cmd, train_args *a, train_cfg *cfg)
{
    const cnn_model_desc *d = cnn_model_find(a->model);
    if (!d) {
        char names[256];
        return cli_usage_error(cmd, "unknown model '%s'; valid models: %s", a->model,
                               cnn_model_names(names, sizeof names));
    }
    int rc = cli_check_choice(cmd, "optimizer", a->optimizer, "adam,sgd");
    if (rc < 0)
        rc = cli_check_choice(cmd, "peer", a->peer, "none,pytorch");
    if (rc >= 0)
        return rc;
    if (!strcmp(a->peer, "pytorch") && strcmp(a->model, "fashion_cnn") &&
        strcmp(a->model, "lenet5"))
        return cli_usage_error(cmd,
                               "--peer pytorch trains the seed's models only (fashion_cnn, "
                               "lenet5), not %s",
                               a->model);
    if (a->epochs < 1 || a->batch < 1)
        return cli_usage_error(cmd, "--epochs and --batch must be at least 1");
    if (a->classes < CNN_FMNIST_CLASSES || a->classes > TRAIN_MAX_CLASSES)
        return cli_usage_error(cmd, "--classes must be in [%d, %d] (Fashion-MNIST has %d), got %d",
                               CNN_FMNIST_CLASSES, TRAIN_MAX_CLASSES, CNN_FMNIST_CLASSES,
                               a->classes);
    if (a->image_size < 0 || a->image_size > CNN_TRANSFORM_MAX_SIZE)
        return cli_usage_error(cmd,
                               "--image-size must be in [0, %d] (0: the model's usual), got %d",
                               CNN_TRANSFORM_MAX_SIZE, a->image_size);
    if (a->threads < 0 || a->limit < 0)
        return cli_usage_error(cmd, "--threads and --limit must not be negative");
    if (a->resume) {
        struct stat sb;
        char meta[4200];
        snprintf(meta, sizeof meta, "%s/meta.json", a->resume);
        if (stat(a->resume, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_usage_error(cmd, "--resume %s is not a run folder", a->resume);
        if (stat(meta, &sb) != 0) /* e.g. killed before it had one: nothing to say where from */
            return cli_usage_error(cmd, "--resume %s is not a run folder (no meta.json)",
                                   a->resume);
    }
    cfg->model = a->model;
    cfg->epochs = a->epochs;
    cfg->batch = a->batch;
    cfg->classes = a->classes;
    cfg->c = d->c;
    cfg->image_size = a->image_size ? a->image_size : d->h;
    cfg->seed = a->seed;
    cfg->resume = a->resume;
    cfg->save_weights = a->save_weights != NULL;
    cfg->optim =
        (cnn_optim_desc){.mode = strcmp(a->optimizer, "adam") ? CNN_OPTIM_SGD : CNN_OPTIM_ADAM,
                         .count = 1,
                         .lr = a->lr,
                         .momentum = strcmp(a->optimizer, "sgd") ? 0 : a->momentum,
                         .beta1 = 0.9,
                         .beta2 = 0.999,
                         .eps = 1e-8,
                         .weight_decay = a->weight_decay,
                         .step = 1};
    if (cnn_optim_init(&cfg->optim) != CNN_OK)
        return cli_usage_error(cmd, "%s", cnn_last_error());
    return -1;
}

int cmd_train(int argc, char **argv)
{
    train_args a = {.optimizer = "adam",
                    .results = "results",
                    .peer = "none",
                    .epochs = 10,
                    .batch = 128,
                    .classes = 10,
                    .lr = 0.001,
                    .momentum = 0.9};
    cli_opt opts[] = {
        {"model", CLI_STRING, &a.model, "NAME", "model (see cnnbench models)", true, false},
        {"backends", CLI_STRING, &a.backends, "B[,B2...]",
         "train on each in turn from the same initial weights; B+C: the ordered list B,C for "
         "one training; auto: the fastest backend per layer pass, searched once",
         false, false},
        {"plan", CLI_STRING, &a.plan, "FILE",
         "one more training on a plan.csv's backends per layer pass (tagged plan)", false, false},
        {"epochs", CLI_INT, &a.epochs, "N", "epochs (10)", false, false},
        {"batch", CLI_INT, &a.batch, "N", "images per step (128)", false, false},
        {"optimizer", CLI_STRING, &a.optimizer, "adam|sgd", "torch.optim's rules (adam)", false,
         false},
        {"lr", CLI_DOUBLE, &a.lr, "X", "learning rate (0.001)", false, false},
        {"momentum", CLI_DOUBLE, &a.momentum, "X", "SGD's momentum (0.9)", false, false},
        {"weight-decay", CLI_DOUBLE, &a.weight_decay, "X", "L2 weight decay (0)", false, false},
        {"seed", CLI_U64, &a.seed, "S", "initial weights, shuffles, flips and dropout masks (0)",
         false, false},
        {"threads", CLI_INT, &a.threads, "N", "CPU threads (default: OpenMP's)", false, false},
        CLI_NO_FUSE_OPT(&a.no_fuse),
        {"limit", CLI_INT, &a.limit, "N",
         "the first N training and N test images (file order; 0: all)", false, false},
        {"classes", CLI_INT, &a.classes, "N", "the model's outputs (10)", false, false},
        {"image-size", CLI_INT, &a.image_size, "N",
         "input side, bilinear from 28 (default: the model's usual: 32, 28 for lenet5, 224)", false,
         false},
        {"data", CLI_STRING, &a.data, "DIR",
         "the Fashion-MNIST folder (default: $CNNBENCH_DATA, /usr/share/datasets/fashion-mnist, "
         "...)",
         false, false},
        {"results", CLI_STRING, &a.results, "DIR", "results root (default results)", false, false},
        {"resume", CLI_STRING, &a.resume, "RUN_DIR",
         "continue RUN_DIR's training after its last complete epoch (same options)", false, false},
        {"save-weights", CLI_STRING, &a.save_weights, "DIR",
         "the final weights in the `cnnbench run --weights` layout (DIR/TAG with several "
         "backends)",
         false, false},
        {"peer", CLI_STRING, &a.peer, "pytorch|none",
         "then train the same model in PyTorch (harness/peers/pytorch_train.py): rows of "
         "backend pytorch",
         false, false},
    };
    cli_cmd cmd = {
        .name = "train",
        .summary = "Train a model on Fashion-MNIST; evaluate on the test set after every epoch.",
        .details =
            "Writes RESULTS/<run-id>/train.csv (a row per epoch and backend: losses, accuracies,\n"
            "macro-F1, per-class precision/recall/F1, times, images/s, the share of time spent\n"
            "waiting for data), confusion.csv (the last evaluation; rows true class, columns\n"
            "predicted), checkpoints/TAG/epoch-N/ (weights, optimizer state, steps) and\n"
            "meta.json. --resume RUN_DIR continues each backend from its newest checkpoint in a\n"
            "new run folder, and ends with the same bits as a run never stopped. Ctrl-C ends\n"
            "the batch at hand, saves a checkpoint there (epoch-N-batch-B) and exits 130.\n"
            "Models that take 3 channels get the grey image in each. Training drops the\n"
            "short last batch of an epoch (the model's batch is fixed); evaluation sees all.\n"
            "exit codes: 0 ok, 1 failed run, 2 bad usage, 3 unsupported.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .aliases = (const cli_alias[]){{"backend", "backends"}, {NULL, NULL}},
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    train_cfg cfg = {0};
    train_job jobs[MAX_JOBS] = {0};
    int njobs = 0;
    if ((rc = check_args(&cmd, &a, &cfg)) >= 0 || (rc = make_jobs(&cmd, &a, jobs, &njobs)) >= 0)
        return rc;
    cfg.threads = cli_set_threads(a.threads);
    cfg.no_fuse = a.no_fuse;
    return train(&a, &cfg, jobs, njobs, argc, argv);
}
