/* The subcommands of cnnbench: each takes the words after its name and
 * returns the process exit code (see cli.h). */
#ifndef CNN_COMMANDS_H
#define CNN_COMMANDS_H

int cmd_backends(int argc, char **argv);
int cmd_op(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_train(int argc, char **argv);

#endif
