/*
 * gmime.c - GMime (and the GLib it brings), loaded when first needed.  See
 * pd_gmime.h.
 *
 * The functions of GMime, GObject and GLib this file calls are looked up
 * once with dlsym() into one table (FNS below: adding a call means adding
 * its name there), typed from GMime's own header, so the compiler checks
 * every call as if it were linked.  Nothing else in patchdigest includes
 * GMime's header, and the linker refuses a direct call (the binary is not
 * linked with it).
 *
 * A charset GMime or GLib converts from is kept open (pd_charset_pin()):
 * glibc unloads a charset's module (gconv) a few conversions after its last
 * user closed it, and loads it again at the next, each time mapping and
 * relocating a shared object (the CJK ones are four).
 */
#include "pd_gmime.h"
#include "pd_charset.h"

#include <dlfcn.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef PD_GMIME_SONAME
#define PD_GMIME_SONAME "libgmime-3.0.so.0"
#endif

#define FNS(X) \
    X(g_mime_init) \
    X(g_object_unref) \
    X(g_free) \
    X(g_type_check_instance_is_a) \
    X(g_convert_with_fallback) \
    X(g_mime_content_encoding_from_string) \
    X(g_mime_stream_mem_new) \
    X(g_mime_stream_mem_new_with_buffer) \
    X(g_mime_stream_mem_get_byte_array) \
    X(g_mime_stream_filter_new) \
    X(g_mime_stream_filter_add) \
    X(g_mime_stream_flush) \
    X(g_mime_filter_charset_new) \
    X(g_mime_data_wrapper_new_with_stream) \
    X(g_mime_data_wrapper_write_to_stream) \
    X(g_mime_parser_new_with_stream) \
    X(g_mime_parser_construct_part) \
    X(g_mime_object_get_header_list) \
    X(g_mime_object_get_content_type) \
    X(g_mime_object_get_content_type_parameter) \
    X(g_mime_header_list_get_header) \
    X(g_mime_header_get_raw_value) \
    X(g_mime_multipart_get_type) \
    X(g_mime_multipart_get_count) \
    X(g_mime_multipart_get_part) \
    X(g_mime_part_get_type) \
    X(g_mime_part_get_content) \
    X(g_mime_part_get_filename) \
    X(g_mime_content_type_get_media_type) \
    X(g_mime_content_type_get_media_subtype) \
    X(g_mime_content_type_is_type) \
    X(internet_address_list_parse) \
    X(internet_address_list_length) \
    X(internet_address_list_get_address) \
    X(internet_address_mailbox_get_type) \
    X(internet_address_mailbox_get_addr) \
    X(internet_address_group_get_type) \
    X(internet_address_group_get_members) \
    X(internet_address_get_name)

static struct {
#define X(f) __typeof__(&f) f;
    FNS(X)
#undef X
} G;

/* the load: once, by the first caller; the others wait for it */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static enum { NOT_LOADED, LOADING, LOAD_ENDED } state;
static atomic_bool ended;        /* state == LOAD_ENDED, read without mu */
static bool loaded;              /* it ended well; set before ended */
static char load_err[256];

static void do_load(void)
{
    char err[sizeof load_err] = "";
    void *h = dlopen(PD_GMIME_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, sizeof err, "cannot load GMime (%s): %s", PD_GMIME_SONAME,
                 e ? e : "unknown error");
    }
#define X(f) \
    if (h && !*err && !(G.f = (__typeof__(G.f))dlsym(h, #f))) \
        snprintf(err, sizeof err, "GMime (%s) has no %s", PD_GMIME_SONAME, #f);
    FNS(X)
#undef X
    if (!*err)
        G.g_mime_init();
    else if (h)
        dlclose(h);
    pthread_mutex_lock(&mu);
    snprintf(load_err, sizeof load_err, "%s", err);
    loaded = !*err;
    state = LOAD_ENDED;
    atomic_store_explicit(&ended, true, memory_order_release);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

int pd_gmime_load(char *err, size_t errlen)
{
    if (!atomic_load_explicit(&ended, memory_order_acquire)) {
        pthread_mutex_lock(&mu);
        if (state == NOT_LOADED) {
            state = LOADING;
            pthread_mutex_unlock(&mu);
            do_load();
            pthread_mutex_lock(&mu);
        }
        while (state != LOAD_ENDED)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    if (!loaded && err && errlen)
        snprintf(err, errlen, "%s", load_err);
    return loaded ? 0 : -1;
}

const char *pd_gmime_error(void)
{
    if (!atomic_load_explicit(&ended, memory_order_acquire))
        return "";
    return load_err;
}

static _Thread_local unsigned long failed_needs;

unsigned long pd_gmime_failed_needs(void)
{
    return failed_needs;
}

/* GMime, loaded or waited for: 0, or -1 (it cannot be loaded: counted). */
static int need(void)
{
    if (atomic_load_explicit(&ended, memory_order_acquire) ? loaded
                                                           : pd_gmime_load(NULL, 0) == 0)
        return 0;
    failed_needs++;
    return -1;
}

static bool converts(const char *charset)
{
    return charset && strcasecmp(charset, "utf-8") != 0 && strcasecmp(charset, "us-ascii") != 0;
}

/* The content of w, transfer-decoded and converted from charset, handed
 * to take(). */
static void *decode_wrapper(GMimeDataWrapper *w, const char *charset, pd_gmime_take_fn *take,
                            void *arg)
{
    GMimeStream *mem = G.g_mime_stream_mem_new();
    GMimeStream *fs = mem ? G.g_mime_stream_filter_new(mem) : NULL;
    void *out = NULL;
    if (fs) {
        if (converts(charset)) {
            GMimeFilter *cf = G.g_mime_filter_charset_new(charset, "UTF-8");
            if (cf) {
                G.g_mime_stream_filter_add((GMimeStreamFilter *)fs, cf);
                G.g_object_unref(cf);
                pd_charset_pin(charset);
            }
        }
        G.g_mime_data_wrapper_write_to_stream(w, fs);
        G.g_mime_stream_flush(fs);
        GByteArray *arr = G.g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem);
        out = take(arr && arr->len ? (const char *)arr->data : "", arr ? arr->len : 0, arg);
    }
    if (fs)
        G.g_object_unref(fs);
    if (mem)
        G.g_object_unref(mem);
    return out;
}

void *pd_gmime_decode(const char *s, size_t n, const char *cte, const char *charset,
                      pd_gmime_take_fn *take, void *arg)
{
    if (need() < 0)
        return NULL;
    GMimeContentEncoding enc = cte ? G.g_mime_content_encoding_from_string(cte)
                                   : GMIME_CONTENT_ENCODING_DEFAULT;
    GMimeStream *src = G.g_mime_stream_mem_new_with_buffer(s, n);
    if (!src)
        return NULL;
    GMimeDataWrapper *w = G.g_mime_data_wrapper_new_with_stream(src, enc);
    G.g_object_unref(src);
    if (!w)
        return NULL;
    void *out = decode_wrapper(w, charset, take, arg);
    G.g_object_unref(w);
    return out;
}

static bool is_a(void *obj, GType type)
{
    return obj && G.g_type_check_instance_is_a((GTypeInstance *)obj, type);
}

static InternetAddressMailbox *first_mailbox(InternetAddressList *list)
{
    int n = G.internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = G.internet_address_list_get_address(list, i);
        if (is_a(ia, G.internet_address_mailbox_get_type()))
            return (InternetAddressMailbox *)ia;
        if (is_a(ia, G.internet_address_group_get_type())) {
            InternetAddressList *members =
                G.internet_address_group_get_members((InternetAddressGroup *)ia);
            InternetAddressMailbox *mb = members ? first_mailbox(members) : NULL;
            if (mb)
                return mb;
        }
    }
    return NULL;
}

int pd_gmime_first_mailbox(const char *value, char **name, char **addr)
{
    *name = *addr = NULL;
    if (need() < 0)
        return -1;
    InternetAddressList *list = G.internet_address_list_parse(NULL, value);
    if (!list)
        return -1;
    int rc = 0;
    InternetAddressMailbox *mb = first_mailbox(list);
    if (mb) {
        const char *a = G.internet_address_mailbox_get_addr(mb);
        const char *n = G.internet_address_get_name((InternetAddress *)mb);
        *addr = strdup(a ? a : "");
        *name = n ? strdup(n) : NULL;
        rc = *addr && (!n || *name) ? 1 : -1;
        if (rc < 0) {
            free(*addr);
            free(*name);
            *name = *addr = NULL;
        }
    }
    G.g_object_unref(list);
    return rc;
}

int pd_gmime_to_utf8(const char *s, size_t n, const char *from, const char *fallback,
                     char **out, size_t *outlen)
{
    *out = NULL;
    if (need() < 0)
        return -1;
    gsize written = 0;
    gchar *conv = G.g_convert_with_fallback(s, (gssize)n, "UTF-8", from, fallback, NULL,
                                            &written, NULL);
    if (!conv)
        return 0;
    pd_charset_pin(from);
    if ((*out = malloc(written + 1))) {
        memcpy(*out, conv, written);
        (*out)[written] = '\0';
        *outlen = written;
    }
    G.g_free(conv);
    return *out ? 1 : -1;
}

struct pd_gmime_tree {
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeObject *top;
};

struct pd_gmime_tree *pd_gmime_tree_parse(const char *data, size_t len)
{
    if (need() < 0)
        return NULL;
    struct pd_gmime_tree *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->stream = G.g_mime_stream_mem_new_with_buffer(data, len);
    t->parser = t->stream ? G.g_mime_parser_new_with_stream(t->stream) : NULL;
    /* The top entity, not a GMimeMessage: the same headers and MIME tree,
     * without the address, date and other header objects a message builds
     * (a third of GMime's time on kernel mail with long Cc lists). */
    t->top = t->parser ? G.g_mime_parser_construct_part(t->parser, NULL) : NULL;
    if (!t->top) {
        pd_gmime_tree_free(t);
        return NULL;
    }
    return t;
}

const char *pd_gmime_tree_header(struct pd_gmime_tree *t, const char *name)
{
    GMimeHeaderList *hl = G.g_mime_object_get_header_list(t->top);
    if (!hl)
        return NULL;
    GMimeHeader *h = G.g_mime_header_list_get_header(hl, name);
    return h ? G.g_mime_header_get_raw_value(h) : NULL;
}

struct walk {
    int depth, max_depth;
    int parts, max_parts;
    int (*fn)(void *arg, const struct pd_gmime_leaf *leaf);
    void *arg;
};

static int walk(GMimeObject *obj, struct walk *w)
{
    if (w->depth > w->max_depth || ++w->parts > w->max_parts)
        return 0;
    if (is_a(obj, G.g_mime_multipart_get_type())) {
        GMimeMultipart *mp = (GMimeMultipart *)obj;
        int n = G.g_mime_multipart_get_count(mp);
        int rc = 0;
        w->depth++;
        for (int i = 0; i < n && rc == 0; i++)
            rc = walk(G.g_mime_multipart_get_part(mp, i), w);
        w->depth--;
        return rc;
    }
    if (!is_a(obj, G.g_mime_part_get_type()))
        return 0;   /* message/rfc822 and the like: an attached mail is not this one */
    GMimePart *part = (GMimePart *)obj;
    GMimeContentType *ct = G.g_mime_object_get_content_type(obj);
    struct pd_gmime_leaf leaf = {
        .type = ct ? G.g_mime_content_type_get_media_type(ct) : NULL,
        .subtype = ct ? G.g_mime_content_type_get_media_subtype(ct) : NULL,
        .filename = G.g_mime_part_get_filename(part),
        .text_plain = !ct || G.g_mime_content_type_is_type(ct, "text", "plain"),
        .part = part,
    };
    return w->fn(w->arg, &leaf);
}

int pd_gmime_tree_walk(struct pd_gmime_tree *t, int depth, int parts,
                       int (*fn)(void *arg, const struct pd_gmime_leaf *leaf), void *arg)
{
    struct walk w = { 0, depth, 0, parts, fn, arg };
    return walk(t->top, &w);
}

void *pd_gmime_leaf_decode(const struct pd_gmime_leaf *leaf, pd_gmime_take_fn *take, void *arg)
{
    GMimePart *part = leaf->part;
    GMimeDataWrapper *w = G.g_mime_part_get_content(part);
    if (!w)
        return take("", 0, arg);
    return decode_wrapper(w, G.g_mime_object_get_content_type_parameter((GMimeObject *)part,
                                                                        "charset"),
                          take, arg);
}

void pd_gmime_tree_free(struct pd_gmime_tree *t)
{
    if (!t)
        return;
    if (t->top)
        G.g_object_unref(t->top);
    if (t->parser)
        G.g_object_unref(t->parser);
    if (t->stream)
        G.g_object_unref(t->stream);
    free(t);
}
