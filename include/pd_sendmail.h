/*
 * pd_sendmail.h - hand a mail to the MTA: run the configured Sendmail
 * command ("sendmail -t -i" style) through /bin/sh with the whole mail on
 * its standard input.
 *
 *   char err[256];
 *   if (pd_sendmail(cfg->sendmail, mail.data, mail.len, 120000, err, sizeof err) < 0)
 *       ... err says why: "exit status 75", "killed by signal 9", "timed out" ...
 *
 * The command's own output goes to ours (stdout, stderr).  A command that
 * takes longer than the timeout is killed.
 */
#ifndef PD_SENDMAIL_H
#define PD_SENDMAIL_H

#include <stddef.h>

/* 0 when the command read the mail and exited 0; -1 with err set. */
int pd_sendmail(const char *command, const char *data, size_t len, int timeout_ms, char *err,
                size_t errlen);

#endif
