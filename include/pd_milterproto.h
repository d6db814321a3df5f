/*
 * pd_milterproto.h - the milter protocol, served: the MTA's side of
 * patchdigest-milter (instead of libmilter).
 *
 *   struct pd_milterproto *mp;
 *   pd_milterproto_listen(&mp, "unix:/run/pd.sock", err, sizeof err);
 *                                       opens the socket (a stale unix socket
 *                                       file is removed first)
 *   pd_milterproto_set_idle(mp, seconds);   optional: the idle timeout
 *   pd_milterproto_start(mp, &ops, arg, threads);
 *                                       serves connections on `threads` threads
 *   pd_milterproto_stop(mp);            stops accepting, joins the threads,
 *                                       closes every connection (ops.close)
 *   pd_milterproto_free(mp);            closes the socket, frees
 *
 * It speaks the milter protocol as the MTA's milter client does (Postfix's
 * smtpd/cleanup, Sendmail; versions 2 to 6): it negotiates away every step
 * but recipients, headers, body and end of message, asks for no replies
 * to the steps that allow none (SMFIP_NR_*), takes headers with their
 * leading space (SMFIP_HDR_LEADSPC) where the MTA offers it, and answers
 * ACCEPT at end of message.  It never asks to change a mail.
 *
 * Why not libmilter: libmilter reads each packet with a poll and two reads
 * and hands sessions between a listener and a pool of worker threads under
 * one lock; a mail of 20 headers cost about 60 system calls and, at 64
 * connections on two cores, convoys of threads waiting for that lock (p99
 * 2.4 times the empty filter's).  Here each connection's bytes are read in
 * as large reads as they come and every whole packet in them is handled;
 * a fixed set of threads waits on one epoll set, each connection armed
 * for one thread at a time (EPOLLONESHOT), so a connection's packets are
 * handled in order and no lock is taken per packet.
 *
 * What closes a connection (as libmilter does; the MTA then applies its
 * default action to that mail, and the other connections go on): a packet
 * over 256 KiB or of length 0, an unknown command, an option negotiation
 * below version 2 or too short, a header packet without its name or NULs,
 * a recipient packet without its NUL, a reply that cannot be written
 * within a second (the MTA reads none of them), and nothing from the MTA
 * for PD_MILTERPROTO_IDLE_S.
 *
 * The callbacks run on the serving threads, one at a time per connection,
 * never two for one connection at once; arg is handed to open().
 */
#ifndef PD_MILTERPROTO_H
#define PD_MILTERPROTO_H

#include <stdbool.h>
#include <stddef.h>

/* The largest packet taken (command byte and data), as libmilter's
 * largest setting (MILTER_MDS_256K): Postfix sends a header of up to
 * header_size_limit (100 KB) as one packet. */
#define PD_MILTERPROTO_MAX_PACKET (256 * 1024)

/* A connection silent this long is closed (libmilter's default timeout). */
#define PD_MILTERPROTO_IDLE_S 7210

struct pd_milterproto_ops {
    /* A new connection: its state (NULL: the connection is closed). */
    void *(*open)(void *arg);
    /* An envelope recipient (the address as the MTA gives it, with <>). */
    void (*rcpt)(void *conn, const char *addr);
    /* A header; leadspc: value keeps the blank after the colon. */
    void (*header)(void *conn, const char *name, const char *value, bool leadspc);
    /* A piece of the body (as the MTA sends it: CRLF line ends). */
    void (*body)(void *conn, const unsigned char *chunk, size_t len);
    /* End of message: qid is the queue id (macro i), NULL if not sent.
     * The engine answers ACCEPT when it returns. */
    void (*eom)(void *conn, const char *qid);
    /* The MTA gave up the current mail; the connection goes on. */
    void (*abort)(void *conn);
    /* The connection ends (MTA closed it, protocol error, or stop). */
    void (*close)(void *conn);
};

struct pd_milterproto;

/* Open the listening socket: unix:/path, local:/path, inet:port@host,
 * inet:port (every address), inet6:port@host (host may be in brackets).
 * 0, or -1 with err set. */
int pd_milterproto_listen(struct pd_milterproto **out, const char *spec, char *err,
                          size_t errlen);

/* Start serving on `threads` threads (at least 1).  0, or -1 with errno. */
int pd_milterproto_start(struct pd_milterproto *mp, const struct pd_milterproto_ops *ops,
                         void *arg, unsigned threads);

/* Stop: no more connections are accepted, the threads end after the
 * packets they are handling, and every open connection is closed. */
void pd_milterproto_stop(struct pd_milterproto *mp);

/* Close connections silent for `seconds` instead of PD_MILTERPROTO_IDLE_S
 * (tests); before pd_milterproto_start(). */
void pd_milterproto_set_idle(struct pd_milterproto *mp, int seconds);

/* Connections accepted so far, and open now. */
void pd_milterproto_counts(struct pd_milterproto *mp, unsigned long *accepted,
                           unsigned long *open);

void pd_milterproto_free(struct pd_milterproto *mp);

#endif
